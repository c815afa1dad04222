//! `MessageStore`: the commit log, consume queues and the three store threads, opened with
//! recovery and stopped cleanly. Reads for consumers live in [`super::query`].
//!
//! Open: lock the directory, read the checkpoint, lay down the abort marker (noting whether
//! the last run left one), recover the commit log, truncate consume queues to what is
//! durable, re-dispatch the rest synchronously, rebuild the queue-offset table, checkpoint,
//! start the flush, dispatch and retention threads. Shutdown reverses it and removes the abort
//! marker last.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};

use super::aligned_buffer::align_down;
use super::checkpoint::{AbortMarker, CheckpointFile};
use super::commit_log::{AppendResult, CommitLog, CommitLogConfig};
use super::consume_queue::{lock_queue, ConsumeQueues};
use super::direct_file::{local_hour, StoreLock};
use super::dispatch::{ArrivalListener, Dispatcher};
use super::epochs::{Epoch, EpochHistory};
use super::error::StoreError;
use super::flush::{self, FlushMode};
use super::index::{IndexConfig, MessageIndex};
use super::journal::{self, Journal, JournalConfig, JournalLoad, JournalShape};
use super::recovery::{self, JournalOutcome, RecoveryReport};
use super::retention::{self, RetentionConfig};
use super::storage::{DirStorage, Storage};

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `storePathRootDir`.
    pub root: PathBuf,
    pub commit_log: CommitLogConfig,
    /// Units per consume-queue file (`mappedFileSizeConsumeQueue` / 20).
    pub consume_queue_file_units: u64,
    pub flush_mode: FlushMode,
    /// How long a SYNC_FLUSH writer waits before `FlushTimeout`.
    pub sync_flush_timeout: Duration,
    /// Try O_DIRECT (falls back with a warning where the filesystem refuses it).
    pub direct_io: bool,
    pub retention: RetentionConfig,
    /// `messageIndexEnable` = false leaves this `None`: no index, QUERY_MESSAGE finds nothing.
    pub index: Option<IndexConfig>,
    /// The crash journal of the commit log's memory (`journalEnable`, `journalDir`).
    pub journal: JournalConfig,
}

impl StoreConfig {
    pub fn new(root: PathBuf) -> StoreConfig {
        StoreConfig {
            root,
            commit_log: CommitLogConfig::default(),
            consume_queue_file_units: 300_000,
            flush_mode: FlushMode::asynchronous(Duration::from_millis(500)),
            sync_flush_timeout: Duration::from_secs(5),
            direct_io: true,
            retention: RetentionConfig::default(),
            index: Some(IndexConfig::default()),
            journal: JournalConfig::default(),
        }
    }
}

struct Threads {
    stops: Vec<Sender<()>>,
    handles: Vec<JoinHandle<()>>,
}

pub struct MessageStore {
    config: StoreConfig,
    pub(super) log: Arc<CommitLog>,
    pub(super) queues: Arc<ConsumeQueues>,
    dispatcher: Arc<Dispatcher>,
    checkpoint: Arc<CheckpointFile>,
    abort: Mutex<Option<AbortMarker>>,
    threads: Mutex<Option<Threads>>,
    report: RecoveryReport,
    /// Which master incarnation wrote which bytes ([`super::epochs`]).
    epochs: Mutex<EpochHistory>,
    /// Consumers' reads take it shared; a truncation takes it alone, so no read returns a
    /// byte being cut.
    pub(super) reads: RwLock<()>,
    _lock: StoreLock,
}

impl MessageStore {
    /// Opens the store under `config.root`, commit log in `<root>/commitlog`.
    pub fn open(
        config: StoreConfig,
        listener: Option<ArrivalListener>,
    ) -> Result<Self, StoreError> {
        let storage = DirStorage::open(&config.root.join("commitlog"), config.direct_io)?;
        MessageStore::open_with_storage(config, Arc::new(storage), listener)
    }

