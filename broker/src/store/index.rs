//! The message index: finds stored messages by key (each space-separated `KEYS` entry and the
//! client's `UNIQ_KEY`) for QUERY_MESSAGE, in RocketMQ's IndexFile layout.
//!
//! ```text
//!   <root>/index/<yyyyMMddHHmmssSSS>   (created when the previous file is full)
//!   header 40 B : beginTimestamp i64 | endTimestamp i64 | beginPhyOffset i64 | endPhyOffset i64
//!                 | usedSlots i32 | entryCount i32 (starts at 1: entry 0 means "none")
//!   slots       : hashSlots x i32, the newest entry of each hash bucket
//!   entries     : maxEntries x (keyHash i32 | commit-log offset i64 | seconds since begin i32
//!                 | previous entry of the bucket i32)
//! ```
//!
//! The hash is the absolute Java `hashCode` of `topic#key`; buckets collide, so a query
//! returns candidate offsets and the caller checks each record's own topic and keys.
//!
//! Crash safety: files are synced (`msync`) before each checkpoint, so the checkpoint's
//! dispatched offset never claims more than the index holds. Re-dispatch after a crash skips
//! records the index already has (below `indexed_end`) unless the index reaches past the
//! recovered end of the commit log; then it indexes everything again and queries drop the
//! duplicate offsets. Entries that point past a truncated log are weeded out by the caller's
//! check of the record found there.
//!
//! Space: the index is best-effort and never holds up dispatch. A file is created sparse and
//! allocated as it fills ([`INDEX_ALLOCATION_SIZE`] at a time; the header and slot table with
//! the first step), only while the disk keeps room for the commit log's next segment after
//! it. A file that cannot be started is removed. While the disk refuses, keys go unindexed:
//! logged once, tried again after [`INDEX_RETRY_INTERVAL`], not per record. Stores into the
//! mapping only ever touch allocated ranges (a hole on a full disk would be a SIGBUS).
//!
//! Threads: the dispatch thread adds, broker threads query, the retention thread removes old
//! files; one mutex guards the files.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use byteorder::{BigEndian, ByteOrder};
use wire::properties::KEY_SEPARATOR;

use super::direct_file::{local_timestamp_name, sync_directory, MappedFile};
use super::disk_space::{out_of_space, DiskSpace};
use super::error::StoreError;

const HEADER_SIZE: usize = 40;
const SLOT_SIZE: usize = 4;
const ENTRY_SIZE: usize = 20;
/// An index file is allocated this much at a time as entries arrive.
pub const INDEX_ALLOCATION_SIZE: u64 = 4 << 20;
/// After the disk refused, the next try is this much later (upstream checks space every 10 s).
pub const INDEX_RETRY_INTERVAL: Duration = Duration::from_secs(10);

/// `maxHashSlotNum` and `maxIndexNum`. The slot table is read and written at random, so all
/// of it stays resident: the default is a tenth of upstream's (2 MB instead of 20 MB), for
/// hash chains of about 40 entries when a file is full, which a query walks in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    pub hash_slots: u32,
    pub entries: u32,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            hash_slots: 500_000,
            entries: 20_000_000,
        }
    }
}

impl IndexConfig {
    fn file_size(&self) -> u64 {
        HEADER_SIZE as u64
            + u64::from(self.hash_slots) * SLOT_SIZE as u64
            + u64::from(self.entries) * ENTRY_SIZE as u64
    }
}

/// A message to index: its topic, keys and where it is.
#[derive(Debug, Clone, Copy)]
pub struct Keyed<'a> {
    pub topic: &'a str,
    pub keys: Option<&'a str>,
    pub unique_key: Option<&'a str>,
    pub offset: u64,
    pub store_timestamp: i64,
}

impl Keyed<'_> {
    fn each_key(&self, mut add: impl FnMut(&str)) {
        if let Some(unique) = self.unique_key.filter(|k| !k.is_empty()) {
            add(unique);
        }
        for key in self.keys.unwrap_or("").split(KEY_SEPARATOR) {
            if !key.is_empty() {
                add(key);
            }
        }
    }
}

