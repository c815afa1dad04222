//! The sending side of a run: `--connections` producers (each `Producer` has its own
//! connection and reactor thread) shared round-robin by `-w` sending threads. Every thread
//! claims the next message numbers from one shared [`Plan`], which enforces the total count
//! (`-q`) and paces the total rate (`--rate`: message `i` is due at `start + i / rate`).
//!
//! Latency per mode: sync, from the call to its return (one sample per batch call; the batch's
//! messages are counted); async, from the call to the callback, with at most `--inflight`
//! sends outstanding per thread; oneway, none (counted only; one in 1000 goes sync as flow
//! control, see [`send_oneway`]).
//!
//! Threads: the sending threads, and the client's callback threads in async mode.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::producer::{Message, Producer, ProducerConfig, SendStatus};
use client::ClientError;

use super::options::{Options, SendMode};
use super::stats::Recorder;
use super::Run;

/// Apache's benchmark producer group.
const PRODUCER_GROUP: &str = "benchmark_producer";
/// Oneway: one message in this many goes synchronously, as flow control.
const ONEWAY_FENCE_EVERY: u32 = 1000;
/// The longest a paced thread sleeps before looking at the stop flag again.
const PACE_SLICE: Duration = Duration::from_millis(50);

/// Which messages are sent, and when.
pub struct Plan {
    count: u64,
    rate: u64,
    batch: u64,
    claimed: AtomicU64,
    started: Instant,
}

impl Plan {
    pub fn new(count: u64, rate: u64, batch: usize, started: Instant) -> Plan {
        Plan {
            count,
            rate,
            batch: batch as u64,
            claimed: AtomicU64::new(0),
            started,
        }
    }

    /// The next `(first message number, message count)` to send, once it is due; `None` when
    /// the count is reached or the run stops.
    pub fn claim(&self, run: &Run) -> Option<(u64, u64)> {
        if run.stopping() {
            return None;
        }
        let first = self.claimed.fetch_add(self.batch, Ordering::Relaxed);
        let size = if self.count == 0 {
            self.batch
        } else if first >= self.count {
            return None;
        } else {
            self.batch.min(self.count - first)
        };
        if self.rate > 0 {
            let due = self.started + Duration::from_secs_f64(first as f64 / self.rate as f64);
            loop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                if run.stopping() {
                    return None;
                }
                std::thread::sleep((due - now).min(PACE_SLICE));
            }
        }
        Some((first, size))
    }
}

/// Builds the messages of a run: one random alphanumeric body (as Apache's tool), tags and
/// keys as asked.
pub struct MessageFactory {
    topic: String,
    body: Vec<u8>,
    keys: bool,
    tag_count: u64,
}

impl MessageFactory {
    pub fn new(options: &Options) -> MessageFactory {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut state = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            | 1;
        let body = (0..options.body_size)
            .map(|_| {
                // xorshift64: enough to keep the body incompressible-looking.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ALPHABET[(state % ALPHABET.len() as u64) as usize]
            })
            .collect();
        MessageFactory {
            topic: options.topic.clone(),
            body,
            keys: options.keys,
            tag_count: options.tag_count,
        }
    }

    pub fn message(&self, number: u64) -> Message {
        let mut message = Message::new(&self.topic, self.body.clone());
        if self.tag_count > 0 {
            message.tags = Some(format!("tag{}", number % self.tag_count));
        }
        if self.keys {
            // Apache's tool: the second the message was made.
            let now_s = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            message.keys = vec![now_s.to_string()];
        }
        message
    }

    pub fn body_size(&self) -> u64 {
        self.body.len() as u64
    }
}

/// What every sending thread shares.
struct Shared {
    run: Arc<Run>,
    plan: Plan,
    factory: MessageFactory,
    recorder: Arc<Recorder>,
    mode: SendMode,
    inflight: usize,
    first_error: Mutex<Option<String>>,
    /// Sends answered with a non-OK status (flush or slave timeout): stored, counted OK.
    degraded: AtomicU64,
    running: AtomicUsize,
}

impl Shared {
    fn on_result(
        &self,
        slot: usize,
        messages: u64,
        began: Instant,
        result: Result<SendStatus, ClientError>,
    ) {
        match result {
            Ok(status) => {
                if status != SendStatus::Ok && self.degraded.fetch_add(1, Ordering::Relaxed) == 0 {
                    log::warn!("a send was answered {status:?} (counted as sent)");
                }
                self.recorder.record(slot, began.elapsed());
                self.recorder
                    .succeeded(messages, messages * self.factory.body_size());
            }
            Err(error) => self.on_error(messages, &error),
        }
    }

    fn on_error(&self, messages: u64, error: &ClientError) {
        self.recorder.failed(messages);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            log::warn!("send failed: {error}");
            *first = Some(error.to_string());
        }
    }
}

/// The running sending side.
pub struct SendSide {
    shared: Arc<Shared>,
    producers: Vec<Producer>,
    threads: Vec<JoinHandle<()>>,
}

