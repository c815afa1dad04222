//! The receiving side of a run: one push consumer (clustering, the group of `-g`) subscribed
//! to the topic with `*`, from the group's committed offsets (new groups from the first
//! offset) or, with `--from last`, from the end of every queue. Every
//! message is counted once: a message at or below the highest queue offset already seen on
//! its queue is a duplicate (a redelivery after a rebalance or a restart), which needs one
//! number per queue rather than a set of message ids. The latency recorded is the receive time
//! minus the message's born timestamp (set by the producer, stored in the record; milliseconds,
//! so each sample is exact to within 1 ms). In e2e runs, messages born before the run began
//! (a backlog behind the group's committed offset) are skipped, not counted.
//!
//! Threads: the listener runs on the consumer's puller threads (one per owned queue).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::consumer::PullConsumer;
use client::push_consumer::{
    ConsumeFrom, ConsumeResult, Listener, MessageModel, PushConsumer, PushConsumerConfig,
};
use client::ClientError;
use wire::body::MessageQueue;
use wire::message::MessageRecord;

use super::options::{Options, StartFrom};
use super::stats::Recorder;
use super::Run;

/// Counts what the listener receives.
pub struct Tracker {
    recorder: Arc<Recorder>,
    run: Arc<Run>,
    highest_offset: Mutex<HashMap<MessageQueue, i64>>,
    pub duplicates: AtomicU64,
    /// Messages born before this (ms since the epoch) are skipped; 0 = none are.
    born_floor_ms: i64,
    /// Stop the run once this many were received; 0 = never.
    count: u64,
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Tracker {
    pub fn new(recorder: Arc<Recorder>, run: Arc<Run>, born_floor_ms: i64, count: u64) -> Tracker {
        Tracker {
            recorder,
            run,
            highest_offset: Mutex::new(HashMap::new()),
            duplicates: AtomicU64::new(0),
            born_floor_ms,
            count,
        }
    }

    pub fn on_messages(&self, queue: &MessageQueue, messages: &[MessageRecord]) {
        let received_us = now_us();
        let slot = queue.queue_id.max(0) as usize;
        let (mut fresh, mut bytes, mut duplicates, mut skipped) = (0u64, 0u64, 0u64, 0u64);
        {
            let mut highest = self
                .highest_offset
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let top = highest.entry(queue.clone()).or_insert(-1);
            for message in messages {
                if message.queue_offset <= *top {
                    duplicates += 1;
                    continue;
                }
                *top = message.queue_offset;
                if message.born_timestamp < self.born_floor_ms {
                    skipped += 1;
                    continue;
                }
                fresh += 1;
                bytes += message.body.len() as u64;
                let latency_us = received_us - message.born_timestamp.saturating_mul(1000);
                self.recorder.record_us(slot, latency_us.max(0) as u64);
            }
        }
        self.recorder.succeeded(fresh, bytes);
        self.duplicates.fetch_add(duplicates, Ordering::Relaxed);
        self.recorder
            .skipped_count
            .fetch_add(skipped, Ordering::Relaxed);
        let received = self.recorder.ok_count.load(Ordering::Relaxed);
        if self.count > 0 && received >= self.count {
            self.run.stop();
        }
    }
}

/// Commits the end of every queue of `topic` as `group`'s offset, so that the consumer starts
/// after what the topic holds. (A group without an offset is not enough: like Apache's, our
/// broker answers 0 for a queue whose first message is still in memory.)
fn skip_backlog(group: &str, namesrv: &str, topic: &str) -> Result<(), ClientError> {
    let pull = PullConsumer::start(group, namesrv)?;
    let skipped = pull.fetch_queues(topic).and_then(|queues| {
        queues
            .iter()
            .try_for_each(|queue| pull.commit_offset(queue, pull.max_offset(queue)?))
    });
    pull.shutdown();
    skipped
}

/// The running receiving side.
pub struct ReceiveSide {
    consumer: PushConsumer,
    pub tracker: Arc<Tracker>,
}

/// How long the consumer may take to be given the topic's queues.
const OWNERSHIP_WAIT: Duration = Duration::from_secs(30);

impl ReceiveSide {
    /// Starts the consumer; `born_floor_ms` as in [`Tracker`].
    pub fn start(
        options: &Options,
        run: &Arc<Run>,
        recorder: &Arc<Recorder>,
        born_floor_ms: i64,
    ) -> Result<ReceiveSide, ClientError> {
        let count = if options.command.produces() {
            0
        } else {
            options.count
        };
        let tracker = Arc::new(Tracker::new(
            recorder.clone(),
            run.clone(),
            born_floor_ms,
            count,
        ));
        let listening = tracker.clone();
        let listener: Listener = Arc::new(move |queue, messages| {
            listening.on_messages(queue, messages);
            ConsumeResult::Success
        });
        let mut config = PushConsumerConfig::new(&options.group, &options.namesrv)
            .subscribe(&options.topic, "*");
        config.model = MessageModel::Clustering;
        config.consume_from = match options.from {
            StartFrom::First => ConsumeFrom::FirstOffset,
            StartFrom::Last => ConsumeFrom::LastOffset,
        };
        config.instance_name = format!("mqbench-{}", std::process::id());
        if options.from == StartFrom::Last {
            skip_backlog(&options.group, &options.namesrv, &options.topic)?;
        }
        let consumer = PushConsumer::start(config, listener)?;
        Ok(ReceiveSide { consumer, tracker })
    }

