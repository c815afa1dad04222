//! Cluster-wide commands: clusterList, brokerStatus, getBrokerConfig, updateBrokerConfig,
//! clusterRT.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use client::admin::AdminClient;
use client::producer::{Message, Producer, ProducerConfig};
use getopts::{Matches, Options};
use serde_json::{json, Value};

use super::format::{front, now_millis};
use super::{parsed, required, Command, CommandError, Outcome, Output, Session};

pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "clusterList",
            description: "List all of clusters",
            options: |o| {
                o.optflag("m", "moreStats", "Print more stats");
            },
            run: cluster_list,
        },
        Command {
            name: "brokerStatus",
            description: "Fetch broker runtime status data",
            options: broker_or_cluster,
            run: broker_status,
        },
        Command {
            name: "getBrokerConfig",
            description: "Get broker config by cluster or special broker!",
            options: broker_or_cluster,
            run: get_broker_config,
        },
        Command {
            name: "updateBrokerConfig",
            description: "Update broker's config",
            options: |o| {
                broker_or_cluster(o);
                o.optopt("k", "key", "config key", "KEY");
                o.optopt("v", "value", "config value", "VALUE");
            },
            run: update_broker_config,
        },
        Command {
            name: "clusterRT",
            description: "List All clusters Message Send RT",
            options: |o| {
                o.optopt(
                    "a",
                    "amount",
                    "message amount per broker (default 100)",
                    "N",
                );
                o.optopt("s", "size", "message body size (default 128)", "BYTES");
                o.optopt("c", "cluster", "cluster name (default: all)", "NAME");
            },
            run: cluster_rt,
        },
    ]
}

fn broker_or_cluster(options: &mut Options) {
    options.optopt("b", "brokerAddr", "broker address", "ADDR");
    options.optopt("c", "clusterName", "cluster name", "NAME");
}

/// A broker one command addresses.
pub struct Target {
    pub broker_id: i64,
    pub addr: SocketAddr,
}

/// The brokers `-b` or `-c` names (with `-c`, masters only when `masters_only`).
pub fn targets(
    admin: &AdminClient,
    matches: &Matches,
    masters_only: bool,
) -> Result<Vec<Target>, CommandError> {
    let info = admin.cluster_info()?;
    let mut found = Vec::new();
    if let Some(addr) = matches.opt_str("b") {
        let addr: SocketAddr = addr
            .trim()
            .parse()
            .map_err(|_| CommandError::Usage(format!("-b {addr}: not an ip:port")))?;
        let broker_id = info
            .broker_addr_table
            .values()
            .find_map(|broker| {
                let id = broker
                    .broker_addrs
                    .iter()
                    .find(|(_, a)| a.parse() == Ok(addr))?
                    .0;
                Some(*id)
            })
            .unwrap_or(0);
        found.push(Target { broker_id, addr });
        return Ok(found);
    }
    let Some(cluster) = matches.opt_str("c") else {
        return Err(CommandError::Usage(
            "give -b <broker addr> or -c <cluster>".into(),
        ));
    };
    let names = info.cluster_addr_table.get(cluster.trim()).ok_or_else(|| {
        CommandError::Failed(format!("cluster {cluster} does not exist in the namesrv"))
    })?;
    for name in names {
        let Some(broker) = info.broker_addr_table.get(name) else {
            continue;
        };
        for (id, addr) in &broker.broker_addrs {
            if masters_only && *id != 0 {
                continue;
            }
            if let Ok(addr) = addr.parse() {
                found.push(Target {
                    broker_id: *id,
                    addr,
                });
            }
        }
    }
    Ok(found)
}

