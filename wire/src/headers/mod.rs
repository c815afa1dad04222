//! Typed views of `extFields`: one struct per request or response header, converted to and from
//! the string map with every missing or malformed field reported by name.
//!
//! Each header implements [`CommandHeader`]. Values are written the way Java's `toString()`
//! writes them (decimal numbers, `true`/`false`, enum names); absent optional fields are not
//! written at all. Unknown ext fields (`bname`, ACL signatures, `ReqT`, ...) are ignored.
//!
//! One submodule per request family: [`send`] (send, send-back, transactions), [`pull`],
//! [`offset`] (consumer and queue offsets), [`client`] (client management and broker-to-client
//! calls), [`namesrv`] (everything addressed to a name server) and [`admin`]. Field names are
//! the Java ext-field names verbatim; struct fields are their snake_case forms.

use std::str::FromStr;

use crate::command::ExtFields;
use crate::error::DecodeError;

/// Declares a header struct and its [`CommandHeader`] impl from one list of fields, so that the
/// Java name, the Rust name, the type and the presence rule of a field sit on one line.
///
/// Field kinds:
/// - `required`: absent is `FieldMissing`; always written.
/// - `optional`: an `Option`; absent is `None` and `None` is not written.
/// - `default`: `=> value` when absent; always written, as Java writes its primitive fields.
///
/// An optional trailing `check = path;` names a `fn(&Header) -> Result<(), DecodeError>` run
/// after every field is read (Java's `checkFields`).
macro_rules! header {
    (@type required $ty:ty) => { $ty };
    (@type optional $ty:ty) => { Option<$ty> };
    (@type default $ty:ty) => { $ty };
    (@read required $fields:ident, $key:expr, $ty:ty) => {
        $crate::headers::required::<$ty>($fields, $key)?
    };
    (@read optional $fields:ident, $key:expr, $ty:ty) => {
        $crate::headers::optional::<$ty>($fields, $key)?
    };
    (@read default $fields:ident, $key:expr, $ty:ty, $default:expr) => {
        $crate::headers::optional::<$ty>($fields, $key)?.unwrap_or_else(|| $default)
    };
    (@write required $fields:ident, $key:expr, $value:expr) => {
        $fields.insert($key, $crate::headers::FieldValue::write_field($value))
    };
    (@write default $fields:ident, $key:expr, $value:expr) => {
        $fields.insert($key, $crate::headers::FieldValue::write_field($value))
    };
    (@write optional $fields:ident, $key:expr, $value:expr) => {
        $crate::headers::write_optional($fields, $key, $value)
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $kind:ident $field:ident : $ty:ty = $key:expr $(=> $default:expr)?
            ),* $(,)?
        }
        $(check = $check:path;)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: header!(@type $kind $ty),
            )*
        }

        impl $crate::headers::CommandHeader for $name {
            fn write_to(&self, fields: &mut $crate::command::ExtFields) {
                $(header!(@write $kind fields, $key, &self.$field);)*
            }

            fn read_from(
                fields: &$crate::command::ExtFields,
            ) -> Result<Self, $crate::error::DecodeError> {
                let header = $name {
                    $($field: header!(@read $kind fields, $key, $ty $(, $default)?),)*
                };
                $($check(&header)?;)?
                Ok(header)
            }
        }
    };
}

pub mod admin;
pub mod client;
pub mod namesrv;
pub mod offset;
pub mod pull;
pub mod send;

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

/// Checks shared by the tests of every header family.
#[cfg(test)]
pub(crate) mod test_support {
    use std::fmt::Debug;

    use super::CommandHeader;
    use crate::command::ExtFields;
    use crate::error::DecodeError;

    /// Writes `header`, adds the ext fields real clients add on top (`bname` since 4.9.5, ACL
    /// signatures), reads it back and requires equality.
    pub fn assert_round_trip<H: CommandHeader + PartialEq + Debug>(header: &H) {
        let mut fields = header.to_ext_fields();
        fields.insert("bname", "broker-a");
        fields.insert("AccessKey", "rocketmq2");
        fields.insert("Signature", "c2lnbmF0dXJl");
        assert_eq!(H::read_from(&fields).as_ref(), Ok(header));
    }

    /// Removes `name` from the written `header` and requires `FieldMissing` naming it.
    pub fn assert_missing<H: CommandHeader + Debug>(header: &H, name: &'static str) {
        let mut fields = header.to_ext_fields();
        assert!(fields.remove(name).is_some(), "{name} was not written");
        assert_eq!(
            H::read_from(&fields).err(),
            Some(DecodeError::FieldMissing { name })
        );
    }

    /// Replaces `name` with `value` and requires `FieldInvalid` naming both.
    pub fn assert_invalid<H: CommandHeader + Debug>(header: &H, name: &'static str, value: &str) {
        let mut fields = header.to_ext_fields();
        fields.insert(name, value);
        let expected = DecodeError::FieldInvalid {
            name,
            value: value.to_string(),
        };
        assert_eq!(H::read_from(&fields).err(), Some(expected));
    }

    /// Builds ext fields from literal pairs.
    pub fn fields(pairs: &[(&str, &str)]) -> ExtFields {
        pairs.iter().map(|(k, v)| (*k, *v)).collect()
    }
}
