//! The admin client: the calls `mqadmin` makes. Cluster and topic listings and routes from
//! the namesrvs; topic and group creation and deletion on every master of a cluster (or one
//! broker); topic statistics, consumer progress and connections, offset resets, broker
//! runtime figures and configuration, and messages by offset id or by key from the brokers.
//!
//! Thread-safe handle; each call blocks its caller.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use wire::body::{
    properties_text, ClusterInfo, ConsumeStats, ConsumerConnection, KvTable, MessageQueue,
    ProducerConnection, ResetOffsetBody, SubscriptionGroupConfig, TopicConfig, TopicList,
    TopicRouteData, TopicStatsTable,
};
use wire::message::MessageRecord;
use wire::message_id::OffsetMsgId;
use wire::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::ClientError;
use crate::remoting::RemotingClient;
use crate::route::{NameServers, RouteCache};

pub struct AdminClient {
    client: RemotingClient,
    namesrvs: NameServers,
    routes: RouteCache,
    timeout: Duration,
}

fn ok(answer: RemotingCommand) -> Result<RemotingCommand, ClientError> {
    match answer.response_code() {
        ResponseCode::SUCCESS => Ok(answer),
        code => Err(ClientError::server(code, answer.remark.as_deref())),
    }
}

fn request(code: RequestCode, fields: &[(&str, String)]) -> RemotingCommand {
    let mut request = RemotingCommand::request(code, 0);
    for (key, value) in fields {
        request = request.with_ext(*key, value.clone());
    }
    request
}

impl AdminClient {
    pub fn start(namesrv_addr: &str) -> Result<AdminClient, ClientError> {
        Ok(AdminClient {
            client: RemotingClient::start(None)?,
            namesrvs: NameServers::parse(namesrv_addr)?,
            routes: RouteCache::default(),
            timeout: Duration::from_secs(5),
        })
    }

    pub fn shutdown(&self) {
        self.client.shutdown();
    }

    fn namesrv(&self, request: RemotingCommand) -> Result<RemotingCommand, ClientError> {
        ok(self.namesrvs.invoke(&self.client, request, self.timeout)?)
    }

    fn broker(
        &self,
        addr: SocketAddr,
        request: RemotingCommand,
    ) -> Result<RemotingCommand, ClientError> {
        ok(self.client.invoke(addr, request, self.timeout)?)
    }

    pub fn cluster_info(&self) -> Result<ClusterInfo, ClientError> {
        let answer = self.namesrv(request(RequestCode::GET_BROKER_CLUSTER_INFO, &[]))?;
        Ok(ClusterInfo::decode(&answer.body)?)
    }

    pub fn topic_list(&self) -> Result<Vec<String>, ClientError> {
        let answer = self.namesrv(request(
            RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            &[],
        ))?;
        let mut topics = TopicList::decode(&answer.body)?.topic_list;
        topics.sort();
        Ok(topics)
    }

    pub fn topic_route(&self, topic: &str) -> Result<TopicRouteData, ClientError> {
        Ok(self
            .routes
            .refresh(&self.client, &self.namesrvs, topic, self.timeout)?
            .data)
    }

    /// The master addresses of `cluster` by broker name.
    pub fn masters(&self, cluster: &str) -> Result<BTreeMap<String, SocketAddr>, ClientError> {
        let info = self.cluster_info()?;
        let names = info
            .cluster_addr_table
            .get(cluster)
            .cloned()
            .unwrap_or_default();
        let mut masters = BTreeMap::new();
        for name in names {
            let addr = info
                .broker_addr_table
                .get(&name)
                .and_then(|b| b.broker_addrs.get(&0));
            if let Some(addr) = addr.and_then(|a| a.parse().ok()) {
                masters.insert(name, addr);
            }
        }
        if masters.is_empty() {
            return Err(ClientError::Invalid(format!(
                "cluster {cluster} has no master"
            )));
        }
        Ok(masters)
    }

    /// UPDATE_AND_CREATE_TOPIC on every master of `cluster`.
    pub fn create_topic(&self, cluster: &str, config: &TopicConfig) -> Result<(), ClientError> {
        for addr in self.masters(cluster)?.values() {
            self.create_topic_on(*addr, config)?;
        }
        Ok(())
    }

