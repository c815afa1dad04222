//! The checkpoint file and the abort marker.
//!
//! ```text
//!  <root>/checkpoint, one 4 KiB block, big-endian:
//!  +0  physicMsgTimestamp  i64   (upstream's three timestamps, kept for its tools)
//!  +8  logicsMsgTimestamp  i64
//!  +16 indexMsgTimestamp   i64
//!  +24 flushed_offset      u64   commit log durable up to here (a record boundary)
//!  +32 dispatched_offset   u64   consume queues durable for every record below this
//!  +40 magic "RSCK"        u32
//!  +44 CRC32 of bytes 0..44
//! ```
//!
//! `<root>/abort` exists while the store is open: found at start, it means the last run did not
//! stop cleanly. Both are written by the dispatch thread (checkpoint) and by open/shutdown
//! (abort); a torn or foreign checkpoint reads as absent and recovery then scans from the
//! first segment.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::direct_file::sync_directory;

const SIZE: usize = 4096;
const MAGIC: u32 = u32::from_be_bytes(*b"RSCK");

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub physical_timestamp: i64,
    pub queue_timestamp: i64,
    pub index_timestamp: i64,
    pub flushed_offset: u64,
    pub dispatched_offset: u64,
}

impl Checkpoint {
    pub fn encode(&self) -> [u8; SIZE] {
        let mut bytes = [0u8; SIZE];
        bytes[0..8].copy_from_slice(&self.physical_timestamp.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.queue_timestamp.to_be_bytes());
        bytes[16..24].copy_from_slice(&self.index_timestamp.to_be_bytes());
        bytes[24..32].copy_from_slice(&self.flushed_offset.to_be_bytes());
        bytes[32..40].copy_from_slice(&self.dispatched_offset.to_be_bytes());
        bytes[40..44].copy_from_slice(&MAGIC.to_be_bytes());
        let crc = crc32fast::hash(&bytes[0..44]);
        bytes[44..48].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Checkpoint> {
        if bytes.len() < 48 {
            return None;
        }
        let word = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let magic = u32::from_be_bytes(bytes[40..44].try_into().unwrap_or([0; 4]));
        let crc = u32::from_be_bytes(bytes[44..48].try_into().unwrap_or([0; 4]));
        if magic != MAGIC || crc != crc32fast::hash(&bytes[0..44]) {
            return None;
        }
        Some(Checkpoint {
            physical_timestamp: word(0) as i64,
            queue_timestamp: word(8) as i64,
            index_timestamp: word(16) as i64,
            flushed_offset: word(24),
            dispatched_offset: word(32),
        })
    }
}

pub struct CheckpointFile {
    file: File,
}

impl CheckpointFile {
    /// Opens `<root>/checkpoint` and returns what it holds (`None` when new, torn or foreign).
    pub fn open(root: &Path) -> io::Result<(CheckpointFile, Option<Checkpoint>)> {
        let path = root.join("checkpoint");
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut bytes = vec![0u8; SIZE];
        let length = file.metadata()?.len() as usize;
        let read = length.min(SIZE);
        file.read_exact_at(&mut bytes[..read], 0)?;
        let checkpoint = Checkpoint::decode(&bytes);
        if existed && checkpoint.is_none() {
            log::warn!(
                "{}: unreadable checkpoint, recovering from the start",
                path.display()
            );
        }
        if !existed {
            sync_directory(root)?;
        }
        Ok((CheckpointFile { file }, checkpoint))
    }

    pub fn write(&self, checkpoint: &Checkpoint) -> io::Result<()> {
        self.file.write_all_at(&checkpoint.encode(), 0)?;
        self.file.sync_data()
    }
}

/// The abort marker: [`AbortMarker::create`] at open reports whether one was left behind.
pub struct AbortMarker {
    path: PathBuf,
}

impl AbortMarker {
    pub fn create(root: &Path) -> io::Result<(AbortMarker, bool)> {
        let path = root.join("abort");
        let crashed = path.exists();
        File::create(&path)?.sync_all()?;
        sync_directory(root)?;
        Ok((AbortMarker { path }, crashed))
    }

    /// Marks a clean stop: called last, after everything is flushed and checkpointed.
    pub fn remove(self) -> io::Result<()> {
        std::fs::remove_file(&self.path)?;
        if let Some(parent) = self.path.parent() {
            sync_directory(parent)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_checkpoints() {
        let checkpoint = Checkpoint {
            physical_timestamp: 1,
            queue_timestamp: 2,
            index_timestamp: 3,
            flushed_offset: 4096 * 3 + 17,
            dispatched_offset: 99,
        };
        let mut bytes = checkpoint.encode();
        assert_eq!(Checkpoint::decode(&bytes), Some(checkpoint));
        bytes[30] ^= 1;
        assert_eq!(Checkpoint::decode(&bytes), None);
        assert_eq!(Checkpoint::decode(&[0u8; SIZE]), None);
    }
}
