//! The pull consumer: the queues of a topic, pulls from a queue at an offset (long polling
//! when asked), and the group's offsets on the broker (query, commit), queue bounds and the
//! search by time. Pulled records are decoded, bodies decompressed and tags re-checked by
//! string (the broker filters by hash code only).
//!
//! Thread-safe handle; each call blocks its caller.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use wire::body::MessageQueue;
use wire::headers::offset::{
    GetMaxOffsetRequestHeader, QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader,
    UpdateConsumerOffsetRequestHeader,
};
use wire::headers::pull::{PullMessageRequestHeader, PullMessageResponseHeader, PullSysFlag};
use wire::headers::CommandHeader;
use wire::message::{sys_flag, MessageRecord};
use wire::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::ClientError;
use crate::remoting::RemotingClient;
use crate::route::{NameServers, Route, RouteCache};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullStatus {
    Found,
    NoNewMessage,
    NoMatchedMessage,
    OffsetIllegal,
}

#[derive(Debug, Clone)]
pub struct PullResult {
    pub status: PullStatus,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    /// Which broker of the set to pull this queue from next (0 = master).
    pub suggest_which_broker_id: i64,
    pub messages: Vec<MessageRecord>,
}

struct Inner {
    group: String,
    client: RemotingClient,
    namesrvs: NameServers,
    routes: RouteCache,
    timeout: Duration,
}

#[derive(Clone)]
pub struct PullConsumer {
    inner: Arc<Inner>,
}

impl PullConsumer {
    pub fn start(group: &str, namesrv_addr: &str) -> Result<PullConsumer, ClientError> {
        PullConsumer::with_client(group, namesrv_addr, RemotingClient::start(None)?)
    }

    /// A pull consumer on an existing connection layer (the push consumer's).
    pub fn with_client(
        group: &str,
        namesrv_addr: &str,
        client: RemotingClient,
    ) -> Result<PullConsumer, ClientError> {
        Ok(PullConsumer {
            inner: Arc::new(Inner {
                group: group.to_string(),
                client,
                namesrvs: NameServers::parse(namesrv_addr)?,
                routes: RouteCache::default(),
                timeout: Duration::from_secs(3),
            }),
        })
    }

    pub fn group(&self) -> &str {
        &self.inner.group
    }

    pub fn client(&self) -> &RemotingClient {
        &self.inner.client
    }

    pub fn shutdown(&self) {
        self.inner.client.shutdown();
    }

    pub fn route(&self, topic: &str) -> Result<Route, ClientError> {
        let inner = &self.inner;
        inner
            .routes
            .get(&inner.client, &inner.namesrvs, topic, inner.timeout)
    }

    /// The readable queues of `topic` as the namesrvs say now (not from the cache).
    pub fn refresh_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ClientError> {
        let inner = &self.inner;
        let route = inner
            .routes
            .refresh(&inner.client, &inner.namesrvs, topic, inner.timeout)?;
        Ok(route.read_queues(topic))
    }

    /// The readable queues of `topic`, sorted.
    pub fn fetch_queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ClientError> {
        Ok(self.route(topic)?.read_queues(topic))
    }

    /// The address serving `queue` (master first, else any broker of the set).
    fn address(
        &self,
        queue: &MessageQueue,
        broker_id: Option<i64>,
    ) -> Result<SocketAddr, ClientError> {
        let route = self.route(&queue.topic)?;
        route
            .address(&queue.broker_name, broker_id)
            .or_else(|| route.address(&queue.broker_name, None))
            .ok_or_else(|| ClientError::NoRoute {
                topic: queue.topic.clone(),
            })
    }

    fn call(
        &self,
        addr: SocketAddr,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        self.inner.client.invoke(addr, request, timeout)
    }

    /// Pulls up to `max_nums` messages of `queue` from `offset` whose tags match `expression`
    /// (`*` or `a || b`). With `suspend` the broker holds the pull up to that long for new
    /// messages (long polling).
    pub fn pull(
        &self,
        queue: &MessageQueue,
        expression: &str,
        offset: i64,
        max_nums: i32,
        suspend: Option<Duration>,
    ) -> Result<PullResult, ClientError> {
        let suspend_ms = suspend.map_or(0, |s| s.as_millis() as i64);
        let header = PullMessageRequestHeader {
            consumer_group: self.inner.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            queue_offset: offset,
            max_msg_nums: max_nums,
            sys_flag: PullSysFlag::new(false, suspend.is_some(), true, false).bits(),
            commit_offset: 0,
            suspend_timeout_millis: suspend_ms,
            subscription: Some(expression.to_string()),
            sub_version: 0,
            expression_type: Some("TAG".into()),
        };
        let mut request = RemotingCommand::request(RequestCode::PULL_MESSAGE, 0);
        header.write_to(&mut request.ext_fields);
        let addr = self.address(queue, Some(0))?;
        let timeout = self.inner.timeout + Duration::from_millis(suspend_ms as u64);
        let answer = self.call(addr, request, timeout).inspect_err(|error| {
            if matches!(
                error,
                ClientError::Connection { .. } | ClientError::Timeout { .. }
            ) {
                // The broker may be gone or back on another address: ask the namesrv again.
                self.inner.routes.forget(&queue.topic);
            }
        })?;
        let status = match answer.response_code() {
            ResponseCode::SUCCESS => PullStatus::Found,
            ResponseCode::PULL_NOT_FOUND => PullStatus::NoNewMessage,
            ResponseCode::PULL_RETRY_IMMEDIATELY => PullStatus::NoMatchedMessage,
            ResponseCode::PULL_OFFSET_MOVED => PullStatus::OffsetIllegal,
            code => return Err(ClientError::server(code, answer.remark.as_deref())),
        };
        let fields = PullMessageResponseHeader::read_from(&answer.ext_fields)?;
        let messages = if status == PullStatus::Found {
            decode_messages(&answer.body, expression)?
        } else {
            Vec::new()
        };
        Ok(PullResult {
            status,
            next_begin_offset: fields.next_begin_offset,
            min_offset: fields.min_offset,
            max_offset: fields.max_offset,
            suggest_which_broker_id: fields.suggest_which_broker_id,
            messages,
        })
    }