    /// Opens the store with the commit log in `storage` (tests pass a fault-injecting one).
    pub fn open_with_storage(
        config: StoreConfig,
        storage: Arc<dyn Storage>,
        listener: Option<ArrivalListener>,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(&config.root)?;
        let lock = StoreLock::acquire(&config.root.join("lock"))?;
        let epochs = EpochHistory::load(&config.root)?;
        let (checkpoint_file, checkpoint) = CheckpointFile::open(&config.root)?;
        let (abort, crashed) = AbortMarker::create(&config.root)?;
        let segment_size = config.commit_log.segment_size;
        let clean_end = checkpoint.filter(|_| !crashed).map(|c| c.flushed_offset);
        let crash_start = checkpoint.map(|c| c.flushed_offset - c.flushed_offset % segment_size);
        let mut report = recovery::recover(storage.as_ref(), segment_size, clean_end, crash_start)?;
        let journal = open_journal(&config, storage.as_ref(), &mut report, crashed)?;
        let log = Arc::new(CommitLog::open(
            storage,
            config.commit_log.clone(),
            report.valid_end,
            journal,
        )?);
        let queues = Arc::new(ConsumeQueues::load(
            &config.root.join("consumequeue"),
            config.consume_queue_file_units,
        )?);
        let durable_dispatch = match (checkpoint, report.clean) {
            (Some(checkpoint), true) => checkpoint.dispatched_offset,
            (Some(checkpoint), false) => {
                checkpoint.dispatched_offset.min(checkpoint.flushed_offset)
            }
            (None, _) => log.min_offset(),
        };
        let dispatch_from = durable_dispatch.min(report.valid_end);
        truncate_queues(&queues, dispatch_from, log.min_offset())?;
        let index = open_index(&config, report.valid_end)?;
        let dispatcher = Arc::new(Dispatcher::new(
            log.clone(),
            queues.clone(),
            dispatch_from,
            listener,
            index,
        ));
        let redispatched = dispatcher.dispatch_available()?;
        rebuild_queue_offsets(&log, &queues);
        dispatcher.checkpoint(&checkpoint_file)?;
        log_opened(&config, &report, &log, redispatched);
        let store = MessageStore {
            config,
            log,
            queues,
            dispatcher,
            checkpoint: Arc::new(checkpoint_file),
            abort: Mutex::new(Some(abort)),
            threads: Mutex::new(None),
            report,
            epochs: Mutex::new(epochs),
            reads: RwLock::new(()),
            _lock: lock,
        };
        store.start_threads()?;
        Ok(store)
    }

