//! Apache RocketMQ's HA framing (4.9, non-DLedger), plain TCP without RemotingCommand frames.
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
//! it refuses a slave whose log is ahead of it (upstream slaves read it as a heartbeat).

/// Bytes of a slave's offset report.
pub const REPORT_SIZE: usize = 8;
/// Bytes of a master frame header.
pub const FRAME_HEADER_SIZE: usize = 12;
/// Body bytes per frame at most (`haTransferBatchSize`).
pub const TRANSFER_BATCH_SIZE: usize = 32 * 1024;
/// A frame body larger than this is a protocol error (upstream's own limit is far smaller).
pub const FRAME_BODY_SIZE_MAX: usize = 16 << 20;

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
