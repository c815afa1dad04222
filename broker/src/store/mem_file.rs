//! The in-memory twin of [`super::direct_file::DirectFile`], for tests that need faults a real
//! disk will not produce on demand: failed writes (EIO), short writes, torn writes that only
//! partly reach the disk, failed syncs, bits flipped at rest, and crashes that lose whatever
//! was written but not synced. Modelled on TigerBeetle's `testing/storage.zig`.
//!
//! Each file keeps two images: `data`, what reads see, and `durable`, what survives
//! [`MemStorage::crash`]. `sync_data` copies the one to the other. In direct mode every write
//! is checked for alignment exactly as the real file checks it, and remembered so a test can
//! assert on the whole history.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::aligned_buffer::is_aligned;
use super::direct_file::BlockFile;
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

/// A directory of [`MemFile`]s. Created files are durable at once (the real storage syncs the
/// directory when it creates a file).
pub struct MemStorage {
    direct: bool,
    files: Mutex<BTreeMap<String, Arc<MemFile>>>,
    used_ratio: Mutex<f64>,
}

impl MemStorage {
    pub fn new(direct: bool) -> MemStorage {
        MemStorage {
            direct,
            files: Mutex::new(BTreeMap::new()),
            used_ratio: Mutex::new(0.1),
        }
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
        *self.used_ratio.lock().unwrap_or_else(|p| p.into_inner()) = ratio;
    }
}

impl Storage for MemStorage {
    fn open(&self, name: &str, size: u64) -> io::Result<Arc<dyn BlockFile>> {
        let mut files = self.files();
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
        self.files()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, name.to_string()))
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
        Ok(*self.used_ratio.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn is_direct(&self) -> bool {
        self.direct
    }
}
