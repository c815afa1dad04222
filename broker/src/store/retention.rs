//! Retention: removes whole commit-log segments from the oldest on, and the consume-queue
//! files that only point into them, and refuses writes when the disk is nearly full.
//!
//! A segment goes when it is older than `fileReservedTime` (by its modification time) and it
//! is one of the `deleteWhen` hours, or sooner, at any hour, once disk use passes
//! `diskMaxUsedSpaceRatio`. Past the forcible ratio the oldest segment goes even if it is not
//! expired (RocketMQ's `diskSpaceCleanForciblyRatio`), one per pass. The active segment and
//! anything not yet flushed and dispatched are never removed. Past the refusal ratio appends
//! fail with `DiskFull` before a byte is written, and are accepted again once use drops.
//!
//! Threads: runs on the retention thread every `interval`; tests call [`run_once`].

use std::time::{Duration, SystemTime};

use super::commit_log::CommitLog;
use super::consume_queue::{lock_queue, ConsumeQueues};
use super::error::StoreError;

#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// `fileReservedTime`.
    pub file_reserved_time: Duration,
    /// `deleteWhen`: local hours at which expired segments are removed.
    pub delete_hours: Vec<u8>,
    /// `diskMaxUsedSpaceRatio`, as a fraction.
    pub disk_max_used_ratio: f64,
    /// `diskSpaceCleanForciblyRatio`.
    pub disk_clean_forcibly_ratio: f64,
    /// `diskSpaceWarningLevelRatio`: appends are refused above it.
    pub disk_refuse_ratio: f64,
    pub interval: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            file_reserved_time: Duration::from_secs(72 * 3600),
            delete_hours: vec![4],
            disk_max_used_ratio: 0.75,
            disk_clean_forcibly_ratio: 0.85,
            disk_refuse_ratio: 0.90,
            interval: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPass {
    pub used_ratio: f64,
    /// Bases of the segments removed.
    pub removed: Vec<u64>,
    pub refusing_writes: bool,
    pub queue_files_removed: usize,
}

fn percent(ratio: f64) -> u32 {
    (ratio * 100.0).round().clamp(0.0, 100.0) as u32
}

/// One retention pass at time `now` (local hour `hour`). `dispatched_offset` bounds what may
/// go: a segment still being dispatched is kept.
pub fn run_once(
    log: &CommitLog,
    queues: &ConsumeQueues,
    config: &RetentionConfig,
    dispatched_offset: u64,
    now: SystemTime,
    hour: u8,
) -> Result<RetentionPass, StoreError> {
    let used_ratio = log.storage().used_ratio()?;
    let refusing_writes = used_ratio >= config.disk_refuse_ratio;
    if refusing_writes {
        log.set_disk_full(Some((
            percent(used_ratio),
            percent(config.disk_refuse_ratio),
        )));
    } else {
        log.set_disk_full(None);
    }
    let segment_size = log.config().segment_size;
    let safe_end = log.flushed_offset().min(dispatched_offset);
    let active = log.segment_base(log.written_offset());
    let on_time = config.delete_hours.contains(&hour);
    let space_pressure = used_ratio > config.disk_max_used_ratio;
    let mut forcible = used_ratio > config.disk_clean_forcibly_ratio || refusing_writes;
    let mut remove_below = None;
    for base in log.segment_bases() {
        if base >= active || base + segment_size > safe_end {
            break;
        }
        let modified = log
            .storage()
            .modified(&super::commit_log::segment_name(base))?;
        let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
        let expired = age >= config.file_reserved_time;
        if expired && (on_time || space_pressure) {
            remove_below = Some(base + segment_size);
        } else if forcible {
            remove_below = Some(base + segment_size);
            forcible = false;
        } else {
            break;
        }
    }
    let Some(remove_below) = remove_below else {
        return Ok(RetentionPass {
            used_ratio,
            removed: Vec::new(),
            refusing_writes,
            queue_files_removed: 0,
        });
    };
    let removed = log.remove_segments_before(remove_below)?;
    let min_offset = log.min_offset();
    let mut queue_files_removed = 0;
    for (_, _, queue) in queues.all() {
        queue_files_removed += lock_queue(&queue).remove_before(min_offset)?;
    }
    log::info!(
        "retention: removed {} segment(s) below {min_offset} and {queue_files_removed} \
         consume-queue file(s); disk {}% used",
        removed.len(),
        percent(used_ratio)
    );
    Ok(RetentionPass {
        used_ratio,
        removed,
        refusing_writes,
        queue_files_removed,
    })
}