/// Hash of `topic#key` as RocketMQ's index computes it (non-negative).
pub fn key_hash(topic: &str, key: &str) -> i32 {
    let mut hash: i32 = 0;
    for unit in topic
        .encode_utf16()
        .chain("#".encode_utf16())
        .chain(key.encode_utf16())
    {
        hash = hash.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    // Java's Math.abs(Integer.MIN_VALUE) stays negative; the index then uses 0.
    hash.checked_abs().unwrap_or(0)
}

struct Header {
    begin_timestamp: i64,
    end_timestamp: i64,
    begin_offset: i64,
    end_offset: i64,
    used_slots: i32,
    count: i32,
}

struct IndexFile {
    name: String,
    map: MappedFile,
    config: IndexConfig,
    header: Header,
    dirty: bool,
    /// Bytes from the start known to be allocated: stores go below it only.
    allocated_size: u64,
}

/// What a file is given when it has to grow: room, but never the commit log's next segment.
struct Room<'a> {
    space: &'a dyn DiskSpace,
    reserve_size: u64,
}

impl IndexFile {
    fn open(path: &Path, config: IndexConfig) -> Result<IndexFile, StoreError> {
        let map = MappedFile::open(path, config.file_size())?;
        let bytes = map.as_slice();
        let header = Header {
            begin_timestamp: BigEndian::read_i64(&bytes[0..]),
            end_timestamp: BigEndian::read_i64(&bytes[8..]),
            begin_offset: BigEndian::read_i64(&bytes[16..]),
            end_offset: BigEndian::read_i64(&bytes[24..]),
            used_slots: BigEndian::read_i32(&bytes[32..]),
            // A fresh file reads zeros: entry 0 is reserved for "none".
            count: BigEndian::read_i32(&bytes[36..]).clamp(1, config.entries as i32),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut file = IndexFile {
            name,
            map,
            config,
            header,
            dirty: false,
            allocated_size: 0,
        };
        // Entries were only ever stored into allocated ranges, the slot table first of all.
        file.allocated_size = file.entry_position(file.header.count) as u64;
        Ok(file)
    }

    /// Creates the file at `path`, sparse, and allocates its header, slot table and first
    /// entries; removes it again when the disk has no room for that.
    fn create(path: &Path, config: IndexConfig, room: &Room<'_>) -> Result<IndexFile, StoreError> {
        let mut file = IndexFile::open(path, config)?;
        file.allocated_size = 0;
        let first_entry_end = file.entry_position(2) as u64;
        if let Err(error) = file.allocate(first_entry_end, room) {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(error);
        }
        Ok(file)
    }

    /// Allocates up to `end` (rounded up to [`INDEX_ALLOCATION_SIZE`]) if the disk keeps the
    /// commit log's reserve after it; refuses with ENOSPC otherwise.
    fn allocate(&mut self, end: u64, room: &Room<'_>) -> Result<(), StoreError> {
        if end <= self.allocated_size {
            return Ok(());
        }
        let target = end
            .div_ceil(INDEX_ALLOCATION_SIZE)
            .saturating_mul(INDEX_ALLOCATION_SIZE)
            .min(self.config.file_size());
        let size = target - self.allocated_size;
        if room.space.available_size()? < size.saturating_add(room.reserve_size) {
            return Err(out_of_space().into());
        }
        room.space
            .allocate(self.map.file(), self.allocated_size, size)?;
        self.allocated_size = target;
        Ok(())
    }

    fn slot_position(&self, hash: i32) -> usize {
        HEADER_SIZE + (hash as u32 % self.config.hash_slots) as usize * SLOT_SIZE
    }

    fn entry_position(&self, index: i32) -> usize {
        HEADER_SIZE + self.config.hash_slots as usize * SLOT_SIZE + index as usize * ENTRY_SIZE
    }

    /// The bucket's newest entry, or 0 when empty or out of range (a torn slot).
    fn slot(&self, hash: i32) -> i32 {
        let value = BigEndian::read_i32(&self.map.as_slice()[self.slot_position(hash)..]);
        if value <= 0 || value >= self.header.count {
            0
        } else {
            value
        }
    }

    fn put(&mut self, hash: i32, offset: u64, store_timestamp: i64) {
        assert!(
            self.entry_position(self.header.count + 1) as u64 <= self.allocated_size,
            "index entry {} of {} stored past the allocated {} bytes",
            self.header.count,
            self.name,
            self.allocated_size
        );
        let previous = self.slot(hash);
        let seconds = if self.header.begin_timestamp <= 0 {
            0
        } else {
            ((store_timestamp - self.header.begin_timestamp) / 1000).clamp(0, i32::MAX as i64)
        };
        let index = self.header.count;
        let entry = self.entry_position(index);
        let slot = self.slot_position(hash);
        let bytes = self.map.as_mut_slice();
        BigEndian::write_i32(&mut bytes[entry..], hash);
        BigEndian::write_i64(&mut bytes[entry + 4..], offset as i64);
        BigEndian::write_i32(&mut bytes[entry + 12..], seconds as i32);
        BigEndian::write_i32(&mut bytes[entry + 16..], previous);
        BigEndian::write_i32(&mut bytes[slot..], index);
        let header = &mut self.header;
        if header.count == 1 {
            header.begin_timestamp = store_timestamp;
            header.begin_offset = offset as i64;
        }
        if previous == 0 {
            header.used_slots += 1;
        }
        header.count += 1;
        header.end_timestamp = store_timestamp;
        header.end_offset = offset as i64;
        self.write_header();
        self.dirty = true;
    }

    fn write_header(&mut self) {
        let header = &self.header;
        let values = [
            header.begin_timestamp,
            header.end_timestamp,
            header.begin_offset,
            header.end_offset,
        ];
        let (used_slots, count) = (header.used_slots, header.count);
        let bytes = self.map.as_mut_slice();
        for (i, value) in values.into_iter().enumerate() {
            BigEndian::write_i64(&mut bytes[i * 8..], value);
        }
        BigEndian::write_i32(&mut bytes[32..], used_slots);
        BigEndian::write_i32(&mut bytes[36..], count);
    }

    fn overlaps(&self, begin: i64, end: i64) -> bool {
        self.header.count > 1
            && self.header.begin_timestamp <= end
            && self.header.end_timestamp >= begin
    }

    /// Offsets in `hash`'s bucket stored within `[begin, end]`, newest first, into `found`.
    fn lookup(&self, hash: i32, begin: i64, end: i64, max: usize, found: &mut Vec<u64>) {
        let bytes = self.map.as_slice();
        let mut index = self.slot(hash);
        while index > 0 && found.len() < max {
            let entry = self.entry_position(index);
            let entry_hash = BigEndian::read_i32(&bytes[entry..]);
            let offset = BigEndian::read_i64(&bytes[entry + 4..]);
            let seconds = BigEndian::read_i32(&bytes[entry + 12..]);
            let previous = BigEndian::read_i32(&bytes[entry + 16..]);
            let stored = self.header.begin_timestamp + i64::from(seconds) * 1000;
            if entry_hash == hash && offset >= 0 && (begin..=end).contains(&stored) {
                found.push(offset as u64);
            }
            // Chains only point backwards; anything else is a torn entry.
            if previous >= index {
                break;
            }
            index = previous;
        }
    }
}

struct Files {
    files: Vec<IndexFile>,
    /// Records below this commit-log offset are indexed already.
    indexed_end: u64,
    /// Set while the disk refuses the index room; logged once.
    failing: bool,
    /// No allocation is tried before this (keys arriving meanwhile go unindexed).
    retry_at: Option<Instant>,
}

pub struct MessageIndex {
    dir: PathBuf,
    config: IndexConfig,
    files: Mutex<Files>,
}

/// The newest indexed message: the response header of QUERY_MESSAGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexProgress {
    pub last_timestamp: i64,
    pub last_offset: i64,
}

