//! The flush thread: moves dirty commit-log blocks from memory to disk and publishes the
//! durable watermark, `flushed_offset`.
//!
//! SYNC_FLUSH is group commit: the thread flushes as soon as anything is appended, and every
//! append that lands while a `pwrite` + `fdatasync` is under way rides on the next one, so
//! one sync acknowledges everyone who wrote meanwhile (RocketMQ `GroupCommitService`). Writers
//! wait on the watermark with a deadline ([`super::commit_log::CommitLog::wait_flushed`]) and
//! get `FlushTimeout` rather than hang. ASYNC_FLUSH flushes every interval once enough pages
//! are dirty, and everything at least every thorough interval (`FlushRealTimeService`);
//! while a chunk or more waits, it flushes back to back instead of sleeping, and it looks for
//! such a backlog every few milliseconds: appends wait for room past the unflushed bound, so
//! sleeping a whole interval on a backlog would stall them.
//!
//! Full chunks are written straight from their shared buffers; only the last chunk's part is
//! copied, under the append lock, into the staging buffer.
//!
//! A failing disk does not crash the thread: the error is logged, the log refuses appends
//! ([`StoreError::NotWritable`]) and the flush is retried every second until it succeeds.
//!
//! Threads: this module's loop runs alone on the flush thread, which also flushes one last
//! time when told to stop.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError};

use super::aligned_buffer::{align_down, AlignedBuffer};
use super::commit_log::CommitLog;
use super::direct_file::BlockFile;
use super::error::StoreError;

/// How much the flush thread copies and writes per `pwrite`.
pub const STAGING_SIZE: usize = 4 << 20;
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// In SYNC_FLUSH the thread also wakes this often to notice shutdown.
const SYNC_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// In ASYNC_FLUSH the thread looks this often whether a chunk's backlog waits.
const ASYNC_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// How often cold journal slots give their memory back.
const RELEASE_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    Sync,
    Async {
        interval: Duration,
        /// Flush only once this many bytes are dirty (`flushCommitLogLeastPages` × 4 KiB).
        least_size: u64,
        /// ... unless this long passed since the last flush.
        thorough_interval: Duration,
    },
}

impl FlushMode {
    pub fn asynchronous(interval: Duration) -> FlushMode {
        FlushMode::Async {
            interval,
            least_size: 4 * 4096,
            thorough_interval: Duration::from_secs(10),
        }
    }
}

/// Writes everything appended so far and syncs it; returns the new flushed offset.
pub fn flush(log: &CommitLog, staging: &mut AlignedBuffer) -> Result<u64, StoreError> {
    let _flushing = log.flush_guard();
    flush_unguarded(log, staging)
}

/// [`flush`] for a caller that already holds the log's flush lock (truncation).
pub(super) fn flush_unguarded(
    log: &CommitLog,
    staging: &mut AlignedBuffer,
) -> Result<u64, StoreError> {
    let from = align_down(log.flushed_offset());
    let dirty = log.dirty(from, staging);
    let mut files: Vec<(u64, Arc<dyn BlockFile>)> = Vec::new();
    for piece in &dirty.pieces {
        write_range(log, piece.offset, piece.bytes(), &mut files)?;
    }
    let staged = &staging.as_slice()[..dirty.staged_size];
    write_range(log, dirty.staged_offset, staged, &mut files)?;
    for (_, file) in &files {
        file.sync_data()?;
    }
    log.publish_flushed(dirty.written_offset);
    log.trim();
    Ok(dirty.written_offset)
}

/// Writes block-aligned `bytes` at commit-log `offset`, split at segment boundaries; notes
/// the files written so the caller syncs each once.
fn write_range(
    log: &CommitLog,
    offset: u64,
    bytes: &[u8],
    files: &mut Vec<(u64, Arc<dyn BlockFile>)>,
) -> Result<(), StoreError> {
    let segment_size = log.config().segment_size;
    let mut done = 0usize;
    while done < bytes.len() {
        let at = offset + done as u64;
        let base = log.segment_base(at);
        let length = (bytes.len() - done).min((base + segment_size - at) as usize);
        let file = log.segment_for_flush(base).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("segment at {base} is missing"),
            )
        })?;
        file.write_at(&bytes[done..done + length], at - base)?;
        if !files.iter().any(|(b, _)| *b == base) {
            files.push((base, file));
        }
        done += length;
    }
    Ok(())
}

