//! `RemotingCommand`: the unit every RocketMQ peer exchanges, and its frame encoding.
//!
//! ```text
//! +----------+------+------------+-------------------+------------------+
//! | length   | type | header len | header            | body             |
//! | i32 BE   | u8   | u24 BE     | JSON or ROCKETMQ  | opaque bytes     |
//! +----------+------+------------+-------------------+------------------+
//!   length = 4 + header len + body len (everything after the length word)
//! ```
//!
//! The header is serialised as JSON (type 0) or in the binary ROCKETMQ layout (type 1); a
//! command remembers the type it arrived in so that a server answers in kind
//! ([`RemotingCommand::response_to`]). Ext fields keep their insertion order so that a decoded
//! frame re-encodes to the same bytes.

use crate::code::{RequestCode, ResponseCode};
use crate::error::DecodeError;
use crate::{header_binary, header_json, VERSION_CURRENT};

/// Flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// Flag bit 1: the request expects no response.
pub const FLAG_ONEWAY: i32 = 2;
/// Largest header the 24-bit header-length field can describe.
pub const HEADER_SIZE_MAX: usize = (1 << 24) - 1;

/// How the header of a frame is serialised (the high byte of the header-length word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    #[default]
    Json,
    RocketMq,
}

impl SerializeType {
    pub fn from_byte(value: u8) -> Result<Self, DecodeError> {
        match value {
            0 => Ok(SerializeType::Json),
            1 => Ok(SerializeType::RocketMq),
            other => Err(DecodeError::SerializeTypeUnknown { value: other }),
        }
    }

    pub fn as_byte(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// The name Java writes in `serializeTypeCurrentRPC` and reads from `rocketmq.serialize.type`.
    pub fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        }
    }
}

/// The sender's language (`LanguageCode.java`): a name in JSON headers, a byte in binary ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LanguageCode {
    #[default]
    Java,
    Cpp,
    Dotnet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    /// A byte beyond the table, kept as received.
    Unknown(u8),
}

const LANGUAGE_NAMES: [&str; 13] = [
    "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP",
    "OMS", "RUST",
];

impl LanguageCode {
    pub fn from_byte(value: u8) -> Self {
        use LanguageCode::*;
        match value {
            0 => Java,
            1 => Cpp,
            2 => Dotnet,
            3 => Python,
            4 => Delphi,
            5 => Erlang,
            6 => Ruby,
            7 => Other,
            8 => Http,
            9 => Go,
            10 => Php,
            11 => Oms,
            12 => Rust,
            other => Unknown(other),
        }
    }

    pub fn as_byte(self) -> u8 {
        use LanguageCode::*;
        match self {
            Java => 0,
            Cpp => 1,
            Dotnet => 2,
            Python => 3,
            Delphi => 4,
            Erlang => 5,
            Ruby => 6,
            Other => 7,
            Http => 8,
            Go => 9,
            Php => 10,
            Oms => 11,
            Rust => 12,
            Unknown(other) => other,
        }
    }

    /// The enum name Java writes in JSON headers; a byte outside the table is written `OTHER`.
    pub fn name(self) -> &'static str {
        LANGUAGE_NAMES
            .get(usize::from(self.as_byte()))
            .copied()
            .unwrap_or("OTHER")
    }

    /// Parses a JSON language name; a name outside the table becomes `Other` (Java reads it as
    /// null, Go as "unknown": neither rejects the frame).
    pub fn from_name(name: &str) -> Self {
        match LANGUAGE_NAMES.iter().position(|known| *known == name) {
            Some(index) => LanguageCode::from_byte(index as u8),
            None => LanguageCode::Other,
        }
    }
}

/// The `extFields` map: the typed header's fields as strings, in insertion order.
pub type ExtFields = crate::string_map::StringMap;

/// One request or response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemotingCommand {
    /// Request code for requests, response code for responses; see [`Self::request_code`].
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    pub opaque: i32,
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: ExtFields,
    pub body: Vec<u8>,
    /// The header serialisation this command arrived in, or will be encoded in.
    pub serialize_type: SerializeType,
}

impl RemotingCommand {
    /// A new request as this project originates it: language JAVA (see the spec: older Java
    /// peers decode unknown languages to null), version [`VERSION_CURRENT`], JSON header.
    pub fn request(code: RequestCode, opaque: i32) -> Self {
        RemotingCommand {
            code: code.as_i32(),
            language: LanguageCode::Java,
            version: VERSION_CURRENT,
            opaque,
            ..RemotingCommand::default()
        }
    }

