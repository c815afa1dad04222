//! The storage seam and its one real implementation: [`BlockFile`] is what the commit log
//! writes through, [`DirectFile`] is a file opened with `O_DIRECT` (or, where the filesystem
//! refuses it, buffered with `fdatasync`). This module is the only place in the broker that
//! calls `libc` or uses `unsafe`: `fallocate`, `statvfs`, `statfs`, `flock`, and the shared
//! file mappings of [`MappedFile`] (index files) and [`SharedMap`] (the crash journal).
//!
//! Threads: the flush thread writes and syncs, readers `pread` cold data, recovery does both
//! before the store starts. A `DirectFile` is shared through `Arc` and needs no lock: `pwrite`
//! and `pread` at explicit offsets do not move a file position.
//!
//! Invariant (checked in release): on a direct file every write and read has a block-aligned
//! memory address, file offset and length. Callers above [`crate::store::commit_log`] never do
//! alignment arithmetic; the commit log and recovery own it.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;

use super::aligned_buffer::{is_aligned, AlignedBuffer, BLOCK_SIZE};

/// A fixed-size file addressed by offset. Implemented by [`DirectFile`] and, for fault
/// injection in tests, by [`super::mem_file::MemFile`].
pub trait BlockFile: Send + Sync {
    /// Writes all of `bytes` at `offset`.
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    /// Fills `bytes` from `offset`; returns how many bytes the file had there.
    fn read_at(&self, bytes: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Makes every completed write durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// True when writes bypass the page cache and must be block-aligned.
    fn is_direct(&self) -> bool;
}

pub struct DirectFile {
    file: File,
    direct: bool,
}

fn assert_aligned(what: &str, address: u64, offset: u64, length: usize) {
    assert!(
        is_aligned(address) && is_aligned(offset) && is_aligned(length as u64),
        "unaligned O_DIRECT {what}: address {address:#x}, offset {offset}, length {length}"
    );
}

impl DirectFile {
    /// Opens `path`, creating and preallocating it to `size` bytes when absent. An existing
    /// file of another size is refused: a segment is always exactly its configured size.
    ///
    /// A full disk refuses the creation before any block is taken (a failed `fallocate`
    /// keeps what it got, on ext4 all that was free), and a creation that fails anyway
    /// removes its partial file, so nothing is left to eat the space or to stop a restart.
    pub fn open(path: &Path, size: u64, direct: bool) -> io::Result<DirectFile> {
        let existed = path.exists();
        if !existed {
            let directory = path.parent().unwrap_or(Path::new("."));
            if disk_available_size(directory)? < size {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    format!("no room for {} ({size} bytes)", path.display()),
                ));
            }
        }
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true);
        if direct {
            options.custom_flags(libc::O_DIRECT);
        }
        let file = options.open(path)?;
        let length = file.metadata()?.len();
        if !existed || length == 0 {
            let created = preallocate(&file, size).and_then(|()| file.sync_all());
            if let Err(error) = created {
                drop(file);
                let _ = std::fs::remove_file(path);
                return Err(error);
            }
            if let Some(parent) = path.parent() {
                sync_directory(parent)?;
            }
        } else if length != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is {length} bytes, expected {size}", path.display()),
            ));
        }
        Ok(DirectFile { file, direct })
    }
}

