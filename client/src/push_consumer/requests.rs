//! What brokers ask a push consumer: NOTIFY_CONSUMER_IDS_CHANGED (rebalance now),
//! RESET_CONSUMER_CLIENT_OFFSET (move queues to new offsets; applied by the rebalance thread)
//! and GET_CONSUMER_RUNNING_INFO (relayed for `mqadmin consumerStatus`: answered here, from the
//! queues this consumer owns).
//!
//! The handler runs on the client's reactor thread, so it only queues work or reads state
//! behind short locks.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crossbeam::channel::Sender;
use wire::body::running_info::{
    ConsumerRunningInfo, ProcessQueueInfo, PROP_CLIENT_VERSION, PROP_CONSUMER_START_TIMESTAMP,
    PROP_CONSUME_ORDERLY, PROP_CONSUME_TYPE, PROP_NAMESERVER_ADDR, PROP_THREADPOOL_CORE_SIZE,
};
use wire::body::{ConsumeStatus, MessageQueue, SubscriptionData};
use wire::{RemotingCommand, RequestCode, ResponseCode};

use super::{Inner, MessageModel};
use crate::remoting::ServerRequestHandler;

/// The consumer's handler; `this` is filled once the consumer exists.
pub(super) fn handler(
    group: &str,
    wake: Sender<()>,
    resets: Arc<Mutex<Vec<(MessageQueue, i64)>>>,
    this: &Arc<OnceLock<Weak<Inner>>>,
) -> ServerRequestHandler {
    let (group, this) = (group.to_string(), this.clone());
    Arc::new(move |_addr, request: RemotingCommand| {
        match request.request_code() {
            RequestCode::NOTIFY_CONSUMER_IDS_CHANGED => {
                let _ = wake.try_send(());
            }
            RequestCode::RESET_CONSUMER_CLIENT_OFFSET
                if request.ext_fields.get("group") == Some(group.as_str()) =>
            {
                match wire::body::ResetOffsetBody::decode(&request.body) {
                    Ok(body) => {
                        resets
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .extend(body.offset_table);
                        let _ = wake.try_send(());
                    }
                    Err(error) => log::warn!("offset reset ignored: {error}"),
                }
            }
            RequestCode::GET_CONSUMER_RUNNING_INFO => {
                let inner = this.get().and_then(Weak::upgrade)?;
                let mut response = RemotingCommand::response_to(&request, ResponseCode::SUCCESS);
                response.body = inner.running_info().encode();
                return Some(response);
            }
            _ => {}
        }
        None
    })
}

impl Inner {
    /// This consumer as GET_CONSUMER_RUNNING_INFO reports it. Rates are not measured: the
    /// status table holds each subscribed topic with zeros.
    fn running_info(&self) -> ConsumerRunningInfo {
        let config = &self.config;
        let mut info = ConsumerRunningInfo::default();
        let model = match config.model {
            MessageModel::Clustering => "CLUSTERING",
            MessageModel::Broadcasting => "BROADCASTING",
        };
        let owned = self.owned();
        let properties = [
            (PROP_CONSUME_TYPE, "CONSUME_PASSIVELY".to_string()),
            (PROP_CONSUME_ORDERLY, config.orderly.to_string()),
            (PROP_CONSUMER_START_TIMESTAMP, self.started_ms.to_string()),
            (PROP_NAMESERVER_ADDR, config.namesrv_addr.clone()),
            (PROP_CLIENT_VERSION, "V4_9_8".to_string()),
            // One puller thread per owned queue.
            (PROP_THREADPOOL_CORE_SIZE, owned.len().to_string()),
            ("consumerGroup", config.group.clone()),
            ("messageModel", model.to_string()),
            ("pullBatchSize", config.pull_batch_size.to_string()),
        ];
        for (key, value) in properties {
            info.properties.insert(key.to_string(), value);
        }
        for topic in self.topics() {
            let expression = self.expression(&topic);
            info.subscription_set
                .push(SubscriptionData::tags(&topic, &expression, 0));
            info.status_table.insert(topic, ConsumeStatus::default());
        }
        for (queue, state) in owned.iter() {
            let process = ProcessQueueInfo {
                commit_offset: state.offset.load(Ordering::Acquire),
                locked: config.orderly,
                last_pull_timestamp: state.activity.last_pull_ms.load(Ordering::Relaxed),
                last_consume_timestamp: state.activity.last_consume_ms.load(Ordering::Relaxed),
                ..ProcessQueueInfo::default()
            };
            info.mq_table.insert(queue.clone(), process);
        }
        info
    }
}

impl Inner {
    /// Moves owned queues to the offsets the broker sent: the puller stops, the new offset is
    /// committed, and a new puller starts from it.
    pub(super) fn apply_resets(self: &Arc<Self>) {
        let resets = std::mem::take(&mut *self.resets.lock().unwrap_or_else(|p| p.into_inner()));
        if resets.is_empty() {
            return;
        }
        let queues: Vec<MessageQueue> = resets.iter().map(|(q, _)| q.clone()).collect();
        let stopped = {
            let _commits = self.commits();
            let stopped = self.stop_pullers(&queues);
            for (queue, offset) in &resets {
                if stopped.iter().any(|(q, _)| q == queue) {
                    self.commit(queue, *offset);
                    log::info!("{}: {queue:?} reset to offset {offset}", self.config.group);
                }
            }
            stopped
        };
        for (queue, _) in stopped {
            if let Err(error) = self.take(queue.clone()) {
                log::warn!(
                    "{}: {queue:?} not resumed after reset: {error}",
                    self.config.group
                );
            }
        }
    }
}