    fn start_threads(&self) -> Result<(), StoreError> {
        let mut stops = Vec::new();
        let mut handles = Vec::new();
        let (stop, stopped) = bounded::<()>(0);
        let log = self.log.clone();
        let mode = self.config.flush_mode;
        handles.push(spawn("store-flush", move || {
            flush::run(log, mode, stopped)
        })?);
        stops.push(stop);
        let (stop, stopped) = bounded::<()>(0);
        let dispatcher = self.dispatcher.clone();
        let checkpoint = self.checkpoint.clone();
        handles.push(spawn("store-dispatch", move || {
            dispatcher.run(&checkpoint, stopped)
        })?);
        stops.push(stop);
        let (stop, stopped) = bounded::<()>(0);
        let (log, queues, dispatcher) = (
            self.log.clone(),
            self.queues.clone(),
            self.dispatcher.clone(),
        );
        let config = self.config.retention.clone();
        handles.push(spawn("store-retention", move || {
            run_retention(&log, &queues, &dispatcher, &config, stopped)
        })?);
        stops.push(stop);
        *self.threads.lock().unwrap_or_else(|p| p.into_inner()) = Some(Threads { stops, handles });
        Ok(())
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    pub fn commit_log(&self) -> &Arc<CommitLog> {
        &self.log
    }

    pub fn dispatched_offset(&self) -> u64 {
        self.dispatcher.dispatched_offset()
    }

    pub(super) fn index(&self) -> Option<&Arc<MessageIndex>> {
        self.dispatcher.index()
    }

    /// Appends one record or a batch (records back to back); see [`CommitLog::append`].
    pub fn append(&self, records: &mut [u8]) -> Result<AppendResult, StoreError> {
        self.log.append(records)
    }

    /// Appends and, under SYNC_FLUSH, returns only once the records are durable (or with
    /// `FlushTimeout` after the configured timeout). For callers that may block; the broker's
    /// event loop waits on the watermark instead.
    pub fn append_durable(&self, records: &mut [u8]) -> Result<AppendResult, StoreError> {
        let result = self.log.append(records)?;
        if self.config.flush_mode == FlushMode::Sync {
            self.log
                .wait_flushed(result.end_offset, self.config.sync_flush_timeout)?;
        }
        Ok(result)
    }

    /// A slave's append of the master's bytes; see [`CommitLog::append_replica`].
    pub fn append_replica(&self, offset: u64, bytes: &[u8]) -> Result<u64, StoreError> {
        self.log.append_replica(offset, bytes)
    }

    /// Blocks up to `timeout` until the log grows past `offset` (the HA master's writers).
    pub fn wait_for_data(&self, offset: u64, timeout: Duration) {
        self.log.wait_appended(offset, timeout);
    }

    /// The epoch history as it stands.
    pub fn epochs(&self) -> EpochHistory {
        lock(&self.epochs).clone()
    }

    /// Begins a master epoch at the end of the log, durably, before any byte of it is
    /// appended.
    pub fn begin_epoch(&self) -> Result<Epoch, StoreError> {
        let mut epochs = lock(&self.epochs);
        let mut next = epochs.clone();
        let begun = next.begin(self.log.written_offset());
        next.save(&self.config.root)?;
        *epochs = next;
        Ok(begun)
    }

    /// Notes that a verified slave replicates the current epoch (so that, should this master
    /// lose data, it waits for the slave to give it back).
    pub fn mark_epoch_replicated(&self) -> Result<(), StoreError> {
        let mut epochs = lock(&self.epochs);
        let mut next = epochs.clone();
        if next.mark_replicated() {
            next.save(&self.config.root)?;
            *epochs = next;
        }
        Ok(())
    }

    /// Notes, durably, that the current epoch's end may be lost and its slave not asked yet:
    /// a master restarted during its recovery wait must wait again.
    pub fn mark_epoch_recovering(&self) -> Result<(), StoreError> {
        let mut epochs = lock(&self.epochs);
        let mut next = epochs.clone();
        if next.mark_recovering() {
            next.save(&self.config.root)?;
            *epochs = next;
        }
        Ok(())
    }

    /// Flushes everything appended so far now, on this thread (a master makes what it took
    /// back from its slave durable before its new epoch begins).
    pub fn flush_now(&self) -> Result<(), StoreError> {
        let mut staging = super::aligned_buffer::AlignedBuffer::zeroed(
            super::flush::STAGING_SIZE.max(self.config.commit_log.chunk_size),
        );
        super::flush::flush(&self.log, &mut staging)?;
        Ok(())
    }

    /// A slave takes its master's history, once its log holds nothing the master's lacks.
    pub fn adopt_epochs(&self, history: EpochHistory) -> Result<(), StoreError> {
        let mut epochs = lock(&self.epochs);
        if *epochs != history {
            history.save(&self.config.root)?;
            *epochs = history;
        }
        Ok(())
    }

    /// Cuts the log back to `offset` while serving (a slave whose bytes from there are not
    /// its master's): dispatch held still, the log cut and synced, consume queues cut to
    /// what points below it, the checkpoint written. Returns the bytes cut.
    pub fn truncate(&self, offset: u64) -> Result<u64, StoreError> {
        let _reads = self.reads.write().unwrap_or_else(|p| p.into_inner());
        let _dispatch = self.dispatcher.pause();
        let cut = self.log.truncate(offset)?;
        if cut == 0 {
            return Ok(0);
        }
        let end = self.log.written_offset();
        truncate_queues(&self.queues, end, self.log.min_offset())?;
        self.dispatcher.rewind(end);
        rebuild_queue_offsets(&self.log, &self.queues);
        self.dispatcher.checkpoint(&self.checkpoint)?;
        Ok(cut)
    }

    /// After bytes came in through [`MessageStore::append_replica`] on a master (taken back
    /// from its slave): waits until they are dispatched and sets every queue's next offset
    /// past them, so that the next append continues each queue.
    pub fn adopt_appended(&self, timeout: Duration) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + timeout;
        while self.dispatcher.dispatched_offset() < self.log.written_offset() {
            if std::time::Instant::now() >= deadline {
                return Err(StoreError::NotWritable {
                    reason: "taken-back records not dispatched in time".into(),
                });
            }
            self.log
                .wait_appended(self.log.written_offset(), Duration::from_millis(10));
        }
        rebuild_queue_offsets(&self.log, &self.queues);
        Ok(())
    }