impl BlockFile for DirectFile {
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        if self.direct {
            assert_aligned("write", bytes.as_ptr() as u64, offset, bytes.len());
        }
        self.file.write_all_at(bytes, offset)
    }

    fn read_at(&self, bytes: &mut [u8], offset: u64) -> io::Result<usize> {
        if self.direct {
            assert_aligned("read", bytes.as_ptr() as u64, offset, bytes.len());
        }
        let mut done = 0;
        while done < bytes.len() {
            match self.file.read_at(&mut bytes[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(read) => done += read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(done)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn is_direct(&self) -> bool {
        self.direct
    }
}

/// Reserves `size` bytes of disk for `file` so that ENOSPC shows up here, when a segment is
/// created, and never in the middle of a flush.
fn preallocate(file: &File, size: u64) -> io::Result<()> {
    match allocate(file, 0, size) {
        Ok(()) => Ok(()),
        // Filesystems without fallocate: a sparse file of the right length still reads as
        // zeros past the written data, which is all recovery relies on.
        Err(error) if is_unsupported(&error) => file.set_len(size),
        Err(error) => Err(error),
    }
}

fn is_unsupported(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
    )
}

/// Allocates `[offset, offset + size)` of `file` (`fallocate`, growing the file if the range
/// ends past it). Ranges already allocated cost nothing. Where the filesystem has no
/// fallocate this does nothing: writes there are buffered and fail with ENOSPC themselves.
pub fn allocate(file: &File, offset: u64, size: u64) -> io::Result<()> {
    let overflow = || io::Error::new(io::ErrorKind::InvalidInput, "range overflows off_t");
    let start = libc::off_t::try_from(offset).map_err(|_| overflow())?;
    let length = libc::off_t::try_from(size).map_err(|_| overflow())?;
    if length == 0 {
        return Ok(());
    }
    // SAFETY: `fallocate` only reads its integer arguments; the descriptor is owned by `file`
    // and open for the duration of the call.
    let result = unsafe { libc::fallocate(file.as_raw_fd(), 0, start, length) };
    if result == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if is_unsupported(&error) && offset + size <= file.metadata()?.len() {
        return Ok(());
    }
    Err(error)
}

/// `fsync` on a directory, so that a file created or removed in it survives a crash.
pub fn sync_directory(directory: &Path) -> io::Result<()> {
    File::open(directory)?.sync_all()
}

/// Whether files in `directory` accept O_DIRECT: creates a probe file, writes one aligned
/// block through O_DIRECT and removes it. `Ok(false)` is a filesystem that refuses it (tmpfs,
/// some overlays); other failures are real errors.
pub fn supports_direct_io(directory: &Path) -> io::Result<bool> {
    let path = directory.join(".direct_io_probe");
    let opened = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_DIRECT)
        .open(&path);
    let result = match opened {
        Ok(file) => {
            let block = AlignedBuffer::zeroed(BLOCK_SIZE);
            match file.write_all_at(block.as_slice(), 0) {
                Ok(()) => Ok(true),
                Err(error) if error.raw_os_error() == Some(libc::EINVAL) => Ok(false),
                Err(error) => Err(error),
            }
        }
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(error) => Err(error),
    };
    let _ = std::fs::remove_file(&path);
    match result {
        // The filesystem took the O_DIRECT open and refused the block for space, not for
        // alignment: a store on a full disk must still open (it writes nothing until there
        // is room, and then into preallocated segments).
        Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => {
            log::warn!(
                "{}: disk full while probing O_DIRECT; assuming it is supported",
                directory.display()
            );
            Ok(true)
        }
        other => other,
    }
}

/// `statvfs` of the filesystem holding `path`.
fn file_system_stats(path: &Path) -> io::Result<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: `statvfs` is plain old data; all-zero is a valid value that the call overwrites.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated string alive for the call; `stats` is a valid
    // out-pointer to a `statvfs`.
    let result = unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stats)
}

/// Bytes of the filesystem holding `path` that an unprivileged writer may still take (what
/// `df` shows as available; blocks reserved for root are not counted, as RocketMQ does not).
pub fn disk_available_size(path: &Path) -> io::Result<u64> {
    let stats = file_system_stats(path)?;
    Ok((stats.f_bavail as u64).saturating_mul(stats.f_frsize as u64))
}