fn first_number(text: Option<&String>) -> f64 {
    text.and_then(|t| t.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or(0.0)
}

fn cluster_list(session: &mut Session, matches: &Matches) -> Outcome {
    let admin = session.admin(matches)?;
    let info = admin.cluster_info()?;
    let more = matches.opt_present("m");
    let mut text = if more {
        format!(
            "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}\n",
            "#Cluster Name",
            "#Broker Name",
            "#InTotalYest",
            "#OutTotalYest",
            "#InTotalToday",
            "#OutTotalToday"
        )
    } else {
        format!(
            "{:<16}  {:<22}  {:<4}  {:<22} {:<16} {:>19} {:>19} {:>10} {:>5} {:>6}\n",
            "#Cluster Name",
            "#Broker Name",
            "#BID",
            "#Addr",
            "#Version",
            "#InTPS(LOAD)",
            "#OutTPS(LOAD)",
            "#PCWait(ms)",
            "#Hour",
            "#SPACE"
        )
    };
    let mut brokers = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        for name in names {
            let Some(broker) = info.broker_addr_table.get(name) else {
                continue;
            };
            for (id, addr) in &broker.broker_addrs {
                let stats = addr
                    .parse()
                    .ok()
                    .and_then(|addr| admin.broker_runtime_info(addr).ok())
                    .unwrap_or_default();
                text.push_str(&cluster_row(cluster, name, *id, addr, &stats, more));
                brokers.push(json!({
                    "cluster": cluster, "brokerName": name, "brokerId": id, "addr": addr,
                    "runtime": stats,
                }));
            }
        }
    }
    Ok(Output {
        text,
        json: json!({ "brokers": brokers }),
    })
}

