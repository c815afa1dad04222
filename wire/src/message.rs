//! The stored-message record of the commit log, the BLANK end-of-segment marker, the sysFlag
//! bits, and the batch body of SEND_BATCH_MESSAGE.
//!
//! ```text
//!  pos  size  field (IPv4 hosts; each IPv6 host adds 12 bytes and shifts what follows)
//! +----+----+-------------------------------+
//! |  0 |  4 | TOTALSIZE i32 (whole record)  |
//! |  4 |  4 | MAGIC  v1 DAA320A7 | v2 DAA320AB
//! |  8 |  4 | BODYCRC = crc32(body) & 7FFFFFFF
//! | 12 |  4 | QUEUEID                       |
//! | 16 |  4 | FLAG (user flag)              |
//! | 20 |  8 | QUEUEOFFSET (consume queue)   |
//! | 28 |  8 | PHYSICALOFFSET (commit log)   |
//! | 36 |  4 | SYSFLAG                       |
//! | 40 |  8 | BORNTIMESTAMP                 |
//! | 48 | 8/20 | BORNHOST ip 4|16 + port i32 (16 bytes when SYSFLAG & 0x10)
//! | 56 |  8 | STORETIMESTAMP                |
//! | 64 | 8/20 | STOREHOST ip 4|16 + port i32 (16 bytes when SYSFLAG & 0x20)
//! | 72 |  4 | RECONSUMETIMES                |
//! | 76 |  8 | PREPARED TRANSACTION OFFSET   |
//! | 84 | 4+n | BODYLEN i32 + body           |
//! |    | 1+t | TOPICLEN i8 (v1) | 2+t i16 (v2) + topic (UTF-8)
//! |    | 2+p | PROPLEN i16 + properties (UTF-8, see `properties`)
//! +----+----+-------------------------------+   fixed part: 91 bytes (v1), 92 (v2)
//!
//! end of segment (when a record plus 8 bytes does not fit):
//! +--------------------------+---------------+
//! | TOTALSIZE = bytes left   | MAGIC CBD43194|   then zeros up to the segment end
//! +--------------------------+---------------+
//! ```
//!
//! Invariants: an encoded record's TOTALSIZE equals the sum of its fields, its BODYCRC is
//! recomputed from the body, and its V6 sysFlag bits match the address families of its hosts
//! (the encoder derives them, as the broker does). Decoding checks every length against the
//! declared TOTALSIZE, so a lying size is an error before any byte beyond it is looked at.
//! [`peek`] reads only the first 8 bytes, for scanning a segment. Java 4.x clients only read
//! v1 records (gotcha 1); v2 exists for 5.x topics longer than 127 bytes.
//!
//! Records as values ([`RecordView`], [`MessageRecord`]) live in the private `record` module and
//! are re-exported here; the batch body of SEND_BATCH_MESSAGE lives in [`batch`], the sysFlag
//! bits in [`sys_flag`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::DecodeError;

/// Magic code of a v1 record (1-byte signed topic length).
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic code of a v2 record (2-byte topic length; RocketMQ 5.x).
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic code of the BLANK record that ends a segment.
pub const MAGIC_BLANK: i32 = 0xCBD4_3194_u32 as i32;
/// A BLANK record is only its size and magic words.
pub const BLANK_RECORD_SIZE: usize = 8;
/// Smallest v1 record: IPv4 hosts, empty body, topic and properties.
pub const RECORD_SIZE_MIN_V1: usize = 91;
/// Position of QUEUEOFFSET in every record.
pub const QUEUE_OFFSET_POSITION: usize = 20;
/// Position of PHYSICALOFFSET in every record.
pub const COMMIT_LOG_OFFSET_POSITION: usize = 28;
/// Position of SYSFLAG in every record.
pub const SYS_FLAG_POSITION: usize = 36;
const BORN_HOST_POSITION: usize = 48;

pub mod batch;
mod record;
pub mod sys_flag;

pub use batch::{decode_batch, decode_batch_views, encode_batch, BatchItem, BatchItemView};
pub use record::{stamp, AppendStamp, MessageRecord, RecordView};