    /// The response to `request`: same opaque, same header serialisation, response flag set.
    pub fn response_to(request: &RemotingCommand, code: ResponseCode) -> Self {
        RemotingCommand {
            code: code.as_i32(),
            language: LanguageCode::Java,
            version: VERSION_CURRENT,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            serialize_type: request.serialize_type,
            ..RemotingCommand::default()
        }
    }

    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    pub fn with_ext(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.ext_fields.insert(key, value);
        self
    }

    pub fn with_serialize_type(mut self, serialize_type: SerializeType) -> Self {
        self.serialize_type = serialize_type;
        self
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    pub fn request_code(&self) -> RequestCode {
        RequestCode::from_i32(self.code)
    }

    pub fn response_code(&self) -> ResponseCode {
        ResponseCode::from_i32(self.code)
    }

    /// Decodes one whole frame, length word included. `frame.len()` must equal the length word
    /// plus four; [`crate::FrameDecoder`] finds frame boundaries in a stream.
    pub fn decode_frame(frame: &[u8]) -> Result<Self, DecodeError> {
        let available = frame.len();
        if available < 8 {
            return Err(DecodeError::HeaderTruncated {
                field: "frame",
                needed: 8,
                available,
            });
        }
        let length = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        if length < 4 || length as usize != available - 4 {
            return Err(DecodeError::FrameLengthInvalid { length });
        }
        Self::decode_payload(&frame[4..])
    }

    /// Decodes what follows the length word: header-length word, header, body.
    pub fn decode_payload(payload: &[u8]) -> Result<Self, DecodeError> {
        let available = payload.len();
        if available < 4 {
            return Err(DecodeError::HeaderTruncated {
                field: "header length",
                needed: 4,
                available,
            });
        }
        let serialize_type = SerializeType::from_byte(payload[0])?;
        let header_size =
            usize::from(payload[1]) << 16 | usize::from(payload[2]) << 8 | usize::from(payload[3]);
        if header_size > available - 4 {
            return Err(DecodeError::HeaderLengthInvalid {
                header_size,
                frame_size: available,
            });
        }
        let header = &payload[4..4 + header_size];
        let mut command = match serialize_type {
            SerializeType::Json => header_json::decode(header)?,
            SerializeType::RocketMq => header_binary::decode(header)?,
        };
        command.serialize_type = serialize_type;
        command.body = payload[4 + header_size..].to_vec();
        Ok(command)
    }

    /// Appends the whole frame (length word, header, body) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.encode_header(self.body.len(), out)?;
        out.extend_from_slice(&self.body);
        Ok(())
    }

    /// The whole frame as a new vector.
    pub fn to_frame(&self) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::with_capacity(64 + self.body.len());
        self.encode(&mut out)?;
        Ok(out)
    }

    /// Appends the length word and header of a frame whose body of `body_size` bytes the
    /// caller writes next (a pull response hands stored records over without copying them
    /// into the command). `self.body` is ignored.
    pub fn encode_header(&self, body_size: usize, out: &mut Vec<u8>) -> Result<(), DecodeError> {
        let start = out.len();
        out.extend_from_slice(&[0; 8]);
        match self.serialize_type {
            SerializeType::Json => header_json::encode(self, out),
            SerializeType::RocketMq => header_binary::encode(self, out)?,
        }
        let header_size = out.len() - start - 8;
        let frame_size = 4 + header_size + body_size;
        if header_size > HEADER_SIZE_MAX {
            out.truncate(start);
            let (size, size_max) = (header_size, HEADER_SIZE_MAX);
            return Err(DecodeError::FieldTooLong {
                name: "header",
                size,
                size_max,
            });
        }
        if frame_size > i32::MAX as usize {
            out.truncate(start);
            let (size, size_max) = (frame_size, i32::MAX as usize);
            return Err(DecodeError::FieldTooLong {
                name: "frame",
                size,
                size_max,
            });
        }
        out[start..start + 4].copy_from_slice(&(frame_size as i32).to_be_bytes());
        let header_word = u32::from(self.serialize_type.as_byte()) << 24 | header_size as u32;
        out[start + 4..start + 8].copy_from_slice(&header_word.to_be_bytes());
        Ok(())
    }
}
