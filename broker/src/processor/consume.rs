//! The pull path on the event loop: group, topic, queue and subscription checks in upstream's
//! order, the piggy-backed offset commit (first execution only), the store read, and long
//! polling: a pull that finds nothing is held (once) until a message arrives or its suspend
//! time passes. Reads that would touch the disk run on the pull workers
//! ([`super::pull_workers`]); their results come back to the loop as messages.

use std::time::{Duration, Instant};

use client::net::{ConnectionId, Context};
use wire::headers::pull::PullMessageRequestHeader;
use wire::headers::CommandHeader;
use wire::{RemotingCommand, ResponseCode};

use super::long_poll::HeldPull;
use super::pull::{refusal, response, response_code, TagFilter, PULL_SIZE_MAX};
use crate::config::BrokerRole;
use crate::server::Broker;
use crate::store::{GetResult, MessageStore, StoreError};
use crate::topic_config::PERM_READ;

/// A checked pull: where to read and what passes the filter.
struct Pull {
    header: PullMessageRequestHeader,
    filter: TagFilter,
}

/// A checked pull on its way to the store, on the loop thread or a pull worker.
pub struct PullJob {
    pub connection: ConnectionId,
    pub request: RemotingCommand,
    header: PullMessageRequestHeader,
    filter: TagFilter,
    /// False when a held pull runs again: it is never held twice.
    first: bool,
    /// Its data was older than the memory window: the consumer is far behind.
    cold: bool,
}

/// A pull job with what the store gave back.
pub struct PullDone {
    job: PullJob,
    got: Result<GetResult, StoreError>,
}

/// The store read of a pull; runs wherever the job is.
pub fn read(store: &MessageStore, job: PullJob) -> PullDone {
    let header = &job.header;
    let offset = header.queue_offset.max(0) as u64;
    let count = header.max_msg_nums.clamp(1, 1024) as usize;
    let filter = &job.filter;
    let got = store.get_messages(
        &header.topic,
        header.queue_id,
        offset,
        count,
        PULL_SIZE_MAX,
        &|code| filter.accepts(code),
    );
    PullDone { job, got }
}

impl Broker {
    /// Serves a pull; `first` is false when a held pull runs again (no holding, no commit).
    /// Reads of data older than the commit log's memory window go to a pull worker, so a slow
    /// disk never stalls the event loop.
    pub(crate) fn on_pull(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: RemotingCommand,
        first: bool,
    ) {
        let pull = match self.check_pull(&request) {
            Ok(pull) => pull,
            Err((code, remark)) => {
                let answer = refusal(&request, code, &remark);
                self.reply(ctx, id, &request, &answer);
                return;
            }
        };
        let header = &pull.header;
        if first
            && header.pull_sys_flag().has_commit_offset()
            && self.config.broker_role != BrokerRole::Slave
        {
            self.commit_consumer_offset(
                &header.consumer_group,
                &header.topic,
                header.queue_id,
                header.commit_offset,
            );
        }
        let cold = self.store.needs_disk(
            &header.topic,
            header.queue_id,
            header.queue_offset.max(0) as u64,
        );
        let job = PullJob {
            connection: id,
            request,
            header: pull.header,
            filter: pull.filter,
            first,
            cold,
        };
        let job = match (cold, &self.pull_workers) {
            (true, Some(workers)) => match workers.submit(Box::new(job)) {
                Ok(()) => {
                    self.stats.disk_pulls += 1;
                    return;
                }
                Err(job) => *job,
            },
            _ => job,
        };
        let done = read(&self.store, job);
        self.on_pull_done(ctx, done);
    }

    /// Answers (or holds) a pull once the store has been read.
    pub(crate) fn on_pull_done(&mut self, ctx: &mut Context<'_>, done: PullDone) {
        let PullDone { job, got } = done;
        let (id, request, header) = (job.connection, &job.request, &job.header);
        let got = match got {
            Ok(got) => got,
            Err(error) => {
                let answer = refusal(request, ResponseCode::SYSTEM_ERROR, &error.to_string());
                self.reply(ctx, id, request, &answer);
                return;
            }
        };
        let not_found =
            response_code(got.status, header.queue_offset) == ResponseCode::PULL_NOT_FOUND;
        if job.first && not_found && header.pull_sys_flag().has_suspend() {
            let hold = if self.config.long_polling_enable {
                Duration::from_millis(header.suspend_timeout_millis.clamp(0, 60_000) as u64)
            } else {
                self.config.short_polling_time
            };
            let (topic, queue_id) = (header.topic.clone(), header.queue_id);
            let held = HeldPull {
                connection: id,
                queue_offset: header.queue_offset.max(0) as u64,
                request: job.request,
                deadline: Instant::now() + hold,
                filter: job.filter,
            };
            self.long_polls.hold(&topic, queue_id, held);
            self.held.update(&mut self.long_polls);
            return;
        }
        self.stats.got_messages += got.record_count as u64;
        if got.record_count > 0 {
            let key = format!("{}@{}", header.topic, header.consumer_group);
            self.stats.group_gets.add(&key, got.record_count as u64);
        }
        // A consumer far behind on a master is sent to the slave (whichBrokerWhenConsumeSlowly).
        let far_behind = job.cold && self.config.slave_read_enable;
        let suggest = if far_behind && self.config.broker_role != BrokerRole::Slave {
            1
        } else {
            0
        };
        let answer = response(request, header.queue_offset, got, suggest);
        self.reply(ctx, id, request, &answer);
    }

