//! Who is connected (upstream `ConsumerManager`, `ConsumerGroupInfo`, `ProducerManager`):
//! consumer groups with their clients and subscriptions, and producer groups with their
//! clients, as heartbeats declare them. Nothing here survives a restart.
//!
//! Generic over the connection id `C` (the event loop's token), so the registries are plain
//! data: they never touch a socket. The caller sends NOTIFY_CONSUMER_IDS_CHANGED when told a
//! group's membership changed, and closes connections whose heartbeats expired.
//!
//! Thread: owned by the event-loop thread, no locks.
//!
//! Invariants:
//! - a group has at least one client; the last one leaving removes the group;
//! - a connection appears at most once per group (a heartbeat on it replaces its entry);
//! - a subscription is replaced only by one with a strictly larger `subVersion`, so a late
//!   heartbeat from an old client cannot undo a newer subscription;
//! - time is the caller's `Instant`, never read here (tests need no sleeps).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Debug;
use std::hash::Hash;
use std::time::{Duration, Instant};

use wire::body::{
    Connection, ConsumerConnection, ConsumerData, ProducerConnection, SubscriptionData,
};
use wire::LanguageCode;

/// Upstream's `channelExpiredTimeout`: a client silent this long is dropped.
pub const CLIENT_EXPIRY_TIMEOUT: Duration = Duration::from_secs(120);

/// One client on one connection, as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientChannel<C> {
    pub connection: C,
    pub client_id: String,
    /// The peer's `ip:port`, reported by GET_CONSUMER/PRODUCER_CONNECTION_LIST.
    pub client_addr: String,
    pub language: LanguageCode,
    pub version: i32,
    pub last_heartbeat: Instant,
}

impl<C> ClientChannel<C> {
    pub fn connection_body(&self) -> Connection {
        Connection {
            client_addr: self.client_addr.clone(),
            client_id: self.client_id.clone(),
            language: self.language.name().to_string(),
            version: self.version,
        }
    }
}

/// What an expiry scan removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry<C> {
    /// Groups that lost a client, sorted (including groups that are now gone).
    pub groups: Vec<String>,
    /// Connections that lost at least one registration; upstream closes them.
    pub connections: Vec<C>,
}

impl<C> Expiry<C> {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Removes the channels `remove` selects from every group (dropping groups left empty) and
/// reports which groups changed and which connections lost a registration.
fn remove_channels<C: Copy + Eq + Hash, G>(
    groups: &mut HashMap<String, G>,
    channels_of: impl Fn(&mut G) -> &mut HashMap<C, ClientChannel<C>>,
    remove: impl Fn(&ClientChannel<C>) -> bool,
) -> Expiry<C> {
    let mut changed = Vec::new();
    let mut connections = Vec::new();
    groups.retain(|name, group| {
        let channels = channels_of(group);
        let before = channels.len();
        channels.retain(|connection, channel| {
            let gone = remove(channel);
            if gone && !connections.contains(connection) {
                connections.push(*connection);
            }
            !gone
        });
        if channels.len() != before {
            changed.push(name.clone());
        }
        !channels.is_empty()
    });
    changed.sort();
    Expiry {
        groups: changed,
        connections,
    }
}

fn sorted_client_ids<'a, C: 'a>(
    channels: impl Iterator<Item = &'a ClientChannel<C>>,
) -> Vec<String> {
    let ids: BTreeSet<&str> = channels.map(|channel| channel.client_id.as_str()).collect();
    ids.into_iter().map(String::from).collect()
}

fn sorted_connections<C: Copy>(channels: &HashMap<C, ClientChannel<C>>) -> Vec<C> {
    let mut sorted: Vec<&ClientChannel<C>> = channels.values().collect();
    sorted.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    sorted
        .into_iter()
        .map(|channel| channel.connection)
        .collect()
}

/// One consumer group: its clients and what they consume.
#[derive(Debug, Clone)]
pub struct ConsumerGroup<C> {
    channels: HashMap<C, ClientChannel<C>>,
    consume_type: String,
    message_model: String,
    consume_from_where: String,
    subscriptions: BTreeMap<String, SubscriptionData>,
}

impl<C: Copy + Eq + Hash + Debug> ConsumerGroup<C> {
    fn new(data: &ConsumerData) -> Self {
        ConsumerGroup {
            channels: HashMap::new(),
            consume_type: data.consume_type.clone(),
            message_model: data.message_model.clone(),
            consume_from_where: data.consume_from_where.clone(),
            subscriptions: BTreeMap::new(),
        }
    }

    /// `CONSUME_PASSIVELY` (push) or `CONSUME_ACTIVELY` (pull), from the latest heartbeat.
    pub fn consume_type(&self) -> &str {
        &self.consume_type
    }

    /// `CLUSTERING` or `BROADCASTING`.
    pub fn message_model(&self) -> &str {
        &self.message_model
    }

