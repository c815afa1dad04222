//! Everything but send and pull: consumer offsets, client heartbeats and membership, queue
//! offset queries, and topic administration. Each request gets one answer built here;
//! operating errors become SYSTEM_ERROR with a remark, unknown codes
//! REQUEST_CODE_NOT_SUPPORTED naming the code. An answer of a request that changed a state
//! file (all but heartbeats) is parked until the change is on disk (`durable_state`).

use client::net::{ConnectionId, Context};
use wire::body::TopicConfig;
use wire::body::{ConsumerListBody, HeartbeatData};
use wire::headers::admin::{CreateTopicRequestHeader, DeleteTopicRequestHeader};
use wire::headers::client::{
    GetConsumerListByGroupRequestHeader, NotifyConsumerIdsChangedRequestHeader,
    UnregisterClientRequestHeader,
};
use wire::headers::offset::*;
use wire::headers::CommandHeader;
use wire::{RemotingCommand, RequestCode, ResponseCode};

use crate::client_manager::ClientChannel;
use crate::server::Broker;
use crate::state_commit::StateFile;

type Answer = Result<RemotingCommand, (ResponseCode, String)>;

/// Most queues a topic may have on one broker.
const QUEUE_COUNT_MAX: i32 = 8192;

fn ok(request: &RemotingCommand) -> RemotingCommand {
    RemotingCommand::response_to(request, ResponseCode::SUCCESS)
}

fn with_header(request: &RemotingCommand, header: &impl CommandHeader) -> RemotingCommand {
    let mut response = ok(request);
    header.write_to(&mut response.ext_fields);
    response
}

fn read<H: CommandHeader>(request: &RemotingCommand) -> Result<H, (ResponseCode, String)> {
    H::read_from(&request.ext_fields).map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))
}

/// The state files an admin request changes (empty: it changes none). Such a request is
/// refused (SYSTEM_BUSY) before it changes anything when too many answers already wait for
/// the disk, and its success waits for the newest change of these files even when it changed
/// nothing itself: a repeated create must not be acked before the first one is on disk.
fn admin_state_files(code: RequestCode) -> &'static [StateFile] {
    use RequestCode as C;
    match code {
        C::UPDATE_AND_CREATE_TOPIC | C::DELETE_TOPIC_IN_BROKER => &[StateFile::Topics],
        C::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP | C::DELETE_SUBSCRIPTIONGROUP => {
            &[StateFile::SubscriptionGroups]
        }
        C::UPDATE_BROKER_CONFIG => &[StateFile::BrokerConfig],
        C::INVOKE_BROKER_TO_RESET_OFFSET => &[StateFile::ConsumerOffsets],
        _ => &[],
    }
}

impl Broker {
    /// The answer now, or `None` when it waits for the state files it changed.
    pub(crate) fn on_management(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: &RemotingCommand,
    ) -> Option<RemotingCommand> {
        let code = request.request_code();
        let files = admin_state_files(code);
        if !files.is_empty() && self.durable_state.is_full() {
            let mut response = RemotingCommand::response_to(request, ResponseCode::SYSTEM_BUSY);
            let parked = self.durable_state.len();
            response.remark = Some(format!("[OVERLOAD] {parked} answers wait for the disk"));
            return Some(response);
        }
        self.begin_state_changes();
        let answer = self.dispatch_management(ctx, id, request);
        if self.topics_changed {
            // Registered before the answer goes out, so that a route query the admin sends
            // next finds the topic (upstream registers synchronously here).
            self.register(ctx, std::time::Instant::now());
        }
        let response = answer.unwrap_or_else(|(code, remark)| {
            let mut response = RemotingCommand::response_to(request, code);
            response.remark = Some(remark);
            response
        });
        let mut changes = self.take_state_changes();
        if response.response_code() == ResponseCode::SUCCESS {
            changes.extend(files.iter().map(|file| self.latest_state_change(*file)));
        }
        // A heartbeat claims nothing about what it created; a send into it waits instead.
        if changes.is_empty() || code == RequestCode::HEART_BEAT || request.is_oneway() {
            return Some(response);
        }
        let then = crate::durable_state::AfterPersist::Answer;
        self.park_until_persisted(&changes, id, response, then)
            .map(|waiter| waiter.response)
    }