/// Fraction of the filesystem holding `path` that is in use, as `df` computes it (blocks
/// reserved for root count as used).
pub fn disk_used_ratio(path: &Path) -> io::Result<f64> {
    let stats = file_system_stats(path)?;
    // As `df` and RocketMQ count it: blocks reserved for root are neither used nor
    // available, so used / (used + available), not (total - available) / total (which on a
    // quarter-full disk with a large reserve reads 0.73 and trips retention).
    let used = stats.f_blocks.saturating_sub(stats.f_bfree) as f64;
    let available = stats.f_bavail as f64;
    if used + available == 0.0 {
        return Ok(0.0);
    }
    Ok((used / (used + available)).clamp(0.0, 1.0))
}

/// The broken-down local time of `time` (whole seconds), or `None` where the platform
/// cannot say.
fn local_time(seconds: u64) -> Option<libc::tm> {
    let seconds = libc::time_t::try_from(seconds).ok()?;
    // SAFETY: `tm` is plain old data; all-zero is a valid value that the call overwrites.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; `localtime_r` is the thread-safe variant.
    let result = unsafe { libc::localtime_r(&seconds, &mut tm) };
    (!result.is_null()).then_some(tm)
}

fn since_epoch(time: std::time::SystemTime) -> std::time::Duration {
    time.duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// The local hour (0-23) of `time`: `deleteWhen` names hours of the broker's local day.
pub fn local_hour(time: std::time::SystemTime) -> u8 {
    let seconds = since_epoch(time).as_secs();
    match local_time(seconds) {
        Some(tm) => tm.tm_hour.clamp(0, 23) as u8,
        None => ((seconds / 3600) % 24) as u8,
    }
}

/// A number for the local day of `time` (year and day of the year), one more each day.
pub fn local_day(time: std::time::SystemTime) -> i64 {
    let seconds = since_epoch(time).as_secs();
    match local_time(seconds) {
        // Days since a fixed origin: consecutive across year ends.
        Some(tm) => {
            let year = i64::from(tm.tm_year) + 1900;
            let days_before_year =
                (year - 1) * 365 + (year - 1) / 4 - (year - 1) / 100 + (year - 1) / 400;
            days_before_year + i64::from(tm.tm_yday)
        }
        None => (seconds / 86_400) as i64,
    }
}

/// `yyyyMMddHHmmssSSS` in local time: the name RocketMQ gives index files.
pub fn local_timestamp_name(time: std::time::SystemTime) -> String {
    let elapsed = since_epoch(time);
    let millis = elapsed.subsec_millis();
    match local_time(elapsed.as_secs()) {
        Some(tm) => format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}{millis:03}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        ),
        None => format!("{:017}", elapsed.as_millis() % 100_000_000_000_000_000),
    }
}

/// An exclusive advisory lock on `<root>/lock`, held while the store is open, so that two
/// brokers never share a store directory.
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    pub fn acquire(path: &Path) -> io::Result<StoreLock> {
        let file = open_read_write(path)?;
        lock_exclusive(&file, path)?;
        Ok(StoreLock { _file: file })
    }
}

/// Opens `path` for reading and writing, creating it when absent, keeping its content.
fn open_read_write(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// An exclusive advisory lock on `file` (held until it closes), refused at once when another
/// open of it holds one.
fn lock_exclusive(file: &File, path: &Path) -> io::Result<()> {
    // SAFETY: `flock` only takes the descriptor, owned by `file` and open for the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let error = io::Error::last_os_error();
        return Err(io::Error::new(
            error.kind(),
            format!("{} is held by another process ({error})", path.display()),
        ));
    }
    Ok(())
}

/// Maps the first `length` bytes of `file` shared and read-write; the kernel picks the
/// address.
fn map_shared(file: &File, length: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh mapping of `length` bytes of an open descriptor; the kernel picks the
    // address. The result is checked against MAP_FAILED before use.
    let pointer = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            length,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if pointer == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(pointer.cast())
}

