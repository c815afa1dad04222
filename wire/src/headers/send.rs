//! Headers of the produce side: SEND_MESSAGE (10), SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE
//! (320), SEND_REPLY_MESSAGE(_V2) (324/325), their response, CONSUMER_SEND_MSG_BACK (36),
//! END_TRANSACTION (37) and CHECK_TRANSACTION_STATE (39).
//!
//! The same send request travels under two spellings; the request code, not the content, says
//! which one to read:
//!
//! ```text
//! +----+-----------------------+------+---------------------------------------+
//! | V2 | V1                    | type | presence                              |
//! +----+-----------------------+------+---------------------------------------+
//! | a  | producerGroup         | str  | required                              |
//! | b  | topic                 | str  | required                              |
//! | c  | defaultTopic          | str  | required                              |
//! | d  | defaultTopicQueueNums | i32  | required                              |
//! | e  | queueId               | i32  | required                              |
//! | f  | sysFlag               | i32  | required                              |
//! | g  | bornTimestamp         | i64  | required                              |
//! | h  | flag                  | i32  | required                              |
//! | i  | properties            | str  | optional                              |
//! | j  | reconsumeTimes        | i32  | optional                              |
//! | k  | unitMode              | bool | absent = false (Java always sends it) |
//! | l  | maxReconsumeTimes     | i32  | optional                              |
//! | m  | batch                 | bool | absent = false (Java always sends it) |
//! | n  | bname                 | str  | ignored (4.9.5+)                      |
//! +----+-----------------------+------+---------------------------------------+
//! ```
//!
//! Invariant: V1 and V2 carry the same information, so converting one into the other and back
//! is the identity. Whether a request is a batch is the `batch`/`m` field, never the code.

use crate::code::RequestCode;
use crate::command::ExtFields;
use crate::error::DecodeError;
use crate::headers::CommandHeader;
use crate::message::sys_flag::{TRANSACTION_COMMIT, TRANSACTION_NOT, TRANSACTION_ROLLBACK};
use crate::properties::{MSG_REGION, TRACE_ON};

/// The region a 4.9 broker reports in `MSG_REGION` unless configured otherwise (`regionId`).
pub const REGION_DEFAULT: &str = "DefaultRegion";

header! {
    /// The long-name send header: SEND_MESSAGE (10) and SEND_REPLY_MESSAGE (324), and the form
    /// the broker works with after decoding a V2 header.
    pub struct SendMessageRequestHeader {
        required producer_group: String = "producerGroup",
        required topic: String = "topic",
        /// Template for auto-creating the topic, normally `TBW102`.
        required default_topic: String = "defaultTopic",
        required default_topic_queue_nums: i32 = "defaultTopicQueueNums",
        /// Negative asks the broker to pick a queue.
        required queue_id: i32 = "queueId",
        required sys_flag: i32 = "sysFlag",
        required born_timestamp: i64 = "bornTimestamp",
        /// The user flag, stored verbatim.
        required flag: i32 = "flag",
        optional properties: String = "properties",
        optional reconsume_times: i32 = "reconsumeTimes",
        default unit_mode: bool = "unitMode" => false,
        default batch: bool = "batch" => false,
        optional max_reconsume_times: i32 = "maxReconsumeTimes",
    }
}

header! {
    /// The short-name send header of SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and
    /// SEND_REPLY_MESSAGE_V2 (325); field `x` holds what the V1 header calls the name in the
    /// module table.
    pub struct SendMessageRequestHeaderV2 {
        required a: String = "a",
        required b: String = "b",
        required c: String = "c",
        required d: i32 = "d",
        required e: i32 = "e",
        required f: i32 = "f",
        required g: i64 = "g",
        required h: i32 = "h",
        optional i: String = "i",
        optional j: i32 = "j",
        default k: bool = "k" => false,
        optional l: i32 = "l",
        default m: bool = "m" => false,
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v2: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v2.a,
            topic: v2.b,
            default_topic: v2.c,
            default_topic_queue_nums: v2.d,
            queue_id: v2.e,
            sys_flag: v2.f,
            born_timestamp: v2.g,
            flag: v2.h,
            properties: v2.i,
            reconsume_times: v2.j,
            unit_mode: v2.k,
            max_reconsume_times: v2.l,
            batch: v2.m,
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(v1: SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: v1.producer_group,
            b: v1.topic,
            c: v1.default_topic,
            d: v1.default_topic_queue_nums,
            e: v1.queue_id,
            f: v1.sys_flag,
            g: v1.born_timestamp,
            h: v1.flag,
            i: v1.properties,
            j: v1.reconsume_times,
            k: v1.unit_mode,
            l: v1.max_reconsume_times,
            m: v1.batch,
        }
    }
}

