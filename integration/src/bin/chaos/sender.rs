//! The senders: one thread per connection, each sending SEND_MESSAGE_V2 one at a time to the
//! master and recording every SEND_OK (its queue id, queue offset and the commit-log offset
//! its msgId encodes). A failed call drops the connection and the next send reconnects, so
//! the senders keep going through every fault. Nothing is retried: a send whose answer was
//! lost may or may not be stored, and only acks are promises.
//!
//! Every body names its message (seed, connection, sequence, round, size) in a text prefix
//! and the rest is bytes drawn from those numbers, so a body read back identifies itself and
//! shows any damage, and no body needs to be kept in memory.
//!
//! Threads: the senders, and the main thread, which pauses them (all idle, nothing in flight)
//! to verify, resumes them with the next round, and marks the end of each fault.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use integration::RawClient;
use wire::message_id::OffsetMsgId;
use wire::ResponseCode;

use crate::random::Random;
use crate::requests::{self, Outgoing};

/// Body sizes: records straddle 4 KiB blocks, chunks and segment ends.
const BODY_SIZE_MIN: u64 = 50;
const BODY_SIZE_MAX: u64 = 6 * 1024;

/// Random streams of the run, apart from the rounds' (labelled by round number).
const SENDER_STREAM: u64 = 1 << 62;
const BODY_STREAM: u64 = 1 << 63;

/// What a body says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Identity {
    pub connection: u16,
    pub sequence: u64,
    pub round: u32,
    pub size: u32,
}

impl Identity {
    fn prefix(&self, seed: u64) -> String {
        format!(
            "chaos:{seed:x}:{}:{}:{}:{}|",
            self.connection, self.sequence, self.round, self.size
        )
    }

    /// The whole body: the prefix, then bytes drawn from the identity.
    pub fn body(&self, seed: u64) -> Vec<u8> {
        let mut body = self.prefix(seed).into_bytes();
        let label = BODY_STREAM | (u64::from(self.connection) << 40) | self.sequence;
        let mut random = Random::new(seed, label);
        let size = (self.size as usize).max(body.len());
        while body.len() < size {
            body.extend_from_slice(&random.next().to_le_bytes());
        }
        body.truncate(size);
        body
    }

    /// The identity a body's prefix names, if it is one of this run's.
    pub fn parse(seed: u64, body: &[u8]) -> Option<Identity> {
        let end = body.iter().take(96).position(|b| *b == b'|')?;
        let text = std::str::from_utf8(&body[..end]).ok()?;
        let fields: Vec<&str> = text.split(':').collect();
        if fields.len() != 6 || fields[0] != "chaos" || fields[1] != format!("{seed:x}") {
            return None;
        }
        Some(Identity {
            connection: fields[2].parse().ok()?,
            sequence: fields[3].parse().ok()?,
            round: fields[4].parse().ok()?,
            size: fields[5].parse().ok()?,
        })
    }

    fn unique_key(&self, seed: u64) -> String {
        format!(
            "{:08X}{:04X}{:020X}",
            seed as u32, self.connection, self.sequence
        )
    }
}

/// One SEND_OK.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub id: Identity,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
}

/// What the senders saw in one round.
#[derive(Debug, Default)]
pub struct RoundStats {
    pub acked: u64,
    /// Answers other than SEND_OK, by code.
    pub not_ok: BTreeMap<String, u64>,
    /// Calls that failed (connection refused, reset, no answer in time).
    pub errors: u64,
    /// SEND_OKs that could not be read as acks (missing fields, another queue than asked).
    pub bad_acks: Vec<String>,
}

