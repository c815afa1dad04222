//! Consume queues: per topic and queue id, the 20-byte units ([`wire::consume_unit`]) that
//! say where each message of the queue sits in the commit log, in files of a fixed number of
//! units named by their 20-digit start byte offset.
//!
//! ```text
//!  <root>/consumequeue/<topic>/<queueId>/00000000000000000000   units 0 .. N-1
//!                                       /00000000000006000000   units N .. 2N-1  (N = 300 000)
//!  queue offset q  <->  file q / N, byte (q % N) * 20
//! ```
//!
//! Files are written with buffered `pwrite` and synced by the dispatch thread before it records
//! its progress in the checkpoint; the commit log is the truth, and recovery truncates or
//! rebuilds these from it.
//!
//! Space: a file is created sparse and its bytes are allocated ([`DiskSpace::allocate`]) in
//! steps of [`ALLOCATION_UNITS`] before units are written there, and [`AHEAD_UNITS`] more are
//! kept allocated past the end (creating the next file early when the end nears a file's
//! end). So when another writer fills the disk, units of messages already acknowledged still
//! have room; a look-ahead that fails marks the queue short (the dispatcher then refuses
//! appends), and a write whose own units cannot be allocated fails before writing anything.
//! A file whose creation fails is removed.
//!
//! Threads: the dispatch thread writes; pull handlers read; retention removes old files. Each
//! queue sits behind its own mutex in [`ConsumeQueues`].
//!
//! Invariants: units are written in queue-offset order with no gaps (a queue that starts at a
//! nonzero offset is padded with blank units); commit-log offsets increase along a queue;
//! `min_offset <= max_offset`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use wire::consume_unit::{ConsumeUnit, BLANK_UNIT, CONSUME_UNIT_SIZE};

use super::disk_space::{is_out_of_space, DiskSpace};

const UNIT: u64 = CONSUME_UNIT_SIZE as u64;
/// Units allocated at a time (80 KiB).
pub const ALLOCATION_UNITS: u64 = 4096;
/// Units kept allocated past a queue's end: what it can still take once the disk is full.
/// Half an allocation step, so a new queue takes one step (80 KiB), not two.
pub const AHEAD_UNITS: u64 = ALLOCATION_UNITS / 2;

pub struct ConsumeQueue {
    directory: PathBuf,
    units_per_file: u64,
    /// First queue offset of each file → the file.
    files: BTreeMap<u64, File>,
    /// First queue offset of each file → how many of its bytes, from its start, are
    /// allocated (a lower bound for files found at load).
    allocated: BTreeMap<u64, u64>,
    /// The last look-ahead allocation failed: the disk is out of room for this queue.
    short: bool,
    dirty: BTreeSet<u64>,
    min_offset: u64,
    max_offset: u64,
    /// Commit-log end (offset + size) of the last unit: re-dispatch below it is a no-op.
    max_commit_end: u64,
}

fn file_name(first_queue_offset: u64) -> String {
    format!("{:020}", first_queue_offset * UNIT)
}

fn invalid(path: &Path, reason: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {reason}", path.display()),
    )
}

