//! The commit log's crash journal: the memory holding the unflushed tail of the log (and the
//! window of recent data served to readers) lives in a shared file mapping instead of the
//! process's heap. A process that dies (`kill -9`, the OOM killer, a panic) leaves what it
//! wrote there in the kernel's page cache; the next start finds the journal, verifies its
//! bytes record by record past the end of the segment files, writes them to the segments and
//! syncs them before anything is served ([`replay`]). This gives ASYNC_FLUSH what Apache
//! RocketMQ gets from the page cache, while the segments stay O_DIRECT.
//!
//! ```text
//!  <journalDir>/rocketmq-rs-<id>.journal     (journalDir: /dev/shm when it is a tmpfs)
//!  +0   header, u64 words, big-endian-free (native atomics):
//!       0 magic "RSJOURN1" | 1 slot size | 2 slot count | 3 segment size | 4 store id |
//!       5 boot id | 6 written_offset | 7 reserved | 8.. base offset of each slot (MAX: free)
//!  +H   slot 0 | slot 1 | ... | slot N-1        (each one commit-log chunk, block-aligned)
//!
//!  <root>/journal   "<store id hex>\n<journal path>\n": where this store's journal is
//! ```
//!
//! Invariants: a slot's base is published before any byte of it counts, and `written_offset`
//! only after the bytes below it are in their slots, so every byte below `written_offset`
//! that falls in a slot with a base is the log's byte at that offset. Replay still verifies
//! every record (magic, size, CRC, its own commit-log offset) and stops at the first that
//! fails.
//!
//! What it promises: a process crash loses nothing appended. A machine crash loses the
//! journal (tmpfs) and with it what was not flushed, as ASYNC_FLUSH promises. A journal left
//! by another boot is ignored: on tmpfs it cannot exist, and on disk (the fallback where no
//! tmpfs is found) its pages may have been written back torn.
//!
//! Threads: slots are taken and published under the commit log's append lock; slots come
//! back when the last holder of their chunk drops it (any thread); the flush thread gives
//! the memory of cold free slots back ([`Journal::release_cold`]).

use std::collections::BTreeMap;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::aligned_buffer::{align_up, BLOCK_SIZE};
use super::direct_file::{disk_available_size, is_tmpfs, sync_directory, MapRegion, SharedMap};

const MAGIC: u64 = u64::from_be_bytes(*b"RSJOURN1");
const WORD_MAGIC: usize = 0;
const WORD_SLOT_SIZE: usize = 1;
const WORD_SLOT_COUNT: usize = 2;
const WORD_SEGMENT_SIZE: usize = 3;
const WORD_STORE_ID: usize = 4;
const WORD_BOOT_ID: usize = 5;
const WORD_WRITTEN: usize = 6;
const WORD_SLOTS: usize = 8;
const FREE: u64 = u64::MAX;
/// Free slots kept resident for reuse; colder ones give their memory back.
const WARM_SLOTS: usize = 4;
const POINTER_FILE: &str = "journal";

/// Where the journal goes and whether there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// Off only to measure what crash safety costs: a process crash then loses the unflushed
    /// tail under ASYNC_FLUSH (`journalEnable`).
    pub enabled: bool,
    /// `journalDir`; `None`: /dev/shm when it is a tmpfs, else `<root>/journal-files`.
    pub dir: Option<PathBuf>,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            enabled: true,
            dir: None,
        }
    }
}

/// The shape of a journal: one slot per commit-log chunk it can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalShape {
    pub slot_size: usize,
    pub slot_count: usize,
    pub segment_size: u64,
}

impl JournalShape {
    fn header_size(&self) -> usize {
        align_up(((WORD_SLOTS + self.slot_count) * 8) as u64) as usize
    }

    fn file_size(&self) -> usize {
        self.header_size() + self.slot_size * self.slot_count
    }
}

struct FreeSlot {
    region: MapRegion,
    /// Whether its pages hold memory (written since the last discard).
    resident: bool,
}

pub struct Journal {
    map: Arc<SharedMap>,
    path: PathBuf,
    shape: JournalShape,
    /// Last in, first out: the top is warm, the bottom cold.
    free: Mutex<Vec<FreeSlot>>,
    /// Set by a simulated crash: the header stays as it is, whatever is dropped after.
    frozen: AtomicBool,
    /// A slot's memory could not be allocated (logged once until one can).
    allocation_failing: AtomicBool,
}