    fn dispatch_management(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: &RemotingCommand,
    ) -> Answer {
        use RequestCode as C;
        match request.request_code() {
            C::HEART_BEAT => self.on_heartbeat(ctx, id, request),
            C::UNREGISTER_CLIENT => self.on_unregister_client(ctx, request),
            C::GET_CONSUMER_LIST_BY_GROUP => self.on_consumer_list(request),
            C::QUERY_CONSUMER_OFFSET => self.on_query_consumer_offset(request),
            C::UPDATE_CONSUMER_OFFSET => self.on_update_consumer_offset(request),
            C::GET_MAX_OFFSET => self.on_queue_offset(request, true),
            C::GET_MIN_OFFSET => self.on_queue_offset(request, false),
            C::SEARCH_OFFSET_BY_TIMESTAMP => self.on_search_offset(request),
            C::GET_EARLIEST_MSG_STORETIME => self.on_earliest_store_time(request),
            C::UPDATE_AND_CREATE_TOPIC => self.on_create_topic(request),
            C::LOCK_BATCH_MQ => Ok(self.on_lock(request, true)),
            C::UNLOCK_BATCH_MQ => Ok(self.on_lock(request, false)),
            C::DELETE_TOPIC_IN_BROKER => self.on_delete_topic(request),
            C::INVOKE_BROKER_TO_RESET_OFFSET => self.on_reset_offset(ctx, request),
            C::GET_ALL_TOPIC_CONFIG => {
                let mut response = ok(request);
                response.body = self.topics.encode();
                Ok(response)
            }
            other => self.on_admin(request).unwrap_or_else(|| {
                Err((
                    ResponseCode::REQUEST_CODE_NOT_SUPPORTED,
                    format!(" request type {} not supported", other.as_i32()),
                ))
            }),
        }
    }

    fn on_heartbeat(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: &RemotingCommand,
    ) -> Answer {
        let heartbeat = HeartbeatData::decode(&request.body)
            .map_err(|e| (ResponseCode::SYSTEM_ERROR, format!("heartbeat body: {e}")))?;
        let now = ctx.now();
        for consumer in &heartbeat.consumer_data_set {
            let group = &consumer.group_name;
            let retry_queues = self
                .groups
                .find_or_create(group)
                .map(|g| g.retry_queue_nums);
            if let Some(queues) = retry_queues.filter(|q| *q > 0) {
                let (_, change) = self.topics.create_retry_topic(group, queues, 0);
                self.topics_changed |= change.needs_registration();
            }
            let channel = self.channel(ctx, id, &heartbeat.client_id, request, now);
            let changed = self.consumers.register(channel, consumer);
            if changed {
                self.notify_consumer_ids_changed(ctx, group);
            }
        }
        for producer in &heartbeat.producer_data_set {
            let channel = self.channel(ctx, id, &heartbeat.client_id, request, now);
            self.producers.register(&producer.group_name, channel);
        }
        Ok(ok(request))
    }

    fn channel(
        &self,
        ctx: &Context<'_>,
        id: ConnectionId,
        client_id: &str,
        request: &RemotingCommand,
        now: std::time::Instant,
    ) -> ClientChannel<ConnectionId> {
        ClientChannel {
            connection: id,
            client_id: client_id.to_string(),
            client_addr: ctx.peer_addr(id).map(|a| a.to_string()).unwrap_or_default(),
            language: request.language,
            version: request.version,
            last_heartbeat: now,
        }
    }

    fn on_unregister_client(&mut self, ctx: &mut Context<'_>, request: &RemotingCommand) -> Answer {
        let header: UnregisterClientRequestHeader = read(request)?;
        if let Some(group) = &header.consumer_group {
            if self.consumers.unregister(group, &header.client_id) {
                self.notify_consumer_ids_changed(ctx, group);
            }
        }
        if let Some(group) = &header.producer_group {
            self.producers.unregister(group, &header.client_id);
        }
        Ok(ok(request))
    }

    fn on_consumer_list(&self, request: &RemotingCommand) -> Answer {
        let header: GetConsumerListByGroupRequestHeader = read(request)?;
        let ids = self.consumers.client_ids(&header.consumer_group);
        if ids.is_empty() {
            return Err((
                ResponseCode::SYSTEM_ERROR,
                format!("no consumer for this group, {}", header.consumer_group),
            ));
        }
        let mut response = ok(request);
        response.body = ConsumerListBody {
            consumer_id_list: ids,
        }
        .encode();
        Ok(response)
    }

    /// Tells every client of `group` that its membership changed (oneway), so they rebalance.
    pub(crate) fn notify_consumer_ids_changed(&mut self, ctx: &mut Context<'_>, group: &str) {
        if !self.config.notify_consumer_ids_changed_enable {
            return;
        }
        let header = NotifyConsumerIdsChangedRequestHeader {
            consumer_group: group.to_string(),
        };
        for connection in self.consumers.connections(group) {
            let mut notify = RemotingCommand::request(RequestCode::NOTIFY_CONSUMER_IDS_CHANGED, 0);
            notify.mark_oneway();
            header.write_to(&mut notify.ext_fields);
            ctx.send(connection, &notify);
        }
    }

