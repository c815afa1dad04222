//! `StoreError`: every way a store operation fails that is not a bug. The broker maps each
//! variant to a RocketMQ response code in one place (its send processor).

use std::fmt;
use std::io;

use wire::DecodeError;

#[derive(Debug)]
pub enum StoreError {
    Io(io::Error),
    /// A record handed to `append` does not decode.
    Record(DecodeError),
    /// A slave received bytes for another offset than the end of its log.
    ReplicaOffsetMismatch {
        offset: u64,
        written_offset: u64,
    },
    /// A topic name outside RocketMQ's character set (it names a directory).
    TopicInvalid {
        topic: String,
    },
    /// A record or batch that cannot fit in one segment.
    MessageTooLarge {
        size: usize,
        size_max: usize,
    },
    /// Disk use passed the refusal threshold; nothing was written.
    DiskFull {
        used_percent: u32,
        refuse_percent: u32,
    },
    /// Flushing has been failing; the store refuses writes until a flush succeeds.
    NotWritable {
        reason: String,
    },
    /// The flush thread is this far behind; refuse rather than grow memory without bound.
    FlushBehind {
        unflushed_size: u64,
        unflushed_size_max: u64,
    },
    /// The append is in memory but was not durable within the sync flush timeout.
    FlushTimeout {
        end_offset: u64,
    },
    /// A file in the store directory that cannot be a segment of this store.
    SegmentInvalid {
        name: String,
        reason: String,
    },
    /// Configuration the store cannot run with.
    Config(String),
    ShuttingDown,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io(error) => write!(f, "store I/O error: {error}"),
            StoreError::Record(error) => write!(f, "malformed record: {error}"),
            StoreError::ReplicaOffsetMismatch {
                offset,
                written_offset,
            } => write!(
                f,
                "replica bytes for offset {offset} but the log ends at {written_offset}"
            ),
            StoreError::TopicInvalid { topic } => write!(f, "invalid topic name {topic:?}"),
            StoreError::MessageTooLarge { size, size_max } => {
                write!(
                    f,
                    "message of {size} bytes exceeds the store's {size_max}-byte maximum"
                )
            }
            StoreError::DiskFull {
                used_percent,
                refuse_percent,
            } => write!(
                f,
                "disk full: {used_percent}% used, writes refused above {refuse_percent}%"
            ),
            StoreError::NotWritable { reason } => write!(f, "store not writable: {reason}"),
            StoreError::FlushBehind {
                unflushed_size,
                unflushed_size_max,
            } => write!(
                f,
                "flush behind: {unflushed_size} bytes unflushed (limit {unflushed_size_max})"
            ),
            StoreError::FlushTimeout { end_offset } => {
                write!(f, "flush of commit log up to {end_offset} timed out")
            }
            StoreError::SegmentInvalid { name, reason } => write!(f, "segment {name}: {reason}"),
            StoreError::Config(reason) => write!(f, "store configuration: {reason}"),
            StoreError::ShuttingDown => write!(f, "store is shutting down"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<io::Error> for StoreError {
    fn from(error: io::Error) -> Self {
        StoreError::Io(error)
    }
}

impl From<DecodeError> for StoreError {
    fn from(error: DecodeError) -> Self {
        StoreError::Record(error)
    }
}
