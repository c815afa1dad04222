//! Admin queries and group administration: GET_BROKER_RUNTIME_INFO, GET_TOPIC_STATS_INFO,
//! GET_CONSUME_STATS, GET_CONSUMER_CONNECTION_LIST, GET_PRODUCER_CONNECTION_LIST,
//! GET_ALL_CONSUMER_OFFSET, the subscription-group requests, and VIEW_MESSAGE_BY_ID.
//! Bodies are upstream's JSON, as `mqadmin` reads them.
//!
//! Runs on the event-loop thread; the counters it reports are kept by the send and pull paths.

use std::collections::BTreeMap;
use std::time::Instant;

use wire::body::{
    ConsumeStats, KvTable, MessageQueue, OffsetWrapper, SubscriptionGroupConfig, TopicOffset,
    TopicStatsTable,
};
use wire::headers::admin::{
    DeleteSubscriptionGroupRequestHeader, GetConsumeStatsRequestHeader,
    GetConsumerConnectionListRequestHeader, GetProducerConnectionListRequestHeader,
    GetTopicStatsInfoRequestHeader, QueryTopicConsumeByWhoRequestHeader, ViewMessageRequestHeader,
};
use wire::headers::CommandHeader;
use wire::{RemotingCommand, RequestCode, ResponseCode};

use crate::server::Broker;

pub use super::stats::BrokerStats;

type Answer = Result<RemotingCommand, (ResponseCode, String)>;

fn read<H: CommandHeader>(request: &RemotingCommand) -> Result<H, (ResponseCode, String)> {
    H::read_from(&request.ext_fields).map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))
}

fn with_body(request: &RemotingCommand, body: Vec<u8>) -> RemotingCommand {
    let mut response = RemotingCommand::response_to(request, ResponseCode::SUCCESS);
    response.body = body;
    response
}

impl Broker {
    /// Answers an admin request, or `None` when `request` is not one of them.
    pub(crate) fn on_admin(&mut self, request: &RemotingCommand) -> Option<Answer> {
        use RequestCode as C;
        let answer = match request.request_code() {
            C::GET_BROKER_RUNTIME_INFO => Ok(with_body(request, self.runtime_info().encode())),
            C::GET_TOPIC_STATS_INFO => self.on_topic_stats(request),
            C::GET_CONSUME_STATS => self.on_consume_stats(request),
            C::GET_CONSUMER_CONNECTION_LIST => self.on_consumer_connections(request),
            C::GET_PRODUCER_CONNECTION_LIST => self.on_producer_connections(request),
            C::GET_ALL_CONSUMER_OFFSET => Ok(with_body(request, self.offsets.wrapper().encode())),
            C::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => {
                Ok(with_body(request, self.groups.wrapper().encode()))
            }
            C::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => self.on_update_group(request),
            C::DELETE_SUBSCRIPTIONGROUP => self.on_delete_group(request),
            C::VIEW_MESSAGE_BY_ID => self.on_view_message(request),
            C::GET_BROKER_CONFIG => self.on_get_broker_config(request),
            C::QUERY_TOPIC_CONSUME_BY_WHO => self.on_topic_consumers(request),
            C::GET_BROKER_CONSUME_STATS => self.on_broker_consume_stats(request),
            C::VIEW_BROKER_STATS_DATA => self.on_view_stats(request),
            C::UPDATE_BROKER_CONFIG => self.on_update_broker_config(request),
            _ => return None,
        };
        Some(answer)
    }