impl MessageIndex {
    /// Opens the index under `dir`; `log_end` is the recovered end of the commit log.
    pub fn open(dir: &Path, config: IndexConfig, log_end: u64) -> Result<Self, StoreError> {
        if config.hash_slots == 0 || config.entries < 2 || config.entries > i32::MAX as u32 {
            return Err(StoreError::Config(format!(
                "index of {} hash slots and {} entries: needs at least 1 and 2",
                config.hash_slots, config.entries
            )));
        }
        std::fs::create_dir_all(dir)?;
        let mut names: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.len() == 17 && name.bytes().all(|b| b.is_ascii_digit()))
            .collect();
        names.sort();
        let mut files = Vec::new();
        for name in names {
            let path = dir.join(&name);
            if never_written(&path)? {
                // A creation that failed or was cut short (older versions left these on a
                // full disk): it holds no entry, only space.
                log::warn!("index file {name} holds no entry: removed");
                std::fs::remove_file(&path)?;
                continue;
            }
            match IndexFile::open(&path, config) {
                Ok(file) => files.push(file),
                // A file made with other maxHashSlotNum/maxIndexNum cannot be read: leave it.
                Err(error) => log::warn!("index file {name} ignored: {error}"),
            }
        }
        let last_end = files
            .iter()
            .rev()
            .find(|f| f.header.count > 1)
            .map(|f| f.header.end_offset.max(0) as u64);
        let indexed_end = match last_end {
            Some(end) if end < log_end => end + 1,
            // Empty, or the index reaches past what recovery kept: index all re-dispatched.
            _ => 0,
        };
        Ok(MessageIndex {
            dir: dir.to_path_buf(),
            config,
            files: Mutex::new(Files {
                files,
                indexed_end,
                failing: false,
                retry_at: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Indexes the keys of `records` (in commit-log order), growing files from `space` only
    /// while `reserve_size` bytes stay free for the commit log. When the disk refuses, those
    /// keys go unindexed (logged once) and nothing is tried for [`INDEX_RETRY_INTERVAL`]:
    /// dispatch to consume queues never waits on the index.
    pub fn add(&self, records: &[Keyed<'_>], space: &dyn DiskSpace, reserve_size: u64) {
        let room = Room {
            space,
            reserve_size,
        };
        let mut state = self.lock();
        for record in records {
            if record.offset < state.indexed_end {
                continue;
            }
            state.indexed_end = record.offset + 1;
            let mut hashes = Vec::new();
            record.each_key(|key| hashes.push(key_hash(record.topic, key)));
            if hashes.is_empty() || state.retry_at.is_some_and(|at| Instant::now() < at) {
                continue;
            }
            if hashes.len() as u64 + 1 > u64::from(self.config.entries) {
                log::warn!(
                    "index: a message with {} keys does not fit an index file of {} entries",
                    hashes.len(),
                    self.config.entries
                );
                continue;
            }
            match self.writable(&mut state, hashes.len(), &room) {
                Ok(file) => {
                    for hash in hashes {
                        file.put(hash, record.offset, record.store_timestamp);
                    }
                    state.retry_at = None;
                    if state.failing {
                        log::info!(
                            "index: writing again from commit-log offset {}",
                            record.offset
                        );
                        state.failing = false;
                    }
                }
                Err(error) => {
                    if !state.failing {
                        log::error!(
                            "index: keys go unindexed from commit-log offset {} (retried every \
                             {} s): {error}",
                            record.offset,
                            INDEX_RETRY_INTERVAL.as_secs()
                        );
                        state.failing = true;
                    }
                    state.retry_at = Some(Instant::now() + INDEX_RETRY_INTERVAL);
                }
            }
        }
    }

    /// The file taking new entries, allocated for `keys` more (a new one when full).
    fn writable<'a>(
        &self,
        state: &'a mut Files,
        keys: usize,
        room: &Room<'_>,
    ) -> Result<&'a mut IndexFile, StoreError> {
        let fits =
            |f: &IndexFile| f.header.count as u64 + keys as u64 <= u64::from(f.config.entries);
        if !state.files.last().is_some_and(fits) {
            if let Some(full) = state.files.last_mut() {
                full.map.sync()?;
                full.dirty = false;
            }
            // Two files made within a millisecond get the next free name.
            let mut time = std::time::SystemTime::now();
            let mut name = local_timestamp_name(time);
            while self.dir.join(&name).exists() {
                time += std::time::Duration::from_millis(1);
                name = local_timestamp_name(time);
            }
            let file = IndexFile::create(&self.dir.join(&name), self.config, room)?;
            sync_directory(&self.dir)?;
            log::info!("index: new file {name}");
            state.files.push(file);
        }
        let file = state
            .files
            .last_mut()
            .ok_or_else(|| StoreError::SegmentInvalid {
                name: "index".into(),
                reason: "no index file".into(),
            })?;
        let end = file.entry_position(file.header.count + keys as i32) as u64;
        file.allocate(end, room)?;
        Ok(file)
    }

    /// Offsets of messages of `topic` with `key` stored in `[begin, end]` (ms), newest
    /// first, at most `max`, each once. Candidates only: callers check the record.
    pub fn query(&self, topic: &str, key: &str, max: usize, begin: i64, end: i64) -> Vec<u64> {
        let hash = key_hash(topic, key);
        let state = self.lock();
        let mut found = Vec::new();
        for file in state.files.iter().rev() {
            if found.len() >= max {
                break;
            }
            if file.overlaps(begin, end) {
                file.lookup(hash, begin, end, max, &mut found);
            }
        }
        let mut seen = std::collections::HashSet::new();
        found.retain(|offset| seen.insert(*offset));
        found
    }

    pub fn progress(&self) -> IndexProgress {
        let state = self.lock();
        state
            .files
            .iter()
            .rev()
            .find(|f| f.header.count > 1)
            .map(|f| IndexProgress {
                last_timestamp: f.header.end_timestamp,
                last_offset: f.header.end_offset,
            })
            .unwrap_or_default()
    }

    /// Makes every entry added so far durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        let mut state = self.lock();
        for file in state.files.iter_mut().filter(|f| f.dirty) {
            file.map.sync()?;
            file.dirty = false;
        }
        Ok(())
    }

    /// Removes the files whose every entry points below `min_offset` (retention removed
    /// those segments), never the newest; returns how many went.
    pub fn remove_before(&self, min_offset: u64) -> Result<usize, StoreError> {
        let mut state = self.lock();
        let mut removed = 0;
        while state.files.len() > 1 && (state.files[0].header.end_offset.max(0) as u64) < min_offset
        {
            let file = state.files.remove(0);
            let path = self.dir.join(&file.name);
            drop(file);
            std::fs::remove_file(&path)?;
            removed += 1;
        }
        if removed > 0 {
            sync_directory(&self.dir)?;
        }
        Ok(removed)
    }

    #[cfg(test)]
    pub(crate) fn file_count(&self) -> usize {
        self.lock().files.len()
    }

    /// Ends the back-off now, as if [`INDEX_RETRY_INTERVAL`] had passed.
    #[cfg(test)]
    pub(crate) fn retry_now(&self) {
        self.lock().retry_at = None;
    }
}

/// Whether the index file at `path` never received an entry (its header's count is 0 or 1,
/// or it is too short to hold a header): what a failed or interrupted creation leaves.
fn never_written(path: &Path) -> Result<bool, StoreError> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path)?;
    let mut header = [0u8; HEADER_SIZE];
    if file.metadata()?.len() < HEADER_SIZE as u64 {
        return Ok(true);
    }
    file.read_exact_at(&mut header, 0)?;
    Ok(BigEndian::read_i32(&header[36..]) <= 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mem_file::MemSpace;
    use crate::store::tests::TempDir;

    static SPACE_UNLIMITED: std::sync::LazyLock<MemSpace> =
        std::sync::LazyLock::new(|| MemSpace::new(1 << 50));

    const SMALL: IndexConfig = IndexConfig {
        hash_slots: 7,
        entries: 9,
    };

    fn keyed<'a>(topic: &'a str, keys: &'a str, unique: &'a str, offset: u64) -> Keyed<'a> {
        Keyed {
            topic,
            keys: Some(keys),
            unique_key: Some(unique),
            offset,
            store_timestamp: 1_700_000_000_000 + offset as i64 * 1000,
        }
    }

    #[test]
    fn keys_and_unique_keys_are_found_newest_first_across_files() {
        let dir = TempDir::new("index-keys");
        let index = MessageIndex::open(&dir.0, SMALL, u64::MAX).unwrap();
        let uniques: Vec<String> = (0..20).map(|i| format!("U{i}")).collect();
        let records: Vec<Keyed<'_>> = (0..20)
            .map(|i| {
                keyed(
                    "T",
                    if i % 2 == 0 { "even all" } else { "odd all" },
                    &uniques[i],
                    i as u64 * 100,
                )
            })
            .collect();
        index.add(&records, &*SPACE_UNLIMITED, 0);
        // 3 keys per record, 8 usable entries per file: two records a file.
        assert_eq!(index.file_count(), 10);
        let all = index.query("T", "all", 64, 0, i64::MAX);
        let expected: Vec<u64> = (0..20).rev().map(|i| i * 100).collect();
        assert_eq!(all, expected);
        assert_eq!(
            index.query("T", "odd", 3, 0, i64::MAX),
            vec![1900, 1700, 1500]
        );
        assert_eq!(index.query("T", "U7", 64, 0, i64::MAX), vec![700]);
        assert!(index.query("T", "none", 64, 0, i64::MAX).is_empty());
        assert!(index.query("Other", "all", 64, 0, i64::MAX).is_empty());
        // Store times are whole seconds after each file's first entry.
        let from = 1_700_000_000_000 + 500 * 1000;
        let to = 1_700_000_000_000 + 900 * 1000;
        assert_eq!(
            index.query("T", "all", 64, from, to),
            vec![900, 800, 700, 600, 500]
        );
        let progress = index.progress();
        assert_eq!(progress.last_offset, 1900);
        assert_eq!(progress.last_timestamp, 1_700_000_000_000 + 1_900_000);
        assert_eq!(index.remove_before(1000).unwrap(), 5);
        assert_eq!(index.query("T", "all", 64, 0, i64::MAX).len(), 10);
    }

    #[test]
    fn reopening_skips_what_is_indexed_unless_the_log_was_cut_below_it() {
        let dir = TempDir::new("index-reopen");
        let uniques: Vec<String> = (0..3).map(|i| format!("U{i}")).collect();
        let records: Vec<Keyed<'_>> = (0..3)
            .map(|i| keyed("T", "k", &uniques[i], i as u64 * 10))
            .collect();
        let config = IndexConfig {
            hash_slots: 11,
            entries: 100,
        };
        {
            let index = MessageIndex::open(&dir.0, config, u64::MAX).unwrap();
            index.add(&records, &*SPACE_UNLIMITED, 0);
            index.sync().unwrap();
        }
        let index = MessageIndex::open(&dir.0, config, 1_000).unwrap();
        index.add(&records, &*SPACE_UNLIMITED, 0);
        assert_eq!(
            index.lock().files[0].header.count,
            7,
            "no entry added twice"
        );
        drop(index);
        // The log was recovered to below the last indexed record: all of it again, no dupes.
        let index = MessageIndex::open(&dir.0, config, 15).unwrap();
        index.add(&records[2..], &*SPACE_UNLIMITED, 0);
        assert_eq!(index.lock().files[0].header.count, 9);
        assert_eq!(index.query("T", "k", 64, 0, i64::MAX), vec![20, 10, 0]);
    }

    #[test]
    fn a_chain_pointing_forwards_ends_the_walk() {
        let dir = TempDir::new("index-torn");
        let index = MessageIndex::open(&dir.0, SMALL, u64::MAX).unwrap();
        index.add(
            &[keyed("T", "k", "", 0), keyed("T", "k", "", 10)],
            &*SPACE_UNLIMITED,
            0,
        );
        {
            let mut state = index.lock();
            let file = &mut state.files[0];
            let entry = file.entry_position(2);
            BigEndian::write_i32(&mut file.map.as_mut_slice()[entry + 16..], 2);
        }
        assert_eq!(index.query("T", "k", 64, 0, i64::MAX), vec![10]);
    }

    #[test]
    fn key_hash_is_java_hash_code_made_positive() {
        assert_eq!(key_hash("T", "k"), wire::java_string_hash("T#k").abs());
        // "polygenelubricants" hashes to i32::MIN; `#` shifts it, so check the rule directly.
        assert_eq!(i32::MIN.checked_abs().unwrap_or(0), 0);
    }
}
