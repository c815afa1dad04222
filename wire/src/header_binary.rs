//! The binary ROCKETMQ header serialisation (type 1), `RocketMQSerializable.java`.
//!
//! ```text
//! +------+------+---------+--------+------+-----------+--------+--------+-------------+
//! | code | lang | version | opaque | flag | remarkLen | remark | extLen | ext entries |
//! | i16  | u8   | i16     | i32    | i32  | i32       | UTF-8  | i32    |             |
//! +------+------+---------+--------+------+-----------+--------+--------+-------------+
//!   21 fixed bytes; ext entry = keyLen i16 | key | valueLen i32 | value; big-endian
//! ```
//!
//! Every length is checked against the bytes actually present before anything is copied, so a
//! lying length yields an error, never an allocation of the claimed size.

use byteorder::{BigEndian, ByteOrder};

use crate::command::{ExtFields, LanguageCode, RemotingCommand};
use crate::error::DecodeError;

struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, size: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let available = self.bytes.len() - self.position;
        if size > available {
            return Err(DecodeError::HeaderTruncated {
                field,
                needed: size,
                available,
            });
        }
        let slice = &self.bytes[self.position..self.position + size];
        self.position += size;
        Ok(slice)
    }

    fn i16(&mut self, field: &'static str) -> Result<i16, DecodeError> {
        Ok(BigEndian::read_i16(self.take(2, field)?))
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(BigEndian::read_i32(self.take(4, field)?))
    }

    fn text(&mut self, length: i64, field: &'static str) -> Result<&'a str, DecodeError> {
        let available = self.bytes.len() - self.position;
        if length < 0 || length as u64 > available as u64 {
            return Err(DecodeError::HeaderFieldLengthInvalid { field, length });
        }
        let bytes = self.take(length as usize, field)?;
        std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8Invalid { field })
    }
}

pub(crate) fn decode(header: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let mut reader = Reader {
        bytes: header,
        position: 0,
    };
    let code = i32::from(reader.i16("code")?);
    let language = LanguageCode::from_byte(reader.take(1, "language")?[0]);
    let version = i32::from(reader.i16("version")?);
    let opaque = reader.i32("opaque")?;
    let flag = reader.i32("flag")?;
    let remark_size = reader.i32("remark length")?;
    let remark = match remark_size {
        0 => None,
        size => Some(reader.text(i64::from(size), "remark")?.to_string()),
    };
    let ext_size = reader.i32("ext length")?;
    let ext_bytes = match ext_size {
        0 => &[][..],
        size => {
            let available = header.len() - reader.position;
            if size < 0 || size as usize > available {
                let length = i64::from(size);
                return Err(DecodeError::HeaderFieldLengthInvalid {
                    field: "ext fields",
                    length,
                });
            }
            reader.take(size as usize, "ext fields")?
        }
    };
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields: decode_ext_fields(ext_bytes)?,
        ..RemotingCommand::default()
    })
}

fn decode_ext_fields(bytes: &[u8]) -> Result<ExtFields, DecodeError> {
    let mut reader = Reader { bytes, position: 0 };
    let mut fields = ExtFields::new();
    while reader.position < bytes.len() {
        let key_size = reader.i16("ext key length")?;
        let key = reader.text(i64::from(key_size), "ext key")?;
        let value_size = reader.i32("ext value length")?;
        let value = reader.text(i64::from(value_size), "ext value")?;
        // A zero-length key reads back as null in Java and is dropped from the map.
        if !key.is_empty() {
            fields.insert(key, value);
        }
    }
    Ok(fields)
}

pub(crate) fn encode(command: &RemotingCommand, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    let code = i16::try_from(command.code).map_err(|_| DecodeError::FieldInvalid {
        name: "code",
        value: command.code.to_string(),
    })?;
    let version = i16::try_from(command.version).map_err(|_| DecodeError::FieldInvalid {
        name: "version",
        value: command.version.to_string(),
    })?;
    out.extend_from_slice(&code.to_be_bytes());
    out.push(command.language.as_byte());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&command.opaque.to_be_bytes());
    out.extend_from_slice(&command.flag.to_be_bytes());
    let remark = command.remark.as_deref().unwrap_or("");
    out.extend_from_slice(&(remark.len() as i32).to_be_bytes());
    out.extend_from_slice(remark.as_bytes());
    let ext_size_position = out.len();
    out.extend_from_slice(&[0; 4]);
    for (key, value) in command.ext_fields.iter() {
        let key_size = i16::try_from(key.len()).map_err(|_| DecodeError::FieldTooLong {
            name: "ext key",
            size: key.len(),
            size_max: i16::MAX as usize,
        })?;
        out.extend_from_slice(&key_size.to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(value.len() as i32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    let ext_size = (out.len() - ext_size_position - 4) as i32;
    out[ext_size_position..ext_size_position + 4].copy_from_slice(&ext_size.to_be_bytes());
    Ok(())
}
