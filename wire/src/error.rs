//! The one error type of the codec. Every variant names what was wrong and carries the data
//! needed to report it; none of them is produced by a panic path.

use std::fmt;

/// Why bytes could not be turned into a value (or, rarely, a value into bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The 4-byte length prefix announces a frame bigger than allowed.
    FrameTooLarge {
        frame_size: u64,
        frame_size_max: usize,
    },
    /// The 4-byte length prefix is negative or too small to hold the header-length word.
    FrameLengthInvalid { length: i32 },
    /// The header length is larger than the frame that carries it.
    HeaderLengthInvalid {
        header_size: usize,
        frame_size: usize,
    },
    /// The serialize-type byte is neither 0 (JSON) nor 1 (ROCKETMQ).
    SerializeTypeUnknown { value: u8 },
    /// A binary header ended before a field it announced.
    HeaderTruncated {
        field: &'static str,
        needed: usize,
        available: usize,
    },
    /// A length field inside a header is negative or exceeds what is left.
    HeaderFieldLengthInvalid { field: &'static str, length: i64 },
    /// Text that must be UTF-8 is not.
    Utf8Invalid { field: &'static str },
    /// A JSON header or body failed to parse.
    JsonInvalid { what: &'static str, reason: String },
    /// A required field of a typed header or body is absent.
    FieldMissing { name: &'static str },
    /// A field is present but its value cannot be parsed.
    FieldInvalid { name: &'static str, value: String },
    /// A stored-message record is shorter than its declared or minimal size.
    RecordTruncated { needed: usize, available: usize },
    /// A stored-message record starts with an unknown magic code.
    RecordMagicUnknown { magic: i32 },
    /// A record's TOTALSIZE disagrees with the sizes of its fields.
    RecordSizeMismatch { declared: i32, computed: usize },
    /// A record's body does not match its BODYCRC.
    RecordCrcMismatch { stored: u32, computed: u32 },
    /// A value is too long for the width of its length field.
    FieldTooLong {
        name: &'static str,
        size: usize,
        size_max: usize,
    },
    /// A compressed payload could not be inflated.
    CompressionInvalid { reason: String },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError::*;
        match self {
            FrameTooLarge {
                frame_size,
                frame_size_max,
            } => {
                write!(
                    f,
                    "frame of {frame_size} bytes exceeds the maximum of {frame_size_max}"
                )
            }
            FrameLengthInvalid { length } => write!(f, "invalid frame length {length}"),
            HeaderLengthInvalid {
                header_size,
                frame_size,
            } => {
                write!(
                    f,
                    "header length {header_size} exceeds frame length {frame_size}"
                )
            }
            SerializeTypeUnknown { value } => write!(f, "unknown serialize type {value}"),
            HeaderTruncated {
                field,
                needed,
                available,
            } => write!(
                f,
                "header truncated at {field}: {needed} bytes needed, {available} available"
            ),
            HeaderFieldLengthInvalid { field, length } => {
                write!(f, "invalid length {length} for header field {field}")
            }
            Utf8Invalid { field } => write!(f, "{field} is not valid UTF-8"),
            JsonInvalid { what, reason } => write!(f, "invalid JSON in {what}: {reason}"),
            FieldMissing { name } => write!(f, "required field {name} is missing"),
            FieldInvalid { name, value } => write!(f, "field {name} has invalid value {value:?}"),
            RecordTruncated { needed, available } => write!(
                f,
                "message record truncated: {needed} bytes needed, {available} available"
            ),
            RecordMagicUnknown { magic } => write!(f, "unknown record magic code {magic:#010x}"),
            RecordSizeMismatch { declared, computed } => write!(
                f,
                "record declares {declared} bytes but its fields take {computed}"
            ),
            RecordCrcMismatch { stored, computed } => write!(
                f,
                "record body CRC {stored:#010x} does not match computed {computed:#010x}"
            ),
            FieldTooLong {
                name,
                size,
                size_max,
            } => {
                write!(
                    f,
                    "{name} of {size} bytes exceeds the maximum of {size_max}"
                )
            }
            CompressionInvalid { reason } => write!(f, "cannot decompress: {reason}"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<std::io::Error> for DecodeError {
    fn from(error: std::io::Error) -> Self {
        DecodeError::CompressionInvalid {
            reason: error.to_string(),
        }
    }
}
