//! The dispatcher: follows the commit log from `dispatched_offset` to the written offset and
//! adds a consume-queue unit for every record that belongs in a queue (transaction type NOT or
//! COMMIT), then tells the arrival listener (the broker's long polling) about it. Messages are
//! visible to consumers from here on, before they are flushed under ASYNC_FLUSH, as upstream.
//!
//! About once a second the thread syncs the consume queues it wrote and then records both
//! watermarks in the checkpoint: a crash then re-dispatches from there, idempotently.
//!
//! A full disk: the index is best-effort and never stops dispatch. Consume-queue units come
//! first: they are what makes an acknowledged message readable, so their files take space
//! ahead of need (see [`super::consume_queue`]). If units still cannot be written for lack
//! of space, dispatch stops at that record without failing (also during the open), the
//! [`DiskGuard`] refuses appends, and the thread tries again every second; once through, it
//! lifts the refusal. A stall during the open left the commit log's queue-offset counters
//! short of the records not yet dispatched: they are set again from the queues before
//! appends are accepted. Once a second the thread also refuses appends while the free space
//! is under [`SPACE_FLOOR_SIZE`].
//!
//! Threads: the loop runs on the dispatch thread; [`Dispatcher::dispatch_available`] also runs
//! on the opening thread during recovery, before the store is served.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::Receiver;
use wire::consume_unit::ConsumeUnit;
use wire::message::sys_flag::TransactionType;
use wire::message::{self, RecordKind, RecordView};

use super::checkpoint::{Checkpoint, CheckpointFile};
use super::commit_log::CommitLog;
use super::consume_queue::{lock_queue, ConsumeQueues};
use super::disk_space::{is_out_of_space, DiskGuard, DiskSpace, SPACE_FLOOR_SIZE};
use super::error::StoreError;
use super::index::{Keyed, MessageIndex};

/// What the listener learns of each dispatched message.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub queue_offset: u64,
    pub tags_code: i64,
    pub store_timestamp: i64,
}

pub type ArrivalListener = Arc<dyn Fn(&Arrival<'_>) + Send + Sync>;

/// The arrival and consume-queue unit of a record that belongs in a queue (transaction type
/// NOT or COMMIT; PREPARED and ROLLBACK records never enter one).
fn queued<'a>(view: &RecordView<'a>, size: usize) -> Option<(Arrival<'a>, ConsumeUnit)> {
    let in_queue = matches!(
        view.transaction_type(),
        TransactionType::Not | TransactionType::Commit
    );
    if !in_queue {
        return None;
    }
    let tags_code = view.tags_code();
    let arrival = Arrival {
        topic: view.topic,
        queue_id: view.queue_id,
        queue_offset: view.queue_offset.max(0) as u64,
        tags_code,
        store_timestamp: view.store_timestamp,
    };
    let unit = ConsumeUnit {
        commit_log_offset: view.commit_log_offset,
        size: size as i32,
        tags_code,
    };
    Some((arrival, unit))
}

const READ_SIZE: usize = 256 << 10;
/// Under load, a pass that found less than this pauses [`BATCH_PAUSE`] before the next.
const BATCH_SIZE_MIN: u64 = 64 << 10;
const BATCH_PAUSE: Duration = Duration::from_micros(200);
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

pub struct Dispatcher {
    log: Arc<CommitLog>,
    queues: Arc<ConsumeQueues>,
    dispatched_offset: AtomicU64,
    last_store_timestamp: AtomicU64,
    /// The log's written offset when the last pass looked: a replica can hold the start of
    /// a record only, and the next pass is worth it once the log grows past this.
    seen_written: AtomicU64,
    listener: Option<ArrivalListener>,
    index: Option<Arc<MessageIndex>>,
    /// The disk the queues and the index allocate from.
    space: Arc<dyn DiskSpace>,
    guard: Arc<DiskGuard>,
    /// Dispatch stopped for lack of space at `dispatched_offset`.
    stalled: AtomicBool,
    /// The dispatch thread runs (before it, dispatch is the open's re-dispatch).
    started: AtomicBool,
    /// The open's re-dispatch stalled: queue offsets are to be set again once through.
    reseed_pending: AtomicBool,
    /// Held by every pass; a truncation holds it to keep dispatch still (see [`Self::pause`]).
    pass_lock: std::sync::Mutex<()>,
}