/// A whole file mapped shared and read-write (`mmap`): the index files' slot tables are
/// updated in place at random positions, which a mapping does with plain stores.
///
/// A new file is sparse: the caller allocates each range (through
/// [`super::disk_space::DiskSpace::allocate`]) before storing into it, so that a full disk
/// is an error there and never a SIGBUS on a store into a hole. Writing needs `&mut self`;
/// callers share it behind a lock.
pub struct MappedFile {
    pointer: *mut u8,
    length: usize,
    file: File,
}

// SAFETY: the mapping is owned like a heap buffer: shared reads through `&self`, writes only
// through `&mut self`, unmapped once in `drop`; moving it to another thread moves that owner.
unsafe impl Send for MappedFile {}
// SAFETY: `&self` only hands out shared slices; mutation needs `&mut self` (callers lock).
unsafe impl Sync for MappedFile {}

impl MappedFile {
    /// Maps `path`, creating it (sparse, `size` bytes long) when absent or empty; an existing
    /// file of another size is refused.
    pub fn open(path: &Path, size: u64) -> io::Result<MappedFile> {
        let file = open_read_write(path)?;
        let length = file.metadata()?.len();
        if length == 0 {
            file.set_len(size)?;
        } else if length != size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is {length} bytes, expected {size}", path.display()),
            ));
        }
        let length = usize::try_from(size)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large to map"))?;
        let pointer = map_shared(&file, length)?;
        Ok(MappedFile {
            pointer,
            length,
            file,
        })
    }

    /// The mapped file, for allocating ranges of it.
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is `length` bytes, alive until drop; writers need `&mut self`.
        unsafe { std::slice::from_raw_parts(self.pointer, self.length) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.pointer, self.length) }
    }

    /// Writes the mapping's dirty pages to disk and waits (`msync(MS_SYNC)`).
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: the range is exactly the live mapping.
        let result = unsafe { libc::msync(self.pointer.cast(), self.length, libc::MS_SYNC) };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `open`, once; no slice of it outlives `self`.
        unsafe {
            libc::munmap(self.pointer.cast(), self.length);
        }
    }
}

/// A file mapped shared, for the commit log's crash journal
/// ([`super::journal::Journal`]): a header of atomic 64-bit words followed by regions that
/// [`SharedMap::regions`] hands out once, each to exactly one [`MapRegion`]. Stores into a
/// shared mapping land in the kernel's page cache, which outlives the process: what the
/// broker wrote there before a `kill -9` is still in the file when it restarts.
///
/// The file is locked (`flock`) while mapped, so two brokers never share a journal.
pub struct SharedMap {
    pointer: *mut u8,
    length: usize,
    header_size: usize,
    regions_taken: std::sync::atomic::AtomicBool,
    file: File,
}

// SAFETY: the header is only accessed through atomics; every byte past it belongs to at most
// one `MapRegion` (handed out once, checked by `regions_taken`), whose `&mut self` guards
// writes; `read_before_regions` only runs while no region exists.
unsafe impl Send for SharedMap {}
// SAFETY: as above.
unsafe impl Sync for SharedMap {}

impl SharedMap {
    /// Maps `path` (created when absent) at exactly `size` bytes, the first `header_size` of
    /// them atomic words; `fresh` empties it first (dropping every page it held). Refuses a
    /// file another process has locked, before touching it.
    pub fn open(
        path: &Path,
        size: usize,
        header_size: usize,
        fresh: bool,
    ) -> io::Result<SharedMap> {
        assert!(is_aligned(header_size as u64) && header_size <= size);
        let file = open_read_write(path)?;
        lock_exclusive(&file, path)?;
        if fresh {
            file.set_len(0)?;
        }
        if file.metadata()?.len() != size as u64 {
            file.set_len(size as u64)?;
        }
        let pointer = map_shared(&file, size)?;
        Ok(SharedMap {
            pointer,
            length: size,
            header_size,
            regions_taken: std::sync::atomic::AtomicBool::new(false),
            file,
        })
    }