    /// UPDATE_AND_CREATE_TOPIC on one broker.
    pub fn create_topic_on(
        &self,
        addr: SocketAddr,
        config: &TopicConfig,
    ) -> Result<(), ClientError> {
        let fields = [
            ("topic", config.topic_name.clone()),
            ("defaultTopic", "TBW102".to_string()),
            ("readQueueNums", config.read_queue_nums.to_string()),
            ("writeQueueNums", config.write_queue_nums.to_string()),
            ("perm", config.perm.to_string()),
            ("topicFilterType", config.topic_filter_type.clone()),
            ("topicSysFlag", config.topic_sys_flag.to_string()),
            ("order", config.order.to_string()),
        ];
        self.broker(addr, request(RequestCode::UPDATE_AND_CREATE_TOPIC, &fields))?;
        Ok(())
    }

    /// DELETE_TOPIC_IN_BROKER on every master of `cluster`, then DELETE_TOPIC_IN_NAMESRV.
    pub fn delete_topic(&self, cluster: &str, topic: &str) -> Result<(), ClientError> {
        let fields = [("topic", topic.to_string())];
        for addr in self.masters(cluster)?.values() {
            self.broker(*addr, request(RequestCode::DELETE_TOPIC_IN_BROKER, &fields))?;
        }
        self.namesrv(request(RequestCode::DELETE_TOPIC_IN_NAMESRV, &fields))?;
        self.routes.forget(topic);
        Ok(())
    }

    /// The master of every broker set serving `topic`, from a fresh route.
    fn route_masters(&self, topic: &str) -> Result<Vec<SocketAddr>, ClientError> {
        let route = self
            .routes
            .refresh(&self.client, &self.namesrvs, topic, self.timeout)?;
        Ok(route
            .data
            .broker_datas
            .iter()
            .filter_map(|b| route.master(&b.broker_name))
            .collect())
    }

    fn any_master(&self, topic: &str) -> Result<SocketAddr, ClientError> {
        self.route_masters(topic)?
            .into_iter()
            .next()
            .ok_or_else(|| ClientError::NoRoute {
                topic: topic.to_string(),
            })
    }

    /// Queue offsets of `topic` on every broker of its route.
    pub fn topic_stats(&self, topic: &str) -> Result<TopicStatsTable, ClientError> {
        let mut merged = TopicStatsTable::default();
        for addr in self.route_masters(topic)? {
            let answer = self.broker(
                addr,
                request(
                    RequestCode::GET_TOPIC_STATS_INFO,
                    &[("topic", topic.to_string())],
                ),
            )?;
            merged
                .offset_table
                .extend(TopicStatsTable::decode(&answer.body)?.offset_table);
        }
        Ok(merged)
    }

    /// A group's progress on `topic` (broker and consumer offsets per queue).
    pub fn consume_stats(&self, group: &str, topic: &str) -> Result<ConsumeStats, ClientError> {
        self.consume_stats_of(group, Some(topic))
    }

    /// A group's progress on `topic` (the brokers of its route), or with `None` on every
    /// topic it has offsets for on every master (the group's `%RETRY%` topic exists only
    /// once a consumer has connected, so it cannot be the guide).
    pub fn consume_stats_of(
        &self,
        group: &str,
        topic: Option<&str>,
    ) -> Result<ConsumeStats, ClientError> {
        let mut fields = vec![("consumerGroup", group.to_string())];
        let addrs: Vec<SocketAddr> = match topic {
            Some(topic) => {
                fields.push(("topic", topic.to_string()));
                self.route_masters(topic)?
            }
            None => {
                let info = self.cluster_info()?;
                info.broker_addr_table
                    .values()
                    .filter_map(|b| b.broker_addrs.get(&0)?.parse().ok())
                    .collect()
            }
        };
        let mut merged = ConsumeStats::default();
        for addr in addrs {
            let answer = self.broker(addr, request(RequestCode::GET_CONSUME_STATS, &fields))?;
            let stats = ConsumeStats::decode(&answer.body)?;
            merged.consume_tps += stats.consume_tps;
            merged.offset_table.extend(stats.offset_table);
        }
        Ok(merged)
    }

