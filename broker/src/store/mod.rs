//! The broker's message store: one commit log of fixed-size segments written with O_DIRECT,
//! consume queues built from it, flush (group commit), checkpoint and crash recovery, and
//! retention.
//!
//! Durability: O_DIRECT means no page cache holds what is not yet flushed, so the commit
//! log's memory (the unflushed tail and the read window) is itself a shared mapping on tmpfs,
//! the crash journal ([`journal`]): a dead process leaves it behind, and recovery replays it
//! past the segments' end. A process crash loses nothing appended in either flush mode; a
//! machine crash loses the journal and, under ASYNC_FLUSH, the unflushed tail, whose size
//! appends are held to (`FlushBehind` past `unflushed_size_max`).
//!
//! ```text
//!   appenders (any thread) ──copy+stamp──▶ CommitLog chunks (journal slots, block-aligned)
//!                                               │                 │
//!                       store-flush thread ◀────┘                 └────▶ store-dispatch thread
//!                  pwrite whole blocks + fdatasync                     consume-queue units,
//!                  publish flushed_offset ──▶ waiters                  arrival listener,
//!                                                                      checkpoint every 1 s
//!   store-retention thread: removes old segments and queue files, reports the used ratio
//!   disk_space::DiskGuard: refuses appends while the disk is full (ratio, stalled dispatch,
//!                          free space under the floor), each reason cleared on its own
//! ```
//!
//! Lock order: commit-log append state, then its segment map; a consume queue's mutex is
//! never held while taking either; the disk guard's mutex, then the commit log's refusal
//! flag. Details per module; `direct_file` is the only module with `unsafe` or `libc`.

pub mod aligned_buffer;
pub mod append_records;
pub mod checkpoint;
pub mod chunks;
pub mod commit_log;
pub mod consume_queue;
pub mod direct_file;
pub mod disk_space;
pub mod dispatch;
pub mod epochs;
pub mod error;
pub mod flush;
pub mod index;
pub mod journal;
pub mod mem_file;
pub mod message_store;
pub mod query;
pub mod recovery;
pub mod retention;
pub mod storage;

pub use commit_log::{AppendResult, AppendedRecord, CommitLog, CommitLogConfig, FlushListener};
pub use dispatch::{Arrival, ArrivalListener};
pub use epochs::{Epoch, EpochHistory};
pub use error::StoreError;
pub use flush::FlushMode;
pub use index::{IndexConfig, IndexProgress};
pub use journal::JournalConfig;
pub use message_store::{MessageStore, StoreConfig};
pub use query::{GetResult, GetStatus};
pub use recovery::{Cut, JournalOutcome, RecoveryReport};
pub use retention::{RetentionConfig, RetentionPass};

#[cfg(test)]
mod journal_tests;
#[cfg(test)]
pub(crate) mod tests;
