//! Headers of admin and query calls at a broker: topics (UPDATE_AND_CREATE_TOPIC 17,
//! DELETE_TOPIC_IN_BROKER 215, GET_TOPIC_STATS_INFO 202, QUERY_TOPIC_CONSUME_BY_WHO 300),
//! groups and connections (GET_CONSUME_STATS 208, GET_CONSUMER_CONNECTION_LIST 203,
//! GET_PRODUCER_CONNECTION_LIST 204, DELETE_SUBSCRIPTIONGROUP 207), messages (QUERY_MESSAGE 12,
//! VIEW_MESSAGE_BY_ID 33), GET_BROKER_CONFIG (26) and offset resets
//! (INVOKE_BROKER_TO_RESET_OFFSET 222, RESET_CONSUMER_CLIENT_OFFSET 220).
//!
//! Most answers are JSON bodies; only the headers live here. QUERY_MESSAGE also reads one ext
//! field that is not part of its header class, [`UNIQUE_KEY_QUERY`].

use crate::command::ExtFields;

/// Ext field of QUERY_MESSAGE: `true` means `key` is a UNIQ_KEY (query by message id), which
/// makes the broker use its own `defaultQueryMaxNum` instead of `maxNum`.
pub const UNIQUE_KEY_QUERY: &str = "_UNIQUE_KEY_QUERY";