fn is_space_error(error: &StoreError) -> bool {
    matches!(error, StoreError::Io(error) if is_out_of_space(error))
}

impl Dispatcher {
    pub fn new(
        log: Arc<CommitLog>,
        queues: Arc<ConsumeQueues>,
        from: u64,
        listener: Option<ArrivalListener>,
        index: Option<Arc<MessageIndex>>,
    ) -> Dispatcher {
        let dispatcher = Dispatcher {
            queues,
            dispatched_offset: AtomicU64::new(from),
            last_store_timestamp: AtomicU64::new(0),
            seen_written: AtomicU64::new(from),
            listener,
            index,
            space: log.storage().space(),
            guard: Arc::new(DiskGuard::new(log.clone())),
            stalled: AtomicBool::new(false),
            started: AtomicBool::new(false),
            reseed_pending: AtomicBool::new(false),
            pass_lock: std::sync::Mutex::new(()),
            log,
        };
        // Before the store serves: a broker starting on a nearly full disk refuses at once.
        dispatcher.check_space();
        dispatcher
    }

    pub fn index(&self) -> Option<&Arc<MessageIndex>> {
        self.index.as_ref()
    }

    /// The refusal of appends for the disk, which retention also reports to.
    pub fn disk_guard(&self) -> &Arc<DiskGuard> {
        &self.guard
    }

    /// Whether dispatch is stopped for lack of space.
    pub fn is_stalled(&self) -> bool {
        self.stalled.load(Ordering::Acquire)
    }

    pub fn dispatched_offset(&self) -> u64 {
        self.dispatched_offset.load(Ordering::Acquire)
    }

    /// Dispatches everything written so far; returns how many records went into queues. For
    /// lack of space it stops early without an error (see the module doc).
    pub fn dispatch_available(&self) -> Result<usize, StoreError> {
        let _pass = self.pause();
        let mut count = 0;
        match self.dispatch_pass(&mut count) {
            Ok(()) => {
                if self.stalled.load(Ordering::Acquire) {
                    self.on_resumed();
                }
                Ok(count)
            }
            Err(error) if is_space_error(&error) => {
                if !self.stalled.swap(true, Ordering::AcqRel) {
                    log::error!(
                        "dispatch stopped at commit-log offset {} for lack of space; \
                         appends refused, retried every second: {error}",
                        self.dispatched_offset()
                    );
                }
                if !self.started.load(Ordering::Acquire) {
                    self.reseed_pending.store(true, Ordering::Release);
                }
                self.guard.set_queues_stalled(true);
                Ok(count)
            }
            Err(error) => Err(error),
        }
    }

    /// Keeps dispatch still while the guard lives (a truncation of the log).
    pub fn pause(&self) -> std::sync::MutexGuard<'_, ()> {
        // A pass that panicked leaves nothing half-done that the next pass would not redo.
        self.pass_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Moves dispatch back to `offset` after the log was cut there; call while paused.
    pub fn rewind(&self, offset: u64) {
        self.dispatched_offset.fetch_min(offset, Ordering::AcqRel);
        self.seen_written.store(offset, Ordering::Release);
    }

    /// Through again after a stall: sets the queue offsets if the open's re-dispatch had
    /// stalled (appends were refused since), then lifts the refusal.
    fn on_resumed(&self) {
        if self.reseed_pending.swap(false, Ordering::AcqRel) {
            for (topic, queue_id, queue) in self.queues.all() {
                let next = lock_queue(&queue).max_offset();
                self.log.set_queue_offset(&topic, queue_id, next as i64);
            }
        }
        self.stalled.store(false, Ordering::Release);
        log::info!(
            "dispatch resumed: through to commit-log offset {}",
            self.dispatched_offset()
        );
        self.guard.set_queues_stalled(false);
    }