/// Whether `code` carries the short V2 field names (310, 320, 325); every other send code
/// (10, 324) carries V1 names, as the broker's `parseRequestHeader` decides.
pub fn is_send_request_v2(code: RequestCode) -> bool {
    matches!(
        code,
        RequestCode::SEND_MESSAGE_V2
            | RequestCode::SEND_BATCH_MESSAGE
            | RequestCode::SEND_REPLY_MESSAGE_V2
    )
}

/// Reads a send request in the spelling its code implies and returns it in V1 form. Errors
/// name the field as it appears on the wire (`b` for a V2 topic).
pub fn read_send_request(
    code: RequestCode,
    fields: &ExtFields,
) -> Result<SendMessageRequestHeader, DecodeError> {
    if is_send_request_v2(code) {
        SendMessageRequestHeaderV2::read_from(fields).map(SendMessageRequestHeader::from)
    } else {
        SendMessageRequestHeader::read_from(fields)
    }
}

header! {
    /// The answer to every send code, also on FLUSH_DISK_TIMEOUT, SLAVE_NOT_AVAILABLE and
    /// FLUSH_SLAVE_TIMEOUT: Java unboxes `queueId` and `queueOffset`, so all three required
    /// fields must always be present.
    pub struct SendMessageResponseHeader {
        /// The offset message id; comma-joined ids for a batch.
        required msg_id: String = "msgId",
        required queue_id: i32 = "queueId",
        /// Consume-queue offset of the (first) message.
        required queue_offset: i64 = "queueOffset",
        optional transaction_id: String = "transactionId",
        /// Not part of Java's header class: the broker adds it to every send response.
        default msg_region: String = MSG_REGION => REGION_DEFAULT.to_string(),
        /// Not part of Java's header class: the broker adds it to every send response.
        default trace_on: bool = TRACE_ON => true,
    }
}

header! {
    /// CONSUMER_SEND_MSG_BACK (36): a consumer hands back a message it failed to consume.
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commit-log offset of the failed message.
        required offset: i64 = "offset",
        required group: String = "group",
        /// 0 lets the broker pick `3 + reconsumeTimes`; negative sends straight to the DLQ.
        required delay_level: i32 = "delayLevel",
        optional origin_msg_id: String = "originMsgId",
        optional origin_topic: String = "originTopic",
        default unit_mode: bool = "unitMode" => false,
        optional max_reconsume_times: i32 = "maxReconsumeTimes",
    }
}

header! {
    /// END_TRANSACTION (37, oneway): commit or roll back a half message.
    pub struct EndTransactionRequestHeader {
        required producer_group: String = "producerGroup",
        /// Queue offset of the half message.
        required tran_state_table_offset: i64 = "tranStateTableOffset",
        /// Commit-log offset of the half message.
        required commit_log_offset: i64 = "commitLogOffset",
        /// One of the sys-flag transaction types: 0 (unknown), 8 (commit), 12 (rollback).
        required commit_or_rollback: i32 = "commitOrRollback",
        default from_transaction_check: bool = "fromTransactionCheck" => false,
        /// The message's UNIQ_KEY.
        required msg_id: String = "msgId",
        optional transaction_id: String = "transactionId",
    }
    check = check_commit_or_rollback;
}

/// Java's `checkFields`: any other transaction type is rejected before processing.
fn check_commit_or_rollback(header: &EndTransactionRequestHeader) -> Result<(), DecodeError> {
    match header.commit_or_rollback {
        TRANSACTION_NOT | TRANSACTION_COMMIT | TRANSACTION_ROLLBACK => Ok(()),
        other => Err(DecodeError::FieldInvalid {
            name: "commitOrRollback",
            value: other.to_string(),
        }),
    }
}