/// Which record layout a magic code selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MagicVersion {
    V1,
    V2,
}

impl MagicVersion {
    pub fn from_magic(magic: i32) -> Option<Self> {
        match magic {
            MAGIC_V1 => Some(MagicVersion::V1),
            MAGIC_V2 => Some(MagicVersion::V2),
            _ => None,
        }
    }

    pub fn magic(self) -> i32 {
        match self {
            MagicVersion::V1 => MAGIC_V1,
            MagicVersion::V2 => MAGIC_V2,
        }
    }

    fn topic_length_size(self) -> usize {
        match self {
            MagicVersion::V1 => 1,
            MagicVersion::V2 => 2,
        }
    }

    /// Longest topic the TOPICLEN field can carry. Java reads it signed (`get()` /
    /// `getShort()`), so v2 stops at `i16::MAX`, not `u16::MAX`.
    pub fn topic_size_max(self) -> usize {
        match self {
            MagicVersion::V1 => i8::MAX as usize,
            MagicVersion::V2 => i16::MAX as usize,
        }
    }

    /// Smallest record of this version (IPv4 hosts, everything else empty).
    pub fn record_size_min(self) -> usize {
        RECORD_SIZE_MIN_V1 - 1 + self.topic_length_size()
    }
}

/// What starts at a position of a commit-log segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A message record; its TOTALSIZE is at least the version's minimum.
    Message(MagicVersion),
    /// A BLANK: skip `total_size` bytes to the end of the segment.
    Blank,
    /// Eight zero bytes: the end of written data (preallocated segments are zero-filled).
    EndOfData,
}

/// The first 8 bytes of a record, checked but not trusted beyond them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    pub total_size: i32,
    pub magic: i32,
    pub kind: RecordKind,
}

impl RecordHeader {
    /// TOTALSIZE as a byte count; 0 at the end of data.
    pub fn size(&self) -> usize {
        usize::try_from(self.total_size).unwrap_or(0)
    }
}

/// Classifies the record starting `bytes` from its first 8 bytes: any magic other than the
/// three known ones (with a nonzero word) is [`DecodeError::RecordMagicUnknown`].
pub fn peek(bytes: &[u8]) -> Result<RecordHeader, DecodeError> {
    let Some(words) = bytes.first_chunk::<8>() else {
        return Err(DecodeError::RecordTruncated {
            needed: 8,
            available: bytes.len(),
        });
    };
    let total_size = i32::from_be_bytes([words[0], words[1], words[2], words[3]]);
    let magic = i32::from_be_bytes([words[4], words[5], words[6], words[7]]);
    let (kind, size_min) = match (magic, MagicVersion::from_magic(magic)) {
        (_, Some(version)) => (RecordKind::Message(version), version.record_size_min()),
        (MAGIC_BLANK, None) => (RecordKind::Blank, BLANK_RECORD_SIZE),
        (0, None) if total_size == 0 => (RecordKind::EndOfData, 0),
        _ => return Err(DecodeError::RecordMagicUnknown { magic }),
    };
    if i64::from(total_size) < size_min as i64 {
        return Err(DecodeError::RecordSizeMismatch {
            declared: total_size,
            computed: size_min,
        });
    }
    Ok(RecordHeader {
        total_size,
        magic,
        kind,
    })
}

/// The BLANK record ending a segment with `remaining_size` bytes left after the last record.
pub fn encode_blank(remaining_size: usize) -> [u8; BLANK_RECORD_SIZE] {
    // The store only writes a BLANK where at least 8 bytes remain, and segments are < 2 GiB.
    assert!(
        (BLANK_RECORD_SIZE..=i32::MAX as usize).contains(&remaining_size),
        "BLANK record cannot span {remaining_size} bytes"
    );
    let mut bytes = [0u8; BLANK_RECORD_SIZE];
    bytes[..4].copy_from_slice(&(remaining_size as i32).to_be_bytes());
    bytes[4..].copy_from_slice(&MAGIC_BLANK.to_be_bytes());
    bytes
}

