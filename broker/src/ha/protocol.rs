//! Apache RocketMQ's HA framing (4.9, non-DLedger), plain TCP without RemotingCommand frames,
//! and our handshake in front of it.
//!
//! ```text
//!  slave -> master:  +---------------------------+
//!                    | max commit-log offset i64 |   "I hold everything below this"
//!                    +---------------------------+
//!  master -> slave:  +-------------------+--------------+------------------------+
//!                    | phyOffset i64     | bodySize i32 | body (bodySize bytes)   |
//!                    +-------------------+--------------+------------------------+
//!                    body = the master's commit log from phyOffset, at most 32 KiB, never past
//!                    a segment end; bodySize 0 is a heartbeat (every 5 s when idle)
//! ```
//!
//! All integers big-endian. Our master also uses a heartbeat to say where its log ends when
//! it refuses an upstream slave whose log is ahead of it (upstream slaves read it as a
//! heartbeat).
//!
//! Our extension (not Apache's): before any byte is streamed, our slave and master agree on
//! the prefix their logs share, by their epoch histories ([`crate::store::epochs`]). Control
//! frames start with [`HANDSHAKE_MAGIC`], which read as an Apache report or frame header is a
//! negative offset, so no upstream peer sends it:
//!
//! ```text
//!  control frame:  magic u64 | kind u32 | payload size u32 | payload
//!  HELLO (slave ->):      log start u64 | log end u64 | name size u16 | brokerName |
//!                         count u32 | count x epoch (32 B)
//!  ACCEPT (master ->):    truncate to u64 | count u32 | count x epoch   (then Apache frames
//!                         from there, and Apache reports back)
//!  TAKE_BACK (master ->): from u64: the slave sends its log from there in Apache frames,
//!                         ending with an empty frame at its end; then ACCEPT follows
//! ```
//!
//! A master that reads an Apache report first serves the peer the Apache way, unverified.

use crate::store::epochs::{decode_entries, encode_entry, EPOCHS_MAX};
use crate::store::EpochHistory;

/// Bytes of a slave's offset report.
pub const REPORT_SIZE: usize = 8;
/// Bytes of a master frame header.
pub const FRAME_HEADER_SIZE: usize = 12;
/// Body bytes per frame at most (`haTransferBatchSize`).
pub const TRANSFER_BATCH_SIZE: usize = 32 * 1024;
/// A frame body larger than this is a protocol error (upstream's own limit is far smaller).
pub const FRAME_BODY_SIZE_MAX: usize = 16 << 20;
/// Starts every control frame of our handshake: "RSHA" and version 1 under a sign bit.
pub const HANDSHAKE_MAGIC: u64 = 0xFFFF_5253_4841_0001;
const CONTROL_HEADER_SIZE: usize = 16;
const KIND_HELLO: u32 = 1;
const KIND_ACCEPT: u32 = 2;
const KIND_TAKE_BACK: u32 = 3;
/// A control payload larger than this is a protocol error.
const CONTROL_PAYLOAD_MAX: usize = 24 + EPOCHS_MAX * 32;

/// The frames of our handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    Hello {
        log_start: u64,
        log_end: u64,
        /// The slave's `brokerName`: a master refuses a slave of another broker group.
        broker_name: String,
        epochs: EpochHistory,
    },
    Accept {
        truncate_to: u64,
        epochs: EpochHistory,
    },
    TakeBack {
        from: u64,
    },
}

impl Control {
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::new();
        let kind = match self {
            Control::Hello {
                log_start,
                log_end,
                broker_name,
                epochs,
            } => {
                payload.extend_from_slice(&log_start.to_be_bytes());
                payload.extend_from_slice(&log_end.to_be_bytes());
                let name = &broker_name.as_bytes()[..broker_name.len().min(u16::MAX as usize)];
                payload.extend_from_slice(&(name.len() as u16).to_be_bytes());
                payload.extend_from_slice(name);
                encode_epochs(epochs, &mut payload);
                KIND_HELLO
            }
            Control::Accept {
                truncate_to,
                epochs,
            } => {
                payload.extend_from_slice(&truncate_to.to_be_bytes());
                encode_epochs(epochs, &mut payload);
                KIND_ACCEPT
            }
            Control::TakeBack { from } => {
                payload.extend_from_slice(&from.to_be_bytes());
                KIND_TAKE_BACK
            }
        };
        let mut frame = Vec::with_capacity(CONTROL_HEADER_SIZE + payload.len());
        frame.extend_from_slice(&HANDSHAKE_MAGIC.to_be_bytes());
        frame.extend_from_slice(&kind.to_be_bytes());
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(&payload);
        frame
    }

    /// The kind and payload size from the 8 bytes after the magic.
    pub fn decode_header(bytes: [u8; 8]) -> Result<(u32, usize), String> {
        let kind = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let size = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        if size > CONTROL_PAYLOAD_MAX {
            return Err(format!("control frame of {size} bytes"));
        }
        Ok((kind, size))
    }

    pub fn decode(kind: u32, payload: &[u8]) -> Result<Control, String> {
        let word = |at: usize| -> Result<u64, String> {
            let bytes = payload
                .get(at..at + 8)
                .ok_or_else(|| format!("control frame {kind} cut short"))?;
            let mut eight = [0u8; 8];
            eight.copy_from_slice(bytes);
            Ok(u64::from_be_bytes(eight))
        };
        match kind {
            KIND_HELLO => {
                let rest = payload.get(16..).ok_or("HELLO cut short")?;
                let size = rest
                    .get(..2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                    .ok_or("HELLO without a broker name")?;
                let name = rest
                    .get(2..2 + size)
                    .ok_or("HELLO's broker name cut short")?;
                Ok(Control::Hello {
                    log_start: word(0)?,
                    log_end: word(8)?,
                    broker_name: String::from_utf8_lossy(name).into_owned(),
                    epochs: decode_epochs(&rest[2 + size..])?,
                })
            }
            KIND_ACCEPT => Ok(Control::Accept {
                truncate_to: word(0)?,
                epochs: decode_epochs(&payload[8.min(payload.len())..])?,
            }),
            KIND_TAKE_BACK if payload.len() == 8 => Ok(Control::TakeBack { from: word(0)? }),
            other => Err(format!(
                "unknown control frame {other} of {} bytes",
                payload.len()
            )),
        }
    }
}