    fn runtime_info(&self) -> KvTable {
        let log = self.store.commit_log();
        let (today, yesterday) = (self.stats.today_morning, self.stats.yesterday_morning);
        let entries = [
            ("brokerVersionDesc", "V4_9_8".to_string()),
            ("brokerVersion", wire::VERSION_CURRENT.to_string()),
            ("bootTimestamp", self.stats.boot_timestamp_ms.to_string()),
            (
                "runtime",
                format!("[ {} s ]", self.stats.boot.elapsed().as_secs()),
            ),
            ("msgPutTotalTodayNow", self.stats.put_messages.to_string()),
            ("msgGetTotalTodayNow", self.stats.got_messages.to_string()),
            ("msgPutTotalTodayMorning", today.put.to_string()),
            ("msgGetTotalTodayMorning", today.got.to_string()),
            ("msgPutTotalYesterdayMorning", yesterday.put.to_string()),
            ("msgGetTotalYesterdayMorning", yesterday.got.to_string()),
            // No request thread pools: requests are served on the event loop as they come;
            // pulls never queue, sends only for room in the commit log.
            // Sends waiting for the flush to make room in the commit log.
            (
                "sendThreadPoolQueueSize",
                self.parked_sends.len().to_string(),
            ),
            (
                "sendThreadPoolQueueHeadWaitTimeMills",
                self.parked_sends
                    .head_wait(Instant::now())
                    .as_millis()
                    .to_string(),
            ),
            (
                "sendsParkedForFlushTotal",
                self.parked_sends.parked_total.to_string(),
            ),
            ("pullThreadPoolQueueSize", "0".to_string()),
            ("pullThreadPoolQueueHeadWaitTimeMills", "0".to_string()),
            ("pageCacheLockTimeMills", "0".to_string()),
            (
                "earliestMessageTimeStamp",
                self.earliest_message_time().to_string(),
            ),
            (
                "commitLogDiskRatio",
                format!("{:.4}", log.storage().used_ratio().unwrap_or(0.0)),
            ),
        ];
        KvTable {
            table: entries
                .into_iter()
                .chain(self.runtime_store_info())
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        }
    }

    /// The store's and the broker's own figures in the runtime info.
    fn runtime_store_info(&self) -> Vec<(&'static str, String)> {
        let log = self.store.commit_log();
        let (put_tps, get_tps) = self.stats.rates(Instant::now());
        vec![
            ("putMessageSizeTotal", self.stats.put_bytes.to_string()),
            ("putTps", put_tps),
            ("getTransferedTps", get_tps),
            ("commitLogMinOffset", log.min_offset().to_string()),
            ("commitLogMaxOffset", log.written_offset().to_string()),
            ("commitLogFlushedOffset", log.flushed_offset().to_string()),
            (
                "commitLogUnflushedBytes",
                log.written_offset()
                    .saturating_sub(log.flushed_offset())
                    .to_string(),
            ),
            (
                "dispatchBehindBytes",
                (log.written_offset() - self.store.dispatched_offset().min(log.written_offset()))
                    .to_string(),
            ),
            ("brokerRole", format!("{:?}", self.config.broker_role)),
            ("directIo", log.is_direct().to_string()),
            ("heldPulls", self.long_polls.len().to_string()),
            ("diskPulls", self.stats.disk_pulls.to_string()),
        ]
    }

    /// Store time of the oldest message in the commit log, -1 when empty (as upstream).
    fn earliest_message_time(&self) -> i64 {
        let log = self.store.commit_log();
        match self.store.record_at(log.min_offset()) {
            Ok(Some(record)) => wire::message::RecordView::decode(&record, false)
                .map(|(view, _)| view.store_timestamp)
                .unwrap_or(-1),
            _ => -1,
        }
    }

    fn queue(&self, topic: &str, queue_id: i32) -> MessageQueue {
        MessageQueue {
            broker_name: self.config.broker_name.clone(),
            queue_id,
            topic: topic.to_string(),
        }
    }

    /// Store time of the message just before `offset` (0 when there is none).
    fn last_timestamp(&self, topic: &str, queue_id: i32, offset: u64) -> i64 {
        if offset == 0 {
            return 0;
        }
        self.store
            .store_timestamp_at(topic, queue_id, offset - 1)
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    fn on_topic_stats(&self, request: &RemotingCommand) -> Answer {
        let header: GetTopicStatsInfoRequestHeader = read(request)?;
        let Some(config) = self.topics.get(&header.topic) else {
            return Err((
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{}] not exist", header.topic),
            ));
        };
        let mut table = TopicStatsTable::default();
        for queue_id in 0..config.write_queue_nums {
            let (min_offset, max_offset) = self.store.queue_offsets(&header.topic, queue_id);
            let offset = TopicOffset {
                last_update_timestamp: self.last_timestamp(&header.topic, queue_id, max_offset),
                max_offset: max_offset as i64,
                min_offset: min_offset as i64,
            };
            table
                .offset_table
                .insert(self.queue(&header.topic, queue_id), offset);
        }
        Ok(with_body(request, table.encode()))
    }

