//! Queue locks for orderly consumption: LOCK_BATCH_MQ and UNLOCK_BATCH_MQ
//! (`RebalanceLockManager`). A consumer holds a queue of its group until it unlocks it or
//! stops refreshing the lock for 60 s; another client of the group gets it only then. Memory
//! only, as upstream (not persisted, not replicated).
//!
//! Owned by the event-loop thread.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use wire::body::{LockBatchRequestBody, LockBatchResponseBody, MessageQueue};
use wire::{RemotingCommand, ResponseCode};

use crate::server::Broker;

/// A lock not refreshed for this long is free (`rocketmq.broker.rebalance.lockMaxLiveTime`).
pub const LOCK_LIFETIME: Duration = Duration::from_secs(60);

struct Holder {
    client_id: String,
    refreshed: Instant,
}

#[derive(Default)]
pub struct QueueLocks {
    /// (group, queue) → holder.
    held: HashMap<(String, MessageQueue), Holder>,
}

impl QueueLocks {
    /// Locks (or refreshes) what it can of `queues` for `client_id`; returns the queues the
    /// client now holds.
    pub fn lock(
        &mut self,
        group: &str,
        client_id: &str,
        queues: &BTreeSet<MessageQueue>,
        now: Instant,
    ) -> BTreeSet<MessageQueue> {
        let mut held = BTreeSet::new();
        for queue in queues {
            let key = (group.to_string(), queue.clone());
            let free = match self.held.get(&key) {
                None => true,
                Some(holder) => {
                    holder.client_id == client_id
                        || now.duration_since(holder.refreshed) >= LOCK_LIFETIME
                }
            };
            if free {
                let holder = Holder {
                    client_id: client_id.to_string(),
                    refreshed: now,
                };
                self.held.insert(key, holder);
                held.insert(queue.clone());
            }
        }
        held
    }

    /// Releases the queues `client_id` holds among `queues`.
    pub fn unlock(&mut self, group: &str, client_id: &str, queues: &BTreeSet<MessageQueue>) {
        for queue in queues {
            let key = (group.to_string(), queue.clone());
            if self
                .held
                .get(&key)
                .is_some_and(|h| h.client_id == client_id)
            {
                self.held.remove(&key);
            }
        }
    }
}

impl Broker {
    pub(crate) fn on_lock(&mut self, request: &RemotingCommand, lock: bool) -> RemotingCommand {
        let body: LockBatchRequestBody = match serde_json::from_slice(&request.body) {
            Ok(body) => body,
            Err(error) => {
                let mut refused = RemotingCommand::response_to(request, ResponseCode::SYSTEM_ERROR);
                refused.remark = Some(format!("lock body: {error}"));
                return refused;
            }
        };
        let mut response = RemotingCommand::response_to(request, ResponseCode::SUCCESS);
        if lock {
            let now = Instant::now();
            let held = self
                .locks
                .lock(&body.consumer_group, &body.client_id, &body.mq_set, now);
            let answer = LockBatchResponseBody {
                lock_ok_mq_set: held,
            };
            response.body = serde_json::to_vec(&answer).unwrap_or_default();
        } else {
            self.locks
                .unlock(&body.consumer_group, &body.client_id, &body.mq_set);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(ids: &[i32]) -> BTreeSet<MessageQueue> {
        ids.iter()
            .map(|id| MessageQueue {
                broker_name: "b".into(),
                queue_id: *id,
                topic: "T".into(),
            })
            .collect()
    }

    #[test]
    fn a_queue_has_one_holder_until_released_or_expired() {
        let now = Instant::now();
        let mut locks = QueueLocks::default();
        assert_eq!(
            locks.lock("g", "c1", &queues(&[0, 1]), now),
            queues(&[0, 1])
        );
        assert_eq!(locks.lock("g", "c2", &queues(&[1, 2]), now), queues(&[2]));
        assert_eq!(
            locks.lock("other", "c2", &queues(&[1]), now),
            queues(&[1]),
            "per group"
        );
        locks.unlock("g", "c2", &queues(&[0]));
        assert_eq!(
            locks.lock("g", "c2", &queues(&[0]), now),
            queues(&[]),
            "not c2's to release"
        );
        locks.unlock("g", "c1", &queues(&[0]));
        assert_eq!(locks.lock("g", "c2", &queues(&[0]), now), queues(&[0]));
        let later = now + LOCK_LIFETIME;
        assert_eq!(
            locks.lock("g", "c2", &queues(&[1]), later),
            queues(&[1]),
            "expired"
        );
    }
}
