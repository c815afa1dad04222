//! The commit log: every message of every topic, appended in one sequence of fixed-size
//! segments, in the stored-message layout of [`wire::message`].
//!
//! ```text
//!  commit-log offset:  0                S                2S               3S
//!  segments:           |00000000000000000000|000000000000000S|0000000000000002S|
//!  one segment:        | rec | rec | ... | rec | BLANK(size = remaining) 0 0 0 0 |
//!  in memory:                      [ chunk | chunk | chunk (tail block) ]
//!                                  ^ oldest chunk base     written_offset ^
//! ```
//!
//! Appends copy records into block-aligned in-memory chunks under the append lock, stamping
//! queue offset, commit-log offset and store time there; the flush thread copies the dirty
//! blocks out (the partial tail block included, rewritten on every flush until it fills),
//! writes whole aligned blocks and syncs. Reads of the memory window are served from the
//! chunks, older data with an aligned `pread`.
//!
//! Threads: any thread appends and reads; the flush thread calls [`super::flush::flush`];
//! retention calls [`CommitLog::remove_segments_before`]; a slave's replication thread calls
//! [`CommitLog::truncate`]. Lock order: `flush_lock`, then `state`, then `segments`; nobody
//! takes `state` while holding `segments`.
//!
//! Invariants (asserted in release): segment size and chunk size are whole blocks; a record
//! never spans two segments; `flushed_offset <= written_offset`; memory past `written_offset`
//! in the chunks is zero; chunks are dropped only once flushed.

mod truncate;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wire::message::{self, BLANK_RECORD_SIZE};

use super::aligned_buffer::{align_down, align_up, is_aligned, AlignedBuffer, BLOCK_SIZE};
pub use super::append_records::is_topic_valid;
use super::append_records::{parse_records, stamp_record};
use super::chunks::{Chunks, SharedPiece};
use super::direct_file::BlockFile;
use super::error::StoreError;
use super::journal::Journal;
use super::storage::Storage;

#[derive(Debug, Clone)]
pub struct CommitLogConfig {
    /// Bytes per segment file (`mappedFileSizeCommitLog`); a whole number of blocks.
    pub segment_size: u64,
    /// Bytes per in-memory chunk; a whole number of blocks.
    pub chunk_size: usize,
    /// How much recent data stays in memory for reads once flushed.
    pub memory_window_size: u64,
    /// Appends wait (`FlushBehind`) while this much is waiting for the flush thread
    /// (`maxUnflushedCommitLogSize`): it bounds both memory and what a machine crash can
    /// take under ASYNC_FLUSH.
    pub unflushed_size_max: u64,
    /// The largest record or batch an append carries (`maxMessageSize` and then some): the
    /// journal keeps room for one past the unflushed bound.
    pub append_size_max: u64,
}

impl Default for CommitLogConfig {
    fn default() -> Self {
        CommitLogConfig {
            segment_size: 1 << 30,
            chunk_size: 4 << 20,
            memory_window_size: 32 << 20,
            unflushed_size_max: 64 << 20,
            append_size_max: 4 << 20,
        }
    }
}

impl CommitLogConfig {
    /// Journal slots enough for the memory window, the unflushed tail, one append that
    /// crosses it (with a BLANK's padding), and chunks readers may still hold.
    pub fn journal_slot_count(&self) -> usize {
        let chunk = self.chunk_size as u64;
        let chunks = |size: u64| size.div_ceil(chunk) as usize;
        chunks(self.memory_window_size)
            + chunks(self.unflushed_size_max)
            + 2 * chunks(self.append_size_max)
            + 4
    }
}

/// Segment file name: the 20-digit zero-padded start offset.
pub fn segment_name(base_offset: u64) -> String {
    format!("{base_offset:020}")
}

