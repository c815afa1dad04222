//! The namesrv's routing state: which brokers exist, in which cluster, at which addresses, which
//! topics they serve with how many queues, and when each broker was last heard from.
//!
//! Owned by the event-loop thread alone (no locks). The rules are Apache RocketMQ's
//! `RouteInfoManager`:
//! - a registration merges its topics into the table (bodies may carry a single topic) and only a
//!   master (broker id 0) contributes queue data, and only when its data version changed or it
//!   registers for the first time, so an unchanged 30 s heartbeat costs a lookup;
//! - a broker address that unregisters, goes silent past the expiry or whose connection closes
//!   is removed; a broker name keeps its topics while any of its addresses (master or slave)
//!   remains, so consumers keep reading from a slave whose master died;
//! - the cluster and topic entries left empty by a removal are dropped.
//!
//! Invariants: every broker name in `clusters` has an entry in `brokers` and vice versa; every
//! entry in `brokers` has at least one address; no topic maps to an empty set of queues.
//! `check_invariants` asserts them in tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Permission bits of a topic's queues on one broker (`PermName.java`).
pub const PERM_READ: i32 = 4;
pub const PERM_WRITE: i32 = 2;
pub const PERM_INHERIT: i32 = 1;

/// A broker's topic-config version: equality on both fields means "nothing changed".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataVersion {
    pub counter: i64,
    pub timestamp: i64,
}

/// The queues one broker name serves for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueData {
    pub read_queue_count: i32,
    pub write_queue_count: i32,
    pub perm: i32,
    pub topic_sys_flag: i32,
}

/// One topic as a broker registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRegistration {
    pub topic: String,
    pub queue_data: QueueData,
}

/// Everything a REGISTER_BROKER request says.
#[derive(Debug, Clone)]
pub struct Registration {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_addr: String,
    pub broker_id: i64,
    pub ha_server_addr: String,
    pub data_version: DataVersion,
    pub topics: Vec<TopicRegistration>,
    pub filter_servers: Vec<String>,
}

/// What a registering slave needs to find its master.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistrationResult {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
}

/// One broker name: its cluster and its addresses by broker id (0 = master).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEntry {
    pub cluster_name: String,
    pub addrs: BTreeMap<i64, String>,
}

#[derive(Debug, Clone)]
struct LiveBroker<C> {
    last_update: Instant,
    data_version: DataVersion,
    connection: Option<C>,
    ha_server_addr: String,
}

/// A topic's route: the brokers serving it and their queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRoute {
    /// (broker name, entry), in broker-name order.
    pub brokers: Vec<(String, BrokerEntry)>,
    /// (broker name, queues), in broker-name order.
    pub queues: Vec<(String, QueueData)>,
    /// broker address -> its filter servers, for the addresses above that have any.
    pub filter_servers: BTreeMap<String, Vec<String>>,
}

/// The routing state. `C` identifies the connection a broker registered on, so that closing it
/// drops the broker at once.
#[derive(Debug)]
pub struct RouteTable<C> {
    topics: HashMap<String, BTreeMap<String, QueueData>>,
    brokers: BTreeMap<String, BrokerEntry>,
    clusters: BTreeMap<String, BTreeSet<String>>,
    live: HashMap<String, LiveBroker<C>>,
    filter_servers: HashMap<String, Vec<String>>,
}

impl<C> Default for RouteTable<C> {
    fn default() -> Self {
        RouteTable {
            topics: HashMap::new(),
            brokers: BTreeMap::new(),
            clusters: BTreeMap::new(),
            live: HashMap::new(),
            filter_servers: HashMap::new(),
        }
    }
}

impl<C: Copy + PartialEq> RouteTable<C> {
    pub fn new() -> Self {
        RouteTable::default()
    }