fn cluster_row(
    cluster: &str,
    name: &str,
    id: i64,
    addr: &str,
    stats: &BTreeMap<String, String>,
    more: bool,
) -> String {
    let number = |key: &str| {
        stats
            .get(key)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    if more {
        return format!(
            "{:<16}  {:<32} {:>14} {:>14} {:>14} {:>14}\n",
            cluster,
            name,
            number("msgPutTotalTodayMorning") - number("msgPutTotalYesterdayMorning"),
            number("msgGetTotalTodayMorning") - number("msgGetTotalYesterdayMorning"),
            number("msgPutTotalTodayNow") - number("msgPutTotalTodayMorning"),
            number("msgGetTotalTodayNow") - number("msgGetTotalTodayMorning"),
        );
    }
    let text = |key: &str| stats.get(key).cloned().unwrap_or_default();
    let earliest = number("earliestMessageTimeStamp");
    let hours = if earliest > 0 {
        (now_millis() - earliest) as f64 / 3_600_000.0
    } else {
        0.0
    };
    let space: f64 = stats
        .get("commitLogDiskRatio")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let tps = |key: &str, queue: &str, wait: &str| {
        let load = format!("{},{}ms", text(queue), text(wait));
        format!("{:9.2}({load})", first_number(stats.get(key)))
    };
    format!(
        "{:<16}  {:<22}  {:<4}  {:<22} {:<16} {:>19} {:>19} {:>10} {:>5} {:>6}\n",
        cluster,
        name,
        id,
        addr,
        text("brokerVersionDesc"),
        tps(
            "putTps",
            "sendThreadPoolQueueSize",
            "sendThreadPoolQueueHeadWaitTimeMills"
        ),
        tps(
            "getTransferedTps",
            "pullThreadPoolQueueSize",
            "pullThreadPoolQueueHeadWaitTimeMills"
        ),
        text("pageCacheLockTimeMills"),
        format!("{hours:2.2}"),
        format!("{space:.4}"),
    )
}

fn broker_status(session: &mut Session, matches: &Matches) -> Outcome {
    let admin = session.admin(matches)?;
    let targets = targets(admin, matches, false)?;
    let single = matches.opt_present("b");
    let mut text = String::new();
    let mut all = serde_json::Map::new();
    for target in targets {
        let stats = admin.broker_runtime_info(target.addr)?;
        for (key, value) in &stats {
            if single {
                text.push_str(&format!("{key:<32}: {value}\n"));
            } else {
                text.push_str(&format!(
                    "{:<24} {key:<32}: {value}\n",
                    target.addr.to_string()
                ));
            }
        }
        all.insert(target.addr.to_string(), json!(stats));
    }
    Ok(Output {
        text,
        json: Value::Object(all),
    })
}

fn get_broker_config(session: &mut Session, matches: &Matches) -> Outcome {
    let admin = session.admin(matches)?;
    let targets = targets(admin, matches, false)?;
    let mut text = String::new();
    let mut all = serde_json::Map::new();
    for target in targets {
        let (version, pairs) = admin.broker_config(target.addr)?;
        let role = if target.broker_id == 0 {
            "Master"
        } else {
            "Slave"
        };
        text.push_str(&format!(
            "============{role}: {}============\n",
            target.addr
        ));
        for (key, value) in &pairs {
            text.push_str(&format!("{key:<50}=  {value}\n"));
        }
        text.push('\n');
        let config: serde_json::Map<String, Value> = pairs
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect();
        all.insert(
            target.addr.to_string(),
            json!({ "version": version, "config": config }),
        );
    }
    Ok(Output {
        text,
        json: Value::Object(all),
    })
}

fn update_broker_config(session: &mut Session, matches: &Matches) -> Outcome {
    let key = required(matches, "k")?;
    let value = required(matches, "v")?;
    let admin = session.admin(matches)?;
    let targets = targets(admin, matches, true)?;
    let mut text = String::new();
    let mut updated = Vec::new();
    for target in targets {
        let remark = admin.update_broker_config(target.addr, &key, &value)?;
        text.push_str(&format!("update broker config success, {}\n", target.addr));
        if let Some(remark) = remark.filter(|r| !r.is_empty()) {
            text.push_str(&format!("  note: {remark}\n"));
        }
        updated.push(target.addr.to_string());
    }
    Ok(Output {
        text,
        json: json!({ "key": key, "value": value, "updated": updated }),
    })
}

fn cluster_rt(session: &mut Session, matches: &Matches) -> Outcome {
    let amount = parsed::<u32>(matches, "a")?.unwrap_or(100).max(2);
    let size = parsed::<usize>(matches, "s")?.unwrap_or(128);
    let namesrv = session.namesrv(matches)?;
    let admin = session.admin(matches)?;
    let info = admin.cluster_info()?;
    let clusters: Vec<String> = match matches.opt_str("c") {
        Some(cluster) if !info.cluster_addr_table.contains_key(&cluster) => {
            return Err(CommandError::Failed(format!(
                "cluster [{cluster}] not exist"
            )))
        }
        Some(cluster) => vec![cluster],
        None => info.cluster_addr_table.keys().cloned().collect(),
    };
    let group = format!("clusterRT_{}", now_millis());
    let producer = Producer::start(ProducerConfig::new(&group, &namesrv))?;
    let body = vec![b'a'; size];
    let mut text = format!(
        "{:<24}  {:<24}  {:<4}  {:<8}  {:<8}\n",
        "#Cluster Name", "#Broker Name", "#RT", "#successCount", "#failCount"
    );
    // One round (Apache's repeats forever, which a console session over TCP cannot stop):
    // run it again for another.
    let mut rows = Vec::new();
    for cluster in &clusters {
        for name in info.cluster_addr_table.get(cluster).into_iter().flatten() {
            // Each broker serves a topic named after itself (brokerTopicEnable).
            let message = Message::new(name, body.clone());
            let (rt, ok, failed) = measure(&producer, &message, amount);
            text.push_str(&format!(
                "{:<24}  {:<24}  {:<8}  {:<16}  {:<16}\n",
                front(cluster, 24),
                front(name, 24),
                format!("{rt:.2}"),
                ok,
                failed
            ));
            rows.push(
                json!({"cluster": cluster, "brokerName": name, "rtMillis": rt,
                "successCount": ok, "failCount": failed}),
            );
        }
    }
    producer.shutdown();
    Ok(Output {
        text,
        json: json!({ "results": rows }),
    })
}

/// Sends `amount` messages; the average milliseconds of all but the first (which pays for
/// the route and connection), successes and failures.
fn measure(producer: &Producer, message: &Message, amount: u32) -> (f64, u32, u32) {
    let (mut total, mut ok, mut failed) = (Duration::ZERO, 0, 0);
    for i in 0..amount {
        let started = Instant::now();
        let sent = producer.send(message);
        if i > 0 {
            total += started.elapsed();
        }
        match sent {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    (
        total.as_secs_f64() * 1000.0 / f64::from(amount - 1),
        ok,
        failed,
    )
}
