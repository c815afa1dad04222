//! The 20-byte consume-queue unit: where a message of one queue sits in the commit log.
//!
//! ```text
//! +-------------------------+-------------+-------------------------+
//! | commit-log offset  i64  | size   i32  | tags code          i64  |   big-endian
//! +-------------------------+-------------+-------------------------+
//!  0                         8             12                        20
//!   queue offset n  <->  byte position n * 20 in the consume queue
//!   blank (padding before a queue's first unit): (0, i32::MAX, 0)
//! ```
//!
//! The tags code is the Java `String.hashCode` of the TAGS property sign-extended to i64 (0
//! without a tag). In `SCHEDULE_TOPIC_XXXX` queues it is the delivery timestamp instead, and
//! values at or below `i32::MIN - 1` are ConsumeQueueExt addresses; this module only carries the
//! number. Offsets stay `i64` as on disk; the store converts them through named functions.

use crate::error::DecodeError;
use crate::java_string_hash;

/// Bytes per unit.
pub const CONSUME_UNIT_SIZE: usize = 20;

/// One consume-queue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConsumeUnit {
    /// Where the record starts in the commit log.
    pub commit_log_offset: i64,
    /// The record's TOTALSIZE.
    pub size: i32,
    pub tags_code: i64,
}

/// Fills the slots before the first unit of a queue created at a nonzero offset; readers
/// recognise it by `size == i32::MAX` and skip it.
pub const BLANK_UNIT: ConsumeUnit = ConsumeUnit {
    commit_log_offset: 0,
    size: i32::MAX,
    tags_code: 0,
};

impl ConsumeUnit {
    pub fn encode(&self) -> [u8; CONSUME_UNIT_SIZE] {
        let mut bytes = [0u8; CONSUME_UNIT_SIZE];
        bytes[0..8].copy_from_slice(&self.commit_log_offset.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.size.to_be_bytes());
        bytes[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        bytes
    }

    /// Decodes the first 20 bytes of `bytes`; extra bytes are ignored so a caller can walk a
    /// consume-queue page unit by unit.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let Some(unit) = bytes.first_chunk::<CONSUME_UNIT_SIZE>() else {
            return Err(DecodeError::RecordTruncated {
                needed: CONSUME_UNIT_SIZE,
                available: bytes.len(),
            });
        };
        let mut offset = [0u8; 8];
        let mut size = [0u8; 4];
        let mut tags_code = [0u8; 8];
        offset.copy_from_slice(&unit[0..8]);
        size.copy_from_slice(&unit[8..12]);
        tags_code.copy_from_slice(&unit[12..20]);
        Ok(ConsumeUnit {
            commit_log_offset: i64::from_be_bytes(offset),
            size: i32::from_be_bytes(size),
            tags_code: i64::from_be_bytes(tags_code),
        })
    }

    pub fn is_blank(&self) -> bool {
        *self == BLANK_UNIT
    }
}

/// The tags code of a message: Java `tags.hashCode()` sign-extended, 0 when there is no tag.
pub fn tags_code(tag: Option<&str>) -> i64 {
    tag.map_or(0, |tag| i64::from(java_string_hash(tag)))
}

/// Whether a tags code is a ConsumeQueueExt address rather than a hash (Java
/// `ConsumeQueueExt.isExtAddr`: `<= Integer.MIN_VALUE - 1`): only meaningful when the ext file
/// is enabled.
pub fn is_ext_address(tags_code: i64) -> bool {
    tags_code < i64::from(i32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_is_big_endian_20_bytes() {
        let unit = ConsumeUnit {
            commit_log_offset: 0x0102_0304_0506_0708,
            size: 0x090A_0B0C,
            tags_code: -2,
        };
        let bytes = unit.encode();
        assert_eq!(&bytes[..12], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(
            &bytes[12..],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE]
        );
    }

    #[test]
    fn blank_unit_bytes() {
        let bytes = BLANK_UNIT.encode();
        assert_eq!(&bytes[8..12], &[0x7F, 0xFF, 0xFF, 0xFF]);
        assert!(bytes[..8].iter().chain(&bytes[12..]).all(|b| *b == 0));
        assert!(ConsumeUnit::decode(&bytes)
            .map(|u| u.is_blank())
            .unwrap_or(false));
    }

    #[test]
    fn short_slice_is_a_typed_error() {
        let bytes = BLANK_UNIT.encode();
        for length in 0..CONSUME_UNIT_SIZE {
            assert_eq!(
                ConsumeUnit::decode(&bytes[..length]),
                Err(DecodeError::RecordTruncated {
                    needed: CONSUME_UNIT_SIZE,
                    available: length
                })
            );
        }
    }

    #[test]
    fn gotcha_tags_code_is_java_hash_sign_extended() {
        assert_eq!(tags_code(None), 0);
        assert_eq!(tags_code(Some("")), 0);
        assert_eq!(tags_code(Some("TagA")), 2_598_919);
        // Negative hashes stay negative in the i64, not zero-extended.
        assert_eq!(tags_code(Some("polygenelubricants")), i64::from(i32::MIN));
        assert!(!is_ext_address(tags_code(Some("polygenelubricants"))));
        assert!(is_ext_address(i64::from(i32::MIN) - 1));
    }

    proptest! {
        #[test]
        fn round_trip(offset in any::<i64>(), size in any::<i32>(), code in any::<i64>(),
                      tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let unit = ConsumeUnit { commit_log_offset: offset, size, tags_code: code };
            let mut bytes = unit.encode().to_vec();
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(ConsumeUnit::decode(&bytes), Ok(unit));
        }
    }
}
