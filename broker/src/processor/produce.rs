//! The send path on the event loop: checks (permissions, topic, auto-creation, queue id,
//! retry and dead-letter topics), the append, and the answer: at once, or parked until the
//! flush watermark passes the message under SYNC_FLUSH (RocketMQ's group commit seen from the
//! broker), FLUSH_DISK_TIMEOUT when it does not in time. A message stored in a topic whose
//! config is not on disk yet (it was just auto-created) is first parked until `topics.json`
//! is (`durable_state`): upstream writes that file before answering such a send.

use std::time::Instant;

use client::net::{ConnectionId, Context};
use wire::body::TopicConfig;
use wire::headers::send::{read_send_request, SendMessageRequestHeader, SendMessageResponseHeader};
use wire::headers::CommandHeader;
use wire::{properties, RemotingCommand, ResponseCode};

use super::send::{encode_records, message_ids, refuse, Origin, Refusal};
use crate::config::{BrokerRole, FlushDiskType};
use crate::durability::Waiter;
use crate::durable_state::AfterPersist;
use crate::server::Broker;
use crate::store::disk_space::is_out_of_space;
use crate::store::{commit_log::is_topic_valid, AppendResult, StoreError};
use crate::topic_config::{is_send_forbidden, PERM_WRITE, RETRY_TOPIC_PREFIX};

/// Answers parked at most; past it sends get SYSTEM_BUSY rather than queue without bound
/// behind a slow disk or slave.
const WAITERS_MAX: usize = 65_536;
/// A slave this far behind counts as unavailable (`haSlaveFallbehindMax`).
const SLAVE_FALL_BEHIND_MAX: u64 = 256 << 20;

/// Store failures as send answers (the one mapping for the send processor).
pub fn store_refusal(error: &StoreError) -> Refusal {
    if let StoreError::Io(io) = error {
        if is_out_of_space(io) {
            // No room for the next commit-log segment: refused before a byte was written,
            // and accepted again as soon as there is room (no restart).
            return refuse(
                ResponseCode::SERVICE_NOT_AVAILABLE,
                format!("disk full: no room for the next commit-log segment ({io})"),
            );
        }
    }
    let code = match error {
        StoreError::Record(_)
        | StoreError::TopicInvalid { .. }
        | StoreError::MessageTooLarge { .. } => ResponseCode::MESSAGE_ILLEGAL,
        StoreError::FlushBehind { .. } => ResponseCode::SYSTEM_BUSY,
        StoreError::DiskFull { .. } | StoreError::NotWritable { .. } | StoreError::ShuttingDown => {
            ResponseCode::SERVICE_NOT_AVAILABLE
        }
        _ => ResponseCode::SYSTEM_ERROR,
    };
    Refusal {
        wait_for_flush: matches!(error, StoreError::FlushBehind { .. }),
        ..refuse(code, error.to_string())
    }
}

fn send_response(
    request: &RemotingCommand,
    code: ResponseCode,
    remark: Option<String>,
    header: &SendMessageResponseHeader,
) -> RemotingCommand {
    let mut response = RemotingCommand::response_to(request, code);
    response.remark = remark;
    header.write_to(&mut response.ext_fields);
    response
}

fn empty_header(queue_id: i32) -> SendMessageResponseHeader {
    SendMessageResponseHeader {
        msg_id: String::new(),
        queue_id,
        queue_offset: 0,
        transaction_id: None,
        msg_region: wire::headers::send::REGION_DEFAULT.to_string(),
        trace_on: true,
    }
}

impl Broker {
    /// Handles a send; gives the request back when the commit log has no room for it yet
    /// (see [`super::parked_sends`]).
    pub(crate) fn on_send(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: RemotingCommand,
    ) -> Option<RemotingCommand> {
        match self.send(ctx, id, &request) {
            Ok(Some(response)) => self.reply(ctx, id, &request, &response),
            Ok(None) => {}
            Err(refusal) if refusal.wait_for_flush => return Some(request),
            Err(refusal) => {
                let response = send_response(
                    &request,
                    refusal.code,
                    Some(refusal.remark),
                    &empty_header(0),
                );
                self.reply(ctx, id, &request, &response);
            }
        }
        None
    }