    /// Applies a REGISTER_BROKER request received on `connection` at `now`.
    pub fn register(
        &mut self,
        registration: Registration,
        connection: Option<C>,
        now: Instant,
    ) -> RegistrationResult {
        let Registration {
            cluster_name,
            broker_name,
            broker_addr,
            broker_id,
            ..
        } = &registration;
        self.clusters
            .entry(cluster_name.clone())
            .or_default()
            .insert(broker_name.clone());
        let mut first = false;
        let entry = self.brokers.entry(broker_name.clone()).or_insert_with(|| {
            first = true;
            BrokerEntry {
                cluster_name: cluster_name.clone(),
                addrs: BTreeMap::new(),
            }
        });
        // A cluster rename moves the broker name; keep the cluster index consistent with it.
        if entry.cluster_name != *cluster_name {
            let old = std::mem::replace(&mut entry.cluster_name, cluster_name.clone());
            remove_from_cluster(&mut self.clusters, &old, broker_name);
        }
        // Same address under another id: a slave switched to master (or back).
        entry
            .addrs
            .retain(|id, addr| *id == *broker_id || addr != broker_addr);
        let previous = entry.addrs.insert(*broker_id, broker_addr.clone());
        first |= previous.is_none();

        if *broker_id == 0 {
            let changed = self
                .live
                .get(broker_addr)
                .is_none_or(|live| live.data_version != registration.data_version);
            if changed || first {
                for topic in &registration.topics {
                    self.topics
                        .entry(topic.topic.clone())
                        .or_default()
                        .insert(broker_name.clone(), topic.queue_data.clone());
                }
            }
        }
        self.live.insert(
            broker_addr.clone(),
            LiveBroker {
                last_update: now,
                data_version: registration.data_version,
                connection,
                ha_server_addr: registration.ha_server_addr.clone(),
            },
        );
        if registration.filter_servers.is_empty() {
            self.filter_servers.remove(broker_addr);
        } else {
            self.filter_servers
                .insert(broker_addr.clone(), registration.filter_servers.clone());
        }
        self.master_of(broker_name, *broker_id)
    }

    fn master_of(&self, broker_name: &str, broker_id: i64) -> RegistrationResult {
        if broker_id == 0 {
            return RegistrationResult::default();
        }
        let master_addr = self
            .brokers
            .get(broker_name)
            .and_then(|entry| entry.addrs.get(&0));
        match master_addr {
            Some(addr) => RegistrationResult {
                master_addr: Some(addr.clone()),
                ha_server_addr: self.live.get(addr).map(|live| live.ha_server_addr.clone()),
            },
            None => RegistrationResult::default(),
        }
    }

    /// QUERY_DATA_VERSION: whether `version` differs from the stored one; an unchanged
    /// version counts as a heartbeat. Returns (changed, stored version).
    pub fn query_data_version(
        &mut self,
        broker_addr: &str,
        version: DataVersion,
        now: Instant,
    ) -> (bool, Option<DataVersion>) {
        match self.live.get_mut(broker_addr) {
            Some(live) if live.data_version == version => {
                live.last_update = now;
                (false, Some(live.data_version))
            }
            Some(live) => (true, Some(live.data_version)),
            None => (true, None),
        }
    }

    /// UNREGISTER_BROKER.
    /// Only the address registered under `broker_id` is removed: a late unregister from a
    /// replaced instance must not drop its successor.
    pub fn unregister(&mut self, broker_addr: &str, broker_name: &str, broker_id: i64) {
        self.live.remove(broker_addr);
        self.filter_servers.remove(broker_addr);
        let now_empty = match self.brokers.get_mut(broker_name) {
            Some(entry) => {
                if entry
                    .addrs
                    .get(&broker_id)
                    .is_some_and(|addr| addr == broker_addr)
                {
                    entry.addrs.remove(&broker_id);
                }
                entry.addrs.is_empty()
            }
            None => false,
        };
        if now_empty {
            self.remove_broker_name(broker_name);
        }
    }

    /// Drops the broker registered on `connection`, if any; returns its address.
    pub fn on_connection_closed(&mut self, connection: C) -> Option<String> {
        let addr = self
            .live
            .iter()
            .find(|(_, live)| live.connection == Some(connection))
            .map(|(addr, _)| addr.clone())?;
        self.remove_addr(&addr);
        Some(addr)
    }