fn encode_epochs(history: &EpochHistory, out: &mut Vec<u8>) {
    out.extend_from_slice(&(history.entries().len() as u32).to_be_bytes());
    for entry in history.entries() {
        encode_entry(entry, out);
    }
}

fn decode_epochs(bytes: &[u8]) -> Result<EpochHistory, String> {
    let count = bytes
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("epoch count missing")?;
    let (entries, rest) = decode_entries(&bytes[4..], count)?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the epochs", rest.len()));
    }
    Ok(EpochHistory::new(entries))
}

pub fn encode_report(offset: u64) -> [u8; REPORT_SIZE] {
    offset.to_be_bytes()
}

pub fn decode_report(bytes: [u8; REPORT_SIZE]) -> u64 {
    u64::from_be_bytes(bytes)
}

pub fn encode_frame_header(offset: u64, body_size: usize) -> [u8; FRAME_HEADER_SIZE] {
    let mut header = [0u8; FRAME_HEADER_SIZE];
    header[..8].copy_from_slice(&offset.to_be_bytes());
    header[8..].copy_from_slice(&(body_size as u32).to_be_bytes());
    header
}

/// (offset, body size) of a frame header; a negative size is an error.
pub fn decode_frame_header(header: [u8; FRAME_HEADER_SIZE]) -> Result<(u64, usize), String> {
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&header[..8]);
    let size = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
    let offset = i64::from_be_bytes(offset);
    if size < 0 || offset < 0 || size as usize > FRAME_BODY_SIZE_MAX {
        return Err(format!("bad HA frame header: offset {offset}, size {size}"));
    }
    Ok((offset as u64, size as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Epoch;

    #[test]
    fn control_frames_round_trip_and_refuse_garbage() {
        let epochs = EpochHistory::new(vec![Epoch {
            epoch: 3,
            nonce: 9,
            start_offset: 4096,
            replicated: true,
            recovering: false,
        }]);
        for control in [
            Control::Hello {
                log_start: 0,
                log_end: 5000,
                broker_name: "broker-a".into(),
                epochs: epochs.clone(),
            },
            Control::Accept {
                truncate_to: 4500,
                epochs,
            },
            Control::TakeBack { from: 77 },
        ] {
            let frame = control.encode();
            assert_eq!(&frame[..8], &HANDSHAKE_MAGIC.to_be_bytes());
            assert!((HANDSHAKE_MAGIC as i64) < 0, "no upstream peer sends it");
            let mut header = [0u8; 8];
            header.copy_from_slice(&frame[8..16]);
            let (kind, size) = Control::decode_header(header).unwrap();
            assert_eq!(size, frame.len() - 16);
            assert_eq!(Control::decode(kind, &frame[16..]).unwrap(), control);
            assert!(Control::decode(kind, &frame[16..frame.len() - 1]).is_err());
        }
        assert!(Control::decode(9, &[]).is_err());
        assert!(Control::decode_header([0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
        let mut lying = Control::Hello {
            log_start: 0,
            log_end: 0,
            broker_name: String::new(),
            epochs: EpochHistory::default(),
        }
        .encode();
        lying[37] = 200; // claims 200 epochs it does not carry
        assert!(Control::decode(KIND_HELLO, &lying[16..]).is_err());
    }

    #[test]
    fn frames_and_reports_round_trip_and_bad_headers_are_refused() {
        assert_eq!(decode_report(encode_report(1 << 40)), 1 << 40);
        let header = encode_frame_header(4096, 32 * 1024);
        assert_eq!(decode_frame_header(header), Ok((4096, 32 * 1024)));
        let mut negative = header;
        negative[8] = 0xFF;
        assert!(decode_frame_header(negative).is_err());
        let huge = encode_frame_header(0, FRAME_BODY_SIZE_MAX + 1);
        assert!(decode_frame_header(huge).is_err());
    }
}