    fn on_consume_stats(&self, request: &RemotingCommand) -> Answer {
        let header: GetConsumeStatsRequestHeader = read(request)?;
        let group = &header.consumer_group;
        let topics: Vec<String> = match &header.topic {
            Some(topic) if !topic.is_empty() => vec![topic.clone()],
            _ => self.offsets.topics_of_group(group).into_iter().collect(),
        };
        let mut stats = ConsumeStats::default();
        for topic in topics {
            if let Some(topic_stats) = self.group_topic_stats(group, &topic) {
                stats.consume_tps += topic_stats.consume_tps;
                stats.offset_table.extend(topic_stats.offset_table);
            }
        }
        Ok(with_body(request, stats.encode()))
    }

    /// A group's offsets on each write queue of `topic` against the queue's end, or `None`
    /// for a topic this broker does not have.
    fn group_topic_stats(&self, group: &str, topic: &str) -> Option<ConsumeStats> {
        let config = self.topics.get(topic)?;
        let mut offset_table = BTreeMap::new();
        for queue_id in 0..config.write_queue_nums {
            let (_, max_offset) = self.store.queue_offsets(topic, queue_id);
            let consumer_offset = self
                .offsets
                .query(group, topic, queue_id)
                .unwrap_or(0)
                .max(0);
            let wrapper = OffsetWrapper {
                broker_offset: max_offset as i64,
                consumer_offset,
                last_timestamp: self.last_timestamp(topic, queue_id, consumer_offset as u64),
            };
            offset_table.insert(self.queue(topic, queue_id), wrapper);
        }
        // What the group pulled from this topic over the last minute, per second.
        let consume_tps = self
            .stats
            .group_gets
            .view(&format!("{topic}@{group}"), Instant::now())
            .map_or(0.0, |data| data.stats_minute.tps);
        Some(ConsumeStats {
            consume_tps,
            offset_table,
        })
    }

    /// GET_BROKER_CONSUME_STATS (`mqadmin brokerConsumeStats`): every subscription group's
    /// stats on each topic it has offsets for (only ordered topics with `isOrder`), and the
    /// total lag.
    fn on_broker_consume_stats(&self, request: &RemotingCommand) -> Answer {
        let order_only = request.ext_fields.get("isOrder") == Some("true");
        let mut total_diff: i64 = 0;
        let mut groups = Vec::new();
        for group in self.groups.group_names() {
            let mut list = Vec::new();
            for topic in self.offsets.topics_of_group(group) {
                if order_only && !self.topics.is_order(&topic) {
                    continue;
                }
                // A group online with subscriptions counts only the topics it subscribes.
                let subscribed = self.consumers.subscription(group, &topic).is_some();
                let online = self.consumers.group(group).is_some();
                if online && !subscribed && !topic.starts_with("%RETRY%") {
                    continue;
                }
                if let Some(stats) = self.group_topic_stats(group, &topic) {
                    total_diff += stats
                        .offset_table
                        .values()
                        .map(|o| o.broker_offset - o.consumer_offset)
                        .sum::<i64>();
                    list.push(String::from_utf8_lossy(&stats.encode()).into_owned());
                }
            }
            if !list.is_empty() {
                let name = serde_json::to_string(group).unwrap_or_default();
                groups.push(format!("{{{name}:[{}]}}", list.join(",")));
            }
        }
        let addr = serde_json::to_string(&self.store_host.to_string()).unwrap_or_default();
        let body = format!(
            "{{\"brokerAddr\":{addr},\"consumeStatsList\":[{}],\"totalDiff\":{total_diff}}}",
            groups.join(",")
        );
        Ok(with_body(request, body.into_bytes()))
    }

