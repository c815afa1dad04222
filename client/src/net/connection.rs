//! One TCP connection of the event loop: its socket, its input buffer (bytes read, not yet
//! decoded) and its output buffer (bytes queued, not yet written), and the flags of the state
//! machine described in `client/LIFECYCLE.md`.
//!
//! Invariants: `read_position <= input.len()`, `written <= output.len()`; input holds at most
//! `frame_size_max + READ_CHUNK_SIZE` bytes, so a peer can never make us buffer more than one
//! maximal frame plus one read.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use mio::net::TcpStream;

use super::event_loop::CloseReason;

/// Bytes asked of the kernel per read call (the size of the loop's shared scratch buffer).
pub(crate) const READ_CHUNK_SIZE: usize = 64 * 1024;
/// An empty buffer larger than this is freed rather than kept for the next frame.
const IDLE_BUFFER_SIZE_MAX: usize = 16 * 1024;

fn release_or_clear(buffer: &mut Vec<u8>) {
    if buffer.capacity() > IDLE_BUFFER_SIZE_MAX {
        *buffer = Vec::new();
    } else {
        buffer.clear();
    }
}

/// How a read pass ended.
pub(crate) enum ReadStep {
    /// Drained to WouldBlock, or stopped at the buffer bound with more to read later.
    Open,
    Closed(CloseReason),
}

pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) generation: u32,
    /// False until an outbound connect completes.
    pub(crate) connected: bool,
    /// Marked for release after the current event batch.
    pub(crate) closing: bool,
    input: Vec<u8>,
    read_position: usize,
    pub(crate) output: Vec<u8>,
    written: usize,
    pub(crate) last_active: Instant,
    /// Decoding stopped at the per-iteration quota: frames remain in `input`.
    pub(crate) input_pending: bool,
    /// Back-pressure: our unsent output to this peer is over the bound.
    pub(crate) reading_paused: bool,
    /// A readiness edge (or a read bound) was passed over while reading was not possible.
    pub(crate) readable_missed: bool,
    /// Read again before the next poll: edge-triggered readiness will not repeat itself.
    pub(crate) resume_read_wanted: bool,
}

impl Connection {
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        generation: u32,
        connected: bool,
    ) -> Self {
        Connection {
            stream,
            peer,
            generation,
            connected,
            closing: false,
            input: Vec::new(),
            read_position: 0,
            output: Vec::new(),
            written: 0,
            last_active: Instant::now(),
            input_pending: false,
            reading_paused: false,
            readable_missed: false,
            resume_read_wanted: false,
        }
    }

    pub(crate) fn touch(&mut self, now: Instant) {
        self.last_active = now;
    }

    /// Bytes received and not yet decoded.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.input[self.read_position..]
    }

    /// Marks `size` decoded bytes as consumed; compacts once the buffer is fully read or the
    /// consumed prefix dominates, so the buffer is shifted at most once per pass. An emptied
    /// buffer that grew past `IDLE_BUFFER_SIZE_MAX` is released: a thousand idle connections
    /// must not each keep the memory of their largest frame.
    pub(crate) fn consume(&mut self, size: usize) {
        self.read_position += size;
        debug_assert!(self.read_position <= self.input.len());
        if self.read_position == self.input.len() {
            release_or_clear(&mut self.input);
            self.read_position = 0;
        } else if self.read_position > self.input.len() / 2 {
            self.input.drain(..self.read_position);
            self.read_position = 0;
        }
    }

    pub(crate) fn unsent(&self) -> usize {
        self.output.len() - self.written
    }

    /// Reads until WouldBlock or until the buffer holds a maximal frame plus one chunk. Reads
    /// land in the loop's shared `scratch` buffer and only the bytes received are kept.
    pub(crate) fn read_available(&mut self, frame_size_max: usize, scratch: &mut [u8]) -> ReadStep {
        let bound = frame_size_max + scratch.len();
        loop {
            if self.unread().len() >= bound {
                // Decode first; the caller resumes reading once space frees up.
                self.readable_missed = true;
                return ReadStep::Open;
            }
            match self.stream.read(scratch) {
                Ok(0) => return ReadStep::Closed(CloseReason::PeerClosed),
                Ok(read) => {
                    self.input.extend_from_slice(&scratch[..read]);
                    self.last_active = Instant::now();
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return ReadStep::Open,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return ReadStep::Closed(CloseReason::Reset(error.kind())),
            }
        }
    }

    /// Writes queued output until done or WouldBlock.
    pub(crate) fn flush(&mut self) -> Result<(), CloseReason> {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(CloseReason::Reset(io::ErrorKind::WriteZero)),
                Ok(written) => {
                    self.written += written;
                    self.last_active = Instant::now();
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::NotConnected && !self.connected => {
                    break; // connect still in progress: the writable edge will bring us back
                }
                Err(error) => return Err(CloseReason::Reset(error.kind())),
            }
        }
        if self.written == self.output.len() {
            release_or_clear(&mut self.output);
            self.written = 0;
        } else if self.written > self.output.len() / 2 {
            self.output.drain(..self.written);
            self.written = 0;
        }
        Ok(())
    }
}
