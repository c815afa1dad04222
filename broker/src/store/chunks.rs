//! The commit log's memory: consecutive block-aligned chunks holding the most recent data,
//! from which the flush thread writes and readers copy.
//!
//! ```text
//!   [ full chunk | full chunk | full chunk | last chunk (being appended) ]
//!     Arc-shared, immutable once full          mutated only by the appender
//! ```
//!
//! A chunk that is not the last one is never written again, so the flush thread and readers
//! take an `Arc` of it under the append lock and copy or `pwrite` from it after releasing the
//! lock. The last chunk is copied under the lock (only the part needed). Should anybody still
//! hold the last chunk when the appender writes to it, it is copied rather than raced.
//!
//! Chunk memory comes from the crash journal ([`super::journal`]) when there is one: a slot
//! per chunk, which goes back to the journal when the last `Arc` of its chunk drops; so the
//! memory window, the unflushed tail and what readers still hold all count against the
//! journal's slots, and [`Chunks::reserve`] says when none is left (the append then waits
//! for the flush instead of writing anything).
//!
//! Lives inside the commit log's append state; every method runs under that lock.
//!
//! Invariants: chunk `k` starts at `front + k * chunk_size`; the bytes from the written
//! offset to the end of its block are zero (nothing past that block is ever read).

use std::collections::VecDeque;
use std::sync::Arc;

use super::aligned_buffer::{align_down, align_up, AlignedBuffer, BLOCK_SIZE};
use super::journal::{Journal, Slot};

/// Heap buffers kept for reuse rather than freed and allocated again.
const SPARES_MAX: usize = 4;

/// A chunk's memory: a slot of the crash journal, or (journal disabled) the heap.
pub enum ChunkBuffer {
    Heap(AlignedBuffer),
    Journal(Slot),
}

impl ChunkBuffer {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            ChunkBuffer::Heap(buffer) => buffer.as_slice(),
            ChunkBuffer::Journal(slot) => slot.as_slice(),
        }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            ChunkBuffer::Heap(buffer) => buffer.as_mut_slice(),
            ChunkBuffer::Journal(slot) => slot.as_mut_slice(),
        }
    }

    /// Stops a journal slot from claiming its chunk (a newer copy holds it now).
    fn unpublish(&self) {
        if let ChunkBuffer::Journal(slot) = self {
            slot.unpublish();
        }
    }
}

struct Chunk {
    base_offset: u64,
    buffer: Arc<ChunkBuffer>,
}

/// Part of a range held by a full chunk, to be copied after the lock is released.
pub struct SharedPiece {
    pub offset: u64,
    pub buffer: Arc<ChunkBuffer>,
    pub start: usize,
    pub length: usize,
}

impl SharedPiece {
    pub fn bytes(&self) -> &[u8] {
        &self.buffer.as_slice()[self.start..self.start + self.length]
    }
}

pub struct Chunks {
    chunk_size: usize,
    chunks: VecDeque<Chunk>,
    spares: Vec<AlignedBuffer>,
    journal: Option<Arc<Journal>>,
}

impl Chunks {
    /// Memory starting at the block holding `written_offset`, whose bytes before it are
    /// `tail` (the partial block, read back from disk). `None` when the journal has no free
    /// slot for it.
    pub fn new(
        chunk_size: usize,
        written_offset: u64,
        tail: &[u8],
        journal: Option<Arc<Journal>>,
    ) -> Option<Chunks> {
        let base_offset = align_down(written_offset);
        assert_eq!(tail.len() as u64, written_offset - base_offset);
        let mut chunks = Chunks {
            chunk_size,
            chunks: VecDeque::new(),
            spares: Vec::new(),
            journal,
        };
        let mut buffer = chunks.allocate(base_offset)?;
        let bytes = buffer.as_mut_slice();
        bytes[..tail.len()].copy_from_slice(tail);
        // A journal slot can hold an older chunk's bytes: the rest of the block reads as zero.
        bytes[tail.len()..align_up(tail.len() as u64) as usize].fill(0);
        chunks.chunks.push_back(Chunk {
            base_offset,
            buffer: Arc::new(buffer),
        });
        chunks.publish_written(written_offset);
        Some(chunks)
    }

    /// Stops every chunk's journal slot from claiming its chunk: the chunks are being
    /// replaced, and a reader may still hold one of them (its slot then comes back later).
    pub fn unpublish_all(&self) {
        for chunk in &self.chunks {
            chunk.buffer.unpublish();
        }
    }