impl ConsumeQueue {
    /// Loads the queue in `directory`, finding its last unit.
    pub fn load(directory: &Path, units_per_file: u64) -> io::Result<ConsumeQueue> {
        std::fs::create_dir_all(directory)?;
        let mut queue = ConsumeQueue {
            directory: directory.to_path_buf(),
            units_per_file,
            files: BTreeMap::new(),
            allocated: BTreeMap::new(),
            short: false,
            dirty: BTreeSet::new(),
            min_offset: 0,
            max_offset: 0,
            max_commit_end: 0,
        };
        let file_size = units_per_file * UNIT;
        for entry in std::fs::read_dir(directory)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(start) = crate::store::commit_log::parse_segment_name(&name) else {
                continue;
            };
            if start % file_size != 0 {
                return Err(invalid(&entry.path(), "name is not a file boundary".into()));
            }
            let length = entry.metadata()?.len();
            if length == 0 {
                // A creation cut short (a crash, a full disk): it holds nothing.
                log::warn!("consume queue: removing empty {}", entry.path().display());
                std::fs::remove_file(entry.path())?;
                continue;
            }
            if length > file_size {
                return Err(invalid(
                    &entry.path(),
                    format!("{length} bytes, expected {file_size}"),
                ));
            }
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(entry.path())?;
            if length < file_size {
                // A crash between creating the file and sizing it: the missing units read as
                // empty, and recovery re-dispatches whatever they should hold.
                log::warn!(
                    "{}: {length} bytes, extended to {file_size}",
                    entry.path().display()
                );
                file.set_len(file_size)?;
            }
            queue.files.insert(start / UNIT, file);
        }
        queue.find_max_offset()?;
        queue.min_offset = queue.files.keys().next().copied().unwrap_or(0);
        queue.skip_blank_head()?;
        Ok(queue)
    }

    /// Binary search for the first empty (all-zero) unit, in the last file holding any: a
    /// file after it was created ahead of need and is still empty. Sets what is known to be
    /// allocated: whole files below the end, and the written part of the end's file.
    fn find_max_offset(&mut self) -> io::Result<()> {
        let firsts: Vec<u64> = self.files.keys().rev().copied().collect();
        let file_size = self.units_per_file * UNIT;
        for (position, &first) in firsts.iter().enumerate() {
            let (mut low, mut high) = (0u64, self.units_per_file);
            while low < high {
                let middle = (low + high) / 2;
                if self.read_unit(first + middle)?.size == 0 {
                    high = middle;
                } else {
                    low = middle + 1;
                }
            }
            if low == 0 && position + 1 < firsts.len() {
                continue;
            }
            self.max_offset = first + low;
            self.max_commit_end = match low {
                0 => 0,
                _ => unit_end(&self.read_unit(first + low - 1)?),
            };
            for earlier in &firsts[position + 1..] {
                self.allocated.insert(*earlier, file_size);
            }
            self.allocated.insert(first, low * UNIT);
            return Ok(());
        }
        Ok(())
    }

    /// Moves `min_offset` past blank padding units at the head of the queue.
    fn skip_blank_head(&mut self) -> io::Result<()> {
        while self.min_offset < self.max_offset && self.read_unit(self.min_offset)? == BLANK_UNIT {
            self.min_offset += 1;
        }
        Ok(())
    }

    pub fn min_offset(&self) -> u64 {
        self.min_offset
    }

    pub fn max_offset(&self) -> u64 {
        self.max_offset
    }

    pub fn max_commit_end(&self) -> u64 {
        self.max_commit_end
    }

    /// The file holding `queue_offset` (reserved before: see [`ConsumeQueue::reserve`]), and
    /// the unit's position in it; marks the file for the next sync.
    fn file_for(&mut self, queue_offset: u64) -> io::Result<(&File, u64)> {
        let first = queue_offset - queue_offset % self.units_per_file;
        let file = self
            .files
            .get(&first)
            .ok_or_else(|| invalid(&self.directory, format!("no file for unit {queue_offset}")))?;
        self.dirty.insert(first);
        Ok((file, (queue_offset - first) * UNIT))
    }

    /// Creates the file starting at unit `first` (sparse) unless it exists; a failed creation
    /// removes what it made.
    fn create_file(&mut self, first: u64) -> io::Result<()> {
        if self.files.contains_key(&first) {
            return Ok(());
        }
        let path = self.directory.join(file_name(first));
        let existed = path.exists();
        let created = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .and_then(|file| {
                file.set_len(self.units_per_file * UNIT)?;
                File::open(&self.directory)?.sync_all()?;
                Ok(file)
            });
        match created {
            Ok(file) => {
                self.files.insert(first, file);
                Ok(())
            }
            Err(error) => {
                if !existed {
                    let _ = std::fs::remove_file(&path);
                }
                Err(error)
            }
        }
    }

    /// Allocates the bytes of units `[from, to)`, creating their files. A new file whose
    /// first allocation fails is removed again: it holds nothing.
    fn allocate_units(&mut self, from: u64, to: u64, space: &dyn DiskSpace) -> io::Result<()> {
        let file_size = self.units_per_file * UNIT;
        let mut at = from;
        while at < to {
            let first = at - at % self.units_per_file;
            let end = to.min(first + self.units_per_file);
            let fresh = !self.files.contains_key(&first);
            self.create_file(first)?;
            let allocated = self.allocated.get(&first).copied().unwrap_or(0);
            let needed = (end - first) * UNIT;
            if needed > allocated {
                let step = ALLOCATION_UNITS * UNIT;
                let target = needed.div_ceil(step).saturating_mul(step).min(file_size);
                let file = self
                    .files
                    .get(&first)
                    .ok_or_else(|| invalid(&self.directory, "lost".into()))?;
                if let Err(error) = space.allocate(file, allocated, target - allocated) {
                    if fresh {
                        self.files.remove(&first);
                        let _ = std::fs::remove_file(self.directory.join(file_name(first)));
                    }
                    return Err(error);
                }
                self.allocated.insert(first, target);
            }
            at = end;
        }
        Ok(())
    }

    /// Makes units `[from, to)` writable (their files exist, their bytes are allocated), or
    /// fails having written nothing; then tries to keep [`AHEAD_UNITS`] more allocated,
    /// noting in [`ConsumeQueue::is_short`] whether it could.
    fn reserve(&mut self, from: u64, to: u64, space: &dyn DiskSpace) -> io::Result<()> {
        self.allocate_units(from, to, space)?;
        // Never more than the next file ahead, however small files are.
        let next_file_end = to - to % self.units_per_file + 2 * self.units_per_file;
        let ahead_end = (to + AHEAD_UNITS).min(next_file_end);
        // Other failures ahead surface, if they last, when those units are written.
        self.short = matches!(
            self.allocate_units(to, ahead_end, space),
            Err(error) if is_out_of_space(&error)
        );
        Ok(())
    }

    /// Whether the last look-ahead allocation failed: the queue has less than
    /// [`AHEAD_UNITS`] of room left on a full disk.
    pub fn is_short(&self) -> bool {
        self.short
    }

    fn write_unit(&mut self, queue_offset: u64, unit: &ConsumeUnit) -> io::Result<()> {
        let (file, position) = self.file_for(queue_offset)?;
        file.write_all_at(&unit.encode(), position)
    }

    /// Blank units over `[from, to)`: one write per file, not one per unit (a queue born late
    /// pads up to a whole file).
    fn write_blanks(&mut self, mut from: u64, to: u64) -> io::Result<()> {
        let blank = BLANK_UNIT.encode();
        while from < to {
            let end = to.min(from - from % self.units_per_file + self.units_per_file);
            let run = blank.repeat((end - from) as usize);
            let (file, position) = self.file_for(from)?;
            file.write_all_at(&run, position)?;
            from = end;
        }
        Ok(())
    }

    fn read_unit(&self, queue_offset: u64) -> io::Result<ConsumeUnit> {
        let first = queue_offset - queue_offset % self.units_per_file;
        let Some(file) = self.files.get(&first) else {
            return ConsumeUnit::decode(&[0u8; CONSUME_UNIT_SIZE]).map_err(to_io);
        };
        let mut bytes = [0u8; CONSUME_UNIT_SIZE];
        file.read_exact_at(&mut bytes, (queue_offset - first) * UNIT)?;
        ConsumeUnit::decode(&bytes).map_err(to_io)
    }

    /// Records `unit` at `queue_offset`. Offsets already present are skipped, so re-dispatch
    /// after recovery is harmless; a queue first seen at a nonzero offset is padded with blank
    /// units from the start of its file.
    pub fn put(
        &mut self,
        queue_offset: u64,
        unit: &ConsumeUnit,
        space: &dyn DiskSpace,
    ) -> io::Result<()> {
        if queue_offset < self.max_offset {
            return Ok(());
        }
        let born_late = self.max_offset == 0 && self.files.is_empty();
        let pad_from = if born_late {
            queue_offset - queue_offset % self.units_per_file
        } else {
            self.max_offset
        };
        self.reserve(pad_from, queue_offset + 1, space)?;
        if queue_offset > self.max_offset {
            if !born_late {
                log::warn!(
                    "consume queue {}: gap from {} to {queue_offset}, padded with blanks",
                    self.directory.display(),
                    self.max_offset
                );
            }
            self.write_blanks(pad_from, queue_offset)?;
            // A queue that starts late starts at its first unit; a gap in the middle of a
            // queue leaves the units before it readable.
            if born_late {
                self.min_offset = queue_offset;
            }
        }
        self.write_unit(queue_offset, unit)?;
        self.max_offset = queue_offset + 1;
        self.max_commit_end = unit_end(unit);
        Ok(())
    }

    /// [`ConsumeQueue::put`] for units in queue order: consecutive units that continue the
    /// queue within one file go down in one `pwrite`.
    pub fn put_all(
        &mut self,
        units: &[(u64, ConsumeUnit)],
        space: &dyn DiskSpace,
    ) -> io::Result<()> {
        let mut index = 0;
        while index < units.len() {
            let (queue_offset, unit) = units[index];
            if queue_offset != self.max_offset || self.max_offset == 0 {
                self.put(queue_offset, &unit, space)?;
                index += 1;
                continue;
            }
            let file_end = queue_offset - queue_offset % self.units_per_file + self.units_per_file;
            let mut run = Vec::new();
            let mut next = queue_offset;
            while index < units.len() && units[index].0 == next && next < file_end {
                run.extend_from_slice(&units[index].1.encode());
                next += 1;
                index += 1;
            }
            self.reserve(queue_offset, next, space)?;
            let (file, position) = self.file_for(queue_offset)?;
            file.write_all_at(&run, position)?;
            let last = units[index - 1].1;
            self.max_offset = next;
            self.max_commit_end = unit_end(&last);
        }
        Ok(())
    }

    /// Up to `count_max` units from `queue_offset`, stopping at the end of its file or of the
    /// queue.
    pub fn units(&self, queue_offset: u64, count_max: usize) -> io::Result<Vec<ConsumeUnit>> {
        if queue_offset >= self.max_offset || queue_offset < self.min_offset {
            return Ok(Vec::new());
        }
        let first = queue_offset - queue_offset % self.units_per_file;
        let Some(file) = self.files.get(&first) else {
            return Ok(Vec::new());
        };
        let count = (count_max as u64)
            .min(self.max_offset - queue_offset)
            .min(first + self.units_per_file - queue_offset) as usize;
        let mut bytes = vec![0u8; count * CONSUME_UNIT_SIZE];
        file.read_exact_at(&mut bytes, (queue_offset - first) * UNIT)?;
        bytes
            .chunks_exact(CONSUME_UNIT_SIZE)
            .map(|unit| ConsumeUnit::decode(unit).map_err(to_io))
            .collect()
    }

    pub fn unit(&self, queue_offset: u64) -> io::Result<Option<ConsumeUnit>> {
        Ok(self.units(queue_offset, 1)?.into_iter().next())
    }

    /// Drops units whose record ends past `commit_end` (they point at data the commit log no
    /// longer has), zeroing them on disk.
    pub fn truncate_to_commit_end(&mut self, commit_end: u64) -> io::Result<u64> {
        let mut removed = 0;
        while self.max_offset > self.min_offset {
            let last = self.read_unit(self.max_offset - 1)?;
            if last != BLANK_UNIT && unit_end(&last) <= commit_end {
                break;
            }
            self.write_unit(
                self.max_offset - 1,
                &ConsumeUnit::decode(&[0; 20]).map_err(to_io)?,
            )?;
            self.max_offset -= 1;
            removed += 1;
        }
        if self.max_offset == self.min_offset {
            self.max_commit_end = 0;
        } else {
            self.max_commit_end = unit_end(&self.read_unit(self.max_offset - 1)?);
        }
        Ok(removed)
    }

    /// Retention: removes files whose every unit points below `commit_min` (never the file
    /// holding the next unit) and moves `min_offset` to the first unit at or past it.
    pub fn remove_before(&mut self, commit_min: u64) -> io::Result<usize> {
        let mut removed = 0;
        let firsts: Vec<u64> = self.files.keys().copied().collect();
        for first in firsts {
            let last = first + self.units_per_file - 1;
            // The file holding the queue's last unit stays, expired or not: without it a
            // restart would find no unit and begin the queue at offset 0 again.
            if last + 1 >= self.max_offset || unit_end(&self.read_unit(last)?) > commit_min {
                break;
            }
            self.files.remove(&first);
            self.allocated.remove(&first);
            self.dirty.remove(&first);
            std::fs::remove_file(self.directory.join(file_name(first)))?;
            removed += 1;
        }
        let mut min_offset = self.files.keys().next().copied().unwrap_or(self.max_offset);
        min_offset = min_offset.max(self.min_offset);
        while min_offset < self.max_offset {
            let unit = self.read_unit(min_offset)?;
            if unit != BLANK_UNIT && unit.commit_log_offset as u64 >= commit_min {
                break;
            }
            min_offset += 1;
        }
        self.min_offset = min_offset;
        Ok(removed)
    }

    /// `fdatasync` of every file written since the last sync.
    pub fn sync(&mut self) -> io::Result<()> {
        for first in std::mem::take(&mut self.dirty) {
            if let Some(file) = self.files.get(&first) {
                file.sync_data()?;
            }
        }
        Ok(())
    }
}