pub fn parse_segment_name(name: &str) -> Option<u64> {
    if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

/// What the flush thread writes next; see [`Chunks::dirty`].
pub(super) struct DirtyRange {
    pub pieces: Vec<SharedPiece>,
    pub staged_offset: u64,
    pub staged_size: usize,
    pub written_offset: u64,
}

/// Where one appended record went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendedRecord {
    pub commit_log_offset: u64,
    pub size: u32,
    pub queue_id: i32,
    pub queue_offset: i64,
    pub store_timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    pub records: Vec<AppendedRecord>,
    /// The commit-log offset just past the last record: durable once `flushed_offset` is here.
    pub end_offset: u64,
}

struct AppendState {
    written_offset: u64,
    chunks: Chunks,
    /// topic → queue id → next queue offset.
    queue_offsets: HashMap<String, HashMap<i32, i64>>,
    closed: bool,
}

pub struct CommitLog {
    config: CommitLogConfig,
    storage: Arc<dyn Storage>,
    journal: Option<Arc<Journal>>,
    segments: RwLock<BTreeMap<u64, Arc<dyn BlockFile>>>,
    state: Mutex<AppendState>,
    /// Signalled after every append and on close: the flush and dispatch threads wait on it.
    appended: Condvar,
    /// Threads blocked on `appended`: appends skip the wake-up syscall when there are none.
    appended_waiters: AtomicUsize,
    written_offset: AtomicU64,
    flushed_offset: AtomicU64,
    flushed_lock: Mutex<()>,
    flushed: Condvar,
    min_offset: AtomicU64,
    /// Set by retention when the disk passes the refusal threshold: (used, threshold) percent.
    disk_full: Mutex<Option<(u32, u32)>>,
    flush_failing: Mutex<Option<String>>,
    flush_failing_flag: AtomicBool,
    /// Told every new flushed offset, on the flush thread (the broker wakes its loop with it).
    flush_listener: Mutex<Option<FlushListener>>,
    halted: AtomicBool,
    /// Crash tests keep the flush thread from flushing on its own (see `hold_flushes`).
    flushes_held: AtomicBool,
    /// Held by every flush, and by a truncation for its whole length.
    flush_lock: Mutex<()>,
}

