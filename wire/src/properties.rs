//! Message properties: the `String -> String` map a message carries, and its one-string encoding.
//!
//! ```text
//! +-----+----+-------+----+-----+----+-------+
//! | key | 01 | value | 02 | key | 01 | value |    UTF-8, no trailing 02 when written
//! +-----+----+-------+----+-----+----+-------+
//!   01 = NAME_VALUE_SEPARATOR, 02 = PROPERTY_SEPARATOR
//!   in a stored record the string is prefixed by PROPLEN (i16) => at most 32767 bytes
//! ```
//!
//! Decoding follows Java's `MessageDecoder.string2messageProperties`: the string is cut at every
//! 0x02; in each segment the key is everything before the first 0x01 and the value everything
//! after it (a value may itself contain 0x01). A segment whose key or value is empty, or that has
//! no 0x01 at all, is dropped, so any string decodes: one without separators gives an empty map,
//! a trailing 0x02 is harmless. A key seen twice keeps its first position and its last value.
//!
//! [`Properties`] keeps insertion order so a decoded string re-encodes to the same bytes (when it
//! had no dropped segments and no duplicate keys). Java writes HashMap order; nobody depends on
//! it. The record encoder, not this module, enforces [`PROPERTIES_SIZE_MAX`].

use crate::error::DecodeError;

/// Separates a key from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separates one `key 01 value` entry from the next.
pub const PROPERTY_SEPARATOR: char = '\u{2}';
/// Separates the keys inside the [`KEYS`] value.
pub const KEY_SEPARATOR: char = ' ';
/// The PROPLEN field of a stored record is a signed 16-bit length.
pub const PROPERTIES_SIZE_MAX: usize = i16::MAX as usize;

/// User keys, space separated; indexed.
pub const KEYS: &str = "KEYS";
/// The single tag; consume queues store its Java hash.
pub const TAGS: &str = "TAGS";
/// `"true"`/`"false"`: wait for flush and replication before answering (true when absent).
pub const WAIT: &str = "WAIT";
/// Delay level, 1..N.
pub const DELAY: &str = "DELAY";
/// The client-built unique id (see [`crate::message_id::UniqueKeyParts`]); also the
/// transaction id.
pub const UNIQ_KEY: &str = "UNIQ_KEY";
/// Original topic of a retried message.
pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Original topic while parked in the schedule or half topic.
pub const REAL_TOPIC: &str = "REAL_TOPIC";
/// Original queue id while parked in the schedule or half topic.
pub const REAL_QID: &str = "REAL_QID";
/// `"true"` on a transactional half message.
pub const TRAN_MSG: &str = "TRAN_MSG";
/// Producer group, used for transaction check-back.
pub const PGROUP: &str = "PGROUP";
/// Set client-side on pulled messages from the pull response header.
pub const MIN_OFFSET: &str = "MIN_OFFSET";
/// Set client-side on pulled messages from the pull response header.
pub const MAX_OFFSET: &str = "MAX_OFFSET";
/// First msgId of a retried message.
pub const ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Client-side retry fallback; moved into the send header by the producer.
pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
/// Client-side retry fallback; moved into the send header by the producer.
pub const MAX_RECONSUME_TIMES: &str = "MAX_RECONSUME_TIMES";
pub const TRAN_PREPARED_QUEUE_OFFSET: &str = "TRAN_PREPARED_QUEUE_OFFSET";
pub const TRANSACTION_CHECK_TIMES: &str = "TRANSACTION_CHECK_TIMES";
pub const CHECK_IMMUNITY_TIME_IN_SECONDS: &str = "CHECK_IMMUNITY_TIME_IN_SECONDS";
/// Broker cluster name, added by the broker on every send.
pub const CLUSTER: &str = "CLUSTER";
/// Region id; also a send-response ext field.
pub const MSG_REGION: &str = "MSG_REGION";
/// Trace switch; also a send-response ext field.
pub const TRACE_ON: &str = "TRACE_ON";
pub const INSTANCE_ID: &str = "INSTANCE_ID";
pub const CORRELATION_ID: &str = "CORRELATION_ID";
pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
pub const TTL: &str = "TTL";
pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
/// `"reply"` on request/reply answers.
pub const MSG_TYPE: &str = "MSG_TYPE";
pub const CONSUME_START_TIME: &str = "CONSUME_START_TIME";
pub const BUYER_ID: &str = "BUYER_ID";
pub const TRANSFER_FLAG: &str = "TRANSFER_FLAG";
pub const CORRECTION_FLAG: &str = "CORRECTION_FLAG";
pub const MQ2_FLAG: &str = "MQ2_FLAG";
pub const INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
pub const INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";
/// Client-only user property carrying the transaction id.
pub const TRANSACTION_ID: &str = "__transactionId__";
/// Go `WithDelayTimestamp`; a 5.x timer feature that 4.9 brokers ignore.
pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";

