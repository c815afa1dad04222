//! Finding frame boundaries in a byte stream.
//!
//! [`FrameDecoder`] looks at the front of a connection's read buffer and says whether a whole
//! frame is there, how long it is, or that more bytes are needed. It checks the 4-byte length
//! against `frame_size_max` before anyone reserves memory for it, so a peer that claims a
//! 2 GiB frame is refused after four bytes. The decoder holds no buffer of its own: the
//! connection owns its bytes, decodes every complete frame, then compacts once.

use crate::command::{RemotingCommand, SerializeType};
use crate::error::DecodeError;

/// Java's default `com.rocketmq.remoting.frameMaxLength`: the whole frame, length word
/// included.
pub const FRAME_SIZE_MAX_DEFAULT: usize = 16 * 1024 * 1024;

/// What the front of a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame of this many bytes (length word included) starts the buffer.
    Frame(usize),
    /// More bytes are needed; `frame_size` is known once the length word has arrived.
    Incomplete { frame_size: Option<usize> },
}

/// Frame boundary detection with a size bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameDecoder {
    frame_size_max: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            frame_size_max: FRAME_SIZE_MAX_DEFAULT,
        }
    }
}

impl FrameDecoder {
    /// A decoder refusing frames larger than `frame_size_max` bytes (length word included).
    /// Nine bytes is the smallest meaningful bound: length word, header-length word, and a
    /// one-byte header.
    pub fn new(frame_size_max: usize) -> Self {
        assert!(
            frame_size_max >= 9,
            "frame_size_max {frame_size_max} cannot hold any frame"
        );
        FrameDecoder { frame_size_max }
    }

    pub fn frame_size_max(&self) -> usize {
        self.frame_size_max
    }

    /// Inspects the front of `buffer` without decoding the header.
    pub fn check(&self, buffer: &[u8]) -> Result<Decoded, DecodeError> {
        if buffer.len() < 4 {
            return Ok(Decoded::Incomplete { frame_size: None });
        }
        let length = i32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]);
        if length < 4 {
            return Err(DecodeError::FrameLengthInvalid { length });
        }
        let frame_size = length as usize + 4;
        if frame_size > self.frame_size_max {
            let frame_size = frame_size as u64;
            return Err(DecodeError::FrameTooLarge {
                frame_size,
                frame_size_max: self.frame_size_max,
            });
        }
        if buffer.len() > 4 {
            // An unknown serialize type is refused as soon as its byte arrives.
            SerializeType::from_byte(buffer[4])?;
        }
        if buffer.len() < 8 {
            return Ok(Decoded::Incomplete {
                frame_size: Some(frame_size),
            });
        }
        // Validate the header length as soon as it arrives, not when the body is complete, so a
        // lying header is refused before the peer makes us buffer the whole claimed frame.
        let header_size =
            usize::from(buffer[5]) << 16 | usize::from(buffer[6]) << 8 | usize::from(buffer[7]);
        if header_size > length as usize - 4 {
            return Err(DecodeError::HeaderLengthInvalid {
                header_size,
                frame_size: length as usize,
            });
        }
        if buffer.len() < frame_size {
            return Ok(Decoded::Incomplete {
                frame_size: Some(frame_size),
            });
        }
        Ok(Decoded::Frame(frame_size))
    }

    /// Decodes the frame at the front of `buffer`, returning it with the number of bytes it
    /// took, or `None` when the frame is not complete yet.
    pub fn decode(&self, buffer: &[u8]) -> Result<Option<(RemotingCommand, usize)>, DecodeError> {
        match self.check(buffer)? {
            Decoded::Incomplete { .. } => Ok(None),
            Decoded::Frame(frame_size) => {
                let command = RemotingCommand::decode_payload(&buffer[4..frame_size])?;
                Ok(Some((command, frame_size)))
            }
        }
    }

    /// Decodes every complete frame at the front of `buffer`, at most `count_max`, and returns
    /// them with the bytes they took. Stops at the first error; frames before it are returned
    /// through `frames`, so a caller can still answer them before closing the peer.
    pub fn decode_many(
        &self,
        buffer: &[u8],
        count_max: usize,
        frames: &mut Vec<RemotingCommand>,
    ) -> Result<usize, DecodeError> {
        let mut consumed = 0;
        for _ in 0..count_max {
            match self.decode(&buffer[consumed..])? {
                Some((command, size)) => {
                    frames.push(command);
                    consumed += size;
                }
                None => break,
            }
        }
        Ok(consumed)
    }
}