    /// Refuses appends while the free space is under [`SPACE_FLOOR_SIZE`] (and accepts them
    /// again above it, unless a queue could not allocate ahead since).
    fn check_space(&self) {
        match self.space.available_size() {
            Ok(available) => self.guard.set_space_low(available < SPACE_FLOOR_SIZE),
            Err(error) => log::warn!("free space unknown: {error}"),
        }
    }

    fn dispatch_pass(&self, count: &mut usize) -> Result<(), StoreError> {
        // One window buffer for the whole pass rather than an allocation per window.
        let mut bytes = Vec::with_capacity(READ_SIZE);
        loop {
            let from = self.dispatched_offset().max(self.log.min_offset());
            let written = self.log.written_offset();
            self.seen_written.store(written, Ordering::Release);
            if from >= written {
                self.dispatched_offset
                    .store(from.max(self.dispatched_offset()), Ordering::Release);
                return Ok(());
            }
            bytes.clear();
            self.log.read_into(from, READ_SIZE, &mut bytes)?;
            let (consumed, dispatched) = self.dispatch_bytes(from, &bytes)?;
            *count += dispatched;
            if consumed == 0 {
                if bytes.len() < message::BLANK_RECORD_SIZE {
                    // A replica received only the start of a record so far.
                    return Ok(());
                }
                // The window ends inside a record larger than it: read that record whole.
                let header = message::peek(&bytes)?;
                if from + header.size() as u64 > written {
                    // A replica has not received the rest of this record yet.
                    return Ok(());
                }
                let whole = self.log.read(from, header.size())?;
                let (consumed, dispatched) = self.dispatch_bytes(from, &whole)?;
                if consumed == 0 {
                    return Err(StoreError::SegmentInvalid {
                        name: format!("offset {from}"),
                        reason: "record cannot be read whole".into(),
                    });
                }
                *count += dispatched;
                self.dispatched_offset
                    .store(from + consumed, Ordering::Release);
            } else {
                self.dispatched_offset
                    .store(from + consumed, Ordering::Release);
            }
        }
    }