/// Whether a QUERY_MESSAGE request asks for a UNIQ_KEY lookup (Java `Boolean.parseBoolean`).
pub fn is_unique_key_query(fields: &ExtFields) -> bool {
    fields
        .get(UNIQUE_KEY_QUERY)
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

header! {
    /// UPDATE_AND_CREATE_TOPIC (17): upsert one topic's config.
    pub struct CreateTopicRequestHeader {
        required topic: String = "topic",
        /// Java sends `TBW102`; unused by the broker.
        required default_topic: String = "defaultTopic",
        required read_queue_nums: i32 = "readQueueNums",
        required write_queue_nums: i32 = "writeQueueNums",
        /// PERM_READ 4 | PERM_WRITE 2 | PERM_INHERIT 1.
        required perm: i32 = "perm",
        /// `SINGLE_TAG` or `MULTI_TAG`.
        required topic_filter_type: String = "topicFilterType",
        optional topic_sys_flag: i32 = "topicSysFlag",
        required order: bool = "order",
    }
}

header! {
    /// DELETE_TOPIC_IN_BROKER (215).
    pub struct DeleteTopicRequestHeader {
        required topic: String = "topic",
    }
}

header! {
    /// GET_TOPIC_STATS_INFO (202).
    pub struct GetTopicStatsInfoRequestHeader {
        required topic: String = "topic",
    }
}

header! {
    /// GET_CONSUME_STATS (208); without a topic, every topic the group has offsets for.
    pub struct GetConsumeStatsRequestHeader {
        required consumer_group: String = "consumerGroup",
        optional topic: String = "topic",
    }
}

header! {
    /// GET_CONSUMER_CONNECTION_LIST (203).
    pub struct GetConsumerConnectionListRequestHeader {
        required consumer_group: String = "consumerGroup",
    }
}

header! {
    /// GET_PRODUCER_CONNECTION_LIST (204).
    pub struct GetProducerConnectionListRequestHeader {
        required producer_group: String = "producerGroup",
    }
}

header! {
    /// DELETE_SUBSCRIPTIONGROUP (207).
    pub struct DeleteSubscriptionGroupRequestHeader {
        required group_name: String = "groupName",
        /// Also drop the group's consumer offsets.
        default remove_offset: bool = "removeOffset" => false,
    }
}

header! {
    /// VIEW_MESSAGE_BY_ID (33).
    pub struct ViewMessageRequestHeader {
        /// Commit-log offset of the record, taken from the offset message id.
        required offset: i64 = "offset",
    }
}

header! {
    /// QUERY_MESSAGE (12): look a key up in the index files.
    pub struct QueryMessageRequestHeader {
        required topic: String = "topic",
        required key: String = "key",
        required max_num: i32 = "maxNum",
        /// Store-time window in ms since the epoch.
        required begin_timestamp: i64 = "beginTimestamp",
        required end_timestamp: i64 = "endTimestamp",
    }
}

header! {
    /// Answer to QUERY_MESSAGE with SUCCESS.
    pub struct QueryMessageResponseHeader {
        required index_last_update_timestamp: i64 = "indexLastUpdateTimestamp",
        required index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset",
    }
}

header! {
    /// Answer to GET_BROKER_CONFIG (26); the properties travel in the body.
    pub struct GetBrokerConfigResponseHeader {
        /// The config DataVersion as JSON text.
        required version: String = "version",
    }
}

header! {
    /// INVOKE_BROKER_TO_RESET_OFFSET (222, admin to broker) and RESET_CONSUMER_CLIENT_OFFSET
    /// (220, broker to client; the offsets then travel in the body).
    pub struct ResetOffsetRequestHeader {
        required topic: String = "topic",
        required group: String = "group",
        /// Reset to the first message stored at or after this time (ms).
        required timestamp: i64 = "timestamp",
        /// Also move offsets forward, not only back.
        required is_force: bool = "isForce",
    }
}

header! {
    /// QUERY_TOPIC_CONSUME_BY_WHO (300).
    pub struct QueryTopicConsumeByWhoRequestHeader {
        required topic: String = "topic",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::DecodeError;
    use crate::headers::test_support::{assert_invalid, assert_missing, assert_round_trip, fields};
    use crate::headers::CommandHeader;

    fn sample_create() -> CreateTopicRequestHeader {
        CreateTopicRequestHeader {
            topic: "TopicTest".to_string(),
            default_topic: "TBW102".to_string(),
            read_queue_nums: 8,
            write_queue_nums: 8,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".to_string(),
            topic_sys_flag: Some(0),
            order: false,
        }
    }

    proptest! {
        #[test]
        fn query_message_round_trips(topic in any::<String>(), key in any::<String>(),
                                     max_num in any::<i32>(), begin in any::<i64>(),
                                     end in any::<i64>()) {
            let header = QueryMessageRequestHeader {
                topic,
                key,
                max_num,
                begin_timestamp: begin,
                end_timestamp: end,
            };
            prop_assert_eq!(QueryMessageRequestHeader::read_from(&header.to_ext_fields()),
                            Ok(header));
        }
    }

    #[test]
    fn create_topic_reads_what_mqadmin_writes() {
        let java = fields(&[
            ("topic", "TopicTest"),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "8"),
            ("writeQueueNums", "8"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
        ]);
        assert_eq!(
            CreateTopicRequestHeader::read_from(&java),
            Ok(sample_create())
        );
        let header = sample_create();
        assert_round_trip(&header);
        for name in [
            "topic",
            "readQueueNums",
            "writeQueueNums",
            "perm",
            "topicFilterType",
        ] {
            assert_missing(&header, name);
        }
        assert_missing(&header, "order");
        assert_invalid(&header, "perm", "rw-");
        assert_invalid(&header, "topicSysFlag", "none");
    }

    #[test]
    fn gotcha_create_topic_sys_flag_optional() {
        let mut written = sample_create().to_ext_fields();
        written.remove("topicSysFlag");
        let read = CreateTopicRequestHeader::read_from(&written);
        assert_eq!(read.map(|h| h.topic_sys_flag), Ok(None));
    }

    #[test]
    fn single_topic_and_group_headers_round_trip() {
        let topic = || "TopicTest".to_string();
        assert_round_trip(&DeleteTopicRequestHeader { topic: topic() });
        assert_missing(&DeleteTopicRequestHeader { topic: topic() }, "topic");
        assert_round_trip(&GetTopicStatsInfoRequestHeader { topic: topic() });
        assert_round_trip(&QueryTopicConsumeByWhoRequestHeader { topic: topic() });
        let stats = GetConsumeStatsRequestHeader {
            consumer_group: "cg".to_string(),
            topic: None,
        };
        assert_round_trip(&stats);
        assert_round_trip(&GetConsumeStatsRequestHeader {
            topic: Some(topic()),
            ..stats.clone()
        });
        assert_missing(&stats, "consumerGroup");
        let consumers = GetConsumerConnectionListRequestHeader {
            consumer_group: "cg".to_string(),
        };
        assert_round_trip(&consumers);
        let producers = GetProducerConnectionListRequestHeader {
            producer_group: "pg".to_string(),
        };
        assert_round_trip(&producers);
        assert_missing(&producers, "producerGroup");
    }

    #[test]
    fn delete_subscription_group_round_trips() {
        let header = DeleteSubscriptionGroupRequestHeader {
            group_name: "cg".to_string(),
            remove_offset: true,
        };
        assert_round_trip(&header);
        assert_eq!(header.to_ext_fields().get("removeOffset"), Some("true"));
        assert_missing(&header, "groupName");
        let old = DeleteSubscriptionGroupRequestHeader::read_from(&fields(&[("groupName", "g")]));
        assert_eq!(old.map(|h| h.remove_offset), Ok(false));
    }

    #[test]
    fn message_lookup_headers_round_trip() {
        let view = ViewMessageRequestHeader { offset: 4096 };
        assert_round_trip(&view);
        assert_missing(&view, "offset");
        assert_invalid(&view, "offset", "0A00000100002A9F");
        let query = QueryMessageRequestHeader {
            topic: "TopicTest".to_string(),
            key: "order-1".to_string(),
            max_num: 32,
            begin_timestamp: 0,
            end_timestamp: i64::MAX,
        };
        for name in ["topic", "key", "maxNum", "beginTimestamp", "endTimestamp"] {
            assert_missing(&query, name);
        }
        assert_invalid(&query, "maxNum", "32.0");
        let answer = QueryMessageResponseHeader {
            index_last_update_timestamp: 1_700_000_000_000,
            index_last_update_phyoffset: 8192,
        };
        assert_round_trip(&answer);
        assert_missing(&answer, "indexLastUpdatePhyoffset");
    }

    #[test]
    fn unique_key_query_flag_is_read_like_java() {
        let mut written = fields(&[("topic", "T")]);
        assert!(!is_unique_key_query(&written));
        written.insert(UNIQUE_KEY_QUERY, "true");
        assert!(is_unique_key_query(&written));
        written.insert(UNIQUE_KEY_QUERY, "yes");
        assert!(!is_unique_key_query(&written));
    }

    #[test]
    fn broker_config_version_is_required() {
        let header = GetBrokerConfigResponseHeader {
            version: r#"{"counter":3,"timestamp":1700000000000}"#.to_string(),
        };
        assert_round_trip(&header);
        assert_missing(&header, "version");
    }

    #[test]
    fn gotcha_reset_offset_is_force_spelling() {
        let header = ResetOffsetRequestHeader {
            topic: "TopicTest".to_string(),
            group: "cg".to_string(),
            timestamp: 1_700_000_000_000,
            is_force: true,
        };
        let written = header.to_ext_fields();
        assert_eq!(written.get("isForce"), Some("true"));
        assert!(!written.contains_key("force"));
        assert_round_trip(&header);
        assert_missing(&header, "isForce");
        assert_invalid(&header, "timestamp", "now");
        let wrong = fields(&[
            ("topic", "T"),
            ("group", "g"),
            ("timestamp", "0"),
            ("force", "true"),
        ]);
        assert_eq!(
            ResetOffsetRequestHeader::read_from(&wrong),
            Err(DecodeError::FieldMissing { name: "isForce" })
        );
    }
}