    /// The answer now, or `None` when it was parked for the flush.
    fn send(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: &RemotingCommand,
    ) -> Result<Option<RemotingCommand>, Refusal> {
        let header = read_send_request(request.request_code(), &request.ext_fields)
            .map_err(|e| refuse(ResponseCode::SYSTEM_ERROR, e.to_string()))?;
        self.check_writable()?;
        let parked = self.waiters.len() + self.durable_state.len();
        if self.waiters.len() >= WAITERS_MAX || self.durable_state.is_full() {
            return Err(refuse(
                ResponseCode::SYSTEM_BUSY,
                format!("[OVERLOAD] {parked} answers wait for durability; try later"),
            ));
        }
        let born_host = ctx
            .peer_addr(id)
            .ok_or_else(|| refuse(ResponseCode::SYSTEM_ERROR, "connection gone"))?;
        let (topic, queue_id) = self.send_destination(&header)?;
        let origin = Origin {
            born_host,
            store_host: self.store_host,
            cluster: &self.config.broker_cluster_name,
            message_size_max: self.config.max_message_size,
        };
        let mut records = encode_records(&header, &request.body, &topic, queue_id, &origin)?;
        let result = self
            .store
            .append(&mut records)
            .map_err(|e| store_refusal(&e))?;
        self.stats.put_messages += result.records.len() as u64;
        self.stats.put_bytes += records.len() as u64;
        self.stats
            .topic_puts
            .add(&topic, result.records.len() as u64);
        let response = self.appended_response(request, queue_id, &result);
        let wait = header
            .properties
            .as_deref()
            .and_then(|p| properties::find(p, properties::WAIT))
            != Some("false");
        Ok(self.answer_stored(id, request, response, &topic, result.end_offset, wait))
    }

    /// Refuses a write on a broker without write permission or on a slave (its log must stay
    /// a byte copy of its master's): sends and consumers' send-backs alike.
    pub(crate) fn check_writable(&self) -> Result<(), Refusal> {
        if self.config.broker_permission & PERM_WRITE == 0 {
            return Err(refuse(
                ResponseCode::NO_PERMISSION,
                format!(
                    "the broker[{}] sending message is forbidden",
                    self.store_host
                ),
            ));
        }
        if self.config.broker_role == BrokerRole::Slave {
            return Err(refuse(
                ResponseCode::SERVICE_NOT_AVAILABLE,
                "the broker is a slave and cannot accept writes",
            ));
        }
        if self.ha_master.as_ref().is_some_and(|ha| !ha.is_serving()) {
            return Err(refuse(
                ResponseCode::SERVICE_NOT_AVAILABLE,
                "the master is recovering: it waits for its slave to give back what it may \
                 have lost before it accepts writes",
            ));
        }
        Ok(())
    }

    /// The answer of a message stored in `topic` now, or parked (`None`): first until the
    /// topic's config is on disk when it was just created or changed (a message acked in a
    /// topic a restart does not know would answer TOPIC_NOT_EXIST), then as
    /// [`Self::answer_when_durable`] says.
    pub(crate) fn answer_stored(
        &mut self,
        id: ConnectionId,
        request: &RemotingCommand,
        response: RemotingCommand,
        topic: &str,
        end_offset: u64,
        wait: bool,
    ) -> Option<RemotingCommand> {
        let oneway = request.is_oneway();
        let Some(ticket) = self.topic_not_durable(topic) else {
            return self.answer_when_durable(id, oneway, response, end_offset, wait);
        };
        if oneway {
            return None;
        }
        let then = AfterPersist::Stored { end_offset, wait };
        let waiter = self.park_until_persisted(&[ticket], id, response, then)?;
        self.answer_when_durable(id, false, waiter.response, end_offset, wait)
    }

    /// The answer now, or parked (`None`) until the flush watermark (SYNC_FLUSH) and the
    /// slaves' acked offset (SYNC_MASTER) pass `end_offset`. A SYNC_MASTER without a slave in
    /// reach answers SLAVE_NOT_AVAILABLE (the message is stored) rather than wait.
    pub(crate) fn answer_when_durable(
        &mut self,
        id: ConnectionId,
        oneway: bool,
        mut response: RemotingCommand,
        end_offset: u64,
        wait: bool,
    ) -> Option<RemotingCommand> {
        let mut needs_slave = wait && self.config.broker_role == BrokerRole::SyncMaster;
        if needs_slave {
            let reachable = self.ha_master.as_ref().is_some_and(|ha| {
                ha.slave_count() > 0
                    && end_offset.saturating_sub(ha.slave_acked_offset()) < SLAVE_FALL_BEHIND_MAX
            });
            if !reachable {
                response.code = ResponseCode::SLAVE_NOT_AVAILABLE.as_i32();
                response.remark = Some("no slave in reach".into());
                needs_slave = false;
            }
        }
        let needs_flush = wait
            && self.config.flush_disk_type == FlushDiskType::SyncFlush
            && self.store.commit_log().flushed_offset() < end_offset;
        let needs_slave = needs_slave
            && self
                .ha_master
                .as_ref()
                .is_some_and(|ha| ha.slave_acked_offset() < end_offset);
        if !needs_flush && !needs_slave {
            return Some(response);
        }
        if !oneway {
            let timeout = if needs_slave {
                self.config.slave_timeout
            } else {
                self.config.sync_flush_timeout
            };
            let waiter = Waiter {
                connection: id,
                response,
                deadline: Instant::now() + timeout,
                needs_flush,
                needs_slave,
            };
            self.waiters.park(end_offset, waiter);
        }
        None
    }

