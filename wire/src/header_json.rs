//! The JSON header serialisation (type 0), as fastjson writes it for Java and as the Go, C++
//! and Node clients write it.
//!
//! Reading is lenient: any field order, missing fields (zero / absent), unknown fields ignored,
//! `remark` as `""` or `null`, `language` as a name or a number, ext-field values that are not
//! strings turned into their text. Writing follows Java: alphabetical fields, `remark` and
//! `extFields` only when present, every ext-field value a JSON string (Go decodes
//! `map[string]string` and rejects the whole frame otherwise).

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::command::{ExtFields, LanguageCode, RemotingCommand};
use crate::error::DecodeError;

const WHAT: &str = "JSON header";

pub(crate) fn decode(header: &[u8]) -> Result<RemotingCommand, DecodeError> {
    let text = std::str::from_utf8(header).map_err(|_| DecodeError::Utf8Invalid { field: WHAT })?;
    let object: Object = serde_json::from_str(text).map_err(|error| DecodeError::JsonInvalid {
        what: WHAT,
        reason: error.to_string(),
    })?;
    Ok(RemotingCommand {
        code: int_field(&object, "code")?,
        language: language_field(&object)?,
        version: int_field(&object, "version")?,
        opaque: int_field(&object, "opaque")?,
        flag: int_field(&object, "flag")?,
        remark: match get(&object, "remark") {
            None | Some(Value::Null) => None,
            Some(Value::String(remark)) => Some(remark.clone()),
            Some(other) => Some(other.to_string()),
        },
        ext_fields: ext_fields(&object),
        ..RemotingCommand::default()
    })
}

/// A JSON object as its members in document order: `serde_json::Map` sorts its keys unless
/// a crate-wide feature says otherwise, and ext fields must re-encode in the order they came.
/// The header's own `extFields` member is kept apart, itself in order.
#[derive(Default)]
struct Object {
    members: Vec<(String, Value)>,
    ext_fields: Option<Vec<(String, Value)>>,
}

struct ObjectVisitor {
    top_level: bool,
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
        let mut object = Object::default();
        while let Some(key) = map.next_key::<String>()? {
            if self.top_level && key == "extFields" {
                let ext: Option<ExtObject> = map.next_value()?;
                object.ext_fields = ext.map(|ext| ext.0.members);
            } else {
                object.members.push((key, map.next_value()?));
            }
        }
        Ok(object)
    }
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor { top_level: true })
    }
}

struct ExtObject(Object);

impl<'de> Deserialize<'de> for ExtObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_map(ObjectVisitor { top_level: false })
            .map(ExtObject)
    }
}

/// The last member named `name`, as a JSON parser that keeps the last duplicate would see it.
fn get<'a>(object: &'a Object, name: &str) -> Option<&'a Value> {
    object
        .members
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

fn field_invalid(name: &'static str, value: &Value) -> DecodeError {
    DecodeError::FieldInvalid {
        name,
        value: value.to_string(),
    }
}

fn int_field(object: &Object, name: &'static str) -> Result<i32, DecodeError> {
    match get(object, name) {
        None | Some(Value::Null) => Ok(0),
        Some(value @ Value::Number(number)) => number
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| field_invalid(name, value)),
        Some(value @ Value::String(text)) => {
            text.trim().parse().map_err(|_| field_invalid(name, value))
        }
        Some(value) => Err(field_invalid(name, value)),
    }
}

fn language_field(object: &Object) -> Result<LanguageCode, DecodeError> {
    match get(object, "language") {
        None | Some(Value::Null) => Ok(LanguageCode::Other),
        Some(Value::String(name)) => Ok(LanguageCode::from_name(name)),
        Some(value @ Value::Number(number)) => number
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .map(LanguageCode::from_byte)
            .ok_or_else(|| field_invalid("language", value)),
        Some(value) => Err(field_invalid("language", value)),
    }
}

fn ext_fields(object: &Object) -> ExtFields {
    let mut fields = ExtFields::new();
    for (key, value) in object.ext_fields.iter().flatten() {
        match value {
            Value::Null => {}
            Value::String(text) => {
                fields.insert(key.as_str(), text.as_str());
            }
            other => {
                fields.insert(key.as_str(), other.to_string());
            }
        }
    }
    fields
}

pub(crate) fn encode(command: &RemotingCommand, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"code\":");
    out.extend_from_slice(command.code.to_string().as_bytes());
    if !command.ext_fields.is_empty() {
        out.extend_from_slice(b",\"extFields\":{");
        for (index, (key, value)) in command.ext_fields.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            write_string(key, out);
            out.push(b':');
            write_string(value, out);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b",\"flag\":");
    out.extend_from_slice(command.flag.to_string().as_bytes());
    out.extend_from_slice(b",\"language\":");
    write_string(command.language.name(), out);
    out.extend_from_slice(b",\"opaque\":");
    out.extend_from_slice(command.opaque.to_string().as_bytes());
    if let Some(remark) = &command.remark {
        out.extend_from_slice(b",\"remark\":");
        write_string(remark, out);
    }
    out.extend_from_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    out.extend_from_slice(command.version.to_string().as_bytes());
    out.push(b'}');
}

/// Writes a JSON string literal; serde_json's escaping matches what fastjson and Go accept.
pub(crate) fn write_string(text: &str, out: &mut Vec<u8>) {
    // Serialising a &str into a Vec cannot fail: the writer is infallible and a str is valid.
    if serde_json::to_writer(&mut *out, text).is_err() {
        unreachable!("serialising a str to a Vec<u8> is infallible");
    }
}