struct State {
    round: u32,
    paused: bool,
    stop: bool,
    idle: usize,
    /// Bumped when a fault is over; an ack of a send begun in the current generation shows
    /// the cluster accepts sends again.
    generation: u64,
    recovered_at: Option<Instant>,
    acks: Vec<Ack>,
    stats: RoundStats,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    seed: u64,
    queues: i32,
    master: SocketAddr,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct Senders {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl Senders {
    /// Starts `connections` senders, paused until [`Senders::resume`].
    pub fn start(seed: u64, connections: usize, queues: i32, master: SocketAddr) -> Senders {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                round: 0,
                paused: true,
                stop: false,
                idle: 0,
                generation: 0,
                recovered_at: None,
                acks: Vec::new(),
                stats: RoundStats::default(),
            }),
            changed: Condvar::new(),
            seed,
            queues,
            master,
        });
        let handles = (0..connections)
            .map(|connection| {
                let shared = shared.clone();
                std::thread::spawn(move || run(&shared, connection as u16))
            })
            .collect();
        Senders { shared, handles }
    }

    /// Lets the senders go on, their sends belonging to `round`.
    pub fn resume(&self, round: u32) {
        let mut state = self.shared.lock();
        state.round = round;
        state.paused = false;
        self.shared.changed.notify_all();
    }

    /// The fault is over: from now on an ack shows the cluster has recovered.
    pub fn fault_over(&self) {
        let mut state = self.shared.lock();
        state.generation += 1;
        state.recovered_at = None;
    }

    /// Waits (bounded) for an ack of a send begun after [`Senders::fault_over`].
    pub fn wait_recovered(&self, wait: Duration) -> Option<Instant> {
        let deadline = Instant::now() + wait;
        let mut state = self.shared.lock();
        loop {
            if let Some(at) = state.recovered_at {
                return Some(at);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self.wait(state, left);
        }
    }

    /// Stops every sender between two sends; false when one is still busy after `wait`.
    pub fn pause(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut state = self.shared.lock();
        state.paused = true;
        self.shared.changed.notify_all();
        while state.idle < self.handles.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.wait(state, left);
        }
        true
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>, left: Duration) -> MutexGuard<'a, State> {
        let wait = left.min(Duration::from_millis(100));
        match self.shared.changed.wait_timeout(state, wait) {
            Ok((state, _)) => state,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// This round's acks and figures, leaving the next round's empty.
    pub fn take_round(&self) -> (Vec<Ack>, RoundStats) {
        let mut state = self.shared.lock();
        (
            std::mem::take(&mut state.acks),
            std::mem::take(&mut state.stats),
        )
    }

    /// Ends every sender (each finishes its call in flight, bounded by the call's deadline).
    pub fn stop(mut self) {
        self.tell_stop();
        for handle in std::mem::take(&mut self.handles) {
            let _ = handle.join();
        }
    }

    fn tell_stop(&self) {
        let mut state = self.shared.lock();
        state.stop = true;
        self.shared.changed.notify_all();
    }
}

/// Dropped without [`Senders::stop`] (a failed start): the threads end after their call.
impl Drop for Senders {
    fn drop(&mut self) {
        self.tell_stop();
    }
}

/// Waits while paused; the round and generation to send in, or `None` at the stop.
fn next_turn(shared: &Shared) -> Option<(u32, u64)> {
    let mut state = shared.lock();
    if state.paused && !state.stop {
        state.idle += 1;
        shared.changed.notify_all();
        while state.paused && !state.stop {
            state = match shared.changed.wait(state) {
                Ok(state) => state,
                Err(poisoned) => poisoned.into_inner(),
            };
        }
        state.idle -= 1;
    }
    (!state.stop).then_some((state.round, state.generation))
}