    fn on_consumer_connections(&self, request: &RemotingCommand) -> Answer {
        let header: GetConsumerConnectionListRequestHeader = read(request)?;
        match self.consumers.consumer_connection(&header.consumer_group) {
            Some(connection) => Ok(with_body(request, connection.encode())),
            None => Err((
                ResponseCode::CONSUMER_NOT_ONLINE,
                format!("the consumer group[{}] not online", header.consumer_group),
            )),
        }
    }

    /// VIEW_BROKER_STATS_DATA: a topic's puts or a `topic@group`'s gets over the last minute,
    /// hour and day.
    fn on_view_stats(&self, request: &RemotingCommand) -> Answer {
        use super::stats_items::{GROUP_GET_NUMS, TOPIC_PUT_NUMS};
        let name = request.ext_fields.get("statsName").unwrap_or_default();
        let key = request.ext_fields.get("statsKey").unwrap_or_default();
        let items = match name {
            TOPIC_PUT_NUMS => &self.stats.topic_puts,
            GROUP_GET_NUMS => &self.stats.group_gets,
            _ => {
                return Err((
                    ResponseCode::SYSTEM_ERROR,
                    format!("The stats <{name}> <{key}> not exist"),
                ))
            }
        };
        match items.view(key, Instant::now()) {
            Some(data) => {
                let body = serde_json::to_vec(&data)
                    .map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))?;
                Ok(with_body(request, body))
            }
            None => Err((
                ResponseCode::SYSTEM_ERROR,
                format!("The stats <{name}> <{key}> not exist"),
            )),
        }
    }

    /// QUERY_TOPIC_CONSUME_BY_WHO: groups online on the topic or holding offsets on it.
    fn on_topic_consumers(&self, request: &RemotingCommand) -> Answer {
        let header: QueryTopicConsumeByWhoRequestHeader = read(request)?;
        let mut groups = self.offsets.groups_of_topic(&header.topic);
        groups.extend(self.consumers.groups_subscribing(&header.topic));
        let body = wire::body::GroupList {
            group_list: groups.into_iter().collect(),
        };
        Ok(with_body(request, body.encode()))
    }

    fn on_producer_connections(&self, request: &RemotingCommand) -> Answer {
        let header: GetProducerConnectionListRequestHeader = read(request)?;
        match self.producers.producer_connection(&header.producer_group) {
            Some(connection) => {
                let body = serde_json::to_vec(&connection)
                    .map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))?;
                Ok(with_body(request, body))
            }
            None => Err((
                ResponseCode::SYSTEM_ERROR,
                format!("the producer group[{}] not exist", header.producer_group),
            )),
        }
    }

    fn on_update_group(&mut self, request: &RemotingCommand) -> Answer {
        let config = SubscriptionGroupConfig::decode(&request.body).map_err(|e| {
            (
                ResponseCode::SYSTEM_ERROR,
                format!("subscription group body: {e}"),
            )
        })?;
        if !crate::subscription_group::is_valid_group_name(&config.group_name) {
            return Err((
                ResponseCode::SYSTEM_ERROR,
                format!("invalid group name {:?}", config.group_name),
            ));
        }
        self.groups.update(config);
        Ok(RemotingCommand::response_to(request, ResponseCode::SUCCESS))
    }

    fn on_delete_group(&mut self, request: &RemotingCommand) -> Answer {
        let header: DeleteSubscriptionGroupRequestHeader = read(request)?;
        self.groups.delete(&header.group_name);
        if header.remove_offset && self.offsets.remove_group(&header.group_name) {
            self.state_changed(crate::state_commit::StateFile::ConsumerOffsets);
        }
        Ok(RemotingCommand::response_to(request, ResponseCode::SUCCESS))
    }

    fn on_view_message(&self, request: &RemotingCommand) -> Answer {
        let header: ViewMessageRequestHeader = read(request)?;
        let record = self
            .store
            .record_at(header.offset.max(0) as u64)
            .map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))?;
        match record {
            Some(record) => Ok(with_body(request, record)),
            None => Err((
                ResponseCode::SYSTEM_ERROR,
                format!("no message at offset {}", header.offset),
            )),
        }
    }
}