fn unit_end(unit: &ConsumeUnit) -> u64 {
    if *unit == BLANK_UNIT {
        return 0;
    }
    (unit.commit_log_offset.max(0) as u64) + (unit.size.max(0) as u64)
}

fn to_io(error: wire::DecodeError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

type QueueMap = HashMap<String, HashMap<i32, Arc<Mutex<ConsumeQueue>>>>;

/// Every consume queue of the store, by topic and queue id.
pub struct ConsumeQueues {
    root: PathBuf,
    units_per_file: u64,
    queues: RwLock<QueueMap>,
}

pub fn lock_queue(queue: &Mutex<ConsumeQueue>) -> MutexGuard<'_, ConsumeQueue> {
    // Units on disk are the state; a panic mid-write leaves at worst a unit recovery redoes.
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ConsumeQueues {
    /// Loads every queue under `root` (`<root>/<topic>/<queueId>/`).
    pub fn load(root: &Path, units_per_file: u64) -> io::Result<ConsumeQueues> {
        std::fs::create_dir_all(root)?;
        let mut queues: QueueMap = HashMap::new();
        for topic_entry in std::fs::read_dir(root)? {
            let topic_entry = topic_entry?;
            let topic = topic_entry.file_name().to_string_lossy().into_owned();
            if !topic_entry.file_type()?.is_dir() {
                continue;
            }
            for queue_entry in std::fs::read_dir(topic_entry.path())? {
                let queue_entry = queue_entry?;
                let name = queue_entry.file_name().to_string_lossy().into_owned();
                let Ok(queue_id) = name.parse::<i32>() else {
                    log::warn!("consume queue: ignoring {}", queue_entry.path().display());
                    continue;
                };
                let queue = ConsumeQueue::load(&queue_entry.path(), units_per_file)?;
                let by_id = queues.entry(topic.clone()).or_default();
                by_id.insert(queue_id, Arc::new(Mutex::new(queue)));
            }
        }
        Ok(ConsumeQueues {
            root: root.to_path_buf(),
            units_per_file,
            queues: RwLock::new(queues),
        })
    }

    pub fn get(&self, topic: &str, queue_id: i32) -> Option<Arc<Mutex<ConsumeQueue>>> {
        let queues = self.queues.read().unwrap_or_else(|p| p.into_inner());
        queues.get(topic)?.get(&queue_id).cloned()
    }

    pub fn get_or_create(
        &self,
        topic: &str,
        queue_id: i32,
    ) -> io::Result<Arc<Mutex<ConsumeQueue>>> {
        if let Some(queue) = self.get(topic, queue_id) {
            return Ok(queue);
        }
        let mut queues = self.queues.write().unwrap_or_else(|p| p.into_inner());
        let by_id = queues.entry(topic.to_string()).or_default();
        if let Some(queue) = by_id.get(&queue_id) {
            return Ok(queue.clone());
        }
        let directory = self.root.join(topic).join(queue_id.to_string());
        let queue = Arc::new(Mutex::new(ConsumeQueue::load(
            &directory,
            self.units_per_file,
        )?));
        by_id.insert(queue_id, queue.clone());
        Ok(queue)
    }

    /// Every queue as (topic, queue id, queue).
    pub fn all(&self) -> Vec<(String, i32, Arc<Mutex<ConsumeQueue>>)> {
        let queues = self.queues.read().unwrap_or_else(|p| p.into_inner());
        let mut all = Vec::new();
        for (topic, by_id) in queues.iter() {
            for (queue_id, queue) in by_id {
                all.push((topic.clone(), *queue_id, queue.clone()));
            }
        }
        all
    }

    pub fn topic_queue_ids(&self, topic: &str) -> Vec<i32> {
        let queues = self.queues.read().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<i32> = queues
            .get(topic)
            .map(|q| q.keys().copied().collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Forgets a topic's queues and deletes their files.
    pub fn remove_topic(&self, topic: &str) -> io::Result<()> {
        let removed = {
            let mut queues = self.queues.write().unwrap_or_else(|p| p.into_inner());
            queues.remove(topic)
        };
        if removed.is_some() {
            std::fs::remove_dir_all(self.root.join(topic))?;
        }
        Ok(())
    }

    pub fn sync_all(&self) -> io::Result<()> {
        for (_, _, queue) in self.all() {
            lock_queue(&queue).sync()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::mem_file::MemSpace;

    fn unit(offset: i64) -> ConsumeUnit {
        ConsumeUnit {
            commit_log_offset: offset,
            size: 100,
            tags_code: offset * 7,
        }
    }

    fn temp(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("cq-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        path
    }

    #[test]
    fn units_roll_over_files_and_reload() {
        let dir = temp("roll");
        let space = MemSpace::new(1 << 40);
        let mut queue = ConsumeQueue::load(&dir, 8).unwrap();
        for q in 0..20u64 {
            queue.put(q, &unit(q as i64 * 100), &space).unwrap();
            queue.put(q, &unit(999_999), &space).unwrap(); // re-dispatch is a no-op
        }
        queue.sync().unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (0, 20));
        assert_eq!(
            queue.units(6, 10).unwrap().len(),
            2,
            "stops at the file end"
        );
        assert_eq!(queue.unit(9).unwrap(), Some(unit(900)));
        let names: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains("00000000000000000160"), "{names:?}");
        let reloaded = ConsumeQueue::load(&dir, 8).unwrap();
        assert_eq!((reloaded.min_offset(), reloaded.max_offset()), (0, 20));
        assert_eq!(reloaded.max_commit_end(), 1900 + 100);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_queue_born_late_is_padded_and_truncation_follows_the_log() {
        let dir = temp("late");
        let space = MemSpace::new(1 << 40);
        let mut queue = ConsumeQueue::load(&dir, 8).unwrap();
        queue.put(11, &unit(5000), &space).unwrap();
        queue.put(12, &unit(5100), &space).unwrap();
        queue.put(13, &unit(5200), &space).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (11, 14));
        assert_eq!(queue.truncate_to_commit_end(5200).unwrap(), 1);
        assert_eq!(queue.max_offset(), 13);
        let reloaded = ConsumeQueue::load(&dir, 8).unwrap();
        assert_eq!((reloaded.min_offset(), reloaded.max_offset()), (11, 13));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_gap_in_a_queue_is_padded_and_keeps_the_units_before_it() {
        let dir = temp("gap");
        let space = MemSpace::new(1 << 40);
        let mut queue = ConsumeQueue::load(&dir, 8).unwrap();
        for q in 0..3u64 {
            queue.put(q, &unit(q as i64 * 100), &space).unwrap();
        }
        // A gap within the first file, then one across a file boundary.
        queue.put(6, &unit(600), &space).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (0, 7));
        queue.put(10, &unit(1000), &space).unwrap();
        assert_eq!((queue.min_offset(), queue.max_offset()), (0, 11));
        assert_eq!(queue.unit(1).unwrap(), Some(unit(100)));
        assert_eq!(queue.unit(4).unwrap(), Some(BLANK_UNIT));
        assert_eq!(queue.unit(9).unwrap(), Some(BLANK_UNIT));
        assert_eq!(queue.unit(10).unwrap(), Some(unit(1000)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn retention_removes_whole_files_below_the_log_minimum() {
        let dir = temp("retention");
        let space = MemSpace::new(1 << 40);
        let mut queue = ConsumeQueue::load(&dir, 4).unwrap();
        for q in 0..10u64 {
            queue.put(q, &unit(q as i64 * 100), &space).unwrap();
        }
        assert_eq!(queue.remove_before(550).unwrap(), 1);
        assert_eq!(queue.min_offset(), 6);
        assert_eq!(queue.units(2, 4).unwrap(), Vec::new());
        assert_eq!(queue.unit(6).unwrap(), Some(unit(600)));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn retention_keeps_the_file_of_the_last_unit_so_offsets_survive_a_restart() {
        let dir = temp("retention-last");
        let space = MemSpace::new(1 << 40);
        let mut queue = ConsumeQueue::load(&dir, 4).unwrap();
        for q in 0..8u64 {
            queue.put(q, &unit(q as i64 * 100), &space).unwrap();
        }
        // The file made ahead could not be had (a full disk): the last unit's file is full.
        drop(queue);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() != file_name(0).as_str()
                && path.file_name().unwrap() != file_name(4).as_str()
            {
                std::fs::remove_file(path).unwrap();
            }
        }
        let mut queue = ConsumeQueue::load(&dir, 4).unwrap();
        assert_eq!(queue.max_offset(), 8);
        // Everything expired: the first file goes, the last unit's file stays.
        assert_eq!(queue.remove_before(u64::MAX).unwrap(), 1);
        drop(queue);
        let queue = ConsumeQueue::load(&dir, 4).unwrap();
        assert_eq!(queue.max_offset(), 8, "the queue would start again at 0");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
