//! `wire`: the RocketMQ 4.x remoting protocol as a pure codec.
//!
//! Owns the byte layouts that cross a socket or land on disk: frames ([`frame`]), the remoting
//! command and its two header serialisations ([`command`]), request and response codes
//! ([`code`]), typed ext-field headers ([`headers`]), stored-message records ([`message`]),
//! message properties ([`properties`]), message ids ([`message_id`]), the 20-byte consume-queue
//! unit ([`consume_unit`]) and the JSON bodies ([`body`], with the fastjson quirks in
//! [`fastjson`]).
//!
//! Nothing here performs I/O, spawns a thread or keeps global state: every function maps bytes
//! to values or values to bytes, and every malformed input is a [`DecodeError`], never a panic
//! and never an allocation sized by an untrusted length.
#![forbid(unsafe_code)]

pub mod body;
pub mod code;
pub mod command;
pub mod consume_unit;
pub mod error;
pub mod fastjson;
pub mod frame;
mod header_binary;
mod header_json;
pub mod headers;
pub mod message;
pub mod message_id;
pub mod properties;
pub mod string_map;

pub use code::{RequestCode, ResponseCode};
pub use command::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
pub use error::DecodeError;
pub use frame::{Decoded, FrameDecoder, FRAME_SIZE_MAX_DEFAULT};

/// The version this project reports in every command it originates: `V4_9_8` (see
/// `MQVersion.java`). Java clients take the broker's HEART_BEAT reply version as the broker
/// version and gate features on it, so it must be a real 4.9.x ordinal.
pub const VERSION_CURRENT: i32 = 409;

/// Java's `String.hashCode()` over UTF-16 code units, wrapping: the tag hash stored in consume
/// queue units and the key hash of index files.
pub fn java_string_hash(s: &str) -> i32 {
    let mut hash: i32 = 0;
    for unit in s.encode_utf16() {
        hash = hash.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    hash
}

/// CRC32 (IEEE) masked with `0x7FFFFFFF`, as RocketMQ stores body CRCs and checks
/// REGISTER_BROKER bodies.
pub fn crc32_masked(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes) & 0x7FFF_FFFF
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // Non-BMP characters hash as two UTF-16 units.
        assert_eq!(java_string_hash("\u{1F600}"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn crc_is_masked() {
        assert_eq!(crc32_masked(b"123456789"), 0xCBF4_3926 & 0x7FFF_FFFF);
    }
}
