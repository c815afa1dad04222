//! fastjson's departures from JSON, which the Java servers and tools produce and expect.
//!
//! - Maps with integer keys are written with the keys unquoted: `{"brokerAddrs":{0:"a:1"}}`.
//!   [`normalize`] quotes such keys so that any JSON parser (serde_json here) reads the text;
//!   writers that must produce the legacy form do so explicitly ([`write_integer_key_map`]).
//! - Bean fields are written in alphabetical order, nulls omitted; our serde types declare
//!   their fields alphabetically for that reason.

use serde::de::DeserializeOwned;

use crate::error::DecodeError;

/// Rewrites fastjson text into standard JSON by quoting bare integer object keys. Text that is
/// already standard JSON comes back unchanged (borrowed). Never fails: malformed input stays
/// malformed and is reported by the JSON parser afterwards.
pub fn normalize(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    // Which containers we are in: true for an object, false for an array. Bounded by the
    // input's length, so a hostile nesting depth costs memory proportional to the text only.
    let mut objects: Vec<bool> = Vec::new();
    let mut rewriter = Rewriter {
        text,
        out: None,
        copied: 0,
    };
    let mut in_string = false;
    let mut escaped = false;
    let mut expect_key = false;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if in_string {
            in_string = string_continues(byte, &mut escaped);
            index += 1;
            continue;
        }
        if expect_key && (byte == b'{' || byte.is_ascii_digit() || byte == b'-') {
            index = rewriter.quote_key(index);
            expect_key = false;
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' => objects.push(true),
            b'[' => objects.push(false),
            b'}' | b']' => {
                objects.pop();
            }
            _ => {}
        }
        expect_key = match byte {
            b'{' => true,
            b',' => objects.last() == Some(&true),
            b if b.is_ascii_whitespace() => expect_key,
            _ => false,
        };
        index += 1;
    }
    rewriter.finish()
}

/// Copies text through, replacing non-string keys by string keys.
struct Rewriter<'a> {
    text: &'a str,
    out: Option<String>,
    copied: usize,
}

impl<'a> Rewriter<'a> {
    /// Quotes the key starting at `start` (an integer, or an object as fastjson writes
    /// MessageQueue-keyed maps) and returns the index just past it.
    fn quote_key(&mut self, start: usize) -> usize {
        let bytes = self.text.as_bytes();
        let end = if bytes[start] == b'{' {
            object_end(bytes, start)
        } else {
            start
                + 1
                + bytes[start + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count()
        };
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.text.len() + 16));
        out.push_str(&self.text[self.copied..start]);
        write_string(&self.text[start..end], out);
        self.copied = end;
        end
    }

    fn finish(self) -> std::borrow::Cow<'a, str> {
        match self.out {
            None => std::borrow::Cow::Borrowed(self.text),
            Some(mut out) => {
                out.push_str(&self.text[self.copied..]);
                std::borrow::Cow::Owned(out)
            }
        }
    }
}

/// The index just past the object starting at `start` (or the end of the text if it never
/// closes), skipping braces inside strings.
fn object_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &byte) in bytes[start..].iter().enumerate() {
        if in_string {
            in_string = string_continues(byte, &mut escaped);
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return start + offset + 1;
                }
            }
            _ => {}
        }
    }
    bytes.len()
}

/// Whether a JSON string literal goes on after `byte`, tracking backslash escapes.
fn string_continues(byte: u8, escaped: &mut bool) -> bool {
    if *escaped {
        *escaped = false;
        true
    } else if byte == b'\\' {
        *escaped = true;
        true
    } else {
        byte != b'"'
    }
}

/// Parses JSON or fastjson text (invalid UTF-8 and invalid JSON are typed errors).
pub fn from_fastjson<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8Invalid { field: what })?;
    serde_json::from_str(&normalize(text)).map_err(|error| DecodeError::JsonInvalid {
        what,
        reason: error.to_string(),
    })
}

/// Writes a JSON string literal.
pub fn write_string(text: &str, out: &mut String) {
    // Serialising a str into a String cannot fail.
    if let Ok(literal) = serde_json::to_string(text) {
        out.push_str(&literal);
    }
}

/// Writes `{k:"v",...}` with integer keys quoted (`standard_json`) or bare (fastjson legacy).
pub fn write_integer_key_map<'a>(
    entries: impl IntoIterator<Item = (i64, &'a str)>,
    standard_json: bool,
    out: &mut String,
) {
    out.push('{');
    for (index, (key, value)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        if standard_json {
            out.push('"');
            out.push_str(&key.to_string());
            out.push('"');
        } else {
            out.push_str(&key.to_string());
        }
        out.push(':');
        write_string(value, out);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bare_integer_keys_are_quoted() {
        let legacy = r#"{"brokerAddrs":{0:"a:1",1:"b:2"},"offsetTable":{"T@g":{0:250, -1:3}}}"#;
        assert_eq!(
            normalize(legacy),
            r#"{"brokerAddrs":{"0":"a:1","1":"b:2"},"offsetTable":{"T@g":{"0":250, "-1":3}}}"#
        );
    }

    #[test]
    fn standard_json_and_strings_are_untouched() {
        for text in [
            r#"{"a":"{0:1}","b":[1,2,{"0":3}]}"#,
            r#"{"x":"é,{1:2}\"","y":-1}"#,
            "[1,-2]",
        ] {
            assert_eq!(normalize(text), text);
        }
    }

    #[test]
    fn non_ascii_survives_normalisation() {
        assert_eq!(normalize(r#"{"名":{0:"é"}}"#), r#"{"名":{"0":"é"}}"#);
    }

    #[test]
    fn object_keys_become_string_keys() {
        let text = r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T{"}:{"maxOffset":10},
            {"brokerName":"b","queueId":1,"topic":"T"}:{"maxOffset":3}}}"#;
        let value: serde_json::Value = serde_json::from_str(&normalize(text)).unwrap();
        let table = value["offsetTable"].as_object().unwrap();
        assert_eq!(
            table[r#"{"brokerName":"b","queueId":0,"topic":"T{"}"#]["maxOffset"],
            10
        );
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn legacy_and_standard_maps() {
        let mut out = String::new();
        write_integer_key_map([(0, "a:1"), (1, "b\"2")], false, &mut out);
        assert_eq!(out, r#"{0:"a:1",1:"b\"2"}"#);
        out.clear();
        write_integer_key_map([(0, "a:1")], true, &mut out);
        assert_eq!(out, r#"{"0":"a:1"}"#);
    }

    proptest! {
        #[test]
        fn normalize_never_panics(text in "(?s).{0,64}") {
            let _ = normalize(&text);
        }

        #[test]
        fn normalize_fixes_legacy_maps(
            entries in proptest::collection::btree_map(any::<i64>(), "[a-z:0-9]{0,8}", 0..5)
        ) {
            let mut legacy = String::new();
            let pairs = entries.iter().map(|(k, v)| (*k, v.as_str()));
            write_integer_key_map(pairs, false, &mut legacy);
            let parsed: std::collections::BTreeMap<i64, String> =
                from_fastjson(legacy.as_bytes(), "map").unwrap();
            prop_assert_eq!(parsed, entries);
        }
    }
}
