//! INVOKE_BROKER_TO_RESET_OFFSET (222, `mqadmin resetOffsetByTime`): moves a consumer group's
//! offsets on a topic to the first message stored at or after a time (`-1`: the end), commits
//! them here, and tells the group's online consumers with RESET_CONSUMER_CLIENT_OFFSET (220),
//! whose Java handler adopts them. Without `isForce` an offset only moves back.
//!
//! Upstream answers CONSUMER_NOT_ONLINE for a group without consumers and leaves the change to
//! the tool; committing here serves online and offline groups alike, and the answer goes out
//! once `consumerOffset.json` holds the new offsets.
//!
//! Runs on the event-loop thread.

use client::net::Context;
use wire::body::{MessageQueue, ResetOffsetBody};
use wire::headers::admin::ResetOffsetRequestHeader;
use wire::headers::CommandHeader;
use wire::{RemotingCommand, RequestCode, ResponseCode};

use crate::server::Broker;

type Answer = Result<RemotingCommand, (ResponseCode, String)>;

impl Broker {
    pub(crate) fn on_reset_offset(
        &mut self,
        ctx: &mut Context<'_>,
        request: &RemotingCommand,
    ) -> Answer {
        let header = ResetOffsetRequestHeader::read_from(&request.ext_fields)
            .map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))?;
        let (topic, group) = (&header.topic, &header.group);
        let Some(config) = self.topics.get(topic) else {
            return Err((
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic {topic} does not exist on this broker"),
            ));
        };
        let mut body = ResetOffsetBody::default();
        for queue_id in 0..config.write_queue_nums.max(config.read_queue_nums) {
            let target = if header.timestamp < 0 {
                self.store.queue_offsets(topic, queue_id).1
            } else {
                self.store
                    .offset_by_timestamp(topic, queue_id, header.timestamp)
                    .map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))?
            } as i64;
            let offset = match self.offsets.query(group, topic, queue_id) {
                Some(current) if current >= 0 && !header.is_force && target > current => current,
                _ => target,
            };
            let offset = self.commit_consumer_offset(group, topic, queue_id, offset);
            let queue = MessageQueue {
                broker_name: self.config.broker_name.clone(),
                queue_id,
                topic: topic.clone(),
            };
            body.offset_table.insert(queue, offset);
        }
        // An admin change: the answer waits for the file (the dispatcher parks it).
        self.state_changed(crate::state_commit::StateFile::ConsumerOffsets);
        let encoded = body.encode();
        let online = self.consumers.connections(group);
        for connection in &online {
            let mut notify = RemotingCommand::request(RequestCode::RESET_CONSUMER_CLIENT_OFFSET, 0);
            notify.mark_oneway();
            header.write_to(&mut notify.ext_fields);
            notify.body = encoded.clone();
            ctx.send(*connection, &notify);
        }
        log::info!(
            "offsets of {group} on {topic} reset to time {} ({} queue(s), {} consumer(s) told)",
            header.timestamp,
            body.offset_table.len(),
            online.len()
        );
        let mut response = RemotingCommand::response_to(request, ResponseCode::SUCCESS);
        response.body = encoded;
        Ok(response)
    }
}
