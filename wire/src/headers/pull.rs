//! Headers of PULL_MESSAGE (11) and the bits of its `sysFlag` (`PullSysFlag.java`).
//!
//! ```text
//!  bit  0x10        0x8            0x4           0x2        0x1
//!      +-----------+--------------+-------------+----------+---------------+
//!      | LITE_PULL | CLASS_FILTER | SUBSCRIPTION | SUSPEND  | COMMIT_OFFSET |
//!      +-----------+--------------+-------------+----------+---------------+
//! ```
//!
//! Invariants: `subscription`/`expressionType` are only meaningful with SUBSCRIPTION set (Java
//! push consumers normally leave it clear and rely on the heartbeat), `commitOffset` only with
//! COMMIT_OFFSET. All four response fields are required: Java unboxes them.

/// The pull request's `sysFlag` bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PullSysFlag(pub i32);

impl PullSysFlag {
    /// `commitOffset` carries the consumer's offset to persist.
    pub const COMMIT_OFFSET: i32 = 0x1;
    /// The broker may hold the request (long polling) when nothing is there yet.
    pub const SUSPEND: i32 = 0x2;
    /// `subscription` carries the tag or SQL expression.
    pub const SUBSCRIPTION: i32 = 0x4;
    /// Class-filter mode (removed upstream; never honoured here).
    pub const CLASS_FILTER: i32 = 0x8;
    /// Sent by lite-pull consumers; a 4.9 broker ignores it.
    pub const LITE_PULL: i32 = 0x10;

    /// The flag a Java client builds (`PullSysFlag.buildSysFlag`).
    pub fn new(commit_offset: bool, suspend: bool, subscription: bool, class_filter: bool) -> Self {
        let mut bits = 0;
        for (set, bit) in [
            (commit_offset, Self::COMMIT_OFFSET),
            (suspend, Self::SUSPEND),
            (subscription, Self::SUBSCRIPTION),
            (class_filter, Self::CLASS_FILTER),
        ] {
            if set {
                bits |= bit;
            }
        }
        PullSysFlag(bits)
    }

    pub fn bits(self) -> i32 {
        self.0
    }

    pub fn has_commit_offset(self) -> bool {
        self.0 & Self::COMMIT_OFFSET != 0
    }

    pub fn has_suspend(self) -> bool {
        self.0 & Self::SUSPEND != 0
    }

    pub fn has_subscription(self) -> bool {
        self.0 & Self::SUBSCRIPTION != 0
    }

    pub fn has_class_filter(self) -> bool {
        self.0 & Self::CLASS_FILTER != 0
    }

    pub fn has_lite_pull(self) -> bool {
        self.0 & Self::LITE_PULL != 0
    }

    /// What a client sends when pulling from a slave, which must not store offsets.
    pub fn without_commit_offset(self) -> Self {
        PullSysFlag(self.0 & !Self::COMMIT_OFFSET)
    }
}

header! {
    /// PULL_MESSAGE (11).
    pub struct PullMessageRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        /// Consume-queue offset to read from.
        required queue_offset: i64 = "queueOffset",
        required max_msg_nums: i32 = "maxMsgNums",
        /// [`PullSysFlag`] bits.
        required sys_flag: i32 = "sysFlag",
        /// Offset to persist when COMMIT_OFFSET is set.
        required commit_offset: i64 = "commitOffset",
        /// How long the broker may hold the request.
        required suspend_timeout_millis: i64 = "suspendTimeoutMillis",
        optional subscription: String = "subscription",
        /// Java sends milliseconds, Go nanoseconds; only compared, never interpreted.
        required sub_version: i64 = "subVersion",
        /// `TAG` when absent.
        optional expression_type: String = "expressionType",
    }
}

impl PullMessageRequestHeader {
    pub fn pull_sys_flag(&self) -> PullSysFlag {
        PullSysFlag(self.sys_flag)
    }
}