    pub fn is_broadcasting(&self) -> bool {
        self.message_model == "BROADCASTING"
    }

    pub fn consume_from_where(&self) -> &str {
        &self.consume_from_where
    }

    /// Topic -> subscription.
    pub fn subscriptions(&self) -> &BTreeMap<String, SubscriptionData> {
        &self.subscriptions
    }

    pub fn channels(&self) -> impl Iterator<Item = &ClientChannel<C>> {
        self.channels.values()
    }

    pub fn find_client(&self, client_id: &str) -> Option<&ClientChannel<C>> {
        self.channels
            .values()
            .find(|channel| channel.client_id == client_id)
    }

    /// Upserts the channel; true if the connection is new to the group.
    fn update_channel(&mut self, channel: ClientChannel<C>) -> bool {
        match self.channels.get_mut(&channel.connection) {
            Some(existing) => {
                if existing.client_id != channel.client_id {
                    log::warn!(
                        "client id on {:?} changed from {} to {}",
                        channel.connection,
                        existing.client_id,
                        channel.client_id
                    );
                }
                *existing = channel;
                false
            }
            None => {
                self.channels.insert(channel.connection, channel);
                true
            }
        }
    }

    /// Adds new topics, replaces a subscription only by a strictly newer `subVersion`, drops
    /// topics no longer listed; true if the set of topics changed.
    fn update_subscriptions(&mut self, group: &str, listed: &[SubscriptionData]) -> bool {
        let mut changed = false;
        for subscription in listed {
            match self.subscriptions.get_mut(&subscription.topic) {
                None => {
                    log::info!("group {group} subscribes to {}", subscription.topic);
                    let topic = subscription.topic.clone();
                    self.subscriptions.insert(topic, subscription.clone());
                    changed = true;
                }
                Some(current) if subscription.sub_version > current.sub_version => {
                    log::info!("group {group} changes its subscription to {subscription:?}");
                    *current = subscription.clone();
                }
                Some(_) => {}
            }
        }
        let before = self.subscriptions.len();
        self.subscriptions
            .retain(|topic, _| listed.iter().any(|listed| listed.topic == *topic));
        if self.subscriptions.len() != before {
            log::info!("group {group} dropped subscriptions");
            changed = true;
        }
        changed
    }
}

/// Consumer groups by name.
#[derive(Debug, Clone)]
pub struct ConsumerManager<C> {
    groups: HashMap<String, ConsumerGroup<C>>,
}

impl<C: Copy + Eq + Hash + Debug> Default for ConsumerManager<C> {
    fn default() -> Self {
        ConsumerManager {
            groups: HashMap::new(),
        }
    }
}

impl<C: Copy + Eq + Hash + Debug> ConsumerManager<C> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one ConsumerData of a heartbeat received on `channel.connection`. True when the
    /// group's members must rebalance (the caller sends NOTIFY_CONSUMER_IDS_CHANGED to every
    /// connection of the group, if enabled): a connection joined the group, or the set of
    /// subscribed topics changed. That is upstream's rule; a newer subVersion alone replaces
    /// the subscription silently.
    pub fn register(&mut self, channel: ClientChannel<C>, data: &ConsumerData) -> bool {
        let group = self
            .groups
            .entry(data.group_name.clone())
            .or_insert_with(|| ConsumerGroup::new(data));
        group.consume_type.clone_from(&data.consume_type);
        group.message_model.clone_from(&data.message_model);
        group
            .consume_from_where
            .clone_from(&data.consume_from_where);
        let joined = group.update_channel(channel);
        let resubscribed =
            group.update_subscriptions(&data.group_name, &data.subscription_data_set);
        joined || resubscribed
    }

    /// UNREGISTER_CLIENT: removes the client's connections from the group; true if it was
    /// there (the caller then notifies the remaining members).
    pub fn unregister(&mut self, group: &str, client_id: &str) -> bool {
        let Some(consumers) = self.groups.get_mut(group) else {
            return false;
        };
        let before = consumers.channels.len();
        consumers
            .channels
            .retain(|_, channel| channel.client_id != client_id);
        let removed = consumers.channels.len() != before;
        if consumers.channels.is_empty() {
            log::info!("consumer group {group} has no client left");
            self.groups.remove(group);
        }
        removed
    }

    /// The connection is gone: removes it everywhere; returns the groups that lost a client,
    /// sorted (a group that became empty is included, and no longer exists).
    pub fn on_connection_closed(&mut self, connection: C) -> Vec<String> {
        remove_channels(
            &mut self.groups,
            |group| &mut group.channels,
            |channel| channel.connection == connection,
        )
        .groups
    }