    fn on_query_consumer_offset(&self, request: &RemotingCommand) -> Answer {
        let header: QueryConsumerOffsetRequestHeader = read(request)?;
        let stored = self
            .offsets
            .query(&header.consumer_group, &header.topic, header.queue_id);
        let offset = match stored {
            Some(offset) if offset >= 0 => offset,
            _ => {
                // A new group on a queue that still starts at 0 consumes from the start.
                let (min, _) = self.store.queue_offsets(&header.topic, header.queue_id);
                if min > 0 {
                    return Err((
                        ResponseCode::QUERY_NOT_FOUND,
                        "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first".into(),
                    ));
                }
                0
            }
        };
        Ok(with_header(
            request,
            &QueryConsumerOffsetResponseHeader { offset },
        ))
    }

    fn on_update_consumer_offset(&mut self, request: &RemotingCommand) -> Answer {
        let header: UpdateConsumerOffsetRequestHeader = read(request)?;
        self.commit_consumer_offset(
            &header.consumer_group,
            &header.topic,
            header.queue_id,
            header.commit_offset,
        );
        Ok(ok(request))
    }

    /// Stores a group's next offset in a queue, at most the queue's current max offset
    /// (rule 1 of `consumer_offset`); returns what was stored. Written periodically.
    pub(crate) fn commit_consumer_offset(
        &mut self,
        group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> i64 {
        let (_, max_offset) = self.store.queue_offsets(topic, queue_id);
        self.offsets
            .commit_clamped(group, topic, queue_id, offset, max_offset)
    }

    fn on_queue_offset(&self, request: &RemotingCommand, max: bool) -> Answer {
        let header: GetMaxOffsetRequestHeader = read(request)?;
        let (min_offset, max_offset) = self.store.queue_offsets(&header.topic, header.queue_id);
        let offset = if max { max_offset } else { min_offset } as i64;
        Ok(with_header(request, &GetMaxOffsetResponseHeader { offset }))
    }

    fn on_search_offset(&self, request: &RemotingCommand) -> Answer {
        let header: SearchOffsetRequestHeader = read(request)?;
        let offset = self
            .store
            .offset_by_timestamp(&header.topic, header.queue_id, header.timestamp)
            .map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))?;
        Ok(with_header(
            request,
            &SearchOffsetResponseHeader {
                offset: offset as i64,
            },
        ))
    }

    fn on_earliest_store_time(&self, request: &RemotingCommand) -> Answer {
        let header: GetEarliestMsgStoretimeRequestHeader = read(request)?;
        let timestamp = self
            .store
            .earliest_store_timestamp(&header.topic, header.queue_id)
            .map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))?
            .unwrap_or(-1);
        Ok(with_header(
            request,
            &GetEarliestMsgStoretimeResponseHeader { timestamp },
        ))
    }

    fn on_create_topic(&mut self, request: &RemotingCommand) -> Answer {
        let header: CreateTopicRequestHeader = read(request)?;
        if !crate::store::commit_log::is_topic_valid(&header.topic)
            || header.topic == header.default_topic
        {
            return Err((
                ResponseCode::SYSTEM_ERROR,
                format!("the topic[{}] is invalid", header.topic),
            ));
        }
        if self.topics.is_system_topic(&header.topic) {
            return Err((
                ResponseCode::SYSTEM_ERROR,
                format!("The topic[{}] is conflict with system topic.", header.topic),
            ));
        }
        // Every stats and rebalance request walks the queues: no count a request could make
        // the loop spin on.
        let counts = [header.read_queue_nums, header.write_queue_nums];
        if counts.iter().any(|n| !(1..=QUEUE_COUNT_MAX).contains(n)) {
            return Err((
                ResponseCode::SYSTEM_ERROR,
                format!(
                    "queue counts {}/{} out of 1..={QUEUE_COUNT_MAX}",
                    header.read_queue_nums, header.write_queue_nums
                ),
            ));
        }
        let config = TopicConfig {
            order: header.order,
            perm: header.perm,
            read_queue_nums: header.read_queue_nums,
            topic_filter_type: header.topic_filter_type.clone(),
            topic_name: header.topic.clone(),
            topic_sys_flag: header.topic_sys_flag.unwrap_or(0),
            write_queue_nums: header.write_queue_nums,
        };
        self.topics.create_or_update(config);
        self.topics_changed = true;
        Ok(ok(request))
    }

    fn on_delete_topic(&mut self, request: &RemotingCommand) -> Answer {
        let header: DeleteTopicRequestHeader = read(request)?;
        self.topics.delete(&header.topic);
        if self.offsets.remove_topic(&header.topic) {
            self.state_changed(StateFile::ConsumerOffsets);
        }
        self.store
            .remove_topic(&header.topic)
            .map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))?;
        self.topics_changed = true;
        Ok(ok(request))
    }
}
