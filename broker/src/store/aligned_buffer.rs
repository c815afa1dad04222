//! A zeroed byte buffer whose start address is a multiple of [`BLOCK_SIZE`], as O_DIRECT
//! requires of memory handed to `pwrite`/`pread`.
//!
//! Owned by whoever allocated it (the commit log's in-memory chunks, the flush thread's staging
//! buffer, recovery's read window); never shared between threads.
//!
//! Invariant: `as_slice().as_ptr()` is block-aligned and the capacity is a whole number of
//! blocks. Alignment comes from over-allocating one block and starting at the first aligned
//! byte, so no `unsafe` allocation is needed.

/// The unit of O_DIRECT I/O: address, file offset and length are multiples of it.
pub const BLOCK_SIZE: usize = 4096;

pub fn align_down(value: u64) -> u64 {
    value & !(BLOCK_SIZE as u64 - 1)
}

pub fn align_up(value: u64) -> u64 {
    align_down(value + BLOCK_SIZE as u64 - 1)
}

pub fn is_aligned(value: u64) -> bool {
    value.is_multiple_of(BLOCK_SIZE as u64)
}

pub struct AlignedBuffer {
    storage: Vec<u8>,
    start: usize,
    capacity: usize,
}

impl AlignedBuffer {
    /// A zero-filled buffer of `capacity` bytes, rounded up to whole blocks.
    pub fn zeroed(capacity: usize) -> Self {
        let capacity = align_up(capacity as u64) as usize;
        let storage = vec![0u8; capacity + BLOCK_SIZE];
        let start = storage.as_ptr().align_offset(BLOCK_SIZE);
        // A u8 pointer can always be aligned within one block; `align_offset` only fails for
        // types whose size does not divide the alignment.
        assert!(start < BLOCK_SIZE, "align_offset failed for a byte pointer");
        let buffer = AlignedBuffer {
            storage,
            start,
            capacity,
        };
        assert!(is_aligned(buffer.as_slice().as_ptr() as u64));
        buffer
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.capacity]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.capacity]
    }

    pub fn fill_zero(&mut self) {
        self.as_mut_slice().fill(0);
    }
}

impl Clone for AlignedBuffer {
    fn clone(&self) -> Self {
        let mut copy = AlignedBuffer::zeroed(self.capacity);
        copy.as_mut_slice().copy_from_slice(self.as_slice());
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_start_on_a_block_and_hold_whole_blocks() {
        for capacity in [1, 4095, 4096, 4097, 1 << 20] {
            let buffer = AlignedBuffer::zeroed(capacity);
            assert!(is_aligned(buffer.as_slice().as_ptr() as u64));
            assert!(buffer.capacity() >= capacity);
            assert!(is_aligned(buffer.capacity() as u64));
            assert!(buffer.as_slice().iter().all(|byte| *byte == 0));
        }
        assert_eq!(align_down(8191), 4096);
        assert_eq!(align_up(4097), 8192);
        assert_eq!(align_up(4096), 4096);
    }
}