header! {
    /// CHECK_TRANSACTION_STATE (39, broker to producer, oneway).
    pub struct CheckTransactionStateRequestHeader {
        required tran_state_table_offset: i64 = "tranStateTableOffset",
        required commit_log_offset: i64 = "commitLogOffset",
        /// The message's UNIQ_KEY.
        optional msg_id: String = "msgId",
        optional transaction_id: String = "transactionId",
        optional offset_msg_id: String = "offsetMsgId",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::headers::test_support::{assert_invalid, assert_missing, assert_round_trip, fields};

    fn sample_v1() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "pg".to_string(),
            topic: "TopicTest".to_string(),
            default_topic: "TBW102".to_string(),
            default_topic_queue_nums: 4,
            queue_id: 3,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 0,
            properties: Some("TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}".to_string()),
            reconsume_times: Some(0),
            unit_mode: false,
            batch: false,
            max_reconsume_times: None,
        }
    }

    fn sample_response() -> SendMessageResponseHeader {
        SendMessageResponseHeader {
            msg_id: "0A00000100002A9F0000000000000000".to_string(),
            queue_id: 1,
            queue_offset: 42,
            transaction_id: None,
            msg_region: REGION_DEFAULT.to_string(),
            trace_on: true,
        }
    }

    fn v1_strategy() -> impl Strategy<Value = SendMessageRequestHeader> {
        let required = (
            any::<String>(),
            any::<String>(),
            any::<String>(),
            any::<i32>(),
            any::<i32>(),
            any::<i32>(),
            any::<i64>(),
            any::<i32>(),
        );
        let optional = (
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<i32>()),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(any::<i32>()),
        );
        (required, optional).prop_map(|(r, o)| SendMessageRequestHeader {
            producer_group: r.0,
            topic: r.1,
            default_topic: r.2,
            default_topic_queue_nums: r.3,
            queue_id: r.4,
            sys_flag: r.5,
            born_timestamp: r.6,
            flag: r.7,
            properties: o.0,
            reconsume_times: o.1,
            unit_mode: o.2,
            batch: o.3,
            max_reconsume_times: o.4,
        })
    }

    proptest! {
        #[test]
        fn v1_round_trips(header in v1_strategy()) {
            let fields = header.to_ext_fields();
            prop_assert_eq!(SendMessageRequestHeader::read_from(&fields), Ok(header));
        }

        #[test]
        fn v2_round_trips(header in v1_strategy()) {
            let v2 = SendMessageRequestHeaderV2::from(header);
            let fields = v2.to_ext_fields();
            prop_assert_eq!(SendMessageRequestHeaderV2::read_from(&fields), Ok(v2));
        }

        #[test]
        fn v1_v2_conversion_is_lossless(header in v1_strategy()) {
            let v2 = SendMessageRequestHeaderV2::from(header.clone());
            prop_assert_eq!(SendMessageRequestHeader::from(v2.clone()), header.clone());
            let via_v2 = read_send_request(RequestCode::SEND_MESSAGE_V2, &v2.to_ext_fields());
            let via_v1 = read_send_request(RequestCode::SEND_MESSAGE, &header.to_ext_fields());
            prop_assert_eq!(via_v2, via_v1);
        }

        #[test]
        fn response_round_trips(
            msg_id in any::<String>(),
            queue_id in any::<i32>(),
            queue_offset in any::<i64>(),
            transaction_id in proptest::option::of(any::<String>()),
            trace_on in any::<bool>(),
        ) {
            let header = SendMessageResponseHeader {
                msg_id,
                queue_id,
                queue_offset,
                transaction_id,
                msg_region: "Region-1".to_string(),
                trace_on,
            };
            let fields = header.to_ext_fields();
            prop_assert_eq!(SendMessageResponseHeader::read_from(&fields), Ok(header));
        }
    }

    #[test]
    fn v1_uses_java_names_and_ignores_unknown_fields() {
        let header = sample_v1();
        let fields = header.to_ext_fields();
        for name in [
            "producerGroup",
            "defaultTopicQueueNums",
            "bornTimestamp",
            "unitMode",
        ] {
            assert!(fields.contains_key(name), "{name} missing");
        }
        assert_eq!(fields.get("properties"), header.properties.as_deref());
        assert!(!fields.contains_key("maxReconsumeTimes"));
        assert_round_trip(&header);
        assert_round_trip(&SendMessageRequestHeaderV2::from(header));
    }

    #[test]
    fn v1_reads_what_java_writes() {
        let java = fields(&[
            ("producerGroup", "pg"),
            ("topic", "TopicTest"),
            ("defaultTopic", "TBW102"),
            ("defaultTopicQueueNums", "4"),
            ("queueId", "3"),
            ("sysFlag", "0"),
            ("bornTimestamp", "1700000000000"),
            ("flag", "0"),
            ("properties", "TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}"),
            ("reconsumeTimes", "0"),
            ("unitMode", "false"),
            ("batch", "false"),
            ("bname", "broker-a"),
        ]);
        assert_eq!(
            read_send_request(RequestCode::SEND_MESSAGE, &java),
            Ok(sample_v1())
        );
    }

    #[test]
    fn v2_reads_what_java_writes() {
        let java = fields(&[
            ("a", "pg"),
            ("b", "TopicTest"),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "3"),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", "TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}"),
            ("j", "0"),
            ("k", "false"),
            ("m", "false"),
            ("n", "broker-a"),
        ]);
        for code in [
            RequestCode::SEND_MESSAGE_V2,
            RequestCode::SEND_REPLY_MESSAGE_V2,
        ] {
            assert_eq!(read_send_request(code, &java), Ok(sample_v1()));
        }
    }

    #[test]
    fn optional_send_fields_may_be_absent() {
        let mut header = sample_v1();
        header.properties = None;
        header.reconsume_times = None;
        let mut fields = header.to_ext_fields();
        fields.remove("unitMode");
        fields.remove("batch");
        assert_eq!(SendMessageRequestHeader::read_from(&fields), Ok(header));
    }

    #[test]
    fn code_selects_the_spelling() {
        let v1_fields = sample_v1().to_ext_fields();
        let v2_fields = SendMessageRequestHeaderV2::from(sample_v1()).to_ext_fields();
        assert_eq!(
            read_send_request(RequestCode::SEND_REPLY_MESSAGE, &v1_fields),
            Ok(sample_v1())
        );
        let missing_v1 = DecodeError::FieldMissing {
            name: "producerGroup",
        };
        let result = read_send_request(RequestCode::SEND_MESSAGE, &v2_fields);
        assert_eq!(result, Err(missing_v1));
        let result = read_send_request(RequestCode::SEND_BATCH_MESSAGE, &v1_fields);
        assert_eq!(result, Err(DecodeError::FieldMissing { name: "a" }));
    }

    #[test]
    fn missing_and_malformed_send_fields_are_named() {
        let v1 = sample_v1();
        for name in [
            "producerGroup",
            "topic",
            "defaultTopic",
            "queueId",
            "bornTimestamp",
        ] {
            assert_missing(&v1, name);
        }
        assert_invalid(&v1, "queueId", "three");
        assert_invalid(&v1, "bornTimestamp", "9223372036854775808");
        assert_invalid(&v1, "reconsumeTimes", "");
        let v2 = SendMessageRequestHeaderV2::from(v1);
        for name in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            assert_missing(&v2, name);
        }
        assert_invalid(&v2, "e", "x");
        assert_invalid(&v2, "l", "1.5");
    }

    #[test]
    fn gotcha_batch_flag_comes_from_header_not_code() {
        let mut header = sample_v1();
        header.batch = true;
        let v2_fields = SendMessageRequestHeaderV2::from(header).to_ext_fields();
        let read = read_send_request(RequestCode::SEND_MESSAGE_V2, &v2_fields);
        assert_eq!(read.map(|h| h.batch), Ok(true));
        let mut single = SendMessageRequestHeaderV2::from(sample_v1()).to_ext_fields();
        single.insert("m", "false");
        let read = read_send_request(RequestCode::SEND_BATCH_MESSAGE, &single);
        assert_eq!(read.map(|h| h.batch), Ok(false));
    }

    #[test]
    fn gotcha_send_response_fields_always_present() {
        let fields = sample_response().to_ext_fields();
        for name in ["msgId", "queueId", "queueOffset", "MSG_REGION", "TRACE_ON"] {
            assert!(fields.contains_key(name), "{name} missing");
        }
        assert_eq!(fields.get("queueOffset"), Some("42"));
        assert_eq!(fields.get("MSG_REGION"), Some("DefaultRegion"));
        assert_eq!(fields.get("TRACE_ON"), Some("true"));
        assert!(!fields.contains_key("transactionId"));
        for name in ["msgId", "queueId", "queueOffset"] {
            assert_missing(&sample_response(), name);
        }
        assert_invalid(&sample_response(), "queueOffset", "null");
    }

    #[test]
    fn send_response_tolerates_missing_region_and_trace() {
        let mut fields = sample_response().to_ext_fields();
        fields.remove(MSG_REGION);
        fields.remove(TRACE_ON);
        assert_eq!(
            SendMessageResponseHeader::read_from(&fields),
            Ok(sample_response())
        );
        assert_round_trip(&sample_response());
    }

    fn sample_send_back() -> ConsumerSendMsgBackRequestHeader {
        ConsumerSendMsgBackRequestHeader {
            offset: 1024,
            group: "cg".to_string(),
            delay_level: 0,
            origin_msg_id: Some("7F0000010BB818B4AAC2".to_string()),
            origin_topic: Some("TopicTest".to_string()),
            unit_mode: false,
            max_reconsume_times: Some(16),
        }
    }

    #[test]
    fn send_back_round_trips_and_names_bad_fields() {
        let header = sample_send_back();
        assert_round_trip(&header);
        assert_eq!(header.to_ext_fields().get("delayLevel"), Some("0"));
        assert_missing(&header, "offset");
        assert_missing(&header, "group");
        assert_missing(&header, "delayLevel");
        assert_invalid(&header, "delayLevel", "-");
        assert_invalid(&header, "maxReconsumeTimes", "sixteen");
        let minimal = fields(&[("offset", "1"), ("group", "g"), ("delayLevel", "-1")]);
        let read = ConsumerSendMsgBackRequestHeader::read_from(&minimal);
        assert_eq!(
            read.map(|h| (h.delay_level, h.origin_msg_id, h.unit_mode)),
            Ok((-1, None, false))
        );
    }

    fn sample_end_transaction() -> EndTransactionRequestHeader {
        EndTransactionRequestHeader {
            producer_group: "pg".to_string(),
            tran_state_table_offset: 7,
            commit_log_offset: 4096,
            commit_or_rollback: TRANSACTION_COMMIT,
            from_transaction_check: true,
            msg_id: "7F0000010BB818B4AAC20000".to_string(),
            transaction_id: Some("7F0000010BB818B4AAC20000".to_string()),
        }
    }

    #[test]
    fn end_transaction_round_trips_and_checks_the_type() {
        let header = sample_end_transaction();
        assert_round_trip(&header);
        assert_eq!(header.to_ext_fields().get("commitOrRollback"), Some("8"));
        for kind in [TRANSACTION_NOT, TRANSACTION_ROLLBACK] {
            assert_round_trip(&EndTransactionRequestHeader {
                commit_or_rollback: kind,
                ..sample_end_transaction()
            });
        }
        assert_invalid(&header, "commitOrRollback", "4");
        assert_invalid(&header, "commitLogOffset", "0x10");
        assert_missing(&header, "msgId");
        assert_missing(&header, "tranStateTableOffset");
        let mut fields = header.to_ext_fields();
        fields.remove("fromTransactionCheck");
        let read = EndTransactionRequestHeader::read_from(&fields);
        assert_eq!(read.map(|h| h.from_transaction_check), Ok(false));
    }

    #[test]
    fn check_transaction_state_round_trips() {
        let header = CheckTransactionStateRequestHeader {
            tran_state_table_offset: 7,
            commit_log_offset: 4096,
            msg_id: Some("UNIQ".to_string()),
            transaction_id: Some("UNIQ".to_string()),
            offset_msg_id: Some("0A00000100002A9F0000000000001000".to_string()),
        };
        assert_round_trip(&header);
        assert_missing(&header, "commitLogOffset");
        assert_invalid(&header, "tranStateTableOffset", "seven");
        let minimal = fields(&[("tranStateTableOffset", "1"), ("commitLogOffset", "2")]);
        let read = CheckTransactionStateRequestHeader::read_from(&minimal);
        assert_eq!(read.map(|h| h.offset_msg_id), Ok(None));
    }
}