/// Size of a record with these hosts and field sizes (Java `calMsgLength`).
pub fn encoded_size(
    version: MagicVersion,
    born_host: &SocketAddr,
    store_host: &SocketAddr,
    body_size: usize,
    topic_size: usize,
    properties_size: usize,
) -> usize {
    let v6_extra = |host: &SocketAddr| if host.is_ipv6() { 12 } else { 0 };
    version.record_size_min()
        + v6_extra(born_host)
        + v6_extra(store_host)
        + body_size
        + topic_size
        + properties_size
}

fn check_size(name: &'static str, size: usize, size_max: usize) -> Result<(), DecodeError> {
    if size > size_max {
        return Err(DecodeError::FieldTooLong {
            name,
            size,
            size_max,
        });
    }
    Ok(())
}

fn utf8<'a>(field: &'static str, bytes: &'a [u8]) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8Invalid { field })
}

/// Reads fields inside one record whose slice ends at its declared TOTALSIZE, so running past
/// the end means the fields take more than declared.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    declared: i32,
}

impl<'a> Reader<'a> {
    fn take(&mut self, size: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.position.saturating_add(size);
        let Some(slice) = self.bytes.get(self.position..end) else {
            return Err(DecodeError::RecordSizeMismatch {
                declared: self.declared,
                computed: end,
            });
        };
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        self.array().map(i16::from_be_bytes)
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.array().map(i32::from_be_bytes)
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.array().map(i64::from_be_bytes)
    }

    /// A length-prefixed field: a negative length is refused before it becomes a size.
    fn sized(&mut self, field: &'static str, length: i64) -> Result<&'a [u8], DecodeError> {
        let size = usize::try_from(length)
            .map_err(|_| DecodeError::HeaderFieldLengthInvalid { field, length })?;
        self.take(size)
    }

    fn host(&mut self, v6: bool, field: &'static str) -> Result<SocketAddr, DecodeError> {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))
        };
        let port = self.i32()?;
        let port = u16::try_from(port).map_err(|_| DecodeError::FieldInvalid {
            name: field,
            value: port.to_string(),
        })?;
        Ok(SocketAddr::new(ip, port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gotcha_blank_record_only_8_bytes() {
        let blank = encode_blank(4096);
        assert_eq!(blank, [0, 0, 0x10, 0, 0xCB, 0xD4, 0x31, 0x94]);
        let header = peek(&blank).unwrap();
        assert_eq!((header.kind, header.size()), (RecordKind::Blank, 4096));
        let magic = Err(DecodeError::RecordMagicUnknown { magic: MAGIC_BLANK });
        assert_eq!(
            RecordView::decode(&blank, false).map(|(_, size)| size),
            magic
        );
        let zeros = peek(&[0; 8]).unwrap();
        assert_eq!((zeros.kind, zeros.size()), (RecordKind::EndOfData, 0));
    }

    #[test]
    fn peek_rejects_hostile_headers() {
        let header = |size: i32, magic: i32| [size.to_be_bytes(), magic.to_be_bytes()].concat();
        assert!(matches!(
            peek(&[0; 7]),
            Err(DecodeError::RecordTruncated { needed: 8, .. })
        ));
        let cases = [
            (
                header(100, 0x1234),
                DecodeError::RecordMagicUnknown { magic: 0x1234 },
            ),
            (header(5, 0), DecodeError::RecordMagicUnknown { magic: 0 }),
            (
                header(7, MAGIC_BLANK),
                DecodeError::RecordSizeMismatch {
                    declared: 7,
                    computed: 8,
                },
            ),
            (
                header(-1, MAGIC_V1),
                DecodeError::RecordSizeMismatch {
                    declared: -1,
                    computed: 91,
                },
            ),
            (
                header(91, MAGIC_V2),
                DecodeError::RecordSizeMismatch {
                    declared: 91,
                    computed: 92,
                },
            ),
        ];
        for (bytes, error) in cases {
            assert_eq!(peek(&bytes), Err(error));
        }
    }
}