    /// Dispatches the whole records at the start of `bytes` (which begin at commit-log offset
    /// `from`); returns the bytes consumed and the records queued. Units are written per queue
    /// in one `pwrite` per run, and listeners hear of arrivals once the units are visible.
    fn dispatch_bytes(&self, from: u64, bytes: &[u8]) -> Result<(u64, usize), StoreError> {
        let segment_size = self.log.config().segment_size;
        let mut position = 0usize;
        let mut arrivals: Vec<(Arrival<'_>, ConsumeUnit)> = Vec::new();
        let mut keyed: Vec<Keyed<'_>> = Vec::new();
        while bytes.len() - position >= message::BLANK_RECORD_SIZE {
            let header = message::peek(&bytes[position..])?;
            match header.kind {
                RecordKind::Blank => {
                    let offset = from + position as u64;
                    position = (offset - offset % segment_size + segment_size - from) as usize;
                    break;
                }
                RecordKind::EndOfData => {
                    return Err(StoreError::SegmentInvalid {
                        name: format!("offset {}", from + position as u64),
                        reason: "zeros below the written offset".into(),
                    })
                }
                RecordKind::Message(_) => {}
            }
            let size = header.size();
            if bytes.len() - position < size {
                break;
            }
            let (view, _) = RecordView::decode(&bytes[position..position + size], false)?;
            self.last_store_timestamp
                .store(view.store_timestamp.max(0) as u64, Ordering::Release);
            if let Some(arrival) = queued(&view, size) {
                arrivals.push(arrival);
            }
            if self.index.is_some() && view.transaction_type() != TransactionType::Rollback {
                keyed.push(Keyed {
                    topic: view.topic,
                    keys: view.keys(),
                    unique_key: view.unique_key(),
                    offset: from + position as u64,
                    store_timestamp: view.store_timestamp,
                });
            }
            position += size;
        }
        self.write_units(&arrivals)?;
        if let Some(index) = &self.index {
            index.add(&keyed, self.space.as_ref(), segment_size);
        }
        if let Some(listener) = &self.listener {
            for (arrival, _) in &arrivals {
                listener(arrival);
            }
        }
        Ok((position as u64, arrivals.len()))
    }

    /// Writes the units of `arrivals` grouped by queue, keeping each queue's order.
    fn write_units(&self, arrivals: &[(Arrival<'_>, ConsumeUnit)]) -> Result<(), StoreError> {
        let mut groups: HashMap<(&str, i32), Vec<(u64, ConsumeUnit)>> = HashMap::new();
        for (arrival, unit) in arrivals {
            let group = groups.entry((arrival.topic, arrival.queue_id)).or_default();
            group.push((arrival.queue_offset, *unit));
        }
        let mut short = false;
        // Every queue gets its units even when one cannot: a full disk that refuses a new
        // queue's first file must not hide the messages of the others (a retry rewrites
        // nothing already written: `put` skips units below a queue's end).
        let mut first_error = None;
        for ((topic, queue_id), units) in groups {
            let written = self
                .queues
                .get_or_create(topic, queue_id)
                .and_then(|queue| {
                    let mut queue = lock_queue(&queue);
                    let written = queue.put_all(&units, self.space.as_ref());
                    short |= queue.is_short();
                    written
                });
            if let Err(error) = written {
                first_error.get_or_insert(StoreError::from(error));
            }
        }
        if short {
            // Units already acknowledged must keep finding room: stop taking more.
            self.guard.set_space_low(true);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Syncs the queues, then records the watermarks they and the commit log reached.
    pub fn checkpoint(&self, file: &CheckpointFile) -> Result<(), StoreError> {
        let dispatched_offset = self.dispatched_offset();
        let flushed_offset = self.log.flushed_offset();
        self.queues.sync_all()?;
        if let Some(index) = &self.index {
            index.sync()?;
        }
        let timestamp = self.last_store_timestamp.load(Ordering::Acquire) as i64;
        file.write(&Checkpoint {
            physical_timestamp: timestamp,
            queue_timestamp: timestamp,
            index_timestamp: timestamp,
            flushed_offset,
            dispatched_offset: dispatched_offset.min(flushed_offset),
        })?;
        Ok(())
    }

    /// The dispatch thread's loop; returns when `stop` closes, after dispatching and
    /// checkpointing what is there.
    pub fn run(&self, checkpoint: &CheckpointFile, stop: Receiver<()>) {
        self.started.store(true, Ordering::Release);
        self.check_space();
        let mut last_checkpoint = Instant::now();
        let mut failing = false;
        loop {
            let stopping = !matches!(
                stop.try_recv(),
                Err(crossbeam::channel::TryRecvError::Empty)
            );
            if stopping && self.log.is_halted() {
                return;
            }
            let before = self.dispatched_offset();
            match self.dispatch_available() {
                Ok(_) if failing => {
                    log::info!("dispatch: recovered");
                    failing = false;
                }
                Ok(_) => {}
                Err(error) if !failing => {
                    log::error!("dispatch stalled at {}: {error}", self.dispatched_offset());
                    failing = true;
                }
                Err(_) => {}
            }
            if stopping || last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
                if let Err(error) = self.checkpoint(checkpoint) {
                    log::error!("checkpoint failed: {error}");
                }
                self.check_space();
                last_checkpoint = Instant::now();
            }
            if stopping {
                return;
            }
            // Saturating: a truncation may have moved dispatch back since `before`.
            let moved = self.dispatched_offset().saturating_sub(before);
            if failing || self.is_stalled() || self.log.is_closed() {
                let _ = stop.recv_timeout(Duration::from_secs(1));
            } else if moved > 0 && moved < BATCH_SIZE_MIN {
                // Records are trickling in under load: let a batch gather rather than fight
                // the appenders for the lock record by record. Idle, the thread blocks below
                // and the first append wakes it at once.
                std::thread::sleep(BATCH_PAUSE);
            } else {
                // Past what the last pass saw, not past the dispatched offset: a partial
                // record at a replica's end would otherwise make this spin.
                let seen = self.seen_written.load(Ordering::Acquire);
                self.log.wait_appended(
                    seen.max(self.dispatched_offset()),
                    Duration::from_millis(100),
                );
            }
        }
    }
}