    /// Drops clients whose last heartbeat is more than `timeout` before `now`.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Expiry<C> {
        let expiry = remove_channels(
            &mut self.groups,
            |group| &mut group.channels,
            |channel| now.saturating_duration_since(channel.last_heartbeat) > timeout,
        );
        if !expiry.is_empty() {
            log::warn!("consumer heartbeats expired in {:?}", expiry.groups);
        }
        expiry
    }

    pub fn group(&self, group: &str) -> Option<&ConsumerGroup<C>> {
        self.groups.get(group)
    }

    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    /// GET_CONSUMER_LIST_BY_GROUP: the group's client ids, sorted and distinct (empty if the
    /// group is unknown).
    pub fn client_ids(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|consumers| sorted_client_ids(consumers.channels.values()))
            .unwrap_or_default()
    }

    /// Where to send NOTIFY_CONSUMER_IDS_CHANGED, in client-id order.
    pub fn connections(&self, group: &str) -> Vec<C> {
        self.groups
            .get(group)
            .map(|consumers| sorted_connections(&consumers.channels))
            .unwrap_or_default()
    }

    pub fn subscription(&self, group: &str, topic: &str) -> Option<&SubscriptionData> {
        self.groups.get(group)?.subscriptions.get(topic)
    }

    /// GET_CONSUMER_CONNECTION_LIST's body; `None` when the group is offline.
    pub fn consumer_connection(&self, group: &str) -> Option<ConsumerConnection> {
        let consumers = self.groups.get(group)?;
        Some(ConsumerConnection {
            connection_set: consumers
                .channels
                .values()
                .map(ClientChannel::connection_body)
                .collect(),
            consume_from_where: consumers.consume_from_where.clone(),
            consume_type: consumers.consume_type.clone(),
            message_model: consumers.message_model.clone(),
            subscription_table: consumers.subscriptions.clone(),
        })
    }

    /// Online groups subscribed to the topic, sorted.
    pub fn groups_subscribing(&self, topic: &str) -> Vec<String> {
        let mut groups: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, consumers)| consumers.subscriptions.contains_key(topic))
            .map(|(name, _)| name.clone())
            .collect();
        groups.sort();
        groups
    }
}

/// Producer groups by name: who may be asked CHECK_TRANSACTION_STATE, and
/// GET_PRODUCER_CONNECTION_LIST.
#[derive(Debug, Clone)]
pub struct ProducerManager<C> {
    groups: HashMap<String, HashMap<C, ClientChannel<C>>>,
}

impl<C: Copy + Eq + Hash + Debug> Default for ProducerManager<C> {
    fn default() -> Self {
        ProducerManager {
            groups: HashMap::new(),
        }
    }
}

impl<C: Copy + Eq + Hash + Debug> ProducerManager<C> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one ProducerData of a heartbeat; true if the connection is new to the group.
    pub fn register(&mut self, group: &str, channel: ClientChannel<C>) -> bool {
        let producers = self.groups.entry(group.to_string()).or_default();
        producers.insert(channel.connection, channel).is_none()
    }

    /// UNREGISTER_CLIENT: true if the client was in the group.
    pub fn unregister(&mut self, group: &str, client_id: &str) -> bool {
        let Some(producers) = self.groups.get_mut(group) else {
            return false;
        };
        let before = producers.len();
        producers.retain(|_, channel| channel.client_id != client_id);
        let removed = producers.len() != before;
        if producers.is_empty() {
            self.groups.remove(group);
        }
        removed
    }

    /// Removes the connection everywhere; returns the groups that lost it, sorted.
    pub fn on_connection_closed(&mut self, connection: C) -> Vec<String> {
        remove_channels(
            &mut self.groups,
            |producers| producers,
            |channel| channel.connection == connection,
        )
        .groups
    }

    /// Drops producers whose last heartbeat is more than `timeout` before `now`.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Expiry<C> {
        let expiry = remove_channels(
            &mut self.groups,
            |producers| producers,
            |channel| now.saturating_duration_since(channel.last_heartbeat) > timeout,
        );
        if !expiry.is_empty() {
            log::warn!("producer heartbeats expired in {:?}", expiry.groups);
        }
        expiry
    }

    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    pub fn client_ids(&self, group: &str) -> Vec<String> {
        self.groups
            .get(group)
            .map(|producers| sorted_client_ids(producers.values()))
            .unwrap_or_default()
    }

    /// The group's connections in client-id order: candidates for a transaction check.
    pub fn connections(&self, group: &str) -> Vec<C> {
        self.groups
            .get(group)
            .map(sorted_connections)
            .unwrap_or_default()
    }

    /// A connection of the client, in any group (upstream `findChannel(clientId)`).
    pub fn find_connection(&self, client_id: &str) -> Option<C> {
        self.groups
            .values()
            .flat_map(HashMap::values)
            .find(|channel| channel.client_id == client_id)
            .map(|channel| channel.connection)
    }

    /// GET_PRODUCER_CONNECTION_LIST's body; `None` for an unknown group.
    pub fn producer_connection(&self, group: &str) -> Option<ProducerConnection> {
        let producers = self.groups.get(group)?;
        Some(ProducerConnection {
            connection_set: producers
                .values()
                .map(ClientChannel::connection_body)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests;