/// The flush thread's loop; returns once `stop` is closed, after a last flush.
pub fn run(log: Arc<CommitLog>, mode: FlushMode, stop: Receiver<()>) {
    let mut staging = AlignedBuffer::zeroed(STAGING_SIZE.max(log.config().chunk_size));
    let mut last_flush = Instant::now();
    let mut last_release = Instant::now();
    let mut preallocation_failing = false;
    loop {
        let stopping = wait_for_work(&log, mode, &stop);
        if last_release.elapsed() >= RELEASE_INTERVAL {
            log.release_cold_memory();
            last_release = Instant::now();
        }
        if !stopping && !flush_due(&log, mode, last_flush) {
            continue;
        }
        if stopping && log.is_halted() {
            // A simulated crash: nothing more reaches the disk.
            return;
        }
        if log.written_offset() > log.flushed_offset() {
            flush_or_report(&log, &mut staging, &stop);
            last_flush = Instant::now();
        }
        preallocate_next_segment(&log, &mut preallocation_failing);
        if stopping {
            return;
        }
    }
}

/// Waits for something to flush; true once `stop` is closed. SYNC_FLUSH wakes on the next
/// append; ASYNC_FLUSH polls, so that a chunk's backlog (which appends may be waiting on,
/// past `unflushed_size_max`) is written within a poll rather than a whole interval later.
fn wait_for_work(log: &CommitLog, mode: FlushMode, stop: &Receiver<()>) -> bool {
    let backlog = log.written_offset().saturating_sub(log.flushed_offset());
    if log.flushes_held() {
        return !matches!(
            stop.recv_timeout(ASYNC_POLL_INTERVAL),
            Err(RecvTimeoutError::Timeout)
        );
    }
    match mode {
        FlushMode::Sync => log.wait_appended(log.flushed_offset(), SYNC_POLL_INTERVAL),
        FlushMode::Async { .. } if backlog >= log.config().chunk_size as u64 => {}
        FlushMode::Async { interval, .. } => {
            return !matches!(
                stop.recv_timeout(interval.min(ASYNC_POLL_INTERVAL)),
                Err(RecvTimeoutError::Timeout)
            );
        }
    }
    !matches!(
        stop.try_recv(),
        Err(crossbeam::channel::TryRecvError::Empty)
    )
}

/// Whether to flush now. ASYNC_FLUSH (RocketMQ's `FlushRealTimeService`): a chunk's backlog
/// at once; every `interval` once `least_size` is dirty; anything every `thorough_interval`.
fn flush_due(log: &CommitLog, mode: FlushMode, last_flush: Instant) -> bool {
    if log.flushes_held() {
        return false;
    }
    let dirty = log.written_offset().saturating_sub(log.flushed_offset());
    match mode {
        FlushMode::Sync => dirty > 0,
        FlushMode::Async {
            interval,
            least_size,
            thorough_interval,
        } => {
            let chunk = log.config().chunk_size as u64;
            let since = last_flush.elapsed();
            dirty >= chunk
                || (since >= interval && dirty >= least_size.min(chunk))
                || (since >= thorough_interval && dirty > 0)
        }
    }
}

/// One flush; on failure the log refuses appends and the flush is retried until it works or
/// the store stops.
fn flush_or_report(log: &CommitLog, staging: &mut AlignedBuffer, stop: &Receiver<()>) {
    let mut failing = false;
    loop {
        match flush(log, staging) {
            Ok(_) => {
                if failing {
                    log::info!("commit log: flush succeeded again; accepting writes");
                    log.set_flush_failing(None);
                }
                return;
            }
            Err(error) => {
                if !failing {
                    log::error!(
                        "commit log: flush failed, refusing writes until it works: {error}"
                    );
                    log.set_flush_failing(Some(error.to_string()));
                    failing = true;
                }
                if !matches!(
                    stop.recv_timeout(RETRY_INTERVAL),
                    Err(RecvTimeoutError::Timeout)
                ) {
                    return;
                }
            }
        }
    }
}

/// Creates the next segment once the active one is half full, so an append rarely waits for
/// a file to be created (RocketMQ's `AllocateMappedFileService`). A failure is logged once
/// per streak (`failing`), not after every flush.
fn preallocate_next_segment(log: &CommitLog, failing: &mut bool) {
    let segment_size = log.config().segment_size;
    let written = log.written_offset();
    if written % segment_size < segment_size / 2 {
        return;
    }
    let next = log.segment_base(written) + segment_size;
    match log.ensure_segment(next) {
        Ok(()) if *failing => {
            log::info!("commit log: the next segment could be created again");
            *failing = false;
        }
        Ok(()) => {}
        Err(error) if !*failing => {
            log::warn!("commit log: cannot preallocate the next segment: {error}");
            *failing = true;
        }
        Err(_) => {}
    }
}
