//! Headers of the offset calls a consumer makes at a broker: consumer offsets
//! (QUERY_CONSUMER_OFFSET 14, UPDATE_CONSUMER_OFFSET 15) and queue bounds
//! (SEARCH_OFFSET_BY_TIMESTAMP 29, GET_MAX_OFFSET 30, GET_MIN_OFFSET 31,
//! GET_EARLIEST_MSG_STORETIME 32).
//!
//! Every offset here is a consume-queue offset (a message index within one queue), never a
//! commit-log byte position. Response fields are required: Java unboxes them.

header! {
    /// QUERY_CONSUMER_OFFSET (14).
    pub struct QueryConsumerOffsetRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
    }
}

header! {
    /// Answer to QUERY_CONSUMER_OFFSET with SUCCESS (QUERY_NOT_FOUND carries no header).
    pub struct QueryConsumerOffsetResponseHeader {
        required offset: i64 = "offset",
    }
}

header! {
    /// UPDATE_CONSUMER_OFFSET (15), usually oneway.
    pub struct UpdateConsumerOffsetRequestHeader {
        required consumer_group: String = "consumerGroup",
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        required commit_offset: i64 = "commitOffset",
    }
}

header! {
    /// GET_MAX_OFFSET (30).
    pub struct GetMaxOffsetRequestHeader {
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
    }
}

header! {
    /// Answer to GET_MAX_OFFSET: the offset the next message will get.
    pub struct GetMaxOffsetResponseHeader {
        required offset: i64 = "offset",
    }
}

header! {
    /// GET_MIN_OFFSET (31).
    pub struct GetMinOffsetRequestHeader {
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
    }
}

header! {
    /// Answer to GET_MIN_OFFSET.
    pub struct GetMinOffsetResponseHeader {
        required offset: i64 = "offset",
    }
}

header! {
    /// SEARCH_OFFSET_BY_TIMESTAMP (29).
    pub struct SearchOffsetRequestHeader {
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
        /// Store time in ms since the epoch.
        required timestamp: i64 = "timestamp",
    }
}

header! {
    /// Answer to SEARCH_OFFSET_BY_TIMESTAMP.
    pub struct SearchOffsetResponseHeader {
        required offset: i64 = "offset",
    }
}

header! {
    /// GET_EARLIEST_MSG_STORETIME (32).
    pub struct GetEarliestMsgStoretimeRequestHeader {
        required topic: String = "topic",
        required queue_id: i32 = "queueId",
    }
}

header! {
    /// Answer to GET_EARLIEST_MSG_STORETIME: store time in ms of the queue's first message.
    pub struct GetEarliestMsgStoretimeResponseHeader {
        required timestamp: i64 = "timestamp",
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::DecodeError;
    use crate::headers::test_support::{assert_invalid, assert_missing, assert_round_trip, fields};
    use crate::headers::CommandHeader;

    proptest! {
        #[test]
        fn consumer_offset_headers_round_trip(group in any::<String>(), topic in any::<String>(),
                                              queue_id in any::<i32>(), offset in any::<i64>()) {
            let query = QueryConsumerOffsetRequestHeader {
                consumer_group: group.clone(),
                topic: topic.clone(),
                queue_id,
            };
            prop_assert_eq!(
                QueryConsumerOffsetRequestHeader::read_from(&query.to_ext_fields()),
                Ok(query)
            );
            let update = UpdateConsumerOffsetRequestHeader {
                consumer_group: group,
                topic,
                queue_id,
                commit_offset: offset,
            };
            prop_assert_eq!(
                UpdateConsumerOffsetRequestHeader::read_from(&update.to_ext_fields()),
                Ok(update)
            );
        }

        #[test]
        fn search_offset_round_trips(topic in any::<String>(), queue_id in any::<i32>(),
                                     timestamp in any::<i64>()) {
            let header = SearchOffsetRequestHeader { topic, queue_id, timestamp };
            prop_assert_eq!(SearchOffsetRequestHeader::read_from(&header.to_ext_fields()),
                            Ok(header));
        }
    }

    #[test]
    fn queue_bound_requests_round_trip() {
        let (topic, queue_id) = ("TopicTest".to_string(), 3);
        assert_round_trip(&GetMaxOffsetRequestHeader {
            topic: topic.clone(),
            queue_id,
        });
        assert_round_trip(&GetMinOffsetRequestHeader {
            topic: topic.clone(),
            queue_id,
        });
        assert_round_trip(&GetEarliestMsgStoretimeRequestHeader {
            topic: topic.clone(),
            queue_id,
        });
        let read = GetMaxOffsetRequestHeader::read_from(&fields(&[
            ("topic", "TopicTest"),
            ("queueId", "3"),
            ("bname", "broker-a"),
        ]));
        assert_eq!(read, Ok(GetMaxOffsetRequestHeader { topic, queue_id }));
    }

    #[test]
    fn missing_and_malformed_offset_fields_are_named() {
        let update = UpdateConsumerOffsetRequestHeader {
            consumer_group: "cg".to_string(),
            topic: "TopicTest".to_string(),
            queue_id: 0,
            commit_offset: 250,
        };
        for name in ["consumerGroup", "topic", "queueId", "commitOffset"] {
            assert_missing(&update, name);
        }
        assert_invalid(&update, "commitOffset", "250L");
        let search = SearchOffsetRequestHeader {
            topic: "TopicTest".to_string(),
            queue_id: 0,
            timestamp: 1_700_000_000_000,
        };
        assert_missing(&search, "timestamp");
        assert_invalid(&search, "queueId", "zero");
        let min = GetMinOffsetRequestHeader {
            topic: "T".to_string(),
            queue_id: 1,
        };
        assert_missing(&min, "queueId");
    }

    #[test]
    fn gotcha_offset_and_timestamp_responses_required() {
        let offsets = [
            QueryConsumerOffsetResponseHeader { offset: 0 }.to_ext_fields(),
            GetMaxOffsetResponseHeader { offset: 0 }.to_ext_fields(),
            GetMinOffsetResponseHeader { offset: 0 }.to_ext_fields(),
            SearchOffsetResponseHeader { offset: 0 }.to_ext_fields(),
        ];
        for written in &offsets {
            assert_eq!(written.get("offset"), Some("0"));
        }
        let timestamp = GetEarliestMsgStoretimeResponseHeader { timestamp: 0 };
        assert_eq!(timestamp.to_ext_fields().get("timestamp"), Some("0"));
        assert_missing(&timestamp, "timestamp");
        assert_missing(&QueryConsumerOffsetResponseHeader { offset: 5 }, "offset");
        assert_missing(&GetMaxOffsetResponseHeader { offset: 5 }, "offset");
        assert_invalid(&GetMinOffsetResponseHeader { offset: 5 }, "offset", "");
        assert_eq!(
            SearchOffsetResponseHeader::read_from(&fields(&[("offset", "-1")])),
            Ok(SearchOffsetResponseHeader { offset: -1 })
        );
        assert_eq!(
            GetMaxOffsetResponseHeader::read_from(&fields(&[])),
            Err(DecodeError::FieldMissing { name: "offset" })
        );
    }
}