    /// The topic's configuration; a slave that has not yet copied a new topic from its master
    /// (or lost the master) serves the queues its own log holds, read-only.
    fn topic_for_pull(&self, topic: &str) -> Option<wire::body::TopicConfig> {
        if let Some(config) = self.topics.get(topic) {
            return Some(config.clone());
        }
        if self.config.broker_role != BrokerRole::Slave {
            return None;
        }
        let queues = self.store.queue_ids(topic).into_iter().max()? + 1;
        Some(wire::body::TopicConfig {
            perm: PERM_READ,
            read_queue_nums: queues,
            write_queue_nums: queues,
            topic_name: topic.to_string(),
            ..wire::body::TopicConfig::default()
        })
    }

    fn check_pull(&mut self, request: &RemotingCommand) -> Result<Pull, (ResponseCode, String)> {
        let header = PullMessageRequestHeader::read_from(&request.ext_fields)
            .map_err(|e| (ResponseCode::SYSTEM_ERROR, e.to_string()))?;
        if self.config.broker_permission & PERM_READ == 0 {
            return Err((
                ResponseCode::NO_PERMISSION,
                format!(
                    "the broker[{}] pulling message is forbidden",
                    self.store_host
                ),
            ));
        }
        let group = header.consumer_group.as_str();
        let Some(group_config) = self.groups.find_or_create(group) else {
            return Err((
                ResponseCode::SUBSCRIPTION_GROUP_NOT_EXIST,
                format!("subscription group [{group}] does not exist"),
            ));
        };
        if !group_config.consume_enable {
            return Err((
                ResponseCode::NO_PERMISSION,
                format!("subscription group no permission, {group}"),
            ));
        }
        let topic = header.topic.as_str();
        let Some(topic_config) = self.topic_for_pull(topic) else {
            return Err((
                ResponseCode::TOPIC_NOT_EXIST,
                format!("topic[{topic}] not exist, apply first please!"),
            ));
        };
        if topic_config.perm & PERM_READ == 0 {
            return Err((
                ResponseCode::NO_PERMISSION,
                format!("the topic[{topic}] pulling message is forbidden"),
            ));
        }
        if header.queue_id < 0 || header.queue_id >= topic_config.read_queue_nums {
            return Err((
                ResponseCode::SYSTEM_ERROR,
                format!(
                    "queueId[{}] is illegal, topic:[{topic}] read queue nums:[{}]",
                    header.queue_id, topic_config.read_queue_nums
                ),
            ));
        }
        if header.queue_offset < 0 {
            return Err((
                ResponseCode::PULL_OFFSET_MOVED,
                format!("queueOffset[{}] is negative", header.queue_offset),
            ));
        }
        let filter = self.pull_filter(&header)?;
        Ok(Pull { header, filter })
    }

    /// The tag filter: from the request when it carries its subscription, else from the
    /// group's heartbeat (which must be at least as new as the pull's).
    fn pull_filter(
        &self,
        header: &PullMessageRequestHeader,
    ) -> Result<TagFilter, (ResponseCode, String)> {
        if header.pull_sys_flag().has_subscription() {
            return Ok(TagFilter::parse(
                header.subscription.as_deref().unwrap_or("*"),
            ));
        }
        let (group, topic) = (&header.consumer_group, &header.topic);
        let Some(subscription) = self.consumers.subscription(group, topic) else {
            return Err((
                ResponseCode::SUBSCRIPTION_NOT_EXIST,
                format!("the consumer's subscription not exist, group: {group}, topic: {topic}"),
            ));
        };
        if subscription.sub_version < header.sub_version {
            return Err((
                ResponseCode::SUBSCRIPTION_NOT_LATEST,
                "the consumer's subscription not latest".into(),
            ));
        }
        let all =
            subscription.sub_string.trim().is_empty() || subscription.sub_string.trim() == "*";
        Ok(TagFilter::from_codes(
            subscription.code_set.iter().copied(),
            all,
        ))
    }
}
