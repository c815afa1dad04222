//! Send answers waiting for durability: SYNC_FLUSH ones for the flush watermark, SYNC_MASTER
//! ones for the slaves' acked offset (or both). Acks go by watermark, grouped: one flush or
//! one slave report releases every answer below it (RocketMQ's `GroupCommitService` and
//! `GroupTransferService`). An answer past its deadline goes out as FLUSH_DISK_TIMEOUT (when
//! the flush is what it still lacks) or FLUSH_SLAVE_TIMEOUT: the message is stored either
//! way, and never acked falsely.
//!
//! Owned by the event-loop thread; pure bookkeeping, no I/O.

use std::collections::BTreeMap;
use std::time::Instant;

use wire::{RemotingCommand, ResponseCode};

pub struct Waiter<C> {
    pub connection: C,
    pub response: RemotingCommand,
    pub deadline: Instant,
    pub needs_flush: bool,
    pub needs_slave: bool,
}

pub struct Waiters<C> {
    by_end: BTreeMap<u64, Vec<Waiter<C>>>,
    count: usize,
}

impl<C> Default for Waiters<C> {
    fn default() -> Self {
        Waiters {
            by_end: BTreeMap::new(),
            count: 0,
        }
    }
}

impl<C> Waiters<C> {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Parks the answer of a send whose records end at `end_offset`.
    pub fn park(&mut self, end_offset: u64, waiter: Waiter<C>) {
        self.by_end.entry(end_offset).or_default().push(waiter);
        self.count += 1;
    }

    /// The answers the watermarks now release.
    pub fn ready(&mut self, flushed_offset: u64, acked_offset: u64) -> Vec<(C, RemotingCommand)> {
        let reach = flushed_offset.max(acked_offset);
        let mut ready = Vec::new();
        let keys: Vec<u64> = self.by_end.range(..=reach).map(|(end, _)| *end).collect();
        for end in keys {
            let Some(waiters) = self.by_end.get_mut(&end) else {
                continue;
            };
            let (done, waiting): (Vec<_>, Vec<_>) =
                std::mem::take(waiters).into_iter().partition(|w| {
                    (!w.needs_flush || flushed_offset >= end)
                        && (!w.needs_slave || acked_offset >= end)
                });
            *waiters = waiting;
            if waiters.is_empty() {
                self.by_end.remove(&end);
            }
            self.count -= done.len();
            ready.extend(done.into_iter().map(|w| (w.connection, w.response)));
        }
        ready
    }

    /// The answers past their deadline at `now`, turned into timeouts.
    pub fn expire(&mut self, now: Instant, flushed_offset: u64) -> Vec<(C, RemotingCommand)> {
        let mut expired = Vec::new();
        for (end, waiters) in self.by_end.iter_mut() {
            let (late, waiting): (Vec<_>, Vec<_>) = std::mem::take(waiters)
                .into_iter()
                .partition(|w| now >= w.deadline);
            *waiters = waiting;
            for waiter in late {
                let mut response = waiter.response;
                let (code, remark) = if waiter.needs_flush && flushed_offset < *end {
                    (ResponseCode::FLUSH_DISK_TIMEOUT, "flush to disk timed out")
                } else {
                    (
                        ResponseCode::FLUSH_SLAVE_TIMEOUT,
                        "wait for the slave timed out",
                    )
                };
                response.code = code.as_i32();
                response.remark = Some(remark.into());
                expired.push((waiter.connection, response));
            }
        }
        self.by_end.retain(|_, waiters| !waiters.is_empty());
        self.count -= expired.len();
        expired
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn waiter(id: u32, deadline: Instant, needs_flush: bool, needs_slave: bool) -> Waiter<u32> {
        let request = RemotingCommand::request(wire::RequestCode::SEND_MESSAGE, id as i32);
        Waiter {
            connection: id,
            response: RemotingCommand::response_to(&request, ResponseCode::SUCCESS),
            deadline,
            needs_flush,
            needs_slave,
        }
    }

    #[test]
    fn watermarks_release_answers_in_groups_and_both_must_pass_when_both_are_needed() {
        let later = Instant::now() + Duration::from_secs(5);
        let mut waiters = Waiters::default();
        waiters.park(100, waiter(1, later, true, false));
        waiters.park(200, waiter(2, later, true, false));
        waiters.park(200, waiter(3, later, true, true));
        waiters.park(300, waiter(4, later, false, true));
        let ids = |ready: Vec<(u32, RemotingCommand)>| {
            ready.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
        };
        assert_eq!(ids(waiters.ready(250, 0)), vec![1, 2]);
        assert_eq!(ids(waiters.ready(250, 199)), Vec::<u32>::new());
        assert_eq!(ids(waiters.ready(250, 300)), vec![3, 4]);
        assert!(waiters.is_empty());
    }

    #[test]
    fn late_answers_say_what_they_waited_for() {
        let now = Instant::now();
        let mut waiters = Waiters::default();
        waiters.park(100, waiter(1, now, true, true));
        waiters.park(100, waiter(2, now, false, true));
        waiters.park(100, waiter(3, now + Duration::from_secs(9), true, false));
        let expired = waiters.expire(now, 50);
        let codes: Vec<i32> = expired.iter().map(|(_, r)| r.code).collect();
        assert_eq!(
            codes,
            vec![
                ResponseCode::FLUSH_DISK_TIMEOUT.as_i32(),
                ResponseCode::FLUSH_SLAVE_TIMEOUT.as_i32()
            ]
        );
        assert_eq!(waiters.len(), 1);
    }
}
