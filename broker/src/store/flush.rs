//! The flush thread: moves dirty commit-log blocks from memory to disk and publishes the
//! durable watermark, `flushed_offset`.
//!
//! SYNC_FLUSH is group commit: the thread flushes as soon as anything is appended, and every
//! append that lands while a `pwrite` + `fdatasync` is under way rides on the next one, so
//! one sync acknowledges everyone who wrote meanwhile (RocketMQ `GroupCommitService`). Writers
//! wait on the watermark with a deadline ([`super::commit_log::CommitLog::wait_flushed`]) and
//! get `FlushTimeout` rather than hang. ASYNC_FLUSH flushes every interval once enough pages
//! are dirty, and everything at least every thorough interval (`FlushRealTimeService`).
//!
//! A failing disk does not crash the thread: the error is logged, the log refuses appends
//! ([`StoreError::NotWritable`]) and the flush is retried every second until it succeeds.
//!
//! Threads: this module's loop runs alone on the flush thread; [`flush`] is also called by
//! shutdown after the thread has stopped.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError};

use super::aligned_buffer::{align_down, AlignedBuffer};
use super::commit_log::CommitLog;
use super::error::StoreError;

/// How much the flush thread copies and writes per `pwrite`.
pub const STAGING_SIZE: usize = 4 << 20;
const RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// In SYNC_FLUSH the thread also wakes this often to notice shutdown.
const SYNC_POLL_INTERVAL: Duration = Duration::from_millis(10);

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
    let target = log.written_offset();
    let mut covered = log.flushed_offset();
    let mut from = align_down(covered);
    let mut dirty: Vec<(u64, Arc<dyn super::direct_file::BlockFile>)> = Vec::new();
    while covered < target {
        let (end, written) = log.copy_dirty(from, staging);
        if end <= from {
            break;
        }
        let base = log.segment_base(from);
        let file = log.segment_for_flush(base).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("segment at {base} is missing"),
            )
        })?;
        file.write_at(&staging.as_slice()[..(end - from) as usize], from - base)?;
        if dirty.last().map(|(b, _)| *b) != Some(base) {
            dirty.push((base, file));
        }
        covered = covered.max(written);
        from = end;
    }
    for (_, file) in &dirty {
        file.sync_data()?;
    }
    log.publish_flushed(covered);
    Ok(covered)
}

/// The flush thread's loop; returns once `stop` is closed, after a last flush.
pub fn run(log: Arc<CommitLog>, mode: FlushMode, stop: Receiver<()>) {
    let mut staging = AlignedBuffer::zeroed(STAGING_SIZE);
    let mut last_flush = Instant::now();
    loop {
        let stopping = match mode {
            FlushMode::Sync => {
                log.wait_appended(log.flushed_offset(), SYNC_POLL_INTERVAL);
                !matches!(
                    stop.try_recv(),
                    Err(crossbeam::channel::TryRecvError::Empty)
                )
            }
            FlushMode::Async { interval, .. } => {
                !matches!(stop.recv_timeout(interval), Err(RecvTimeoutError::Timeout))
            }
        };
        if let FlushMode::Async {
            least_size,
            thorough_interval,
            ..
        } = mode
        {
            let dirty = log.written_offset() - log.flushed_offset();
            let thorough = last_flush.elapsed() >= thorough_interval;
            if !stopping && dirty < least_size && !(thorough && dirty > 0) {
                continue;
            }
        }
        if log.written_offset() > log.flushed_offset() {
            flush_or_report(&log, &mut staging, &stop);
            last_flush = Instant::now();
        }
        preallocate_next_segment(&log);
        if stopping {
            return;
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
/// a file to be created (RocketMQ's `AllocateMappedFileService`).
fn preallocate_next_segment(log: &CommitLog) {
    let segment_size = log.config().segment_size;
    let written = log.written_offset();
    if written % segment_size >= segment_size / 2 {
        let next = log.segment_base(written) + segment_size;
        if let Err(error) = log.ensure_segment(next) {
            log::warn!("commit log: cannot preallocate the next segment: {error}");
        }
    }
}
