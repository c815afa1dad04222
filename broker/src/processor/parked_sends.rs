//! Sends waiting for room in the commit log: when the unflushed tail reaches
//! `maxUnflushedCommitLogSize` the store refuses appends (`FlushBehind`), and rather than
//! answer SYSTEM_BUSY at once the broker parks the send and appends it when the flush has
//! made room (back-pressure: the producer sees latency, not errors). Parked sends keep their
//! order: while any is parked, new ones queue behind it.
//!
//! Bounded: at most [`PARKED_BYTES_MAX`] bytes of bodies, each for at most
//! [`PARKED_WAIT_MAX`]; past either the send is answered SYSTEM_BUSY (stored nothing, the
//! producer may retry). Runtime info shows the queue as Apache shows its send thread pool's
//! (`sendThreadPoolQueueSize`, `sendThreadPoolQueueHeadWaitTimeMills`).
//!
//! Owned by the event-loop thread.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use client::net::{ConnectionId, Context};
use wire::{RemotingCommand, ResponseCode};

use crate::server::Broker;

/// Bodies parked at most; more sends are refused until the flush catches up.
pub const PARKED_BYTES_MAX: usize = 32 << 20;
/// A send parked longer is answered SYSTEM_BUSY (the Java producer's own timeout is 3 s).
pub const PARKED_WAIT_MAX: Duration = Duration::from_secs(2);

struct Parked<C> {
    connection: C,
    request: RemotingCommand,
    since: Instant,
}

pub struct ParkedSends<C> {
    queue: VecDeque<Parked<C>>,
    bytes: usize,
    /// Sends that ever waited (runtime info).
    pub parked_total: u64,
}

impl<C> Default for ParkedSends<C> {
    fn default() -> Self {
        ParkedSends {
            queue: VecDeque::new(),
            bytes: 0,
            parked_total: 0,
        }
    }
}

impl<C: Copy + PartialEq> ParkedSends<C> {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// How long the oldest parked send has waited.
    pub fn head_wait(&self, now: Instant) -> Duration {
        self.queue
            .front()
            .map_or(Duration::ZERO, |parked| now.duration_since(parked.since))
    }

    /// Parks `request` behind the others; gives it back when the queue is full.
    fn park(
        &mut self,
        connection: C,
        request: RemotingCommand,
        now: Instant,
    ) -> Result<(), RemotingCommand> {
        if self.bytes + request.body.len() > PARKED_BYTES_MAX {
            return Err(request);
        }
        self.bytes += request.body.len();
        self.parked_total += 1;
        self.queue.push_back(Parked {
            connection,
            request,
            since: now,
        });
        Ok(())
    }

    fn pop(&mut self) -> Option<Parked<C>> {
        let parked = self.queue.pop_front()?;
        self.bytes -= parked.request.body.len();
        Some(parked)
    }

    fn push_front(&mut self, parked: Parked<C>) {
        self.bytes += parked.request.body.len();
        self.queue.push_front(parked);
    }

    /// Forgets the sends of a closed connection.
    pub fn on_connection_closed(&mut self, connection: C) {
        self.queue.retain(|parked| parked.connection != connection);
        self.bytes = self.queue.iter().map(|p| p.request.body.len()).sum();
    }

    /// Takes the sends parked longer than [`PARKED_WAIT_MAX`] at `now`.
    fn expired(&mut self, now: Instant) -> Vec<Parked<C>> {
        let mut late = Vec::new();
        while self
            .queue
            .front()
            .is_some_and(|parked| now.duration_since(parked.since) >= PARKED_WAIT_MAX)
        {
            late.extend(self.pop());
        }
        late
    }
}

fn busy(request: &RemotingCommand, remark: &str) -> RemotingCommand {
    let mut response = RemotingCommand::response_to(request, ResponseCode::SYSTEM_BUSY);
    response.remark = Some(remark.to_string());
    response
}

impl Broker {
    /// A send as it arrives: behind parked ones if there are any, else now (parked if the
    /// commit log has no room for it yet).
    pub(crate) fn on_send_request(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: RemotingCommand,
    ) {
        let waiting = if self.parked_sends.is_empty() {
            self.on_send(ctx, id, request)
        } else {
            Some(request)
        };
        if let Some(request) = waiting {
            if let Err(request) = self.parked_sends.park(id, request, Instant::now()) {
                let response = busy(&request, "[OVERLOAD] sends wait for the flush; try later");
                self.reply(ctx, id, &request, &response);
            }
        }
    }

    /// The flush made room: parked sends go in order until one has to wait again.
    pub(crate) fn on_room_for_sends(&mut self, ctx: &mut Context<'_>) {
        while let Some(parked) = self.parked_sends.pop() {
            if !ctx.is_open(parked.connection) {
                continue;
            }
            if let Some(request) = self.on_send(ctx, parked.connection, parked.request) {
                self.parked_sends.push_front(Parked {
                    connection: parked.connection,
                    request,
                    since: parked.since,
                });
                return;
            }
        }
    }

    /// Parked sends past their wait: SYSTEM_BUSY, nothing stored.
    pub(crate) fn expire_parked_sends(&mut self, ctx: &mut Context<'_>, now: Instant) {
        for parked in self.parked_sends.expired(now) {
            let response = busy(
                &parked.request,
                "[TIMEOUT_CLEAN_QUEUE] the flush did not make room in time; try later",
            );
            self.reply(ctx, parked.connection, &parked.request, &response);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(size: usize) -> RemotingCommand {
        RemotingCommand::request(wire::RequestCode::SEND_MESSAGE_V2, 1).with_body(vec![0; size])
    }

    #[test]
    fn parked_sends_keep_their_order_and_their_bounds() {
        let now = Instant::now();
        let mut parked = ParkedSends::default();
        let (a, b) = (1u32, 2u32);
        assert!(parked.park(a, request(10), now).is_ok());
        assert!(parked.park(b, request(20), now).is_ok());
        assert!(parked.park(a, request(PARKED_BYTES_MAX), now).is_err());
        assert_eq!((parked.len(), parked.bytes), (2, 30));
        parked.on_connection_closed(a);
        assert_eq!((parked.len(), parked.bytes), (1, 20));
        let first = parked.pop().unwrap();
        assert_eq!(first.connection, b);
        parked.push_front(first);
        let later = now + PARKED_WAIT_MAX;
        assert_eq!(parked.head_wait(later), PARKED_WAIT_MAX);
        assert_eq!(parked.expired(later).len(), 1);
        assert!(parked.is_empty() && parked.bytes == 0);
    }
}
