//! Where segment files live: [`Storage`] names, creates, lists and removes fixed-size
//! [`BlockFile`]s. [`DirStorage`] is a directory of [`DirectFile`]s; tests swap in
//! [`super::mem_file::MemStorage`] to inject faults and crashes.
//!
//! Threads: the appender creates segments (under the commit log's append lock), retention
//! removes them, recovery lists them; the directory itself needs no lock of its own.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::direct_file::{self, BlockFile, DirectFile};
use super::disk_space::{DiskSpace, FsSpace};

pub trait Storage: Send + Sync {
    /// Opens `name`, creating it preallocated to `size` bytes when absent; an existing file of
    /// another size is an error.
    fn open(&self, name: &str, size: u64) -> io::Result<Arc<dyn BlockFile>>;
    /// Every file's name and length.
    fn list(&self) -> io::Result<Vec<(String, u64)>>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Sets a file cut short (by a crash or by hand) back to `size` bytes, zero-filled.
    fn repair_length(&self, name: &str, size: u64) -> io::Result<()>;
    /// Last modification time: retention's measure of a segment's age.
    fn modified(&self, name: &str) -> io::Result<SystemTime>;
    /// Fraction of the disk in use.
    fn used_ratio(&self) -> io::Result<f64>;
    fn is_direct(&self) -> bool;
    /// The disk the store lives on, for the consume queues and the index to allocate from
    /// (they live beside the commit log, on the same filesystem).
    fn space(&self) -> Arc<dyn DiskSpace>;
}

pub struct DirStorage {
    directory: PathBuf,
    direct: bool,
    space: Arc<FsSpace>,
}

impl DirStorage {
    /// Opens (creating) `directory`. With `want_direct` the filesystem is probed once; a
    /// refusal is logged here, once, and the storage falls back to buffered writes plus
    /// `fdatasync`.
    pub fn open(directory: &Path, want_direct: bool) -> io::Result<DirStorage> {
        std::fs::create_dir_all(directory)?;
        let direct = want_direct && direct_file::supports_direct_io(directory)?;
        if want_direct && !direct {
            log::warn!(
                "{}: the filesystem refuses O_DIRECT; falling back to buffered writes + fdatasync",
                directory.display()
            );
        }
        Ok(DirStorage {
            directory: directory.to_path_buf(),
            direct,
            space: Arc::new(FsSpace::new(directory)),
        })
    }
}

impl Storage for DirStorage {
    fn open(&self, name: &str, size: u64) -> io::Result<Arc<dyn BlockFile>> {
        let file = DirectFile::open(&self.directory.join(name), size, self.direct)?;
        Ok(Arc::new(file))
    }

    fn list(&self) -> io::Result<Vec<(String, u64)>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.directory)? {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if metadata.is_file() {
                files.push((
                    entry.file_name().to_string_lossy().into_owned(),
                    metadata.len(),
                ));
            }
        }
        Ok(files)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        std::fs::remove_file(self.directory.join(name))?;
        direct_file::sync_directory(&self.directory)
    }

    fn repair_length(&self, name: &str, size: u64) -> io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(self.directory.join(name))?;
        file.set_len(size)?;
        file.sync_all()
    }

    fn modified(&self, name: &str) -> io::Result<SystemTime> {
        std::fs::metadata(self.directory.join(name))?.modified()
    }

    fn used_ratio(&self) -> io::Result<f64> {
        direct_file::disk_used_ratio(&self.directory)
    }

    fn is_direct(&self) -> bool {
        self.direct
    }

    fn space(&self) -> Arc<dyn DiskSpace> {
        self.space.clone()
    }
}