    /// Waits until the consumer owns `queue_count` queues of `topic` (other members of the
    /// group may own the rest: then it gives up after a while and says so), or the run stops.
    pub fn wait_for_queues(&self, topic: &str, queue_count: usize, run: &Run) -> usize {
        let deadline = Instant::now() + OWNERSHIP_WAIT;
        loop {
            let owned = self
                .consumer
                .owned_queues()
                .iter()
                .filter(|q| q.topic == topic)
                .count();
            if owned >= queue_count || Instant::now() >= deadline || run.interrupted() {
                return owned;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn duplicates(&self) -> u64 {
        self.tracker.duplicates.load(Ordering::Relaxed)
    }

    /// Stops pulling, commits the offsets reached and leaves the group.
    pub fn finish(self) {
        self.consumer.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use wire::message::MagicVersion;

    fn record(queue_offset: i64, born_timestamp: i64) -> MessageRecord {
        let host: SocketAddr = "127.0.0.1:1".parse().unwrap();
        MessageRecord {
            version: MagicVersion::V1,
            body_crc: 0,
            queue_id: 0,
            flag: 0,
            queue_offset,
            commit_log_offset: 0,
            sys_flag: 0,
            born_timestamp,
            born_host: host,
            store_timestamp: born_timestamp,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body: vec![0; 10],
            topic: "T".into(),
            properties: String::new(),
        }
    }

    #[test]
    fn duplicates_and_old_messages_are_not_counted() {
        let recorder = Arc::new(Recorder::new(1));
        let run = Arc::new(Run::new(None));
        let now_ms = now_us() / 1000;
        let tracker = Tracker::new(recorder.clone(), run.clone(), now_ms - 60_000, 3);
        let queue = MessageQueue {
            topic: "T".into(),
            broker_name: "b".into(),
            queue_id: 0,
        };
        tracker.on_messages(
            &queue,
            &[record(0, 1), record(1, now_ms), record(2, now_ms)],
        );
        assert!(!run.stopping());
        tracker.on_messages(
            &queue,
            &[record(1, now_ms), record(2, now_ms), record(3, now_ms)],
        );
        let counts = recorder.counts();
        assert_eq!((counts.ok, counts.bytes), (3, 30));
        assert_eq!(tracker.duplicates.load(Ordering::Relaxed), 2);
        assert_eq!(recorder.skipped_count.load(Ordering::Relaxed), 1);
        assert!(run.stopping(), "the count was reached");
    }
}