    /// The group's committed offset of `queue`; `None` when the broker has none.
    pub fn query_offset(&self, queue: &MessageQueue) -> Result<Option<i64>, ClientError> {
        let header = QueryConsumerOffsetRequestHeader {
            consumer_group: self.inner.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
        };
        let mut request = RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET, 0);
        header.write_to(&mut request.ext_fields);
        let answer = self.call(self.address(queue, Some(0))?, request, self.inner.timeout)?;
        match answer.response_code() {
            ResponseCode::SUCCESS => {
                Ok(answer.ext_fields.get("offset").and_then(|o| o.parse().ok()))
            }
            ResponseCode::QUERY_NOT_FOUND => Ok(None),
            code => Err(ClientError::server(code, answer.remark.as_deref())),
        }
    }

    /// Commits the group's offset of `queue` (the next message to consume).
    pub fn commit_offset(&self, queue: &MessageQueue, offset: i64) -> Result<(), ClientError> {
        let header = UpdateConsumerOffsetRequestHeader {
            consumer_group: self.inner.group.clone(),
            topic: queue.topic.clone(),
            queue_id: queue.queue_id,
            commit_offset: offset,
        };
        let mut request = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, 0);
        header.write_to(&mut request.ext_fields);
        let answer = self.call(self.address(queue, Some(0))?, request, self.inner.timeout)?;
        match answer.response_code() {
            ResponseCode::SUCCESS => Ok(()),
            code => Err(ClientError::server(code, answer.remark.as_deref())),
        }
    }

    fn offset_query(
        &self,
        queue: &MessageQueue,
        code: RequestCode,
        timestamp: Option<i64>,
    ) -> Result<i64, ClientError> {
        let mut request = RemotingCommand::request(code, 0);
        match timestamp {
            Some(timestamp) => SearchOffsetRequestHeader {
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                timestamp,
            }
            .write_to(&mut request.ext_fields),
            None => GetMaxOffsetRequestHeader {
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
            }
            .write_to(&mut request.ext_fields),
        }
        let answer = self.call(self.address(queue, Some(0))?, request, self.inner.timeout)?;
        if answer.response_code() != ResponseCode::SUCCESS {
            return Err(ClientError::server(
                answer.response_code(),
                answer.remark.as_deref(),
            ));
        }
        answer
            .ext_fields
            .get("offset")
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| ClientError::Decode("answer without offset".into()))
    }

    pub fn max_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError> {
        self.offset_query(queue, RequestCode::GET_MAX_OFFSET, None)
    }

    pub fn min_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError> {
        self.offset_query(queue, RequestCode::GET_MIN_OFFSET, None)
    }

    /// The first offset stored at or after `timestamp` (ms).
    pub fn search_offset(&self, queue: &MessageQueue, timestamp: i64) -> Result<i64, ClientError> {
        self.offset_query(
            queue,
            RequestCode::SEARCH_OFFSET_BY_TIMESTAMP,
            Some(timestamp),
        )
    }
}

/// Records of a pull body, decompressed, keeping only the tags the expression names.
fn decode_messages(body: &[u8], expression: &str) -> Result<Vec<MessageRecord>, ClientError> {
    let tags: Vec<&str> = expression
        .split("||")
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != "*")
        .collect();
    let mut messages = Vec::new();
    let mut position = 0;
    while position < body.len() {
        let (mut record, size) = MessageRecord::decode(&body[position..], true)?;
        position += size;
        if !tags.is_empty() {
            let tag = wire::properties::find(&record.properties, wire::properties::TAGS);
            if !tag.is_some_and(|t| tags.contains(&t)) {
                continue;
            }
        }
        decompress(&mut record)?;
        messages.push(record);
    }
    Ok(messages)
}

/// Inflates a record's body in place when its sys flag says it is compressed.
pub fn decompress(record: &mut MessageRecord) -> Result<(), ClientError> {
    if record.sys_flag & sys_flag::COMPRESSED != 0 {
        let mut plain = Vec::new();
        flate2::read::ZlibDecoder::new(record.body.as_slice())
            .read_to_end(&mut plain)
            .map_err(|e| ClientError::Decode(format!("compressed body: {e}")))?;
        record.body = plain;
        record.sys_flag &= !sys_flag::COMPRESSED;
    }
    Ok(())
}