    pub fn len(&self) -> usize {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Header word `index`.
    pub fn word(&self, index: usize) -> &std::sync::atomic::AtomicU64 {
        assert!(
            (index + 1) * 8 <= self.header_size,
            "header word {index} out of range"
        );
        // SAFETY: the mapping is page-aligned, so `index * 8` is 8-aligned; the word lies in
        // the header, which is only ever accessed through atomics, and lives as long as
        // `&self`.
        unsafe { &*(self.pointer.add(index * 8) as *const std::sync::atomic::AtomicU64) }
    }

    /// Copies bytes past the header out of the mapping: replay reads the journal a crashed
    /// run left before any region is handed out (so nobody writes them meanwhile).
    pub fn read_before_regions(&self, offset: usize, out: &mut [u8]) {
        assert!(!self
            .regions_taken
            .load(std::sync::atomic::Ordering::Acquire));
        assert!(offset >= self.header_size && offset + out.len() <= self.length);
        // SAFETY: in bounds (checked); no region exists, so no `&mut` to these bytes exists.
        let bytes = unsafe { std::slice::from_raw_parts(self.pointer.add(offset), out.len()) };
        out.copy_from_slice(bytes);
    }

    /// Splits everything past the header into `count` regions of `region_size` bytes; once.
    pub fn regions(
        self: &std::sync::Arc<Self>,
        region_size: usize,
        count: usize,
    ) -> Vec<MapRegion> {
        assert!(is_aligned(region_size as u64));
        assert!(self.header_size + region_size * count <= self.length);
        let taken = self
            .regions_taken
            .swap(true, std::sync::atomic::Ordering::AcqRel);
        assert!(!taken, "journal regions handed out twice");
        (0..count)
            .map(|index| MapRegion {
                map: self.clone(),
                offset: self.header_size + index * region_size,
                length: region_size,
            })
            .collect()
    }

    /// Reserves the memory (or disk blocks) of a range, so that a store into it never meets
    /// a full tmpfs as a SIGBUS: ENOSPC here instead.
    pub fn allocate(&self, offset: usize, length: usize) -> io::Result<()> {
        allocate(&self.file, offset as u64, length as u64)
    }

    /// Gives the memory (or disk blocks) of a range back: it reads as zeros afterwards.
    fn discard(&self, offset: usize, length: usize) -> io::Result<()> {
        let (start, size) = (offset as libc::off_t, length as libc::off_t);
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        // SAFETY: `fallocate` only reads its integer arguments; the descriptor is owned by
        // `self.file` and open for the call.
        if unsafe { libc::fallocate(self.file.as_raw_fd(), mode, start, size) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

impl Drop for SharedMap {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `open`, once; every `MapRegion` holds an `Arc` of
        // this map, so none outlives it.
        unsafe {
            libc::munmap(self.pointer.cast(), self.length);
        }
    }
}

/// One region of a [`SharedMap`], owned by exactly one value: block-aligned, written only
/// through `&mut self`.
pub struct MapRegion {
    map: std::sync::Arc<SharedMap>,
    offset: usize,
    length: usize,
}

impl MapRegion {
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the range is inside the live mapping (checked when the regions were made)
        // and belongs to this value alone; writers need `&mut self`.
        unsafe { std::slice::from_raw_parts(self.map.pointer.add(self.offset), self.length) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes this the only reference to the range.
        unsafe { std::slice::from_raw_parts_mut(self.map.pointer.add(self.offset), self.length) }
    }

    /// Byte offset in the mapped file.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Releases the region's pages (they read as zeros afterwards).
    pub fn discard(&mut self) -> io::Result<()> {
        self.map.discard(self.offset, self.length)
    }

    /// Reserves the region's pages before anything is stored into it.
    pub fn allocate(&mut self) -> io::Result<()> {
        self.map.allocate(self.offset, self.length)
    }
}

/// Whether `path` is on a tmpfs: memory that outlives a process but not the machine.
pub fn is_tmpfs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `statfs` is plain old data; all-zero is a valid value that the call overwrites.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a NUL-terminated string alive for the call; `stats` is a valid
    // out-pointer to a `statfs`.
    let result = unsafe { libc::statfs(c_path.as_ptr(), &mut stats) };
    result == 0 && stats.f_type as i64 == TMPFS_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    #[test]
    fn files_are_preallocated_and_sizes_checked() {
        let dir = temp_dir("prealloc");
        let direct = supports_direct_io(&dir).unwrap();
        let path = dir.join("00000000000000000000");
        let file = DirectFile::open(&path, 64 * 1024, direct).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 64 * 1024);
        let mut block = AlignedBuffer::zeroed(BLOCK_SIZE);
        block.as_mut_slice()[..5].copy_from_slice(b"hello");
        file.write_at(block.as_slice(), 8192).unwrap();
        file.sync_data().unwrap();
        let mut back = AlignedBuffer::zeroed(BLOCK_SIZE);
        assert_eq!(file.read_at(back.as_mut_slice(), 8192).unwrap(), BLOCK_SIZE);
        assert_eq!(&back.as_slice()[..5], b"hello");
        drop(file);
        let error = DirectFile::open(&path, 128 * 1024, direct).err().unwrap();
        assert!(error.to_string().contains("expected 131072"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_segment_that_does_not_fit_is_refused_and_leaves_no_file() {
        let dir = temp_dir("no-room");
        let path = dir.join("00000000000000000000");
        let too_large = disk_available_size(&dir).unwrap() + (1 << 40);
        let error = DirectFile::open(&path, too_large, false).err().unwrap();
        assert_eq!(error.kind(), io::ErrorKind::StorageFull, "{error}");
        assert!(!path.exists(), "a partial segment was left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[should_panic(expected = "unaligned O_DIRECT write")]
    fn unaligned_direct_writes_are_refused() {
        let dir = temp_dir("unaligned");
        let file = DirectFile::open(&dir.join("f"), 8192, true).unwrap();
        let _ = file.write_at(&[1, 2, 3], 0);
    }

    #[test]
    fn the_probe_agrees_with_opening_a_file() {
        // tmpfs refused O_DIRECT before Linux 6.6 and accepts it since: whichever this kernel
        // does, the probe must report what an O_DIRECT open then does.
        for base in [Path::new("/dev/shm"), &std::env::temp_dir()] {
            if !base.is_dir() {
                continue;
            }
            let dir = base.join(format!("store-probe-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let supported = supports_direct_io(&dir).unwrap();
            let opened = DirectFile::open(&dir.join("f"), 8192, true).and_then(|file| {
                let block = AlignedBuffer::zeroed(BLOCK_SIZE);
                file.write_at(block.as_slice(), 0)
            });
            assert_eq!(opened.is_ok(), supported, "{}: {opened:?}", dir.display());
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn local_days_count_up_one_a_day_across_year_ends() {
        // Noon UTC on 2026-01-01, then 800 days on: DST shifts stay within the day.
        let start = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_268_800);
        let first = local_day(start);
        for days in 0..800u64 {
            let time = start + std::time::Duration::from_secs(days * 86_400);
            assert_eq!(local_day(time), first + days as i64, "day {days}");
        }
    }

    #[test]
    fn disk_ratio_and_lock() {
        let dir = temp_dir("lock");
        let ratio = disk_used_ratio(&dir).unwrap();
        assert!((0.0..=1.0).contains(&ratio));
        let lock = StoreLock::acquire(&dir.join("lock")).unwrap();
        let second = StoreLock::acquire(&dir.join("lock"));
        assert!(second.is_err());
        drop(lock);
        StoreLock::acquire(&dir.join("lock")).unwrap();
    }
}
