//! Retention: removes whole commit-log segments from the oldest on, and the consume-queue
//! files that only point into them, and refuses writes when the disk is nearly full, with
//! Apache RocketMQ's thresholds:
//!
//! - used ratio above `diskSpaceWarningLevelRatio` (0.90): appends are refused (through the
//!   [`DiskGuard`]) before a byte is written, and accepted again at the first pass below it;
//! - a pass removes segments only at a `deleteWhen` hour or while the used ratio is above
//!   `diskMaxUsedSpaceRatio` (0.75): those older than `fileReservedTime` (by modification
//!   time), from the oldest on;
//! - above `diskSpaceCleanForciblyRatio` (0.85) or the warning ratio, with
//!   `cleanFileForciblyEnable`, such a pass removes segments from the oldest on whether
//!   expired or not;
//! - at most [`DELETE_FILES_BATCH_MAX`] segments a pass.
//!
//! Unlike upstream, the active segment and anything not yet flushed and dispatched are never
//! removed.
//!
//! Threads: runs on the retention thread every `interval`; tests call [`run_once`].

use std::time::{Duration, SystemTime};

use super::commit_log::CommitLog;
use super::consume_queue::{lock_queue, ConsumeQueues};
use super::disk_space::DiskGuard;
use super::error::StoreError;

/// Segments removed by one pass at most (upstream's `DELETE_FILES_BATCH_MAX`).
pub const DELETE_FILES_BATCH_MAX: usize = 10;

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
    /// `cleanFileForciblyEnable`: past the forcible ratio, unexpired segments go too.
    pub clean_forcibly: bool,
    /// `cleanResourceInterval`.
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
            clean_forcibly: true,
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
/// go: a segment still being dispatched is kept. The ratio's verdict goes to `guard`.
pub fn run_once(
    log: &CommitLog,
    queues: &ConsumeQueues,
    guard: &DiskGuard,
    config: &RetentionConfig,
    dispatched_offset: u64,
    now: SystemTime,
    hour: u8,
) -> Result<RetentionPass, StoreError> {
    let used_ratio = log.storage().used_ratio()?;
    guard.set_ratio(used_ratio, config.disk_refuse_ratio);
    let refusing_writes = used_ratio > config.disk_refuse_ratio;
    let mut pass = RetentionPass {
        used_ratio,
        removed: Vec::new(),
        refusing_writes,
        queue_files_removed: 0,
    };
    let on_time = config.delete_hours.contains(&hour);
    let space_pressure = used_ratio > config.disk_max_used_ratio;
    if !on_time && !space_pressure {
        return Ok(pass);
    }
    let clean_at_once =
        config.clean_forcibly && (used_ratio > config.disk_clean_forcibly_ratio || refusing_writes);
    let segment_size = log.config().segment_size;
    let safe_end = log.flushed_offset().min(dispatched_offset);
    let active = log.segment_base(log.written_offset());
    let mut remove_below = None;
    for (count, base) in log.segment_bases().into_iter().enumerate() {
        if count >= DELETE_FILES_BATCH_MAX || base >= active || base + segment_size > safe_end {
            break;
        }
        let modified = log
            .storage()
            .modified(&super::commit_log::segment_name(base))?;
        let age = now.duration_since(modified).unwrap_or(Duration::ZERO);
        if age < config.file_reserved_time && !clean_at_once {
            break;
        }
        remove_below = Some(base + segment_size);
    }
    let Some(remove_below) = remove_below else {
        return Ok(pass);
    };
    pass.removed = log.remove_segments_before(remove_below)?;
    let min_offset = log.min_offset();
    for (_, _, queue) in queues.all() {
        pass.queue_files_removed += lock_queue(&queue).remove_before(min_offset)?;
    }
    log::info!(
        "retention: removed {} segment(s) below {min_offset}{} and {} consume-queue file(s); \
         disk {}% used",
        pass.removed.len(),
        if clean_at_once { " (forced)" } else { "" },
        pass.queue_files_removed,
        percent(used_ratio)
    );
    Ok(pass)
}
