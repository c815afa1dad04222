//! The disk the store lives on, as the consume queues and the index see it: how much room is
//! left ([`DiskSpace::available_size`]) and reserving a range of a file before writing it
//! ([`DiskSpace::allocate`]), so that a full disk is an error at a chosen moment and never a
//! failed write of an acknowledged message's unit or a SIGBUS in a mapped index file.
//! [`FsSpace`] is the real disk (`statvfs` + `fallocate`); tests use
//! [`super::mem_file::MemSpace`], which refuses on demand.
//!
//! [`DiskGuard`] owns the one decision "appends are refused because of the disk", from three
//! reasons kept apart so that each clears on its own: retention saw the used ratio past
//! `diskSpaceWarningLevelRatio`; the dispatcher cannot write consume-queue units for lack of
//! space; the free space fell under [`SPACE_FLOOR_SIZE`], the cushion that lets units of
//! messages already acknowledged still be written. It sets the commit log's refusal, so the
//! send path answers SERVICE_NOT_AVAILABLE naming the disk.
//!
//! Threads: the dispatch thread allocates and reports stalls and space, the retention thread
//! reports the ratio. The guard's mutex is held while it sets the commit log's refusal (lock
//! order: guard, then the commit log's refusal flag; the commit log never calls back).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::commit_log::CommitLog;
use super::direct_file;

/// Below this much free space appends are refused (checked about once a second by the
/// dispatch thread): room for the units of what is already acknowledged, and for a few new
/// consume-queue files.
pub const SPACE_FLOOR_SIZE: u64 = 4 << 20;

pub trait DiskSpace: Send + Sync {
    /// Bytes an allocation may still take (what `df` calls available).
    fn available_size(&self) -> io::Result<u64>;
    /// Reserves `[offset, offset + size)` of `file` (within its length): writes there then
    /// never fail for space. An out-of-space refusal leaves nothing allocated.
    fn allocate(&self, file: &File, offset: u64, size: u64) -> io::Result<()>;
}

/// The filesystem holding `directory`.
pub struct FsSpace {
    directory: PathBuf,
}

impl FsSpace {
    pub fn new(directory: &Path) -> FsSpace {
        FsSpace {
            directory: directory.to_path_buf(),
        }
    }
}

impl DiskSpace for FsSpace {
    fn available_size(&self) -> io::Result<u64> {
        direct_file::disk_available_size(&self.directory)
    }

    fn allocate(&self, file: &File, offset: u64, size: u64) -> io::Result<()> {
        // A failed fallocate keeps the blocks it got (ext4): asking for more than is free
        // would take the whole disk for a moment, so refuse before asking.
        if size > self.available_size()? {
            return Err(out_of_space());
        }
        direct_file::allocate(file, offset, size)
    }
}

pub fn out_of_space() -> io::Error {
    io::Error::from(io::ErrorKind::StorageFull)
}

/// ENOSPC or EDQUOT: the disk (or the quota) is full.
pub fn is_out_of_space(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Reasons {
    /// Retention's verdict: (used, threshold) percent when past the warning ratio.
    ratio: Option<(u32, u32)>,
    queues_stalled: bool,
    space_low: bool,
    /// The warning ratio retention last used, in percent (for the refusal's message).
    threshold_percent: u32,
}

impl Reasons {
    fn refusing(&self) -> bool {
        self.ratio.is_some() || self.queues_stalled || self.space_low
    }
}

/// Why appends are refused for the disk, if they are.
pub struct DiskGuard {
    log: Arc<CommitLog>,
    reasons: Mutex<Reasons>,
}

/// The default `diskSpaceWarningLevelRatio`, in percent, for messages before retention ran.
const REFUSE_PERCENT_DEFAULT: u32 = 90;

fn percent(ratio: f64) -> u32 {
    (ratio * 100.0).round().clamp(0.0, 100.0) as u32
}

impl DiskGuard {
    pub fn new(log: Arc<CommitLog>) -> DiskGuard {
        DiskGuard {
            log,
            reasons: Mutex::new(Reasons {
                threshold_percent: REFUSE_PERCENT_DEFAULT,
                ..Reasons::default()
            }),
        }
    }

    /// Retention's check of the used ratio against `diskSpaceWarningLevelRatio` (upstream
    /// refuses strictly above it).
    pub fn set_ratio(&self, used_ratio: f64, refuse_ratio: f64) {
        let full = used_ratio > refuse_ratio;
        let ratio = full.then(|| (percent(used_ratio), percent(refuse_ratio)));
        self.update(
            |reasons| {
                reasons.ratio = ratio;
                reasons.threshold_percent = percent(refuse_ratio);
            },
            "used ratio",
        );
    }

    /// The dispatcher cannot write consume-queue units for lack of space (or can again).
    pub fn set_queues_stalled(&self, stalled: bool) {
        self.update(|reasons| reasons.queues_stalled = stalled, "consume queues");
    }

    /// The free space is under the floor, or an allocation ahead failed (or neither).
    pub fn set_space_low(&self, low: bool) {
        self.update(|reasons| reasons.space_low = low, "free space");
    }

    /// Whether appends are refused for the disk now.
    pub fn is_refusing(&self) -> bool {
        self.lock().refusing()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reasons> {
        self.reasons.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `change` and sets the commit log's refusal to match, under the lock so that
    /// two reporters never leave a stale verdict behind.
    fn update(&self, change: impl FnOnce(&mut Reasons), what: &str) {
        let mut reasons = self.lock();
        let before = *reasons;
        change(&mut reasons);
        let after = *reasons;
        if before == after {
            return;
        }
        if after.refusing() {
            let (used, refuse) = after.ratio.unwrap_or_else(|| {
                let used = self.log.storage().used_ratio().unwrap_or(1.0);
                (percent(used), after.threshold_percent)
            });
            self.log.set_disk_full(Some((used, refuse)));
        } else {
            self.log.set_disk_full(None);
        }
        drop(reasons);
        if after.refusing() && !before.refusing() {
            log::error!("disk full ({what}): appends refused until there is room");
        } else if !after.refusing() && before.refusing() {
            log::info!("disk has room again ({what}): appends accepted");
        }
    }
}

#[cfg(test)]
mod tests;
