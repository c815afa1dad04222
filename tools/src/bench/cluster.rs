//! What `mqbench` learns from the cluster around a run: the brokers the namesrv knows with the
//! role and flush mode each reports (GET_BROKER_CONFIG, else GET_BROKER_RUNTIME_INFO's role),
//! the masters' message counters before and after the run (`msgPutTotalTodayNow`,
//! `msgGetTotalTodayNow` of GET_BROKER_RUNTIME_INFO: the sanity check against the tool's own
//! totals), and the benchmark topic, created on every master when the namesrv has no route.
//!
//! Runs on the main thread only, before and after the measured part.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use client::admin::AdminClient;
use client::ClientError;
use serde::Serialize;
use wire::body::{TopicConfig, TopicRouteData};

/// How long a created topic may take to show in the namesrv's routes.
const ROUTE_WAIT: Duration = Duration::from_secs(15);

/// One broker as the namesrv lists it, with what it says about itself.
#[derive(Debug, Clone, Serialize)]
pub struct BrokerInfo {
    pub cluster: String,
    pub name: String,
    pub id: i64,
    pub addr: SocketAddr,
    /// `brokerRole` (SYNC_MASTER, ASYNC_MASTER, SLAVE), when reported.
    pub role: Option<String>,
    /// `flushDiskType` (SYNC_FLUSH, ASYNC_FLUSH), when reported.
    pub flush: Option<String>,
}

/// The brokers of every cluster the namesrv knows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterView {
    pub brokers: Vec<BrokerInfo>,
}

/// Asks the namesrv for the cluster, then each broker for its role and flush mode.
pub fn probe(admin: &AdminClient) -> Result<ClusterView, ClientError> {
    let info = admin.cluster_info()?;
    let mut brokers = Vec::new();
    for (name, data) in &info.broker_addr_table {
        for (id, addr) in &data.broker_addrs {
            let Ok(addr) = addr.parse::<SocketAddr>() else {
                log::warn!("broker {name} has an unusable address {addr:?}");
                continue;
            };
            // A broker that does not answer GET_BROKER_CONFIG leaves role and flush unknown.
            let config: BTreeMap<String, String> = admin
                .broker_config(addr)
                .map(|(_, pairs)| pairs.into_iter().collect())
                .unwrap_or_default();
            let role = config.get("brokerRole").cloned().or_else(|| {
                let runtime = admin.broker_runtime_info(addr).ok()?;
                runtime.get("brokerRole").cloned()
            });
            brokers.push(BrokerInfo {
                cluster: data.cluster.clone(),
                name: name.clone(),
                id: *id,
                addr,
                role,
                flush: config.get("flushDiskType").cloned(),
            });
        }
    }
    Ok(ClusterView { brokers })
}

impl ClusterView {
    pub fn masters(&self) -> Vec<SocketAddr> {
        self.brokers
            .iter()
            .filter(|b| b.id == 0)
            .map(|b| b.addr)
            .collect()
    }