    fn appended_response(
        &self,
        request: &RemotingCommand,
        queue_id: i32,
        result: &AppendResult,
    ) -> RemotingCommand {
        let header = SendMessageResponseHeader {
            msg_id: message_ids(result, self.store_host),
            queue_id,
            queue_offset: result.records.first().map_or(0, |r| r.queue_offset),
            ..empty_header(queue_id)
        };
        send_response(request, ResponseCode::SUCCESS, None, &header)
    }

    /// The topic and queue a send goes to: validated, auto-created when allowed, the queue
    /// picked when the producer left it to the broker, retries past their limit sent to the
    /// dead-letter topic.
    fn send_destination(
        &mut self,
        header: &SendMessageRequestHeader,
    ) -> Result<(String, i32), Refusal> {
        let topic = header.topic.as_str();
        if !is_topic_valid(topic) {
            return Err(refuse(
                ResponseCode::SYSTEM_ERROR,
                format!("the topic[{topic}] is invalid"),
            ));
        }
        if is_send_forbidden(topic) {
            return Err(refuse(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{topic}] is a system topic"),
            ));
        }
        if let Some(group) = topic.strip_prefix("%RETRY%") {
            if let Some(destination) = self.dead_letter(group, header)? {
                return Ok(destination);
            }
        }
        let config = self.topic_for_send(header)?;
        if config.perm & PERM_WRITE == 0 {
            return Err(refuse(
                ResponseCode::NO_PERMISSION,
                format!("the topic[{topic}] is not writable"),
            ));
        }
        let queues = config.write_queue_nums.max(config.read_queue_nums);
        let queue_id = if header.queue_id < 0 {
            (next_random() % config.write_queue_nums.max(1) as u64) as i32
        } else {
            header.queue_id
        };
        if queue_id >= queues {
            return Err(refuse(
                ResponseCode::SYSTEM_ERROR,
                format!(
                    "request queueId[{queue_id}] is illegal, topic {topic} has {queues} queues"
                ),
            ));
        }
        Ok((topic.to_string(), queue_id))
    }

    fn topic_for_send(
        &mut self,
        header: &SendMessageRequestHeader,
    ) -> Result<TopicConfig, Refusal> {
        let topic = header.topic.as_str();
        if let Some(config) = self.topics.get(topic) {
            return Ok(config.clone());
        }
        let created = if let Some(group) = topic.strip_prefix(RETRY_TOPIC_PREFIX) {
            Ok(self.topics.create_retry_topic(group, 1, 0))
        } else {
            self.topics.create_from_default(
                topic,
                &header.default_topic,
                header.default_topic_queue_nums,
                0,
            )
        };
        match created {
            Ok((config, change)) => {
                let config = config.clone();
                if change.needs_registration() {
                    // Its sends are acked once topics.json holds it (`answer_stored`).
                    log::info!("topic {topic} created on first send");
                    self.topics_changed = true;
                }
                Ok(config)
            }
            Err(refused) => Err(refuse(
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{topic}] not exist, apply first please! ({refused:?})"),
            )),
        }
    }

    /// A retry past its group's limit goes to `%DLQ%<group>`, queue 0.
    fn dead_letter(
        &mut self,
        group: &str,
        header: &SendMessageRequestHeader,
    ) -> Result<Option<(String, i32)>, Refusal> {
        let Some(config) = self.groups.find_or_create(group) else {
            return Err(refuse(
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group not exist, {group}"),
            ));
        };
        let max = header.max_reconsume_times.unwrap_or(config.retry_max_times);
        if header.reconsume_times.unwrap_or(0) < max {
            return Ok(None);
        }
        let (dlq, change) = self.topics.create_dlq_topic(group);
        let dlq = dlq.topic_name.clone();
        self.topics_changed |= change.needs_registration();
        Ok(Some((dlq, 0)))
    }
}

/// A cheap per-thread random number for picking queues (xorshift, seeded from the clock).
fn next_random() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 | 1)
                .unwrap_or(0x2545_F491_4F6C_DD1D),
        );
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_room_for_a_segment_is_a_disk_full_refusal_not_a_system_error() {
        let error = StoreError::Io(std::io::Error::from(std::io::ErrorKind::StorageFull));
        let refusal = store_refusal(&error);
        assert_eq!(refusal.code, ResponseCode::SERVICE_NOT_AVAILABLE);
        assert!(
            refusal.remark.starts_with("disk full"),
            "{}",
            refusal.remark
        );
        let full = StoreError::DiskFull {
            used_percent: 93,
            refuse_percent: 90,
        };
        let refusal = store_refusal(&full);
        assert_eq!(refusal.code, ResponseCode::SERVICE_NOT_AVAILABLE);
        assert!(
            refusal.remark.starts_with("disk full"),
            "{}",
            refusal.remark
        );
        let other = StoreError::Io(std::io::Error::from_raw_os_error(5));
        assert_eq!(store_refusal(&other).code, ResponseCode::SYSTEM_ERROR);
    }
}