    /// Drops every broker not heard from within `expiry`; returns (address, connection) of each
    /// so that the caller can close the connections.
    pub fn expire(&mut self, now: Instant, expiry: Duration) -> Vec<(String, Option<C>)> {
        let expired: Vec<(String, Option<C>)> = self
            .live
            .iter()
            .filter(|(_, live)| now.saturating_duration_since(live.last_update) > expiry)
            .map(|(addr, live)| (addr.clone(), live.connection))
            .collect();
        for (addr, _) in &expired {
            self.remove_addr(addr);
        }
        expired
    }

    fn remove_addr(&mut self, broker_addr: &str) {
        self.live.remove(broker_addr);
        self.filter_servers.remove(broker_addr);
        let mut emptied = Vec::new();
        for (name, entry) in self.brokers.iter_mut() {
            entry.addrs.retain(|_, addr| addr != broker_addr);
            if entry.addrs.is_empty() {
                emptied.push(name.clone());
            }
        }
        for name in emptied {
            self.remove_broker_name(&name);
        }
    }

    /// Removes a broker name with no address left, its cluster membership and its queues.
    fn remove_broker_name(&mut self, broker_name: &str) {
        if let Some(entry) = self.brokers.remove(broker_name) {
            remove_from_cluster(&mut self.clusters, &entry.cluster_name, broker_name);
        }
        self.topics.retain(|_, queues| {
            queues.remove(broker_name);
            !queues.is_empty()
        });
    }

    /// GET_ROUTEINFO_BY_TOPIC: `None` unless the topic has queues on a broker that is present.
    pub fn route(&self, topic: &str) -> Option<TopicRoute> {
        let queues = self.topics.get(topic)?;
        let brokers: Vec<(String, BrokerEntry)> = queues
            .keys()
            .filter_map(|name| {
                self.brokers
                    .get(name)
                    .map(|entry| (name.clone(), entry.clone()))
            })
            .collect();
        if brokers.is_empty() {
            return None;
        }
        let mut filter_servers = BTreeMap::new();
        for addr in brokers.iter().flat_map(|(_, entry)| entry.addrs.values()) {
            if let Some(servers) = self.filter_servers.get(addr) {
                filter_servers.insert(addr.clone(), servers.clone());
            }
        }
        let queues = queues
            .iter()
            .map(|(name, data)| (name.clone(), data.clone()))
            .collect();
        Some(TopicRoute {
            brokers,
            queues,
            filter_servers,
        })
    }

    pub fn brokers(&self) -> &BTreeMap<String, BrokerEntry> {
        &self.brokers
    }

    pub fn clusters(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.clusters
    }