/// A decoded property map, in the order of the encoded string.
pub type Properties = crate::string_map::StringMap;

/// Accessors for the well-known properties.
impl Properties {
    /// The [`TAGS`] value.
    pub fn tags(&self) -> Option<&str> {
        self.get(TAGS)
    }

    /// The [`KEYS`] value split on spaces, empty pieces skipped.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.get(KEYS)
            .unwrap_or("")
            .split(KEY_SEPARATOR)
            .filter(|key| !key.is_empty())
    }

    /// Whether the sender waits for flush/replication: [`WAIT`] absent means true, and like
    /// Java's `Boolean.parseBoolean` only a case-insensitive `"true"` is true.
    pub fn wait_store_ok(&self) -> bool {
        match self.get(WAIT) {
            Some(value) => value.eq_ignore_ascii_case("true"),
            None => true,
        }
    }
}

/// Splits `text` into its `(key, value)` entries, dropping malformed segments, in order and
/// without allocating. Duplicate keys are all yielded.
pub fn entries(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(PROPERTY_SEPARATOR).filter_map(|segment| {
        let (key, value) = segment.split_once(NAME_VALUE_SEPARATOR)?;
        (!key.is_empty() && !value.is_empty()).then_some((key, value))
    })
}

/// Looks `key` up in an encoded string without allocating; the last occurrence wins, as in
/// Java's decode into a map. Hot paths (dispatch reading TAGS, KEYS, UNIQ_KEY) use this.
pub fn find<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    entries(text)
        .filter(|(k, _)| *k == key)
        .last()
        .map(|(_, v)| v)
}

/// Decodes a property string. Never fails: malformed segments are dropped (see module doc).
pub fn decode(text: &str) -> Properties {
    entries(text).collect()
}

/// Encodes without a trailing separator; entries with an empty key or value are skipped
/// because a decoder would drop them anyway.
pub fn encode(properties: &Properties) -> String {
    let mut text = String::new();
    for (key, value) in properties.iter() {
        if key.is_empty() || value.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push(PROPERTY_SEPARATOR);
        }
        text.push_str(key);
        text.push(NAME_VALUE_SEPARATOR);
        text.push_str(value);
    }
    text
}

/// Appends the batch header's property string to one inner message's, the way the broker
/// builds each stored record of a batch: a 0x02 is inserted only when both are non-empty and
/// the inner string does not already end with one.
pub fn append(inner: &str, batch: &str) -> String {
    let mut text = String::with_capacity(inner.len() + batch.len() + 1);
    text.push_str(inner);
    if !inner.is_empty() && !batch.is_empty() && !inner.ends_with(PROPERTY_SEPARATOR) {
        text.push(PROPERTY_SEPARATOR);
    }
    text.push_str(batch);
    text
}