impl SendSide {
    /// Starts the producers and the sending threads.
    pub fn start(
        options: &Options,
        run: &Arc<Run>,
        recorder: &Arc<Recorder>,
    ) -> Result<SendSide, ClientError> {
        let mut config = ProducerConfig::new(PRODUCER_GROUP, &options.namesrv);
        // As Apache's tool: bodies go out as they are, never compressed.
        config.compress_over = usize::MAX;
        let producers = (0..options.connections)
            .map(|_| Producer::start(config.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let shared = Arc::new(Shared {
            run: run.clone(),
            plan: Plan::new(options.count, options.rate, options.batch, run.started()),
            factory: MessageFactory::new(options),
            recorder: recorder.clone(),
            mode: options.mode,
            inflight: options.inflight,
            first_error: Mutex::new(None),
            degraded: AtomicU64::new(0),
            running: AtomicUsize::new(options.threads),
        });
        let mut threads = Vec::new();
        for slot in 0..options.threads {
            let producer = producers[slot % producers.len()].clone();
            let shared_copy = shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("mqbench-send-{slot}"))
                .spawn(move || {
                    send_loop(&shared_copy, &producer, slot);
                    shared_copy.running.fetch_sub(1, Ordering::Release);
                });
            match thread {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    shared.running.fetch_sub(1, Ordering::Release);
                    run.stop();
                    return Err(ClientError::from(error));
                }
            }
        }
        Ok(SendSide {
            shared,
            producers,
            threads,
        })
    }

    /// True once every sending thread has finished (count reached or run stopped).
    pub fn finished(&self) -> bool {
        self.shared.running.load(Ordering::Acquire) == 0
    }

    /// Closes the producers (oneway messages they still hold are lost: call it last).
    pub fn shutdown(&self) {
        for producer in &self.producers {
            producer.shutdown();
        }
    }

    /// Waits for the sending threads (they stop when the run does); the first send error.
    pub fn finish_threads(&mut self) -> Option<String> {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let first = self
            .shared
            .first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        first.clone()
    }
}

fn send_loop(shared: &Arc<Shared>, producer: &Producer, slot: usize) {
    match shared.mode {
        SendMode::Sync => send_sync(shared, producer, slot),
        SendMode::Async => send_async(shared, producer, slot),
        SendMode::Oneway => send_oneway(shared, producer),
    }
}

fn send_sync(shared: &Shared, producer: &Producer, slot: usize) {
    while let Some((first, size)) = shared.plan.claim(&shared.run) {
        let messages: Vec<Message> = (first..first + size)
            .map(|number| shared.factory.message(number))
            .collect();
        let began = Instant::now();
        let result = match messages.as_slice() {
            [one] => producer.send(one),
            batch => producer.send_batch(batch),
        };
        shared.on_result(slot, size, began, result.map(|sent| sent.status));
    }
}

/// At most `inflight` sends outstanding: a token is taken before each send and given back by
/// its callback; at the end every token is collected again (bounded by the send timeout).
fn send_async(shared: &Arc<Shared>, producer: &Producer, slot: usize) {
    let (give, take) = mpsc::sync_channel::<()>(shared.inflight);
    for _ in 0..shared.inflight {
        let _ = give.send(());
    }
    while let Some((first, _)) = shared.plan.claim(&shared.run) {
        if take.recv().is_err() {
            break;
        }
        let began = Instant::now();
        let (shared_copy, give_copy) = (shared.clone(), give.clone());
        producer.send_async(shared.factory.message(first), move |result| {
            shared_copy.on_result(slot, 1, began, result.map(|sent| sent.status));
            let _ = give_copy.send(());
        });
    }
    let drain_by = Instant::now() + Duration::from_secs(10);
    for _ in 0..shared.inflight {
        let left = drain_by.saturating_duration_since(Instant::now());
        if take.recv_timeout(left).is_err() {
            log::warn!("async sends still outstanding after 10 s");
            break;
        }
    }
}

/// Oneway sends, counted only. Every [`ONEWAY_FENCE_EVERY`]th message of a thread goes
/// synchronously: its answer means the broker has taken the thread's earlier messages on that
/// connection, so the client's write buffer (unbounded, with no completion signal) cannot run
/// ahead of the broker and hold what the run counts as sent.
fn send_oneway(shared: &Shared, producer: &Producer) {
    let mut since_fence = 0;
    while let Some((first, _)) = shared.plan.claim(&shared.run) {
        let message = shared.factory.message(first);
        since_fence += 1;
        let sent = if since_fence >= ONEWAY_FENCE_EVERY {
            since_fence = 0;
            producer.send(&message).map(|_| ())
        } else {
            producer.send_oneway(&message)
        };
        match sent {
            Ok(()) => shared.recorder.succeeded(1, shared.factory.body_size()),
            Err(error) => shared.on_error(1, &error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_hands_out_exactly_the_count() {
        let run = Run::new(None);
        let plan = Plan::new(10, 0, 4, run.started());
        let mut claims = Vec::new();
        while let Some(claim) = plan.claim(&run) {
            claims.push(claim);
        }
        assert_eq!(claims, vec![(0, 4), (4, 4), (8, 2)]);
        run.stop();
        assert!(Plan::new(0, 0, 1, run.started()).claim(&run).is_none());
    }

    #[test]
    fn the_plan_paces_the_rate() {
        let run = Run::new(None);
        let plan = Plan::new(21, 1000, 1, Instant::now());
        let began = Instant::now();
        while plan.claim(&run).is_some() {}
        // Message 20 is due 20 ms after the start.
        assert!(began.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn messages_carry_tags_and_keys() {
        let args = ["produce", "-s", "16", "-l", "3", "-k"].map(String::from);
        let Ok(super::super::options::Parsed::Run(options)) =
            super::super::options::parse(&args, None)
        else {
            panic!("parse");
        };
        let factory = MessageFactory::new(&options);
        let message = factory.message(4);
        assert_eq!(message.body.len(), 16);
        assert!(message.body.iter().all(u8::is_ascii_alphanumeric));
        assert_eq!(message.tags.as_deref(), Some("tag1"));
        assert_eq!(message.keys.len(), 1);
    }
}