fn run(shared: &Shared, connection: u16) {
    let mut random = Random::new(shared.seed, SENDER_STREAM | u64::from(connection));
    let mut client: Option<RawClient> = None;
    let mut sequence = 0u64;
    while let Some((round, generation)) = next_turn(shared) {
        let Some(connected) = client.as_mut() else {
            match RawClient::connect(shared.master) {
                Ok(connected) => client = Some(connected),
                // The master is down: try again shortly (a refused connect is immediate).
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
            continue;
        };
        sequence += 1;
        let id = Identity {
            connection,
            sequence,
            round,
            size: random.log_uniform(BODY_SIZE_MIN, BODY_SIZE_MAX) as u32,
        };
        let queue_id = random.range(0, shared.queues as u64) as i32;
        let body = id.body(shared.seed);
        let message = Outgoing {
            queue_id,
            body: &body,
            unique_key: &id.unique_key(shared.seed),
            tags: if random.next().is_multiple_of(2) {
                "TagA"
            } else {
                "TagB"
            },
            born_ms: now_ms(),
        };
        match requests::send(connected, &message) {
            Ok(response) => record(shared, id, queue_id, generation, &response),
            Err(_) => {
                client = None;
                shared.lock().stats.errors += 1;
            }
        }
    }
}

fn record(
    shared: &Shared,
    id: Identity,
    queue_id: i32,
    generation: u64,
    response: &wire::RemotingCommand,
) {
    let code = response.response_code();
    let mut state = shared.lock();
    if code != ResponseCode::SUCCESS {
        *state
            .stats
            .not_ok
            .entry(code.name().into_owned())
            .or_default() += 1;
        drop(state);
        // Refusals come at once (TOPIC_NOT_EXIST, SERVICE_NOT_AVAILABLE): do not spin on them.
        std::thread::sleep(Duration::from_millis(5));
        return;
    }
    match read_ack(id, queue_id, response) {
        Ok(ack) => {
            state.acks.push(ack);
            state.stats.acked += 1;
            if generation == state.generation && state.recovered_at.is_none() {
                state.recovered_at = Some(Instant::now());
                shared.changed.notify_all();
            }
        }
        Err(reason) => state.stats.bad_acks.push(reason),
    }
}

fn read_ack(id: Identity, queue_id: i32, response: &wire::RemotingCommand) -> Result<Ack, String> {
    let field = |key: &str| {
        requests::ext(response, key).ok_or_else(|| format!("SEND_OK of {id:?} without {key}"))
    };
    let msg_id = field("msgId")?;
    let commit_log_offset = OffsetMsgId::decode(&msg_id)
        .map_err(|e| format!("SEND_OK of {id:?}: msgId {msg_id}: {e}"))?
        .commit_log_offset;
    let answered_queue: i32 = field("queueId")?
        .parse()
        .map_err(|_| format!("SEND_OK of {id:?}: bad queueId"))?;
    let queue_offset: i64 = field("queueOffset")?
        .parse()
        .map_err(|_| format!("SEND_OK of {id:?}: bad queueOffset"))?;
    if answered_queue != queue_id {
        return Err(format!(
            "SEND_OK of {id:?} names queue {answered_queue}, sent to {queue_id}"
        ));
    }
    Ok(Ack {
        id,
        queue_id,
        queue_offset,
        commit_log_offset,
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_names_its_message_and_shows_damage() {
        let id = Identity {
            connection: 3,
            sequence: 41,
            round: 7,
            size: 5000,
        };
        let body = id.body(99);
        assert_eq!(body.len(), 5000);
        assert_eq!(Identity::parse(99, &body), Some(id));
        assert_eq!(Identity::parse(98, &body), None, "another run's body");
        let mut damaged = body.clone();
        damaged[4000] ^= 1;
        assert_eq!(Identity::parse(99, &damaged), Some(id));
        assert_ne!(id.body(99), damaged);
        let tiny = Identity { size: 1, ..id };
        assert_eq!(Identity::parse(99, &tiny.body(99)), Some(tiny));
    }

    #[test]
    fn unique_keys_differ_per_message() {
        let a = Identity {
            connection: 1,
            sequence: 2,
            round: 1,
            size: 50,
        };
        let b = Identity { sequence: 3, ..a };
        assert_ne!(a.unique_key(5), b.unique_key(5));
        assert_eq!(a.unique_key(5).len(), 32);
    }
}
