//! CONSUMER_SEND_MSG_BACK (36): a consumer hands back a message it failed to consume. The
//! broker stores a copy in `%RETRY%<group>` (which the group's consumers also subscribe), with
//! RETRY_TOPIC naming the original topic, ORIGIN_MESSAGE_ID the first id and one more
//! reconsume; past the group's retry limit (or with a negative delay level) the copy goes to
//! `%DLQ%<group>` instead. Delay levels are carried as the DELAY property, but no schedule
//! service holds retries back yet: they are redelivered at once.
//!
//! Runs on the event-loop thread.

use std::net::SocketAddr;

use client::net::{ConnectionId, Context};
use wire::headers::send::ConsumerSendMsgBackRequestHeader;
use wire::headers::CommandHeader;
use wire::message::RecordView;
use wire::message_id::OffsetMsgId;
use wire::properties::{self, Properties};
use wire::{RemotingCommand, ResponseCode};

use crate::server::Broker;

/// The answer, and where the copy went (topic, end of its records) when one was stored.
type Answer = Result<(RemotingCommand, Option<(String, u64)>), (ResponseCode, String)>;

fn system_error(reason: impl ToString) -> (ResponseCode, String) {
    (ResponseCode::SYSTEM_ERROR, reason.to_string())
}

impl Broker {
    /// Answers a send-back, or parks the answer until the retry copy is as durable as a send
    /// would be (its topic's config on disk when just created, SYNC_FLUSH, SYNC_MASTER): the
    /// consumer moves past the original once told.
    pub(crate) fn on_send_back_request(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: &RemotingCommand,
    ) {
        let answer = match self.on_send_back(request) {
            Ok((response, None)) => Some(response),
            Ok((response, Some((topic, end_offset)))) => {
                self.answer_stored(id, request, response, &topic, end_offset, true)
            }
            Err((code, remark)) => {
                let mut response = RemotingCommand::response_to(request, code);
                response.remark = Some(remark);
                Some(response)
            }
        };
        if let Some(answer) = answer {
            self.reply(ctx, id, request, &answer);
        }
    }

    fn on_send_back(&mut self, request: &RemotingCommand) -> Answer {
        self.check_writable().map_err(|r| (r.code, r.remark))?;
        let header = ConsumerSendMsgBackRequestHeader::read_from(&request.ext_fields)
            .map_err(system_error)?;
        let group = header.group.clone();
        let Some(group_config) = self.groups.find_or_create(&group).cloned() else {
            return Err((
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group not exist, {group}"),
            ));
        };
        if group_config.retry_queue_nums <= 0 {
            return Ok((
                RemotingCommand::response_to(request, ResponseCode::SUCCESS),
                None,
            ));
        }
        let original = self
            .store
            .record_at(header.offset.max(0) as u64)
            .map_err(system_error)?
            .ok_or_else(|| {
                system_error(format!("look message by offset failed, {}", header.offset))
            })?;
        let (view, _) = RecordView::decode(&original, false).map_err(system_error)?;
        let (topic, queue_id) = self.send_back_destination(&group_config, &view, &header);
        let text = retry_properties(&view, &header);
        let copy = RecordView {
            topic: &topic,
            queue_id,
            reconsume_times: view.reconsume_times.saturating_add(1),
            properties: &text,
            store_host: self.store_host,
            prepared_transaction_offset: 0,
            ..view
        };
        let mut bytes = Vec::new();
        copy.encode(&mut bytes).map_err(system_error)?;
        let appended = self.store.append(&mut bytes).map_err(|e| {
            let refusal = super::produce::store_refusal(&e);
            (refusal.code, refusal.remark)
        })?;
        self.stats.put_messages += 1;
        self.stats.topic_puts.add(&topic, 1);
        let response = RemotingCommand::response_to(request, ResponseCode::SUCCESS);
        Ok((response, Some((topic, appended.end_offset))))
    }

    /// `%DLQ%<group>` queue 0 past the retry limit (or for a negative delay level), else a
    /// queue of `%RETRY%<group>`; either topic is created on first use.
    fn send_back_destination(
        &mut self,
        group_config: &wire::body::SubscriptionGroupConfig,
        view: &RecordView<'_>,
        header: &ConsumerSendMsgBackRequestHeader,
    ) -> (String, i32) {
        let group = &header.group;
        let max = header
            .max_reconsume_times
            .unwrap_or(group_config.retry_max_times);
        if view.reconsume_times >= max || header.delay_level < 0 {
            let (dlq, change) = self.topics.create_dlq_topic(group);
            let dlq = dlq.topic_name.clone();
            self.topics_changed |= change.needs_registration();
            return (dlq, 0);
        }
        let queues = group_config.retry_queue_nums;
        let (retry, change) = self.topics.create_retry_topic(group, queues, 0);
        let (retry, queues) = (retry.topic_name.clone(), retry.write_queue_nums.max(1));
        self.topics_changed |= change.needs_registration();
        let queue_id = (view.queue_offset.unsigned_abs() % queues as u64) as i32;
        (retry, queue_id)
    }
}

/// The properties of the retry copy: RETRY_TOPIC and ORIGIN_MESSAGE_ID kept from the first
/// failure, the delay level (given, else 3 + reconsumes), WAIT=false.
fn retry_properties(view: &RecordView<'_>, header: &ConsumerSendMsgBackRequestHeader) -> String {
    let mut props: Properties = properties::decode(view.properties);
    if props.get(properties::RETRY_TOPIC).is_none() {
        props.insert(properties::RETRY_TOPIC, view.topic);
    }
    if props.get(properties::ORIGIN_MESSAGE_ID).is_none() {
        let origin = header
            .origin_msg_id
            .clone()
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| offset_id(view.store_host, view.commit_log_offset));
        props.insert(properties::ORIGIN_MESSAGE_ID, origin);
    }
    let level = if header.delay_level > 0 {
        header.delay_level
    } else {
        view.reconsume_times.saturating_add(3)
    };
    props.insert(properties::DELAY, level.to_string());
    props.insert(properties::WAIT, "false");
    properties::encode(&props)
}

fn offset_id(store_host: SocketAddr, commit_log_offset: i64) -> String {
    OffsetMsgId {
        store_host,
        commit_log_offset,
    }
    .encode()
}
