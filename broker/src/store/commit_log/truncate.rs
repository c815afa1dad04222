//! Cutting the commit log back to an offset while it runs: what a slave does when its master
//! says that its log differs from there on. Everything below the offset is made durable
//! first; the segments lose every byte from it (zeroed, later segments removed, synced), the
//! memory restarts at its block, and both watermarks move back to it, so neither a reader nor
//! a crash can bring a cut byte back.
//!
//! The caller (`MessageStore::truncate`) holds the dispatcher still; this module takes the
//! flush lock, so no flush runs meanwhile, then the append lock.

use std::sync::atomic::Ordering;

use super::super::aligned_buffer::{align_down, align_up, AlignedBuffer, BLOCK_SIZE};
use super::super::direct_file::BlockFile;
use super::super::error::StoreError;
use super::super::flush;
use super::{lock, read_tail_block, segment_name, CommitLog};

/// Zeros written per `pwrite` when clearing a cut segment's tail.
const ZERO_STEP: usize = 1 << 20;

impl CommitLog {
    /// Cuts the log back to `offset` (everything if it lies below the oldest segment);
    /// returns how many bytes went.
    pub fn truncate(&self, offset: u64) -> Result<u64, StoreError> {
        let _flushing = self.flush_guard();
        let written = self.written_offset();
        if offset >= written {
            return Ok(0);
        }
        // What stays must be on disk: memory restarts at the cut.
        let mut staging = AlignedBuffer::zeroed(flush::STAGING_SIZE.max(self.config.chunk_size));
        flush::flush_unguarded(self, &mut staging)?;
        let offset = if offset < self.min_offset() {
            0
        } else {
            offset
        };
        self.cut_segments(offset, written)?;
        let tail = {
            let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
            read_tail_block(&segments, self.config.segment_size, offset)?
        };
        let mut state = lock(&self.state);
        self.restart_chunks(&mut state, offset, &tail)?;
        state.written_offset = offset;
        // Flushed first: readers outside the lock subtract it from the written offset.
        self.flushed_offset.store(offset, Ordering::Release);
        self.written_offset.store(offset, Ordering::Release);
        self.min_offset.fetch_min(offset, Ordering::AcqRel);
        if self.segment_bases().is_empty() {
            self.min_offset.store(offset, Ordering::Release);
        }
        Ok(written - offset)
    }

    /// Zeroes the segment holding `offset` from there up to the old `written` end (removes
    /// it when `offset` is its start) and removes every later one.
    fn cut_segments(&self, offset: u64, written: u64) -> Result<(), StoreError> {
        let size = self.config.segment_size;
        let base = offset - offset % size;
        let mut segments = self.segments.write().unwrap_or_else(|p| p.into_inner());
        let doomed: Vec<u64> = segments
            .keys()
            .copied()
            .filter(|start| *start > base || (*start == base && offset == base))
            .collect();
        // Newest first: a crash midway leaves no gap in the segment files.
        for start in doomed.into_iter().rev() {
            segments.remove(&start);
            self.storage.remove(&segment_name(start))?;
        }
        if let Some(file) = segments.get(&base) {
            let end = written.min(base + size) - base;
            zero_range(file.as_ref(), offset - base, end)?;
        }
        Ok(())
    }
}

/// Zeros `[from, to)` of a segment file (keeping the bytes before `from` in its block) and
/// syncs it.
fn zero_range(file: &dyn BlockFile, from: u64, to: u64) -> Result<(), StoreError> {
    let mut buffer = AlignedBuffer::zeroed(ZERO_STEP);
    let mut at = align_down(from);
    if at < from {
        let block = &mut buffer.as_mut_slice()[..BLOCK_SIZE];
        file.read_at(block, at)?;
        block[(from - at) as usize..].fill(0);
        file.write_at(block, at)?;
        block.fill(0);
        at += BLOCK_SIZE as u64;
    }
    let stop = align_up(to);
    while at < stop {
        let length = ((stop - at) as usize).min(ZERO_STEP);
        file.write_at(&buffer.as_slice()[..length], at)?;
        at += length as u64;
    }
    file.sync_data()?;
    Ok(())
}