    /// The clients of a consumer group, as a broker of `topic` knows them.
    pub fn consumer_connection(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<ConsumerConnection, ClientError> {
        let addr = self.any_master(topic)?;
        let fields = [("consumerGroup", group.to_string())];
        let answer = self.broker(
            addr,
            request(RequestCode::GET_CONSUMER_CONNECTION_LIST, &fields),
        )?;
        Ok(ConsumerConnection::decode(&answer.body)?)
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on every master of `cluster`.
    pub fn create_group(
        &self,
        cluster: &str,
        config: &SubscriptionGroupConfig,
    ) -> Result<(), ClientError> {
        for addr in self.masters(cluster)?.values() {
            self.create_group_on(*addr, config)?;
        }
        Ok(())
    }

    /// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP on one broker.
    pub fn create_group_on(
        &self,
        addr: SocketAddr,
        config: &SubscriptionGroupConfig,
    ) -> Result<(), ClientError> {
        let create = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0)
            .with_body(config.encode());
        self.broker(addr, create)?;
        Ok(())
    }

    /// DELETE_SUBSCRIPTIONGROUP on every master of `cluster`, its offsets too.
    pub fn delete_group(&self, cluster: &str, group: &str) -> Result<(), ClientError> {
        for addr in self.masters(cluster)?.values() {
            self.delete_group_on(*addr, group, true)?;
        }
        Ok(())
    }

    /// DELETE_SUBSCRIPTIONGROUP on one broker.
    pub fn delete_group_on(
        &self,
        addr: SocketAddr,
        group: &str,
        remove_offset: bool,
    ) -> Result<(), ClientError> {
        let fields = [
            ("groupName", group.to_string()),
            ("removeOffset", remove_offset.to_string()),
        ];
        self.broker(
            addr,
            request(RequestCode::DELETE_SUBSCRIPTIONGROUP, &fields),
        )?;
        Ok(())
    }

    pub fn broker_runtime_info(
        &self,
        addr: SocketAddr,
    ) -> Result<BTreeMap<String, String>, ClientError> {
        let answer = self.broker(addr, request(RequestCode::GET_BROKER_RUNTIME_INFO, &[]))?;
        Ok(KvTable::decode(&answer.body)?.table)
    }

    /// The message an offset message id names (the broker's `msgId`), from the broker it names.
    pub fn view_message(&self, offset_msg_id: &str) -> Result<MessageRecord, ClientError> {
        let id = OffsetMsgId::decode(offset_msg_id)?;
        let fields = [("offset", id.commit_log_offset.to_string())];
        let answer = self.broker(
            id.store_host,
            request(RequestCode::VIEW_MESSAGE_BY_ID, &fields),
        )?;
        let mut record = MessageRecord::decode(&answer.body, true)?.0;
        crate::consumer::decompress(&mut record)?;
        Ok(record)
    }

    /// The clients of a producer group, as a broker of `topic` knows them.
    pub fn producer_connection(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<ProducerConnection, ClientError> {
        let addr = self.any_master(topic)?;
        let fields = [("producerGroup", group.to_string())];
        let answer = self.broker(
            addr,
            request(RequestCode::GET_PRODUCER_CONNECTION_LIST, &fields),
        )?;
        Ok(ProducerConnection::decode(&answer.body)?)
    }

    /// GET_BROKER_CONFIG: the config's data version (JSON) and its `key=value` pairs.
    pub fn broker_config(
        &self,
        addr: SocketAddr,
    ) -> Result<(String, Vec<(String, String)>), ClientError> {
        let answer = self.broker(addr, request(RequestCode::GET_BROKER_CONFIG, &[]))?;
        let version = answer
            .ext_fields
            .get("version")
            .unwrap_or_default()
            .to_string();
        let text = String::from_utf8_lossy(&answer.body);
        Ok((version, properties_text::parse(&text)))
    }

    /// UPDATE_BROKER_CONFIG with one `key=value`; the broker's remark (keys that apply at
    /// its restart) comes back.
    pub fn update_broker_config(
        &self,
        addr: SocketAddr,
        key: &str,
        value: &str,
    ) -> Result<Option<String>, ClientError> {
        let body = properties_text::encode(&[(key.to_string(), value.to_string())]);
        let update = RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG, 0)
            .with_body(body.into_bytes());
        Ok(self.broker(addr, update)?.remark)
    }

    /// Messages of `topic` with `key` (a KEYS entry, or with `unique` the UNIQ_KEY) from every
    /// broker of the topic, oldest first, checked by their own topic and keys.
    pub fn query_message(
        &self,
        topic: &str,
        key: &str,
        max: i32,
        unique: bool,
    ) -> Result<Vec<MessageRecord>, ClientError> {
        let fields = [
            ("topic", topic.to_string()),
            ("key", key.to_string()),
            ("maxNum", max.to_string()),
            ("beginTimestamp", "0".to_string()),
            ("endTimestamp", i64::MAX.to_string()),
            ("_UNIQUE_KEY_QUERY", unique.to_string()),
        ];
        let mut found = Vec::new();
        for addr in self.route_masters(topic)? {
            let answer = self.client.invoke(
                addr,
                request(RequestCode::QUERY_MESSAGE, &fields),
                self.timeout,
            )?;
            match answer.response_code() {
                ResponseCode::SUCCESS => {}
                ResponseCode::QUERY_NOT_FOUND => continue,
                code => return Err(ClientError::server(code, answer.remark.as_deref())),
            }
            let mut rest = &answer.body[..];
            while !rest.is_empty() {
                let (mut record, used) = MessageRecord::decode(rest, true)?;
                rest = &rest[used..];
                crate::consumer::decompress(&mut record)?;
                found.push(record);
            }
        }
        found.retain(|record| {
            let properties = record.properties_map();
            let has_key = if unique {
                properties.get(wire::properties::UNIQ_KEY) == Some(key)
            } else {
                properties
                    .get(wire::properties::KEYS)
                    .is_some_and(|keys| keys.split(' ').any(|k| k == key))
            };
            record.topic == topic && has_key
        });
        found.sort_by_key(|record| (record.store_timestamp, record.commit_log_offset));
        Ok(found)
    }

    /// INVOKE_BROKER_TO_RESET_OFFSET on every broker of `topic`: the group's offsets move to
    /// the first message stored at or after `timestamp` (ms; -1 = the end); without `force`
    /// only backwards. The new offset of each queue.
    pub fn reset_offset_by_time(
        &self,
        group: &str,
        topic: &str,
        timestamp: i64,
        force: bool,
    ) -> Result<BTreeMap<MessageQueue, i64>, ClientError> {
        let fields = [
            ("topic", topic.to_string()),
            ("group", group.to_string()),
            ("timestamp", timestamp.to_string()),
            ("isForce", force.to_string()),
        ];
        let mut offsets = BTreeMap::new();
        for addr in self.route_masters(topic)? {
            let answer = self.broker(
                addr,
                request(RequestCode::INVOKE_BROKER_TO_RESET_OFFSET, &fields),
            )?;
            offsets.extend(ResetOffsetBody::decode(&answer.body)?.offset_table);
        }
        Ok(offsets)
    }

    /// QUERY_TOPIC_CONSUME_BY_WHO at a broker of `topic`: the groups consuming it.
    pub fn topic_consumers(&self, topic: &str) -> Result<Vec<String>, ClientError> {
        let addr = self.any_master(topic)?;
        let fields = [("topic", topic.to_string())];
        let answer = self.broker(
            addr,
            request(RequestCode::QUERY_TOPIC_CONSUME_BY_WHO, &fields),
        )?;
        Ok(wire::body::GroupList::decode(&answer.body)?.group_list)
    }

    /// GET_CONSUMER_RUNNING_INFO, relayed by a broker of the group to the consumer `client_id`.
    pub fn consumer_running_info(
        &self,
        group: &str,
        client_id: &str,
    ) -> Result<wire::body::ConsumerRunningInfo, ClientError> {
        let addr = self.any_master(&format!("%RETRY%{group}"))?;
        let fields = [
            ("consumerGroup", group.to_string()),
            ("clientId", client_id.to_string()),
            ("jstackEnable", "false".to_string()),
        ];
        let request = request(RequestCode::GET_CONSUMER_RUNNING_INFO, &fields);
        // The broker waits for the consumer; upstream's admin allows 15 s.
        let answer = ok(self.client.invoke(addr, request, Duration::from_secs(15))?)?;
        Ok(wire::body::ConsumerRunningInfo::decode(&answer.body)?)
    }
}