/// Checks that every entry survives an encode/decode round trip: keys free of both separators,
/// values free of 0x02. Java does not check this; a client should before sending.
pub fn validate(properties: &Properties) -> Result<(), DecodeError> {
    for (key, value) in properties.iter() {
        if key.contains([NAME_VALUE_SEPARATOR, PROPERTY_SEPARATOR]) {
            return Err(DecodeError::FieldInvalid {
                name: "property key",
                value: key.to_string(),
            });
        }
        if value.contains(PROPERTY_SEPARATOR) {
            return Err(DecodeError::FieldInvalid {
                name: "property value",
                value: value.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_java_written_string() {
        let properties = decode("KEYS\u{1}k1 k2\u{2}TAGS\u{1}TagA\u{2}WAIT\u{1}true");
        assert_eq!(properties.len(), 3);
        assert_eq!(properties.tags(), Some("TagA"));
        assert_eq!(properties.keys().collect::<Vec<_>>(), ["k1", "k2"]);
        assert!(properties.wait_store_ok());
    }

    #[test]
    fn gotcha_properties_parsing_drops_empty_keys_and_values() {
        let properties = decode("\u{1}v\u{2}k\u{1}\u{2}a\u{1}b\u{2}\u{2}\u{1}\u{2}c");
        assert_eq!(properties.iter().collect::<Vec<_>>(), [("a", "b")]);
    }

    #[test]
    fn string_without_separators_is_empty() {
        assert!(decode("").is_empty());
        assert!(decode("plain text").is_empty());
        assert!(decode("\u{2}\u{2}\u{2}").is_empty());
    }

    #[test]
    fn trailing_separator_is_tolerated() {
        let properties = decode("a\u{1}1\u{2}b\u{1}2\u{2}");
        assert_eq!(
            properties.iter().collect::<Vec<_>>(),
            [("a", "1"), ("b", "2")]
        );
    }

    #[test]
    fn value_keeps_inner_name_value_separator() {
        assert_eq!(decode("a\u{1}x\u{1}y").get("a"), Some("x\u{1}y"));
    }

    #[test]
    fn duplicate_key_keeps_last_value_like_java_map() {
        let text = "a\u{1}1\u{2}b\u{1}2\u{2}a\u{1}3";
        let properties = decode(text);
        assert_eq!(
            properties.iter().collect::<Vec<_>>(),
            [("a", "3"), ("b", "2")]
        );
        assert_eq!(find(text, "a"), Some("3"));
        assert_eq!(find(text, "c"), None);
    }

    #[test]
    fn encode_has_no_trailing_separator_and_skips_empty() {
        let mut properties = Properties::new();
        properties.insert(TAGS, "t");
        properties.insert("empty", "");
        properties.insert(KEYS, "k");
        assert_eq!(encode(&properties), "TAGS\u{1}t\u{2}KEYS\u{1}k");
        assert_eq!(encode(&Properties::new()), "");
    }

    #[test]
    fn insert_replaces_in_place_and_remove_works() {
        let mut properties: Properties = [("a", "1"), ("b", "2")].into_iter().collect();
        assert_eq!(properties.insert("a", "9"), Some("1".to_string()));
        assert_eq!(properties.iter().next(), Some(("a", "9")));
        assert_eq!(properties.remove("a"), Some("9".to_string()));
        assert_eq!(properties.remove("a"), None);
        assert!(!properties.contains_key("a"));
        assert_eq!(properties.len(), 1);
    }

    #[test]
    fn wait_follows_java_parse_boolean() {
        assert!(decode("WAIT\u{1}TRUE").wait_store_ok());
        assert!(!decode("WAIT\u{1}false").wait_store_ok());
        assert!(!decode("WAIT\u{1}yes").wait_store_ok());
    }

    #[test]
    fn gotcha_batch_encoder_appends_header_properties_to_every_inner_message() {
        let batch = "WAIT\u{1}true\u{2}CLUSTER\u{1}c";
        assert_eq!(
            append("UNIQ_KEY\u{1}u", batch),
            "UNIQ_KEY\u{1}u\u{2}WAIT\u{1}true\u{2}CLUSTER\u{1}c"
        );
        assert_eq!(
            append("UNIQ_KEY\u{1}u\u{2}", "C\u{1}c"),
            "UNIQ_KEY\u{1}u\u{2}C\u{1}c"
        );
        assert_eq!(append("", "C\u{1}c"), "C\u{1}c");
        assert_eq!(append("A\u{1}a", ""), "A\u{1}a");
    }

    #[test]
    fn validate_rejects_separators() {
        let bad_key: Properties = [("a\u{1}b", "v")].into_iter().collect();
        let bad_value: Properties = [("k", "v\u{2}w")].into_iter().collect();
        let good: Properties = [("k", "v\u{1}w")].into_iter().collect();
        assert!(matches!(
            validate(&bad_key),
            Err(DecodeError::FieldInvalid { .. })
        ));
        assert!(matches!(
            validate(&bad_value),
            Err(DecodeError::FieldInvalid { .. })
        ));
        assert_eq!(validate(&good), Ok(()));
    }

    fn key() -> impl Strategy<Value = String> {
        "[A-Za-z_%#. ]{1,12}"
    }

    proptest! {
        #[test]
        fn round_trip(map in proptest::collection::btree_map(key(), "[^\u{2}]{1,20}", 0..8)) {
            let properties: Properties = map.into_iter().collect();
            prop_assert_eq!(validate(&properties), Ok(()));
            let text = encode(&properties);
            prop_assert!(!text.ends_with(PROPERTY_SEPARATOR));
            prop_assert_eq!(decode(&text), properties.clone());
            for (key, value) in properties.iter() {
                prop_assert_eq!(find(&text, key), Some(value));
            }
        }

        #[test]
        fn any_string_decodes_to_non_empty_entries(text in "[a\u{1}\u{2}b]{0,40}") {
            for (key, value) in decode(&text).iter() {
                prop_assert!(!key.is_empty() && !value.is_empty());
                prop_assert!(!key.contains(NAME_VALUE_SEPARATOR));
            }
        }
    }
}