    /// Every topic, sorted.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.topics.keys().cloned().collect();
        topics.sort();
        topics
    }

    /// Topics with a queue on any broker of `cluster_name`, sorted; empty for an unknown cluster.
    pub fn topics_of_cluster(&self, cluster_name: &str) -> Vec<String> {
        let Some(names) = self.clusters.get(cluster_name) else {
            return Vec::new();
        };
        let mut topics: Vec<String> = self
            .topics
            .iter()
            .filter(|(_, queues)| queues.keys().any(|name| names.contains(name)))
            .map(|(topic, _)| topic.clone())
            .collect();
        topics.sort();
        topics
    }

    /// Topics whose queue data (the first broker's, as upstream looks) satisfies `predicate` on
    /// its topic sys flag; for the unit-topic list requests.
    pub fn topics_by_sys_flag(&self, predicate: impl Fn(i32) -> bool) -> Vec<String> {
        let mut topics: Vec<String> = self
            .topics
            .iter()
            .filter(|(_, queues)| {
                queues
                    .values()
                    .next()
                    .is_some_and(|data| predicate(data.topic_sys_flag))
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        topics.sort();
        topics
    }

    /// One registered broker address, for GET_SYSTEM_TOPIC_LIST_FROM_NS.
    pub fn any_broker_addr(&self) -> Option<&str> {
        self.brokers
            .values()
            .flat_map(|entry| entry.addrs.values())
            .next()
            .map(String::as_str)
    }

    /// DELETE_TOPIC_IN_NAMESRV: from the brokers of `cluster_name` only, or everywhere.
    pub fn delete_topic(&mut self, topic: &str, cluster_name: Option<&str>) {
        match cluster_name.and_then(|name| self.clusters.get(name)) {
            Some(names) => {
                if let Some(queues) = self.topics.get_mut(topic) {
                    queues.retain(|name, _| !names.contains(name));
                    if queues.is_empty() {
                        self.topics.remove(topic);
                    }
                }
            }
            None if cluster_name.is_some_and(|name| !name.is_empty()) => {}
            None => {
                self.topics.remove(topic);
            }
        }
    }

    /// WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER: returns how many topics changed.
    pub fn set_write_perm(&mut self, broker_name: &str, writable: bool) -> usize {
        let mut count = 0;
        for queues in self.topics.values_mut() {
            if let Some(data) = queues.get_mut(broker_name) {
                data.perm = if writable {
                    PERM_READ | PERM_WRITE
                } else {
                    data.perm & !PERM_WRITE
                };
                count += 1;
            }
        }
        count
    }

    /// Asserts the invariants in the module docs; O(n), for tests.
    pub fn check_invariants(&self) {
        for (cluster, names) in &self.clusters {
            assert!(!names.is_empty(), "cluster {cluster} is empty");
            for name in names {
                let entry = self.brokers.get(name).map(|entry| &entry.cluster_name);
                assert_eq!(
                    entry,
                    Some(cluster),
                    "broker {name} not in cluster {cluster}"
                );
            }
        }
        for (name, entry) in &self.brokers {
            assert!(!entry.addrs.is_empty(), "broker {name} has no address");
            let listed = self
                .clusters
                .get(&entry.cluster_name)
                .is_some_and(|n| n.contains(name));
            assert!(listed, "broker {name} missing from its cluster");
        }
        for (topic, queues) in &self.topics {
            assert!(!queues.is_empty(), "topic {topic} has no queues");
        }
    }
}

fn remove_from_cluster(
    clusters: &mut BTreeMap<String, BTreeSet<String>>,
    cluster: &str,
    name: &str,
) {
    if let Some(names) = clusters.get_mut(cluster) {
        names.remove(name);
        if names.is_empty() {
            clusters.remove(cluster);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(count: i32) -> QueueData {
        QueueData {
            read_queue_count: count,
            write_queue_count: count,
            perm: PERM_READ | PERM_WRITE,
            topic_sys_flag: 0,
        }
    }

    fn registration(
        name: &str,
        id: i64,
        addr: &str,
        counter: i64,
        topics: &[&str],
    ) -> Registration {
        Registration {
            cluster_name: "DefaultCluster".into(),
            broker_name: name.into(),
            broker_addr: addr.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            data_version: DataVersion {
                counter,
                timestamp: 1000,
            },
            topics: topics
                .iter()
                .map(|t| TopicRegistration {
                    topic: t.to_string(),
                    queue_data: queues(4),
                })
                .collect(),
            filter_servers: Vec::new(),
        }
    }

    #[test]
    fn register_makes_a_route() {
        let mut table = RouteTable::<u32>::new();
        let now = Instant::now();
        let result = table.register(
            registration("a", 0, "1.1.1.1:10911", 1, &["T"]),
            Some(1),
            now,
        );
        assert_eq!(result, RegistrationResult::default());
        let route = table.route("T").unwrap();
        assert_eq!(route.brokers.len(), 1);
        assert_eq!(route.brokers[0].1.addrs[&0], "1.1.1.1:10911");
        assert_eq!(route.queues, vec![("a".to_string(), queues(4))]);
        assert!(table.route("Other").is_none());
        assert_eq!(table.clusters()["DefaultCluster"].len(), 1);
        table.check_invariants();
    }

    #[test]
    fn reregister_applies_topics_only_with_a_new_data_version() {
        let mut table = RouteTable::<u32>::new();
        let now = Instant::now();
        table.register(registration("a", 0, "x:1", 1, &["T"]), None, now);
        // Same version: a heartbeat; its body is not re-applied.
        let mut same = registration("a", 0, "x:1", 1, &["T", "U"]);
        same.topics[0].queue_data = queues(8);
        table.register(same, None, now);
        assert!(table.route("U").is_none());
        assert_eq!(table.route("T").unwrap().queues[0].1, queues(4));
        // New version: applied, merged (T kept although this body only names U).
        table.register(registration("a", 0, "x:1", 2, &["U"]), None, now);
        assert!(table.route("U").is_some());
        assert!(table.route("T").is_some());
        table.check_invariants();
    }

    #[test]
    fn slave_gets_master_and_ha_addresses_and_no_queue_data() {
        let mut table = RouteTable::<u32>::new();
        let now = Instant::now();
        table.register(registration("a", 0, "m:1", 1, &["T"]), None, now);
        let result = table.register(registration("a", 1, "s:1", 1, &["T", "S"]), None, now);
        assert_eq!(result.master_addr.as_deref(), Some("m:1"));
        assert_eq!(result.ha_server_addr.as_deref(), Some("m:1-ha"));
        assert!(
            table.route("S").is_none(),
            "slaves contribute no queue data"
        );
        let route = table.route("T").unwrap();
        assert_eq!(route.brokers[0].1.addrs.len(), 2);
        // A slave registering before its master learns nothing.
        let mut other = RouteTable::<u32>::new();
        let result = other.register(registration("b", 1, "s:2", 1, &[]), None, now);
        assert_eq!(result, RegistrationResult::default());
    }

    #[test]
    fn master_loss_keeps_routes_while_the_slave_lives() {
        let mut table = RouteTable::<u32>::new();
        let now = Instant::now();
        table.register(registration("a", 0, "m:1", 1, &["T"]), Some(10), now);
        table.register(registration("a", 1, "s:1", 1, &[]), Some(11), now);
        assert_eq!(table.on_connection_closed(10).as_deref(), Some("m:1"));
        let route = table.route("T").expect("slave still serves T");
        assert_eq!(
            route.brokers[0].1.addrs.keys().copied().collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(table.on_connection_closed(11).as_deref(), Some("s:1"));
        assert!(table.route("T").is_none());
        assert!(table.topics().is_empty());
        assert!(table.clusters().is_empty());
        assert_eq!(table.on_connection_closed(12), None);
        table.check_invariants();
    }

    #[test]
    fn expiry_drops_silent_brokers_only() {
        let mut table = RouteTable::<u32>::new();
        let start = Instant::now();
        table.register(registration("a", 0, "a:1", 1, &["T"]), Some(1), start);
        table.register(registration("b", 0, "b:1", 1, &["T"]), Some(2), start);
        let later = start + Duration::from_secs(100);
        table.register(registration("b", 0, "b:1", 1, &["T"]), Some(2), later);
        let expired = table.expire(start + Duration::from_secs(121), Duration::from_secs(120));
        assert_eq!(expired, vec![("a:1".to_string(), Some(1))]);
        let route = table.route("T").unwrap();
        assert_eq!(route.queues.len(), 1);
        assert_eq!(route.queues[0].0, "b");
        table.check_invariants();
    }

    #[test]
    fn unregister_removes_the_address_and_then_the_name() {
        let mut table = RouteTable::<u32>::new();
        let now = Instant::now();
        table.register(registration("a", 0, "m:1", 1, &["T"]), None, now);
        table.register(registration("a", 1, "s:1", 1, &[]), None, now);
        table.unregister("m:1", "a", 0);
        assert!(table.route("T").is_some());
        // A stale unregister naming the wrong address leaves the slave alone.
        table.unregister("other:1", "a", 1);
        assert!(table.route("T").is_some());
        table.unregister("s:1", "a", 1);
        assert!(table.route("T").is_none());
        assert!(table.brokers().is_empty());
        table.check_invariants();
    }

    #[test]
    fn same_address_under_a_new_id_replaces_the_old_id() {
        let mut table = RouteTable::<u32>::new();
        let now = Instant::now();
        table.register(registration("a", 1, "x:1", 1, &[]), None, now);
        table.register(registration("a", 0, "x:1", 1, &["T"]), None, now);
        let addrs = &table.brokers()["a"].addrs;
        assert_eq!(addrs.len(), 1);
        assert_eq!(addrs[&0], "x:1");
    }

    #[test]
    fn topic_deletion_by_cluster_and_everywhere() {
        let mut table = RouteTable::<u32>::new();
        let now = Instant::now();
        table.register(registration("a", 0, "a:1", 1, &["T", "U"]), None, now);
        let mut other = registration("b", 0, "b:1", 1, &["T"]);
        other.cluster_name = "Other".into();
        table.register(other, None, now);
        table.delete_topic("T", Some("DefaultCluster"));
        let route = table.route("T").unwrap();
        assert_eq!(
            route
                .queues
                .iter()
                .map(|q| q.0.as_str())
                .collect::<Vec<_>>(),
            vec!["b"]
        );
        table.delete_topic("T", Some("NoSuchCluster"));
        assert!(
            table.route("T").is_some(),
            "an unknown cluster deletes nothing"
        );
        table.delete_topic("T", None);
        assert!(table.route("T").is_none());
        assert_eq!(table.topics(), vec!["U".to_string()]);
        assert_eq!(
            table.topics_of_cluster("DefaultCluster"),
            vec!["U".to_string()]
        );
        assert!(table.topics_of_cluster("Other").is_empty());
        table.check_invariants();
    }

    #[test]
    fn write_perm_wipe_and_restore() {
        let mut table = RouteTable::<u32>::new();
        let now = Instant::now();
        table.register(registration("a", 0, "a:1", 1, &["T", "U"]), None, now);
        assert_eq!(table.set_write_perm("a", false), 2);
        assert_eq!(table.route("T").unwrap().queues[0].1.perm, PERM_READ);
        assert_eq!(table.set_write_perm("a", true), 2);
        assert_eq!(
            table.route("T").unwrap().queues[0].1.perm,
            PERM_READ | PERM_WRITE
        );
        assert_eq!(table.set_write_perm("nobody", true), 0);
    }

    #[test]
    fn query_data_version_refreshes_liveness_when_unchanged() {
        let mut table = RouteTable::<u32>::new();
        let start = Instant::now();
        table.register(registration("a", 0, "a:1", 1, &["T"]), None, start);
        let version = DataVersion {
            counter: 1,
            timestamp: 1000,
        };
        let later = start + Duration::from_secs(100);
        assert_eq!(
            table.query_data_version("a:1", version, later),
            (false, Some(version))
        );
        let newer = DataVersion {
            counter: 2,
            timestamp: 1000,
        };
        assert_eq!(
            table.query_data_version("a:1", newer, later),
            (true, Some(version))
        );
        assert_eq!(
            table.query_data_version("b:1", version, later),
            (true, None)
        );
        assert!(table
            .expire(start + Duration::from_secs(150), Duration::from_secs(120))
            .is_empty());
    }

    #[test]
    fn filter_servers_follow_the_route() {
        let mut table = RouteTable::<u32>::new();
        let mut with_filter = registration("a", 0, "a:1", 1, &["T"]);
        with_filter.filter_servers = vec!["f:1".into()];
        table.register(with_filter, None, Instant::now());
        assert_eq!(
            table.route("T").unwrap().filter_servers["a:1"],
            vec!["f:1".to_string()]
        );
    }
}