    /// No memory at all: stands in while chunks are being replaced.
    pub fn placeholder() -> Chunks {
        Chunks {
            chunk_size: BLOCK_SIZE,
            chunks: VecDeque::new(),
            spares: Vec::new(),
            journal: None,
        }
    }

    /// A buffer for the chunk starting at `base_offset`.
    fn allocate(&mut self, base_offset: u64) -> Option<ChunkBuffer> {
        match &self.journal {
            Some(journal) => journal.take(base_offset).map(ChunkBuffer::Journal),
            None => Some(ChunkBuffer::Heap(
                self.spares
                    .pop()
                    .unwrap_or_else(|| AlignedBuffer::zeroed(self.chunk_size)),
            )),
        }
    }

    /// Tells the journal that everything below `written_offset` is in its chunks.
    pub fn publish_written(&self, written_offset: u64) {
        if let Some(journal) = &self.journal {
            journal.publish_written(written_offset);
        }
    }

    /// The oldest offset held in memory.
    pub fn front_offset(&self) -> u64 {
        self.chunks.front().map_or(0, |chunk| chunk.base_offset)
    }

    fn index_of(&self, offset: u64) -> usize {
        ((offset - self.front_offset()) / self.chunk_size as u64) as usize
    }

    /// Makes sure chunks exist for every byte below `end`; false when the journal has no free
    /// slot left (nothing is written then).
    pub fn reserve(&mut self, end: u64) -> bool {
        if end == 0 {
            return true;
        }
        let needed = self.index_of(end - 1) + 1;
        while self.chunks.len() < needed {
            let base_offset = self.front_offset() + (self.chunks.len() * self.chunk_size) as u64;
            // A recycled buffer holds old bytes: `write` zeroes what must read as zero.
            let Some(buffer) = self.allocate(base_offset) else {
                return false;
            };
            self.chunks.push_back(Chunk {
                base_offset,
                buffer: Arc::new(buffer),
            });
        }
        true
    }

    /// Drops chunks that hold nothing below `written_offset` (a reservation that could not be
    /// completed), keeping at least one.
    pub fn release_unused(&mut self, written_offset: u64) {
        while self.chunks.len() > 1
            && self
                .chunks
                .back()
                .is_some_and(|chunk| chunk.base_offset >= written_offset)
        {
            self.chunks.pop_back();
        }
    }

    /// Copies `bytes` in at `offset` (at or past the written offset); the chunks must have
    /// been reserved.
    pub fn write(&mut self, offset: u64, bytes: &[u8]) {
        assert!(
            offset >= self.front_offset(),
            "write below the memory window"
        );
        let end = offset + bytes.len() as u64;
        assert!(
            self.reserve(end),
            "write into chunks that were not reserved"
        );
        let mut done = 0usize;
        while done < bytes.len() {
            let at = offset + done as u64;
            let index = self.index_of(at);
            let position = (at - self.chunks[index].base_offset) as usize;
            let length = (bytes.len() - done).min(self.chunk_size - position);
            self.buffer_mut(index).as_mut_slice()[position..position + length]
                .copy_from_slice(&bytes[done..done + length]);
            done += length;
        }
        self.zero_to_block_end(end);
    }

    /// The chunk's buffer for writing. Only the last chunk is ever written, and it is never
    /// shared (readers copy it under the lock); should it be anyway, it is copied rather
    /// than raced, and a journal slot stops advertising the old copy's bytes.
    fn buffer_mut(&mut self, index: usize) -> &mut ChunkBuffer {
        if Arc::get_mut(&mut self.chunks[index].buffer).is_none() {
            let old = self.chunks[index].buffer.clone();
            // The copy claims the chunk only once it holds all of it; the old slot stops
            // claiming it right after: a crash in between finds two equal copies, never a
            // partial one.
            let mut copy = match &self.journal {
                Some(journal) => journal.take_unpublished().map(ChunkBuffer::Journal),
                None => Some(ChunkBuffer::Heap(AlignedBuffer::zeroed(self.chunk_size))),
            }
            .unwrap_or_else(|| {
                log::error!("commit log: no journal slot to copy a shared chunk into");
                ChunkBuffer::Heap(AlignedBuffer::zeroed(self.chunk_size))
            });
            copy.as_mut_slice().copy_from_slice(old.as_slice());
            if let ChunkBuffer::Journal(slot) = &copy {
                slot.publish(self.chunks[index].base_offset);
            }
            old.unpublish();
            self.chunks[index].buffer = Arc::new(copy);
        }
        match Arc::get_mut(&mut self.chunks[index].buffer) {
            Some(buffer) => buffer,
            None => unreachable!("a buffer just made unique is shared"),
        }
    }