    /// One retention pass now (the thread runs one every interval).
    pub fn run_retention_once(
        &self,
        now: SystemTime,
    ) -> Result<retention::RetentionPass, StoreError> {
        retention_pass(
            &self.log,
            &self.queues,
            &self.dispatcher,
            &self.config.retention,
            now,
        )
    }

    /// Forgets a topic: its queue-offset counters and consume queues.
    pub fn remove_topic(&self, topic: &str) -> Result<(), StoreError> {
        self.log.remove_topic(topic);
        self.queues.remove_topic(topic)?;
        Ok(())
    }

    /// Stops accepting appends, flushes, dispatches, checkpoints, stops the threads and
    /// removes the abort marker. Idempotent.
    pub fn shutdown(&self) -> Result<(), StoreError> {
        self.stop_threads();
        let abort = self.abort.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(abort) = abort {
            if self.log.flushed_offset() < self.log.written_offset() {
                // The last flush failed: this is not a clean stop. The marker and the journal
                // stay, so the next start replays what the segments lack.
                std::mem::forget(abort);
                return Err(StoreError::NotWritable {
                    reason: "the final flush did not reach the written offset: the journal \
                             is kept for recovery"
                        .into(),
                });
            }
            self.dispatcher.dispatch_available()?;
            self.dispatcher.checkpoint(&self.checkpoint)?;
            abort.remove()?;
            // Only now: everything is in the segments, and a crash before this line still
            // found the journal (a clean start ignores one left behind).
            if let Some(journal) = self.log.journal() {
                journal.clone().remove()?;
            }
            log::info!("store at {} stopped cleanly", self.config.root.display());
        }
        Ok(())
    }

    /// Leaves the store as a `kill -9` would: the threads stop without a last flush or
    /// checkpoint, the abort marker and the journal stay; for crash tests that need the
    /// process to survive. (Unsynced writes to the segments are the storage's to lose: see
    /// [`super::mem_file::MemStorage::crash`].)
    pub fn abandon(self) {
        self.log.halt();
        self.stop_threads();
        let abort = self.abort.lock().unwrap_or_else(|p| p.into_inner()).take();
        std::mem::forget(abort);
    }