/// Called with each new `flushed_offset`; must not block.
pub type FlushListener = Arc<dyn Fn(u64) + Send + Sync>;

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // State behind these locks is only changed by code that cannot panic midway (asserts
    // guard invariants before any mutation), so a poisoned lock still holds consistent data.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CommitLog {
    /// Opens the segments in `storage` with data up to `written_offset` (as recovery found
    /// it) and loads the partial tail block into memory: into the journal's first slot when
    /// there is a journal.
    pub fn open(
        storage: Arc<dyn Storage>,
        config: CommitLogConfig,
        written_offset: u64,
        journal: Option<Arc<Journal>>,
    ) -> Result<CommitLog, StoreError> {
        if !is_aligned(config.segment_size) || config.segment_size < 2 * BLOCK_SIZE as u64 {
            return Err(StoreError::Config(format!(
                "segment size {} is not a multiple of {BLOCK_SIZE} of at least two blocks",
                config.segment_size
            )));
        }
        if !is_aligned(config.chunk_size as u64) || config.chunk_size == 0 {
            return Err(StoreError::Config(format!(
                "chunk size {} is not a multiple of {BLOCK_SIZE}",
                config.chunk_size
            )));
        }
        let mut segments = BTreeMap::new();
        for (name, _) in storage.list()? {
            if let Some(base) = parse_segment_name(&name) {
                segments.insert(base, storage.open(&name, config.segment_size)?);
            }
        }
        let tail = read_tail_block(&segments, config.segment_size, written_offset)?;
        let chunks = Chunks::new(config.chunk_size, written_offset, &tail, journal.clone())
            .ok_or_else(|| StoreError::Config("the journal has no slot for the tail".into()))?;
        let min_offset = segments.keys().next().copied().unwrap_or(0);
        Ok(CommitLog {
            state: Mutex::new(AppendState {
                written_offset,
                chunks,
                queue_offsets: HashMap::new(),
                closed: false,
            }),
            config,
            storage,
            journal,
            segments: RwLock::new(segments),
            appended: Condvar::new(),
            appended_waiters: AtomicUsize::new(0),
            written_offset: AtomicU64::new(written_offset),
            flushed_offset: AtomicU64::new(written_offset),
            flushed_lock: Mutex::new(()),
            flushed: Condvar::new(),
            min_offset: AtomicU64::new(min_offset.min(written_offset)),
            disk_full: Mutex::new(None),
            flush_failing: Mutex::new(None),
            flush_failing_flag: AtomicBool::new(false),
            flush_listener: Mutex::new(None),
            halted: AtomicBool::new(false),
            flushes_held: AtomicBool::new(false),
            flush_lock: Mutex::new(()),
        })
    }

    pub(super) fn flush_guard(&self) -> MutexGuard<'_, ()> {
        lock(&self.flush_lock)
    }

    pub fn config(&self) -> &CommitLogConfig {
        &self.config
    }

    pub fn written_offset(&self) -> u64 {
        self.written_offset.load(Ordering::Acquire)
    }

    pub fn flushed_offset(&self) -> u64 {
        self.flushed_offset.load(Ordering::Acquire)
    }

    pub fn min_offset(&self) -> u64 {
        self.min_offset.load(Ordering::Acquire)
    }

    /// The oldest offset served from memory: reads below it go to disk.
    pub fn memory_start(&self) -> u64 {
        lock(&self.state).chunks.front_offset()
    }

    pub fn is_direct(&self) -> bool {
        self.storage.is_direct()
    }

    pub fn segment_base(&self, offset: u64) -> u64 {
        offset - offset % self.config.segment_size
    }

    fn segment(&self, base_offset: u64) -> Option<Arc<dyn BlockFile>> {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        segments.get(&base_offset).cloned()
    }

    /// Bases of the segment files, oldest first.
    pub fn segment_bases(&self) -> Vec<u64> {
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        segments.keys().copied().collect()
    }

    /// Creates the segment starting at `base_offset` if it does not exist yet.
    pub fn ensure_segment(&self, base_offset: u64) -> Result<(), StoreError> {
        if self.segment(base_offset).is_some() {
            return Ok(());
        }
        let mut segments = self.segments.write().unwrap_or_else(|p| p.into_inner());
        if let std::collections::btree_map::Entry::Vacant(entry) = segments.entry(base_offset) {
            let name = segment_name(base_offset);
            entry.insert(self.storage.open(&name, self.config.segment_size)?);
            log::debug!("commit log: created segment {name}");
        }
        Ok(())
    }

    pub fn set_disk_full(&self, full: Option<(u32, u32)>) {
        *lock(&self.disk_full) = full;
    }

    pub fn set_flush_failing(&self, reason: Option<String>) {
        self.flush_failing_flag
            .store(reason.is_some(), Ordering::Release);
        *lock(&self.flush_failing) = reason;
    }

    pub fn set_queue_offset(&self, topic: &str, queue_id: i32, next_queue_offset: i64) {
        let mut state = lock(&self.state);
        let queues = state.queue_offsets.entry(topic.to_string()).or_default();
        queues.insert(queue_id, next_queue_offset);
    }

    pub fn remove_topic(&self, topic: &str) {
        lock(&self.state).queue_offsets.remove(topic);
    }

    fn check_writable(&self, size: usize) -> Result<(), StoreError> {
        let size_max = (self.config.segment_size as usize) - BLANK_RECORD_SIZE;
        if size > size_max {
            return Err(StoreError::MessageTooLarge { size, size_max });
        }
        if let Some((used_percent, refuse_percent)) = *lock(&self.disk_full) {
            return Err(StoreError::DiskFull {
                used_percent,
                refuse_percent,
            });
        }
        if self.flush_failing_flag.load(Ordering::Acquire) {
            let reason = lock(&self.flush_failing).clone().unwrap_or_default();
            return Err(StoreError::NotWritable { reason });
        }
        self.check_backlog(size)
    }

    /// Refuses an append of `size` bytes that would take the unflushed tail past its bound
    /// (one is always let through when nothing waits, however large).
    fn check_backlog(&self, size: usize) -> Result<(), StoreError> {
        // Saturating: another thread may publish a flush between the two loads.
        let unflushed_size = self.written_offset().saturating_sub(self.flushed_offset());
        if unflushed_size > 0 && unflushed_size + size as u64 > self.config.unflushed_size_max {
            return Err(StoreError::FlushBehind {
                unflushed_size,
                unflushed_size_max: self.config.unflushed_size_max,
            });
        }
        Ok(())
    }

    /// Makes room in memory (journal slots) for everything below `end`: first by giving up
    /// flushed chunks of the read window, then by refusing (`FlushBehind`: the caller waits
    /// for the flush).
    fn reserve(&self, state: &mut AppendState, end: u64) -> Result<(), StoreError> {
        if state.chunks.reserve(end) {
            return Ok(());
        }
        state
            .chunks
            .trim(self.flushed_offset(), state.written_offset, 0);
        if state.chunks.reserve(end) {
            return Ok(());
        }
        // No chunk past the written one may stay: the written one must remain the last, the
        // only one written (see `chunks`).
        state.chunks.release_unused(state.written_offset);
        Err(StoreError::FlushBehind {
            unflushed_size: state.written_offset.saturating_sub(self.flushed_offset()),
            unflushed_size_max: self.config.unflushed_size_max,
        })
    }

    /// Appends the records encoded back to back in `records` (one message, or the messages
    /// of a batch) as one contiguous write in one segment, stamping each record's queue
    /// offset, commit-log offset and store time. Nothing is written on error.
    pub fn append(&self, records: &mut [u8]) -> Result<AppendResult, StoreError> {
        let parsed = parse_records(records)?;
        self.check_writable(records.len())?;
        let mut state = lock(&self.state);
        if state.closed {
            return Err(StoreError::ShuttingDown);
        }
        let mut offset = state.written_offset;
        let position = offset % self.config.segment_size;
        let remaining = self.config.segment_size - position;
        let blank = records.len() as u64 + BLANK_RECORD_SIZE as u64 > remaining;
        let start = if blank { offset + remaining } else { offset };
        // Whatever can fail comes before any queue offset is taken or any byte written: the
        // segment (if the disk is full, nothing is written), the memory, the stamps.
        if start.is_multiple_of(self.config.segment_size) {
            self.ensure_segment(start)?;
        }
        self.reserve(&mut state, start + records.len() as u64)?;
        let store_timestamp = now_millis();
        let mut appended = Vec::with_capacity(parsed.len());
        for record in &parsed {
            let placed = stamp_record(
                &mut state.queue_offsets,
                records,
                record,
                start,
                store_timestamp,
            )?;
            appended.push(placed);
        }
        if blank {
            let blank = message::encode_blank(remaining as usize);
            self.copy_in(&mut state, offset, &blank);
            state
                .chunks
                .zero(offset + blank.len() as u64, remaining - blank.len() as u64);
            offset += remaining;
        }
        self.copy_in(&mut state, offset, records);
        let end_offset = offset + records.len() as u64;
        assert!(self.segment_base(offset) == self.segment_base(end_offset - 1));
        self.publish_written(&mut state, end_offset);
        Ok(AppendResult {
            records: appended,
            end_offset,
        })
    }

    /// Moves the written offset to `end_offset` once the bytes below it are in memory: in the
    /// journal first (a crash from here on keeps them), then for readers and the flush thread.
    fn publish_written(&self, state: &mut MutexGuard<'_, AppendState>, end_offset: u64) {
        state.chunks.publish_written(end_offset);
        state.written_offset = end_offset;
        self.written_offset.store(end_offset, Ordering::Release);
        self.trim_chunks(state);
        if self.appended_waiters.load(Ordering::SeqCst) > 0 {
            self.appended.notify_all();
        }
    }

    /// A slave's append: `bytes` are the master's commit log from `offset` (whole or partial
    /// records, BLANK padding included, never crossing a segment end), stored byte for byte at
    /// the same offsets. `offset` must be the written offset, except that an empty log may
    /// start at the master's first segment base.
    pub fn append_replica(&self, offset: u64, bytes: &[u8]) -> Result<u64, StoreError> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(StoreError::ShuttingDown);
        }
        let empty = state.written_offset == 0 && self.segment_bases().is_empty();
        if empty && offset != 0 && offset.is_multiple_of(self.config.segment_size) {
            self.restart_chunks(&mut state, offset, &[])?;
            state.written_offset = offset;
            self.written_offset.store(offset, Ordering::Release);
            self.flushed_offset.store(offset, Ordering::Release);
            self.min_offset.store(offset, Ordering::Release);
        }
        if offset != state.written_offset {
            return Err(StoreError::ReplicaOffsetMismatch {
                offset,
                written_offset: state.written_offset,
            });
        }
        let end = offset + bytes.len() as u64;
        if bytes.is_empty() {
            return Ok(offset);
        }
        if self.segment_base(offset) != self.segment_base(end - 1) {
            return Err(StoreError::Config(format!(
                "replicated bytes {offset}..{end} cross a segment end of this log: \
                 mappedFileSizeCommitLog ({}) must equal the master's",
                self.config.segment_size
            )));
        }
        self.check_backlog(bytes.len())?;
        self.ensure_segment(self.segment_base(offset))?;
        self.reserve(&mut state, end)?;
        self.copy_in(&mut state, offset, bytes);
        self.publish_written(&mut state, end);
        Ok(end)
    }

    /// Replaces the memory with one chunk holding the block of `written_offset` (`tail`: its
    /// bytes below it). The old chunks go first, so their journal slots are free again.
    fn restart_chunks(
        &self,
        state: &mut AppendState,
        written_offset: u64,
        tail: &[u8],
    ) -> Result<(), StoreError> {
        state.chunks.unpublish_all();
        drop(std::mem::replace(&mut state.chunks, Chunks::placeholder()));
        // Slots come back as readers drop the old chunks: wait for one, briefly.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        loop {
            let chunks = Chunks::new(
                self.config.chunk_size,
                written_offset,
                tail,
                self.journal.clone(),
            );
            if let Some(chunks) = chunks {
                state.chunks = chunks;
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // Never leave the placeholder: memory on the heap keeps the log consistent (the tail
        // is not journaled until the next restart of the chunks; said loudly).
        log::error!("commit log: no journal slot for the tail at {written_offset}; on the heap");
        state.chunks = Chunks::new(self.config.chunk_size, written_offset, tail, None)
            .ok_or_else(|| StoreError::Config("heap chunks refused".into()))?;
        Ok(())
    }

    fn copy_in(&self, state: &mut AppendState, offset: u64, bytes: &[u8]) {
        state.chunks.write(offset, bytes);
    }

    /// Releases flushed chunks out of the memory window; the flush thread calls it after each
    /// flush so memory shrinks back even when appends stop.
    pub(super) fn trim(&self) {
        let mut state = lock(&self.state);
        self.trim_chunks(&mut state);
    }

    fn trim_chunks(&self, state: &mut AppendState) {
        let (flushed, written) = (self.flushed_offset(), state.written_offset);
        state
            .chunks
            .trim(flushed, written, self.config.memory_window_size);
    }

    /// Up to `size` bytes from `offset`, never past the written offset or the end of the
    /// segment holding `offset`. Empty when `offset` is not readable (removed or unwritten).
    pub fn read(&self, offset: u64, size: usize) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        self.read_into(offset, size, &mut out)?;
        Ok(out)
    }

    /// [`CommitLog::read`] appending to `out`; returns how many bytes it appended. Data in the
    /// last chunk is copied once, straight into `out`, under the append lock.
    pub fn read_into(
        &self,
        offset: u64,
        size: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, StoreError> {
        if offset < self.min_offset() {
            return Ok(0);
        }
        let segment_end = self.segment_base(offset) + self.config.segment_size;
        let start = out.len();
        let pieces = {
            let state = lock(&self.state);
            let end = (offset + size as u64)
                .min(state.written_offset)
                .min(segment_end);
            if offset >= end {
                return Ok(0);
            }
            let front = state.chunks.front_offset();
            if offset < front {
                drop(state);
                // Only what lies below the memory window is on disk for sure (the window is
                // trimmed to the flushed offset at most); the rest comes from memory.
                let cold_end = end.min(front);
                let cold = self.read_cold_into(offset, cold_end, out)?;
                if cold_end < end && cold == (cold_end - offset) as usize {
                    let warm = self.read_into(cold_end, (end - cold_end) as usize, out)?;
                    return Ok(cold + warm);
                }
                return Ok(cold);
            }
            state.chunks.pieces(offset, end, out)
        };
        if !pieces.is_empty() {
            // The full chunks come before the part of the last chunk already in `out`.
            let last_size = out.len() - start;
            let pieces_size: usize = pieces.iter().map(|piece| piece.length).sum();
            out.resize(start + pieces_size + last_size, 0);
            out.copy_within(start..start + last_size, start + pieces_size);
            let mut at = start;
            for piece in &pieces {
                out[at..at + piece.length].copy_from_slice(piece.bytes());
                at += piece.length;
            }
        }
        Ok(out.len() - start)
    }

    /// Appends `[offset, end)` read from the segment file to `out`; the bytes it added.
    fn read_cold_into(
        &self,
        offset: u64,
        end: u64,
        out: &mut Vec<u8>,
    ) -> Result<usize, StoreError> {
        let base = self.segment_base(offset);
        let Some(file) = self.segment(base) else {
            return Ok(0);
        };
        let start = align_down(offset - base);
        let stop = align_up(end - base);
        let mut buffer = AlignedBuffer::zeroed((stop - start) as usize);
        let length = (stop - start) as usize;
        file.read_at(&mut buffer.as_mut_slice()[..length], start)?;
        let skip = (offset - base - start) as usize;
        let size = (end - offset) as usize;
        out.extend_from_slice(&buffer.as_slice()[skip..skip + size]);
        Ok(size)
    }

    /// The dirty range from block-aligned `from` to the block holding the written offset:
    /// full chunks shared, the rest copied into `staging`; and the written offset it covers.
    pub(super) fn dirty(&self, from: u64, staging: &mut AlignedBuffer) -> DirtyRange {
        assert!(is_aligned(from));
        let state = lock(&self.state);
        let (pieces, staged_offset, staged_size) =
            state.chunks.dirty(from, state.written_offset, staging);
        DirtyRange {
            pieces,
            staged_offset,
            staged_size,
            written_offset: state.written_offset,
        }
    }

    pub(super) fn segment_for_flush(&self, base_offset: u64) -> Option<Arc<dyn BlockFile>> {
        self.segment(base_offset)
    }

    /// Publishes a new durable watermark and wakes everything waiting for it.
    pub(super) fn publish_flushed(&self, flushed_offset: u64) {
        assert!(
            flushed_offset <= self.written_offset(),
            "flushed past written"
        );
        self.flushed_offset
            .fetch_max(flushed_offset, Ordering::AcqRel);
        {
            let _guard = lock(&self.flushed_lock);
            self.flushed.notify_all();
        }
        let listener = lock(&self.flush_listener).clone();
        if let Some(listener) = listener {
            listener(self.flushed_offset());
        }
    }

    pub fn set_flush_listener(&self, listener: Option<FlushListener>) {
        *lock(&self.flush_listener) = listener;
    }

    /// Blocks until `end_offset` is durable, or `timeout` passes.
    pub fn wait_flushed(&self, end_offset: u64, timeout: Duration) -> Result<(), StoreError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut guard = lock(&self.flushed_lock);
        loop {
            if self.flushed_offset() >= end_offset {
                return Ok(());
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(StoreError::FlushTimeout { end_offset });
            }
            guard = self
                .flushed
                .wait_timeout(guard, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// Waits up to `timeout` for the written offset to pass `offset` (or the log to close).
    pub(super) fn wait_appended(&self, offset: u64, timeout: Duration) {
        let state = lock(&self.state);
        if state.written_offset > offset || state.closed {
            return;
        }
        // Counted under the lock: an append either sees this waiter or ran before the check.
        self.appended_waiters.fetch_add(1, Ordering::SeqCst);
        let _ = self.appended.wait_timeout(state, timeout);
        self.appended_waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Refuses further appends and wakes the background threads.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.appended.notify_all();
    }

    /// As a `kill -9` would leave it: closed, and the background threads stop without a last
    /// flush or checkpoint (crash tests of the store within one process).
    pub fn halt(&self) {
        self.halted.store(true, Ordering::Release);
        // Closed first, under the append lock: no append publishes after the freeze.
        self.close();
        if let Some(journal) = &self.journal {
            journal.freeze();
        }
    }

    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    /// Whether the flush thread leaves the log alone (crash tests: what is unflushed then
    /// is exactly what they appended since).
    pub fn flushes_held(&self) -> bool {
        self.flushes_held.load(Ordering::Acquire)
    }

    /// For crash tests: the flush thread stops flushing on its own (a shutdown, a truncation
    /// or `flush_now` still flush).
    #[cfg(test)]
    pub(crate) fn hold_flushes(&self) {
        self.flushes_held.store(true, Ordering::Release);
    }

    /// Gives the memory of journal slots nobody needs soon back (the flush thread, now and
    /// then).
    pub(super) fn release_cold_memory(&self) {
        if let Some(journal) = &self.journal {
            journal.release_cold();
        }
    }

    /// The crash journal holding the memory window, if any.
    pub fn journal(&self) -> Option<&Arc<Journal>> {
        self.journal.as_ref()
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }

    /// Removes segment files entirely below `offset` (never the one holding the written
    /// offset); returns the bases removed. The new minimum offset is the first kept base.
    pub fn remove_segments_before(&self, offset: u64) -> Result<Vec<u64>, StoreError> {
        let active = self.segment_base(self.written_offset());
        let mut removed = Vec::new();
        let mut segments = self.segments.write().unwrap_or_else(|p| p.into_inner());
        let candidates: Vec<u64> = segments
            .keys()
            .copied()
            .filter(|base| base + self.config.segment_size <= offset && *base < active)
            .collect();
        for base in candidates {
            // Raise the minimum first, so no reader starts on a file about to go.
            let next = base + self.config.segment_size;
            self.min_offset.fetch_max(next, Ordering::AcqRel);
            segments.remove(&base);
            self.storage.remove(&segment_name(base))?;
            removed.push(base);
        }
        Ok(removed)
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }
}

/// The bytes of the block holding `written_offset` that lie below it, read from its segment.
fn read_tail_block(
    segments: &BTreeMap<u64, Arc<dyn BlockFile>>,
    segment_size: u64,
    written_offset: u64,
) -> Result<Vec<u8>, StoreError> {
    let base_offset = align_down(written_offset);
    let tail_size = (written_offset - base_offset) as usize;
    if tail_size == 0 {
        return Ok(Vec::new());
    }
    let segment_base = base_offset - base_offset % segment_size;
    let file = segments
        .get(&segment_base)
        .ok_or_else(|| StoreError::SegmentInvalid {
            name: segment_name(segment_base),
            reason: "missing but data is recorded in it".into(),
        })?;
    let mut block = AlignedBuffer::zeroed(BLOCK_SIZE);
    file.read_at(block.as_mut_slice(), base_offset - segment_base)?;
    Ok(block.as_slice()[..tail_size].to_vec())
}