    /// Zeroes `length` bytes from `offset` (the padding after a BLANK).
    pub fn zero(&mut self, offset: u64, length: u64) {
        const ZEROS: [u8; 4096] = [0; 4096];
        let mut done = 0;
        while done < length {
            let step = (length - done).min(ZEROS.len() as u64);
            self.write(offset + done, &ZEROS[..step as usize]);
            done += step;
        }
    }

    /// Keeps the invariant that the tail block reads as zero past the written offset, which
    /// recycled buffers do not give for free.
    fn zero_to_block_end(&mut self, end: u64) {
        let index = self.index_of(end);
        let Some(base_offset) = self.chunks.get(index).map(|chunk| chunk.base_offset) else {
            return;
        };
        let position = (end - base_offset) as usize;
        let block_end = (align_up(end) - base_offset) as usize;
        if block_end > position {
            self.buffer_mut(index).as_mut_slice()[position..block_end].fill(0);
        }
    }

    /// The range `[offset, end)`: full chunks as shared pieces, the part in the last chunk
    /// copied into `last` (which the caller places after the pieces).
    pub fn pieces(&self, offset: u64, end: u64, last: &mut Vec<u8>) -> Vec<SharedPiece> {
        assert!(offset >= self.front_offset() && offset <= end);
        let mut pieces = Vec::new();
        let mut at = offset;
        while at < end {
            let index = self.index_of(at);
            let Some(chunk) = self.chunks.get(index) else {
                // Past the last chunk nothing was written: zeros.
                last.resize(last.len() + (end - at) as usize, 0);
                break;
            };
            let start = (at - chunk.base_offset) as usize;
            let length = ((end - at) as usize).min(self.chunk_size - start);
            if index + 1 == self.chunks.len() {
                last.extend_from_slice(&chunk.buffer.as_slice()[start..start + length]);
            } else {
                pieces.push(SharedPiece {
                    offset: at,
                    buffer: chunk.buffer.clone(),
                    start,
                    length,
                });
            }
            at += length as u64;
        }
        pieces
    }

    /// The dirty range from block-aligned `from` to the block holding `written_offset`: full
    /// chunks shared, the last chunk's part copied into `staging` (at least a chunk long).
    /// Returns the pieces and the offset where the staged bytes start.
    pub fn dirty(
        &self,
        from: u64,
        written_offset: u64,
        staging: &mut AlignedBuffer,
    ) -> (Vec<SharedPiece>, u64, usize) {
        assert!(staging.capacity() >= self.chunk_size);
        let end = align_up(written_offset);
        let last_base = self.chunks.back().map_or(from, |chunk| chunk.base_offset);
        let mut scratch = Vec::new();
        let pieces = self.pieces(from, end.min(last_base.max(from)), &mut scratch);
        assert!(scratch.is_empty(), "full chunks only before the last");
        let staged_from = last_base.max(from);
        let mut staged_length = 0;
        if let Some(chunk) = self.chunks.back().filter(|_| end > staged_from) {
            let start = (staged_from - chunk.base_offset) as usize;
            staged_length = (end - staged_from) as usize;
            staging.as_mut_slice()[..staged_length]
                .copy_from_slice(&chunk.buffer.as_slice()[start..start + staged_length]);
        }
        (pieces, staged_from, staged_length)
    }

    /// Drops chunks entirely below `flushed_offset` that are at least `window` behind the
    /// written offset, keeping the last chunk and a couple of spare buffers.
    pub fn trim(&mut self, flushed_offset: u64, written_offset: u64, window: u64) {
        while self.chunks.len() > 1 {
            let Some(front) = self.chunks.front() else {
                break;
            };
            let front_end = front.base_offset + self.chunk_size as u64;
            if front_end > flushed_offset || written_offset.saturating_sub(front_end) < window {
                break;
            }
            if let Some(chunk) = self.chunks.pop_front() {
                // A journal slot goes back to the journal when its last holder drops it.
                if let Ok(ChunkBuffer::Heap(buffer)) = Arc::try_unwrap(chunk.buffer) {
                    if self.spares.len() < SPARES_MAX {
                        self.spares.push(buffer);
                    }
                }
            }
        }
    }
}