header! {
    /// The answer to PULL_MESSAGE, on every code (found, not found, moved, retry).
    pub struct PullMessageResponseHeader {
        /// Broker id the client should pull this queue from next (0 = master).
        required suggest_which_broker_id: i64 = "suggestWhichBrokerId",
        required next_begin_offset: i64 = "nextBeginOffset",
        required min_offset: i64 = "minOffset",
        required max_offset: i64 = "maxOffset",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::DecodeError;
    use crate::headers::test_support::{assert_invalid, assert_missing, assert_round_trip, fields};
    use crate::headers::CommandHeader;

    fn sample() -> PullMessageRequestHeader {
        PullMessageRequestHeader {
            consumer_group: "cg".to_string(),
            topic: "TopicTest".to_string(),
            queue_id: 2,
            queue_offset: 100,
            max_msg_nums: 32,
            sys_flag: PullSysFlag::new(true, true, false, false).bits(),
            commit_offset: 98,
            suspend_timeout_millis: 15_000,
            subscription: None,
            sub_version: 1_700_000_000_000,
            expression_type: None,
        }
    }

    fn request_strategy() -> impl Strategy<Value = PullMessageRequestHeader> {
        let head = (
            any::<String>(),
            any::<String>(),
            any::<i32>(),
            any::<i64>(),
            any::<i32>(),
        );
        let tail = (
            any::<i32>(),
            any::<i64>(),
            any::<i64>(),
            proptest::option::of(any::<String>()),
            any::<i64>(),
            proptest::option::of(any::<String>()),
        );
        (head, tail).prop_map(|(h, t)| PullMessageRequestHeader {
            consumer_group: h.0,
            topic: h.1,
            queue_id: h.2,
            queue_offset: h.3,
            max_msg_nums: h.4,
            sys_flag: t.0,
            commit_offset: t.1,
            suspend_timeout_millis: t.2,
            subscription: t.3,
            sub_version: t.4,
            expression_type: t.5,
        })
    }

    proptest! {
        #[test]
        fn request_round_trips(header in request_strategy()) {
            let fields = header.to_ext_fields();
            prop_assert_eq!(PullMessageRequestHeader::read_from(&fields), Ok(header));
        }

        #[test]
        fn response_round_trips(a in any::<i64>(), b in any::<i64>(), c in any::<i64>(),
                                d in any::<i64>()) {
            let header = PullMessageResponseHeader {
                suggest_which_broker_id: a,
                next_begin_offset: b,
                min_offset: c,
                max_offset: d,
            };
            let fields = header.to_ext_fields();
            prop_assert_eq!(PullMessageResponseHeader::read_from(&fields), Ok(header));
        }

        #[test]
        fn sys_flag_bits_match_their_predicates(c in any::<bool>(), s in any::<bool>(),
                                                 sub in any::<bool>(), cf in any::<bool>()) {
            let flag = PullSysFlag::new(c, s, sub, cf);
            prop_assert_eq!(
                (flag.has_commit_offset(), flag.has_suspend(), flag.has_subscription()),
                (c, s, sub)
            );
            prop_assert_eq!(flag.has_class_filter(), cf);
            prop_assert!(!flag.has_lite_pull());
            prop_assert!(!flag.without_commit_offset().has_commit_offset());
            prop_assert_eq!(flag.without_commit_offset().has_suspend(), s);
        }
    }

    #[test]
    fn sys_flag_values_match_java() {
        assert_eq!(PullSysFlag::new(true, true, false, false).bits(), 3);
        assert_eq!(PullSysFlag::new(false, true, true, false).bits(), 6);
        assert_eq!(PullSysFlag::new(true, true, true, true).bits(), 15);
        assert!(PullSysFlag(0x16).has_lite_pull());
        assert_eq!(PullSysFlag(7).without_commit_offset(), PullSysFlag(6));
    }

    #[test]
    fn reads_what_go_writes() {
        let go = fields(&[
            ("consumerGroup", "cg"),
            ("topic", "TopicTest"),
            ("queueId", "2"),
            ("queueOffset", "0"),
            ("maxMsgNums", "32"),
            ("sysFlag", "6"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "20000"),
            ("subscription", "TagA || TagB"),
            ("subVersion", "1700000000000000000"),
            ("expressionType", "TAG"),
        ]);
        let header = PullMessageRequestHeader::read_from(&go);
        let header = header
            .as_ref()
            .map(|h| (h.pull_sys_flag().has_subscription(), h.sub_version));
        assert_eq!(header, Ok((true, 1_700_000_000_000_000_000)));
    }

    #[test]
    fn missing_and_malformed_pull_fields_are_named() {
        let header = sample();
        assert_round_trip(&header);
        for name in [
            "consumerGroup",
            "topic",
            "queueId",
            "queueOffset",
            "maxMsgNums",
            "sysFlag",
            "commitOffset",
            "suspendTimeoutMillis",
            "subVersion",
        ] {
            assert_missing(&header, name);
        }
        assert_invalid(&header, "queueOffset", "-");
        assert_invalid(&header, "maxMsgNums", "2147483648");
        assert_invalid(&header, "subVersion", "1e3");
    }

    #[test]
    fn gotcha_push_pull_without_subscription() {
        let header = sample();
        let fields = header.to_ext_fields();
        assert!(!fields.contains_key("subscription"));
        assert!(!fields.contains_key("expressionType"));
        let read = PullMessageRequestHeader::read_from(&fields);
        let flags = read.as_ref().map(|h| h.pull_sys_flag());
        assert_eq!(
            flags.map(|f| (f.has_subscription(), f.has_suspend())),
            Ok((false, true))
        );
        assert_eq!(read.map(|h| h.subscription), Ok(None));
    }

    #[test]
    fn gotcha_pull_response_fields_always_present() {
        let header = PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 0,
            min_offset: 0,
            max_offset: 0,
        };
        let fields = header.to_ext_fields();
        for name in [
            "suggestWhichBrokerId",
            "nextBeginOffset",
            "minOffset",
            "maxOffset",
        ] {
            assert_eq!(fields.get(name), Some("0"), "{name}");
            assert_missing(&header, name);
        }
        assert_invalid(&header, "nextBeginOffset", "null");
        let without_broker_id = crate::headers::test_support::fields(&[
            ("nextBeginOffset", "1"),
            ("minOffset", "0"),
            ("maxOffset", "1"),
        ]);
        assert_eq!(
            PullMessageResponseHeader::read_from(&without_broker_id),
            Err(DecodeError::FieldMissing {
                name: "suggestWhichBrokerId"
            })
        );
    }
}
