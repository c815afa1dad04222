//! The in-memory twin of [`super::direct_file::DirectFile`], for tests that need faults a real
//! disk will not produce on demand: failed writes (EIO), short writes, torn writes that only
//! partly reach the disk, failed syncs, bits flipped at rest, crashes that lose whatever was
//! written but not synced, and a disk that fills up ([`MemSpace`]: segments, consume-queue
//! and index files all take their room from it). Modelled on TigerBeetle's
//! `testing/storage.zig`.
//!
//! Each file keeps two images: `data`, what reads see, and `durable`, what survives
//! [`MemStorage::crash`]. `sync_data` copies the one to the other. In direct mode every write
//! is checked for alignment exactly as the real file checks it, and remembered so a test can
//! assert on the whole history.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::aligned_buffer::is_aligned;
use super::direct_file::BlockFile;
use super::disk_space::{out_of_space, DiskSpace};
use super::storage::Storage;

/// One write as the file saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteRecord {
    pub address: u64,
    pub offset: u64,
    pub length: usize,
}

impl WriteRecord {
    pub fn is_aligned(&self) -> bool {
        is_aligned(self.address) && is_aligned(self.offset) && is_aligned(self.length as u64)
    }
}

#[derive(Default)]
struct Faults {
    /// Fail this many upcoming writes with EIO, writing nothing.
    writes_failing: usize,
    /// Fail the next write after writing only this many bytes.
    short_write: Option<usize>,
    /// Let the next write report success while only this many bytes land.
    torn_write: Option<usize>,
    /// Fail syncs with EIO while set.
    syncs_failing: bool,
    /// Every sync takes this long, as a real disk's would.
    sync_delay: Option<std::time::Duration>,
}

struct State {
    data: Vec<u8>,
    durable: Vec<u8>,
    faults: Faults,
    writes: Vec<WriteRecord>,
    syncs: u64,
    modified: SystemTime,
}