    pub fn clusters(&self) -> Vec<String> {
        let mut names: Vec<String> = self.brokers.iter().map(|b| b.cluster.clone()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// One line: every broker with its role and flush mode, and what is assumed when a
    /// broker did not say.
    pub fn describe(&self) -> String {
        if self.brokers.is_empty() {
            return "brokers: none registered with the namesrv".into();
        }
        let unknown = || "not reported".to_string();
        let brokers: Vec<String> = self
            .brokers
            .iter()
            .map(|b| {
                format!(
                    "{}/{}[{}] {} role {} flush {}",
                    b.cluster,
                    b.name,
                    b.id,
                    b.addr,
                    b.role.clone().unwrap_or_else(unknown),
                    b.flush.clone().unwrap_or_else(unknown)
                )
            })
            .collect();
        let mut line = format!("brokers: {}", brokers.join("; "));
        if self
            .brokers
            .iter()
            .any(|b| b.flush.is_none() || b.role.is_none())
        {
            line.push_str("; flush/replication: as configured on the broker (not reported)");
        }
        line
    }
}

/// The masters' message counters at one moment, by master address.
#[derive(Debug, Clone, Default)]
pub struct CounterReading {
    by_master: BTreeMap<SocketAddr, (u64, u64)>,
}

/// What the masters counted during the run, over the masters that answered both times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CounterDelta {
    /// Δ msgPutTotalTodayNow: messages stored.
    pub put: u64,
    /// Δ msgGetTotalTodayNow: messages handed to consumers.
    pub get: u64,
    pub masters: usize,
    pub masters_answered: usize,
}

fn counter(table: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    table.get(key)?.trim().parse().ok()
}

/// Reads `msgPutTotalTodayNow` and `msgGetTotalTodayNow` of every master that answers.
pub fn read_counters(admin: &AdminClient, masters: &[SocketAddr]) -> CounterReading {
    let mut by_master = BTreeMap::new();
    for addr in masters {
        match admin.broker_runtime_info(*addr) {
            Ok(table) => {
                let put = counter(&table, "msgPutTotalTodayNow");
                let get = counter(&table, "msgGetTotalTodayNow");
                if let (Some(put), Some(get)) = (put, get) {
                    by_master.insert(*addr, (put, get));
                }
            }
            Err(error) => log::warn!("runtime info of {addr}: {error}"),
        }
    }
    CounterReading { by_master }
}

impl CounterReading {
    pub fn delta_since(&self, before: &CounterReading, masters: usize) -> CounterDelta {
        let mut delta = CounterDelta {
            masters,
            ..CounterDelta::default()
        };
        for (addr, (put, get)) in &self.by_master {
            if let Some((put_before, get_before)) = before.by_master.get(addr) {
                delta.put += put.saturating_sub(*put_before);
                delta.get += get.saturating_sub(*get_before);
                delta.masters_answered += 1;
            }
        }
        delta
    }
}

fn routed(route: &TopicRouteData, masters: usize) -> bool {
    let readable = route
        .queue_datas
        .iter()
        .filter(|q| q.read_queue_nums > 0)
        .count();
    readable >= masters.max(1)
}

/// The route of `topic`, creating the topic (`queues` queues, read and write) on every master
/// of every cluster first when the namesrv has none. True when it was created.
pub fn ensure_topic(
    admin: &AdminClient,
    view: &ClusterView,
    topic: &str,
    queues: i32,
) -> Result<bool, ClientError> {
    match admin.topic_route(topic) {
        Ok(_) => return Ok(false),
        Err(ClientError::NoRoute { .. }) => {}
        Err(error) => return Err(error),
    }
    let config = TopicConfig {
        topic_name: topic.to_string(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        ..TopicConfig::default()
    };
    for cluster in view.clusters() {
        admin.create_topic(&cluster, &config)?;
    }
    let deadline = Instant::now() + ROUTE_WAIT;
    let masters = view.masters().len();
    loop {
        match admin.topic_route(topic) {
            Ok(route) if routed(&route, masters) => return Ok(true),
            Ok(_) | Err(ClientError::NoRoute { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(_) | Err(ClientError::NoRoute { .. }) => {
                return Err(ClientError::NoRoute {
                    topic: topic.to_string(),
                })
            }
            Err(error) => return Err(error),
        }
    }
}

/// Readable queues of `topic` in its current route.
pub fn readable_queue_count(admin: &AdminClient, topic: &str) -> Result<usize, ClientError> {
    let route = admin.topic_route(topic)?;
    Ok(route
        .queue_datas
        .iter()
        .map(|q| q.read_queue_nums.max(0) as usize)
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(entries: &[(&str, u64, u64)]) -> CounterReading {
        CounterReading {
            by_master: entries
                .iter()
                .map(|(addr, put, get)| (addr.parse().unwrap(), (*put, *get)))
                .collect(),
        }
    }

    #[test]
    fn deltas_count_masters_read_both_times() {
        let before = reading(&[("127.0.0.1:1", 10, 5), ("127.0.0.1:2", 0, 0)]);
        let after = reading(&[("127.0.0.1:1", 2010, 4005), ("127.0.0.1:3", 7, 7)]);
        let delta = after.delta_since(&before, 3);
        assert_eq!(
            delta,
            CounterDelta {
                put: 2000,
                get: 4000,
                masters: 3,
                masters_answered: 1
            }
        );
    }

    #[test]
    fn unknown_flush_is_said_not_invented() {
        let mut view = ClusterView {
            brokers: vec![BrokerInfo {
                cluster: "C".into(),
                name: "b".into(),
                id: 0,
                addr: "127.0.0.1:1".parse().unwrap(),
                role: Some("ASYNC_MASTER".into()),
                flush: None,
            }],
        };
        let line = view.describe();
        assert!(line.contains("C/b[0] 127.0.0.1:1 role ASYNC_MASTER flush not reported"));
        assert!(line.contains("as configured on the broker (not reported)"));
        view.brokers[0].flush = Some("SYNC_FLUSH".into());
        assert!(!view.describe().contains("not reported"));
    }
}