    fn stop_threads(&self) {
        self.log.close();
        let threads = self
            .threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(Threads { stops, handles }) = threads {
            // Flush first: dispatch then checkpoints what the final flush made durable.
            for (stop, handle) in stops.into_iter().zip(handles) {
                drop(stop);
                if handle.join().is_err() {
                    log::error!("a store thread panicked");
                }
            }
        }
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            log::error!("store shutdown: {error}");
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The epoch history is replaced whole, after its file: never half-changed.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The commit log's next queue offset of every queue, from the consume queues (which hold
/// everything dispatched).
fn rebuild_queue_offsets(log: &CommitLog, queues: &ConsumeQueues) {
    for (topic, queue_id, queue) in queues.all() {
        let next = lock_queue(&queue).max_offset();
        log.set_queue_offset(&topic, queue_id, next as i64);
    }
}

fn log_opened(config: &StoreConfig, report: &RecoveryReport, log: &CommitLog, redispatched: usize) {
    let journal = log
        .journal()
        .map_or("off".to_string(), |j| j.path().display().to_string());
    log::info!(
        "store opened at {}: {} recovery, valid to {}, {redispatched} record(s) \
         re-dispatched, journal {journal}{}",
        config.root.display(),
        if report.clean { "clean" } else { "crash" },
        report.valid_end,
        if log.is_direct() {
            ""
        } else {
            " (buffered I/O)"
        }
    );
}

/// Cuts every consume queue back to what points below `dispatch_from` (re-dispatch rebuilds
/// the rest) and past retention's `min_offset`.
fn truncate_queues(
    queues: &ConsumeQueues,
    dispatch_from: u64,
    min_offset: u64,
) -> Result<(), StoreError> {
    for (topic, queue_id, queue) in queues.all() {
        let mut queue = lock_queue(&queue);
        let removed = queue.truncate_to_commit_end(dispatch_from)?;
        queue.remove_before(min_offset)?;
        if removed > 0 {
            log::info!("consume queue {topic}/{queue_id}: {removed} unit(s) to re-dispatch");
        }
    }
    Ok(())
}

/// Replays the journal a crash left (`crashed`: the abort marker was there) into the
/// segments, noting it in `report`, then opens the journal this run writes to.
fn open_journal(
    config: &StoreConfig,
    storage: &dyn Storage,
    report: &mut RecoveryReport,
    crashed: bool,
) -> Result<Option<Arc<Journal>>, StoreError> {
    let segment_size = config.commit_log.segment_size;
    if !config.journal.enabled {
        if crashed {
            report.journal = JournalOutcome::Missing;
        }
        return Ok(None);
    }
    let shape = JournalShape {
        slot_size: config.commit_log.chunk_size,
        slot_count: config.commit_log.journal_slot_count(),
        segment_size,
    };
    let pointer = journal::pointer_for(&config.root, &config.journal, shape)?;
    if crashed {
        let from = align_down(report.valid_end);
        report.journal = match journal::load(&pointer, from)? {
            JournalLoad::Image(image) => {
                let (outcome, end) =
                    recovery::replay(storage, segment_size, report.valid_end, &image)?;
                report.valid_end = end;
                outcome
            }
            JournalLoad::Missing => JournalOutcome::Missing,
            JournalLoad::Ignored(reason) => JournalOutcome::Ignored(reason),
        };
        match &report.journal {
            JournalOutcome::Replayed {
                from,
                to,
                records,
                missing,
            } => log::warn!(
                "commit log recovery: {records} record(s) from {from} to {to} replayed from \
                 the journal{}",
                if *missing > 0 {
                    format!("; {missing} byte(s) past it could not be")
                } else {
                    String::new()
                }
            ),
            JournalOutcome::NotNeeded => {}
            JournalOutcome::Missing => log::warn!(
                "commit log recovery: no journal after a crash (machine restart?): what was \
                 not flushed before it is gone"
            ),
            JournalOutcome::Ignored(reason) => {
                log::warn!("commit log recovery: journal not used: {reason}")
            }
        }
    }
    Ok(Some(journal::open_fresh(
        &config.root,
        &config.journal,
        &pointer,
        shape,
    )?))
}

fn open_index(config: &StoreConfig, log_end: u64) -> Result<Option<Arc<MessageIndex>>, StoreError> {
    let Some(index) = config.index else {
        return Ok(None);
    };
    let index = MessageIndex::open(&config.root.join("index"), index, log_end)?;
    Ok(Some(Arc::new(index)))
}

fn spawn<F: FnOnce() + Send + 'static>(name: &str, body: F) -> Result<JoinHandle<()>, StoreError> {
    Ok(std::thread::Builder::new()
        .name(name.to_string())
        .spawn(body)?)
}

fn run_retention(
    log: &CommitLog,
    queues: &ConsumeQueues,
    dispatcher: &Dispatcher,
    config: &RetentionConfig,
    stop: Receiver<()>,
) {
    loop {
        if !matches!(
            stop.recv_timeout(config.interval),
            Err(RecvTimeoutError::Timeout)
        ) {
            return;
        }
        if let Err(error) = retention_pass(log, queues, dispatcher, config, SystemTime::now()) {
            log::error!("retention pass failed: {error}");
        }
    }
}

/// One retention pass; index files follow the segments they point into.
fn retention_pass(
    log: &CommitLog,
    queues: &ConsumeQueues,
    dispatcher: &Dispatcher,
    config: &RetentionConfig,
    now: SystemTime,
) -> Result<retention::RetentionPass, StoreError> {
    let dispatched = dispatcher.dispatched_offset();
    let guard = dispatcher.disk_guard();
    let hour = local_hour(now);
    let pass = retention::run_once(log, queues, guard, config, dispatched, now, hour)?;
    if let Some(index) = dispatcher.index() {
        let removed = index.remove_before(log.min_offset())?;
        if removed > 0 {
            log::info!("retention: removed {removed} index file(s)");
        }
    }
    Ok(pass)
}