pub struct MemFile {
    direct: bool,
    state: Mutex<State>,
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

impl MemFile {
    pub fn new(size: u64, direct: bool) -> MemFile {
        let size = size as usize;
        MemFile {
            direct,
            state: Mutex::new(State {
                data: vec![0; size],
                durable: vec![0; size],
                faults: Faults::default(),
                writes: Vec::new(),
                syncs: 0,
                modified: SystemTime::now(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test thread that panicked while holding the lock leaves consistent bytes behind.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn fail_writes(&self, count: usize) {
        self.state().faults.writes_failing = count;
    }

    pub fn short_write_next(&self, landed: usize) {
        self.state().faults.short_write = Some(landed);
    }

    pub fn tear_write_next(&self, landed: usize) {
        self.state().faults.torn_write = Some(landed);
    }

    pub fn delay_syncs(&self, delay: std::time::Duration) {
        self.state().faults.sync_delay = Some(delay);
    }

    pub fn fail_syncs(&self, failing: bool) {
        self.state().faults.syncs_failing = failing;
    }

    /// Flips one bit at rest: in both images, as a decaying disk would.
    pub fn flip_bit(&self, offset: u64, bit: u8) {
        let mut state = self.state();
        state.data[offset as usize] ^= 1 << bit;
        state.durable[offset as usize] ^= 1 << bit;
    }

    pub fn writes(&self) -> Vec<WriteRecord> {
        self.state().writes.clone()
    }

    pub fn sync_count(&self) -> u64 {
        self.state().syncs
    }

    pub fn durable_bytes(&self) -> Vec<u8> {
        self.state().durable.clone()
    }

    pub fn set_modified(&self, modified: SystemTime) {
        self.state().modified = modified;
    }

    fn crash(&self) {
        let mut state = self.state();
        state.data = state.durable.clone();
        state.faults = Faults::default();
    }

    fn size(&self) -> u64 {
        self.state().data.len() as u64
    }

    fn set_size(&self, size: u64) {
        let mut state = self.state();
        state.data.resize(size as usize, 0);
        state.durable.resize(size as usize, 0);
    }
}

impl BlockFile for MemFile {
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let record = WriteRecord {
            address: bytes.as_ptr() as u64,
            offset,
            length: bytes.len(),
        };
        if self.direct {
            assert!(record.is_aligned(), "unaligned O_DIRECT write: {record:?}");
        }
        let mut state = self.state();
        state.writes.push(record);
        let start = offset as usize;
        let end = start
            .checked_add(bytes.len())
            .filter(|end| *end <= state.data.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write past the end"))?;
        if state.faults.writes_failing > 0 {
            state.faults.writes_failing -= 1;
            return Err(eio());
        }
        state.modified = SystemTime::now();
        if let Some(landed) = state.faults.short_write.take() {
            let landed = landed.min(bytes.len());
            state.data[start..start + landed].copy_from_slice(&bytes[..landed]);
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
        }
        if let Some(landed) = state.faults.torn_write.take() {
            let landed = landed.min(bytes.len());
            state.data[start..start + landed].copy_from_slice(&bytes[..landed]);
            return Ok(());
        }
        state.data[start..end].copy_from_slice(bytes);
        Ok(())
    }

    fn read_at(&self, bytes: &mut [u8], offset: u64) -> io::Result<usize> {
        if self.direct {
            let record = WriteRecord {
                address: bytes.as_ptr() as u64,
                offset,
                length: bytes.len(),
            };
            assert!(record.is_aligned(), "unaligned O_DIRECT read: {record:?}");
        }
        let state = self.state();
        let start = (offset as usize).min(state.data.len());
        let available = (state.data.len() - start).min(bytes.len());
        bytes[..available].copy_from_slice(&state.data[start..start + available]);
        Ok(available)
    }

    fn sync_data(&self) -> io::Result<()> {
        let delay = self.state().faults.sync_delay;
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        let mut state = self.state();
        if state.faults.syncs_failing {
            return Err(eio());
        }
        state.durable = state.data.clone();
        state.syncs += 1;
        Ok(())
    }

    fn is_direct(&self) -> bool {
        self.direct
    }
}

/// A disk of `capacity` bytes. Segments of a [`MemStorage`] take their size from it when
/// created and give it back when removed; consume-queue and index files (real files in a
/// test's directory) take each newly allocated 4 KiB page, counted rather than made.
pub struct MemSpace {
    state: Mutex<SpaceState>,
}

#[derive(Default)]
struct SpaceState {
    capacity: u64,
    used: u64,
    /// Allocated pages per file (by inode): allocating a range twice takes it once.
    pages: HashMap<u64, BTreeSet<u64>>,
    allocations: u64,
    refusals: u64,
    /// Allocations fail while set, whatever is free: the disk filled between a check of the
    /// free space and the allocation.
    refusing: bool,
}

const PAGE: u64 = 4096;

impl MemSpace {
    pub fn new(capacity: u64) -> MemSpace {
        MemSpace {
            state: Mutex::new(SpaceState {
                capacity,
                ..SpaceState::default()
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, SpaceState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes `size` bytes (a filler beside the store), or fails with ENOSPC taking nothing.
    pub fn take(&self, size: u64) -> io::Result<()> {
        let mut state = self.state();
        if state.capacity - state.used < size {
            state.refusals += 1;
            return Err(out_of_space());
        }
        state.used += size;
        Ok(())
    }

    /// Takes all that is left; returns how much that was.
    pub fn fill(&self) -> u64 {
        let mut state = self.state();
        let left = state.capacity - state.used;
        state.used = state.capacity;
        left
    }

    /// Gives `size` bytes back (a filler removed).
    pub fn give(&self, size: u64) {
        let mut state = self.state();
        state.used = state.used.saturating_sub(size);
    }

    pub fn used_ratio(&self) -> f64 {
        let state = self.state();
        state.used as f64 / state.capacity.max(1) as f64
    }

    /// Makes file-range allocations fail (or succeed again) whatever is free.
    pub fn refuse_allocations(&self, refusing: bool) {
        self.state().refusing = refusing;
    }

    /// Allocations of file ranges that succeeded, and refusals of any kind.
    pub fn counts(&self) -> (u64, u64) {
        let state = self.state();
        (state.allocations, state.refusals)
    }
}

impl DiskSpace for MemSpace {
    fn available_size(&self) -> io::Result<u64> {
        let state = self.state();
        Ok(state.capacity - state.used)
    }

    fn allocate(&self, file: &File, offset: u64, size: u64) -> io::Result<()> {
        let inode = file.metadata()?.ino();
        let mut state = self.state();
        let taken = state.pages.get(&inode);
        let first = offset / PAGE;
        let end = (offset + size).div_ceil(PAGE);
        let new: Vec<u64> = (first..end)
            .filter(|page| !taken.is_some_and(|t| t.contains(page)))
            .collect();
        let needed = new.len() as u64 * PAGE;
        if state.refusing || state.capacity - state.used < needed {
            state.refusals += 1;
            return Err(out_of_space());
        }
        state.used += needed;
        state.allocations += 1;
        state.pages.entry(inode).or_default().extend(new);
        Ok(())
    }
}

/// A directory of [`MemFile`]s on a [`MemSpace`]. Created files are durable at once (the
/// real storage syncs the directory when it creates a file).
pub struct MemStorage {
    direct: bool,
    files: Mutex<BTreeMap<String, Arc<MemFile>>>,
    /// A fixed answer for [`Storage::used_ratio`]; `None` measures the space.
    used_ratio: Mutex<Option<f64>>,
    space: Arc<MemSpace>,
}

impl MemStorage {
    /// A storage on a disk too large to fill.
    pub fn new(direct: bool) -> MemStorage {
        MemStorage::on(direct, Arc::new(MemSpace::new(1 << 50)))
    }

    /// A storage on `space`.
    pub fn on(direct: bool, space: Arc<MemSpace>) -> MemStorage {
        MemStorage {
            direct,
            files: Mutex::new(BTreeMap::new()),
            used_ratio: Mutex::new(None),
            space,
        }
    }

    pub fn disk(&self) -> &Arc<MemSpace> {
        &self.space
    }

    fn files(&self) -> MutexGuard<'_, BTreeMap<String, Arc<MemFile>>> {
        self.files
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn file(&self, name: &str) -> Option<Arc<MemFile>> {
        self.files().get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.files().keys().cloned().collect()
    }

    /// Loses every write not yet synced, in every file.
    pub fn crash(&self) {
        for file in self.files().values() {
            file.crash();
        }
    }

    pub fn set_used_ratio(&self, ratio: f64) {
        *self.used_ratio.lock().unwrap_or_else(|p| p.into_inner()) = Some(ratio);
    }
}

impl Storage for MemStorage {
    fn open(&self, name: &str, size: u64) -> io::Result<Arc<dyn BlockFile>> {
        let mut files = self.files();
        if !files.contains_key(name) {
            self.space.take(size)?;
        }
        let file = files
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(MemFile::new(size, self.direct)))
            .clone();
        if file.size() != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name} is {} bytes, expected {size}", file.size()),
            ));
        }
        Ok(file)
    }

    fn list(&self) -> io::Result<Vec<(String, u64)>> {
        Ok(self
            .files()
            .iter()
            .map(|(name, file)| (name.clone(), file.size()))
            .collect())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        let file = self
            .files()
            .remove(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))?;
        self.space.give(file.size());
        Ok(())
    }

    fn modified(&self, name: &str) -> io::Result<SystemTime> {
        let file = self
            .file(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))?;
        let modified = file.state().modified;
        Ok(modified)
    }

    fn repair_length(&self, name: &str, size: u64) -> io::Result<()> {
        let file = self
            .file(name)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))?;
        file.set_size(size);
        Ok(())
    }

    fn used_ratio(&self) -> io::Result<f64> {
        let fixed = *self.used_ratio.lock().unwrap_or_else(|p| p.into_inner());
        Ok(fixed.unwrap_or_else(|| self.space.used_ratio()))
    }

    fn is_direct(&self) -> bool {
        self.direct
    }

    fn space(&self) -> Arc<dyn DiskSpace> {
        self.space.clone()
    }
}
