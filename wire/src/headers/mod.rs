//! Typed views of `extFields`: one struct per request or response header, converted to and from
//! the string map with every missing or malformed field reported by name.
//!
//! Each header implements [`CommandHeader`]. Values are written the way Java's `toString()`
//! writes them (decimal numbers, `true`/`false`, enum names); absent optional fields are not
//! written at all. Unknown ext fields (`bname`, ACL signatures, `ReqT`, ...) are ignored.

use std::str::FromStr;

use crate::command::ExtFields;
use crate::error::DecodeError;

/// A header that lives in a command's ext fields.
pub trait CommandHeader: Sized {
    /// Writes every present field into `fields`.
    fn write_to(&self, fields: &mut ExtFields);
    /// Reads the header, failing on the first missing required or malformed field.
    fn read_from(fields: &ExtFields) -> Result<Self, DecodeError>;

    fn to_ext_fields(&self) -> ExtFields {
        let mut fields = ExtFields::new();
        self.write_to(&mut fields);
        fields
    }
}

/// Parses a field value; Java `Boolean.parseBoolean` semantics for booleans are handled by
/// [`FieldValue`] so that `"TRUE"` and `"True"` are accepted as Java accepts them.
pub trait FieldValue: Sized {
    fn parse_field(text: &str) -> Option<Self>;
    fn write_field(&self) -> String;
}

macro_rules! field_value_from_str {
    ($($t:ty),*) => {$(
        impl FieldValue for $t {
            fn parse_field(text: &str) -> Option<Self> {
                <$t>::from_str(text.trim()).ok()
            }
            fn write_field(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

field_value_from_str!(i8, i16, i32, i64, u8, u16, u32, u64);

impl FieldValue for bool {
    fn parse_field(text: &str) -> Option<Self> {
        // Java's Boolean.parseBoolean: "true" in any case is true, anything else false.
        Some(text.trim().eq_ignore_ascii_case("true"))
    }
    fn write_field(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for String {
    fn parse_field(text: &str) -> Option<Self> {
        Some(text.to_string())
    }
    fn write_field(&self) -> String {
        self.clone()
    }
}

/// Reads a required field.
pub fn required<T: FieldValue>(fields: &ExtFields, name: &'static str) -> Result<T, DecodeError> {
    let text = fields.get(name).ok_or(DecodeError::FieldMissing { name })?;
    T::parse_field(text).ok_or_else(|| DecodeError::FieldInvalid {
        name,
        value: text.to_string(),
    })
}

/// Reads an optional field: absent is `None`, present but malformed is an error.
pub fn optional<T: FieldValue>(
    fields: &ExtFields,
    name: &'static str,
) -> Result<Option<T>, DecodeError> {
    match fields.get(name) {
        None => Ok(None),
        Some(text) => T::parse_field(text)
            .map(Some)
            .ok_or_else(|| DecodeError::FieldInvalid {
                name,
                value: text.to_string(),
            }),
    }
}

/// Writes an optional field only when present.
pub fn write_optional<T: FieldValue>(fields: &mut ExtFields, name: &str, value: &Option<T>) {
    if let Some(value) = value {
        fields.insert(name, value.write_field());
    }
}