/// A chunk's memory in the journal; goes back to the free list when dropped.
pub struct Slot {
    journal: Arc<Journal>,
    region: Option<MapRegion>,
}

impl Slot {
    pub fn as_slice(&self) -> &[u8] {
        self.region.as_ref().map_or(&[], |region| region.as_slice())
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.region
            .as_mut()
            .map_or(&mut [], |region| region.as_mut_slice())
    }

    fn index(&self) -> usize {
        self.region
            .as_ref()
            .map_or(0, |region| self.journal.index_of(region))
    }

    /// Claims the chunk starting at `base_offset`.
    pub fn publish(&self, base_offset: u64) {
        self.journal
            .map
            .word(WORD_SLOTS + self.index())
            .store(base_offset, Ordering::Release);
    }

    /// Stops claiming a chunk: replay must never see two slots with one base.
    pub fn unpublish(&self) {
        self.journal
            .map
            .word(WORD_SLOTS + self.index())
            .store(FREE, Ordering::Release);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(region) = self.region.take() {
            self.journal.give_back(region);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The free list is a plain vector changed by single pushes and pops: never torn.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Journal {
    /// Creates the journal at `path` (an existing file there is emptied first).
    pub fn create(path: &Path, store_id: u64, shape: JournalShape) -> io::Result<Arc<Journal>> {
        let map = Arc::new(SharedMap::open(
            path,
            shape.file_size(),
            shape.header_size(),
            true,
        )?);
        // A store into an unallocated page of a full tmpfs is a SIGBUS: the header's pages,
        // and each slot's when it is taken, are allocated first.
        map.allocate(0, shape.header_size())?;
        map.word(WORD_WRITTEN).store(0, Ordering::Release);
        for index in 0..shape.slot_count {
            map.word(WORD_SLOTS + index).store(FREE, Ordering::Release);
        }
        map.word(WORD_SLOT_SIZE)
            .store(shape.slot_size as u64, Ordering::Release);
        map.word(WORD_SLOT_COUNT)
            .store(shape.slot_count as u64, Ordering::Release);
        map.word(WORD_SEGMENT_SIZE)
            .store(shape.segment_size, Ordering::Release);
        map.word(WORD_STORE_ID).store(store_id, Ordering::Release);
        map.word(WORD_BOOT_ID).store(boot_id(), Ordering::Release);
        // Last: a header without its magic is never read as a journal.
        map.word(WORD_MAGIC).store(MAGIC, Ordering::Release);
        let regions = map.regions(shape.slot_size, shape.slot_count);
        let free = regions
            .into_iter()
            .rev()
            .map(|region| FreeSlot {
                region,
                resident: false,
            })
            .collect();
        Ok(Arc::new(Journal {
            map,
            path: path.to_path_buf(),
            shape,
            free: Mutex::new(free),
            frozen: AtomicBool::new(false),
            allocation_failing: AtomicBool::new(false),
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn shape(&self) -> JournalShape {
        self.shape
    }

    fn index_of(&self, region: &MapRegion) -> usize {
        (region.offset() - self.shape.header_size()) / self.shape.slot_size
    }

    /// A free slot for the chunk starting at `base_offset`, its base published; `None` when
    /// every slot is in use, or its memory cannot be had (a full tmpfs: logged once a streak).
    pub fn take(self: &Arc<Self>, base_offset: u64) -> Option<Slot> {
        let slot = self.take_unpublished()?;
        slot.publish(base_offset);
        Some(slot)
    }

    /// A free slot whose memory is allocated, claiming no chunk yet.
    pub fn take_unpublished(self: &Arc<Self>) -> Option<Slot> {
        let mut free = lock(&self.free);
        let mut candidate = free.pop()?;
        if !candidate.resident {
            if let Err(error) = candidate.region.allocate() {
                if !self.allocation_failing.swap(true, Ordering::AcqRel) {
                    log::error!(
                        "journal {}: no memory for a slot ({error}); appends wait until there \
                         is (make {} larger, or set journalDir)",
                        self.path.display(),
                        self.path
                            .parent()
                            .map_or("its tmpfs".into(), |p| p.display().to_string())
                    );
                }
                free.push(candidate);
                return None;
            }
            candidate.resident = true;
            self.allocation_failing.store(false, Ordering::Release);
        }
        drop(free);
        Some(Slot {
            journal: self.clone(),
            region: Some(candidate.region),
        })
    }

    fn give_back(&self, region: MapRegion) {
        let index = self.index_of(&region);
        if !self.frozen.load(Ordering::Acquire) {
            self.map
                .word(WORD_SLOTS + index)
                .store(FREE, Ordering::Release);
        }
        lock(&self.free).push(FreeSlot {
            region,
            resident: true,
        });
    }

    pub fn free_slots(&self) -> usize {
        lock(&self.free).len()
    }

    /// Freezes the header as it is, as a `kill -9` would: for crash tests within one
    /// process, where the memory is then dropped (which would otherwise free the slots).
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::Release);
    }

    /// Publishes that every byte below `written_offset` is in its slot.
    pub fn publish_written(&self, written_offset: u64) {
        if self.frozen.load(Ordering::Acquire) {
            return;
        }
        self.map
            .word(WORD_WRITTEN)
            .store(written_offset, Ordering::Release);
    }

    /// Gives back the memory of free slots below the warm top of the free list, so a burst's
    /// memory does not stay with the process. Runs off the append path (the flush thread).
    pub fn release_cold(&self) {
        if self.frozen.load(Ordering::Acquire) {
            return;
        }
        let mut free = lock(&self.free);
        let cold = free.len().saturating_sub(WARM_SLOTS);
        for slot in free[..cold].iter_mut().filter(|slot| slot.resident) {
            if let Err(error) = slot.region.discard() {
                log::debug!("journal: cannot release a slot's memory: {error}");
                return;
            }
            slot.resident = false;
        }
    }

    /// Removes the journal file: after a clean stop everything is in the segments.
    pub fn remove(self: Arc<Self>) -> io::Result<()> {
        let path = self.path.clone();
        drop(self);
        match fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

/// A hash of this boot's id: a journal written under another boot survived a machine crash
/// only if it is on disk, and then possibly torn.
fn boot_id() -> u64 {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let hex: String = id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(16)
        .collect();
    u64::from_str_radix(&hex, 16).unwrap_or(0)
}

/// A random store id (std's randomly keyed hasher, no extra crate).
fn random_id() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// The store's journal identity: `<root>/journal`, written once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalPointer {
    pub store_id: u64,
    pub path: PathBuf,
}

impl JournalPointer {
    pub fn read(root: &Path) -> io::Result<Option<JournalPointer>> {
        let text = match fs::read_to_string(root.join(POINTER_FILE)) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let mut lines = text.lines();
        let id = lines.next().and_then(|id| u64::from_str_radix(id, 16).ok());
        let path = lines.next().filter(|path| !path.is_empty());
        match (id, path) {
            (Some(store_id), Some(path)) => Ok(Some(JournalPointer {
                store_id,
                path: PathBuf::from(path),
            })),
            _ => {
                log::warn!("{}: unreadable, starting a new journal", POINTER_FILE);
                Ok(None)
            }
        }
    }

    /// Writes the pointer atomically (temp file, fsync, rename, directory fsync).
    pub fn write(&self, root: &Path) -> io::Result<()> {
        let target = root.join(POINTER_FILE);
        let temp = root.join(format!("{POINTER_FILE}.tmp"));
        let text = format!("{:016x}\n{}\n", self.store_id, self.path.display());
        {
            let mut file = fs::File::create(&temp)?;
            io::Write::write_all(&mut file, text.as_bytes())?;
            file.sync_all()?;
        }
        fs::rename(&temp, &target)?;
        sync_directory(root)
    }
}

/// Where a new journal of `size` bytes for the store at `root` goes: the configured
/// directory, else /dev/shm when it is a tmpfs with room for it, else beside the store (on
/// disk: the kernel then writes it back as well, but it still outlives the process).
pub fn journal_path(root: &Path, config: &JournalConfig, store_id: u64, size: usize) -> PathBuf {
    let name = format!("rocketmq-rs-{store_id:016x}.journal");
    if let Some(dir) = &config.dir {
        return dir.join(name);
    }
    let shm = Path::new("/dev/shm");
    if is_tmpfs(shm) {
        let room = disk_available_size(shm).unwrap_or(0);
        if room >= size as u64 {
            return shm.join(name);
        }
        log::warn!(
            "/dev/shm has {room} bytes free, the journal needs {size}: keeping it beside the \
             store instead (set journalDir, or give /dev/shm more room)"
        );
    }
    root.join("journal-files").join(name)
}

/// What a crashed run left in its journal: the log's bytes from `start` (block-aligned) to
/// `written_offset`, as far as slots cover them without a gap, and where the journal said
/// the log ended (`claimed_end`; more than `written_offset` when slots were missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalImage {
    pub start: u64,
    pub written_offset: u64,
    pub claimed_end: u64,
    pub bytes: Vec<u8>,
}

/// Why a journal was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalLoad {
    Image(JournalImage),
    /// No journal file: a machine crash (tmpfs emptied), or a store without one.
    Missing,
    /// A journal that cannot be trusted, and why.
    Ignored(String),
}

/// Reads the journal of `pointer` for the bytes from block-aligned `from`; the map is closed
/// again before returning.
pub fn load(pointer: &JournalPointer, from: u64) -> io::Result<JournalLoad> {
    let size = match fs::metadata(&pointer.path) {
        Ok(metadata) => metadata.len() as usize,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(JournalLoad::Missing),
        Err(error) => return Err(error),
    };
    if size < BLOCK_SIZE {
        return Ok(JournalLoad::Ignored(format!("{size} bytes, no header")));
    }
    let header_peek = SharedMap::open(&pointer.path, size, BLOCK_SIZE, false)?;
    let word = |index: usize| header_peek.word(index).load(Ordering::Acquire);
    if word(WORD_MAGIC) != MAGIC {
        return Ok(JournalLoad::Ignored("no journal header".into()));
    }
    if word(WORD_STORE_ID) != pointer.store_id {
        return Ok(JournalLoad::Ignored("another store's journal".into()));
    }
    if word(WORD_BOOT_ID) != boot_id() {
        return Ok(JournalLoad::Ignored(
            "written before the machine restarted".into(),
        ));
    }
    let shape = JournalShape {
        slot_size: word(WORD_SLOT_SIZE) as usize,
        slot_count: word(WORD_SLOT_COUNT) as usize,
        segment_size: word(WORD_SEGMENT_SIZE),
    };
    drop(header_peek);
    // Checked before any arithmetic on them: a damaged header must not overflow it.
    let sane = shape.slot_size > 0
        && shape.slot_size <= 1 << 30
        && shape.slot_count <= 1 << 16
        && shape.segment_size > 0;
    if !sane || shape.file_size() != size {
        return Ok(JournalLoad::Ignored(format!(
            "inconsistent shape {shape:?}"
        )));
    }
    let map = SharedMap::open(&pointer.path, size, shape.header_size(), false)?;
    Ok(JournalLoad::Image(read_image(&map, shape, from)))
}

/// The bytes the slots of a crashed run's journal hold from `from` on.
fn read_image(map: &SharedMap, shape: JournalShape, from: u64) -> JournalImage {
    let written_offset = map.word(WORD_WRITTEN).load(Ordering::Acquire);
    let mut bases = BTreeMap::new();
    for index in 0..shape.slot_count {
        let base = map.word(WORD_SLOTS + index).load(Ordering::Acquire);
        if base != FREE && base < written_offset {
            bases.insert(base, index);
        }
    }
    let mut bytes = Vec::new();
    let mut at = from;
    while at < written_offset {
        // The slot holding `at`: the one with the greatest base at or below it.
        let Some((&base, &index)) = bases.range(..=at).next_back() else {
            break;
        };
        let slot_end = base.saturating_add(shape.slot_size as u64);
        if at >= slot_end {
            break;
        }
        let end = written_offset.min(slot_end);
        let mut piece = vec![0u8; (end - at) as usize];
        let slot_offset = shape.header_size() + index * shape.slot_size;
        map.read_before_regions(slot_offset + (at - base) as usize, &mut piece);
        bytes.extend_from_slice(&piece);
        at = end;
    }
    JournalImage {
        start: from,
        written_offset: at,
        claimed_end: written_offset,
        bytes,
    }
}

/// The pointer of the store at `root`, made (and written) when it has none.
pub fn pointer_for(
    root: &Path,
    config: &JournalConfig,
    shape: JournalShape,
) -> io::Result<JournalPointer> {
    if let Some(pointer) = JournalPointer::read(root)? {
        return Ok(pointer);
    }
    let store_id = random_id();
    let pointer = JournalPointer {
        store_id,
        path: journal_path(root, config, store_id, shape.file_size()),
    };
    pointer.write(root)?;
    Ok(pointer)
}

/// Opens the journal the store will run with: at the configured place (the pointer is
/// rewritten when `journalDir` changed), created empty.
pub fn open_fresh(
    root: &Path,
    config: &JournalConfig,
    pointer: &JournalPointer,
    shape: JournalShape,
) -> io::Result<Arc<Journal>> {
    let path = journal_path(root, config, pointer.store_id, shape.file_size());
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    if path != pointer.path {
        let _ = fs::remove_file(&pointer.path);
        let moved = JournalPointer {
            store_id: pointer.store_id,
            path: path.clone(),
        };
        moved.write(root)?;
    }
    Journal::create(&path, pointer.store_id, shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> JournalShape {
        JournalShape {
            slot_size: 16 * 1024,
            slot_count: 4,
            segment_size: 64 * 1024,
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("journal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn slots_written_before_a_crash_are_read_back_up_to_the_written_offset() {
        let dir = temp("image");
        let config = JournalConfig {
            enabled: true,
            dir: Some(dir.join("shm")),
        };
        let pointer = pointer_for(&dir, &config, shape()).unwrap();
        assert_eq!(pointer_for(&dir, &config, shape()).unwrap(), pointer);
        let journal = open_fresh(&dir, &config, &pointer, shape()).unwrap();
        let mut first = journal.take(32 * 1024).unwrap();
        let mut second = journal.take(48 * 1024).unwrap();
        first.as_mut_slice().fill(7);
        second.as_mut_slice()[..100].fill(9);
        journal.publish_written(48 * 1024 + 100);
        assert_eq!(journal.free_slots(), 2);
        // A crash: the process goes, the file stays as it is.
        journal.freeze();
        drop((first, second));
        drop(journal);
        let loaded = load(&pointer, 40 * 1024).unwrap();
        let JournalLoad::Image(image) = loaded else {
            panic!("{loaded:?}");
        };
        assert_eq!(
            (image.start, image.written_offset),
            (40 * 1024, 48 * 1024 + 100)
        );
        assert!(image.bytes[..8 * 1024].iter().all(|b| *b == 7));
        assert!(image.bytes[8 * 1024..].iter().all(|b| *b == 9));
        // A gap (no slot for the start) yields nothing rather than wrong bytes.
        let JournalLoad::Image(gap) = load(&pointer, 0).unwrap() else {
            panic!("no image");
        };
        assert!(gap.bytes.is_empty());
        // Opened fresh, the journal is empty again.
        let journal = open_fresh(&dir, &config, &pointer, shape()).unwrap();
        assert_eq!(journal.free_slots(), 4);
        drop(journal);
        let JournalLoad::Image(empty) = load(&pointer, 0).unwrap() else {
            panic!("no image");
        };
        assert_eq!(empty.written_offset, 0);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dropped_slots_return_and_cold_ones_give_their_memory_back() {
        let dir = temp("free");
        let journal = Journal::create(&dir.join("j"), 1, shape()).unwrap();
        let slots: Vec<Slot> = (0..4)
            .map(|n| journal.take(n * 16 * 1024).unwrap())
            .collect();
        assert!(journal.take(99).is_none());
        drop(slots);
        assert_eq!(journal.free_slots(), 4);
        journal.release_cold();
        let mut again = journal.take(0).unwrap();
        again.as_mut_slice()[0] = 1;
        assert_eq!(again.as_slice()[0], 1);
        // A second map of the same file is refused while this one lives.
        assert!(SharedMap::open(&dir.join("j"), shape().file_size(), 4096, false).is_err());
        drop(again);
        let path = journal.path().to_path_buf();
        journal.remove().unwrap();
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn foreign_or_missing_journals_are_not_replayed() {
        let dir = temp("foreign");
        let pointer = JournalPointer {
            store_id: 5,
            path: dir.join("j"),
        };
        assert_eq!(load(&pointer, 0).unwrap(), JournalLoad::Missing);
        drop(Journal::create(&pointer.path, 6, shape()).unwrap());
        assert!(matches!(
            load(&pointer, 0).unwrap(),
            JournalLoad::Ignored(reason) if reason.contains("another store")
        ));
        fs::write(&pointer.path, vec![0u8; 8192]).unwrap();
        assert!(matches!(
            load(&pointer, 0).unwrap(),
            JournalLoad::Ignored(_)
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
