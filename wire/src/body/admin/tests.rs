use super::*;
use proptest::prelude::*;

fn queue(topic: &str, queue_id: i32) -> MessageQueue {
    MessageQueue {
        broker_name: "b".into(),
        queue_id,
        topic: topic.into(),
    }
}

#[test]
fn gotcha_message_queue_keys_are_objects() {
    // The spec's example (§6), byte for byte.
    let expected = r#"{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"lastUpdateTimestamp":0,"maxOffset":10,"minOffset":0}}}"#;
    let mut table = TopicStatsTable::default();
    table.offset_table.insert(
        queue("T", 0),
        TopicOffset {
            max_offset: 10,
            ..TopicOffset::default()
        },
    );
    assert_eq!(String::from_utf8(table.encode()).unwrap(), expected);
    assert_eq!(TopicStatsTable::decode(expected.as_bytes()).unwrap(), table);
}

#[test]
fn reset_offset_body_has_object_keys_and_long_values() {
    let expected = r#"{"offsetTable":{{"brokerName":"b","queueId":1,"topic":"T"}:42}}"#;
    let mut body = ResetOffsetBody::default();
    body.offset_table.insert(queue("T", 1), 42);
    assert_eq!(String::from_utf8(body.encode()).unwrap(), expected);
    assert_eq!(ResetOffsetBody::decode(expected.as_bytes()).unwrap(), body);
}

#[test]
fn consume_stats_round_trip_and_double_format() {
    let mut stats = ConsumeStats::default();
    stats.offset_table.insert(
        queue("T", 1),
        OffsetWrapper {
            broker_offset: 9,
            consumer_offset: 4,
            last_timestamp: 1_700_000_000_000,
        },
    );
    let text = String::from_utf8(stats.encode()).unwrap();
    assert!(
        text.starts_with(r#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"b""#),
        "{text}"
    );
    assert_eq!(ConsumeStats::decode(text.as_bytes()).unwrap(), stats);
    stats.consume_tps = 12.5;
    assert_eq!(ConsumeStats::decode(&stats.encode()).unwrap(), stats);
}

#[test]
fn gotcha_consumer_offsets_have_unquoted_integer_keys() {
    let upstream =
        r#"{"offsetTable":{"TopicA@groupX":{0:250,1:248},"%RETRY%groupX@groupX":{0:0}}}"#;
    let offsets = ConsumerOffsetWrapper::decode(upstream.as_bytes()).unwrap();
    assert_eq!(offsets.offset_table["TopicA@groupX"][&1], 248);
    let encoded = String::from_utf8(offsets.encode()).unwrap();
    assert_eq!(
        encoded,
        r#"{"offsetTable":{"%RETRY%groupX@groupX":{0:0},"TopicA@groupX":{0:250,1:248}}}"#
    );
    assert_eq!(
        ConsumerOffsetWrapper::decode(encoded.as_bytes()).unwrap(),
        offsets
    );
}

#[test]
fn subscription_group_defaults_match_upstream() {
    let config = SubscriptionGroupConfig {
        group_name: "g".into(),
        ..Default::default()
    };
    assert_eq!(
        String::from_utf8(config.encode()).unwrap(),
        r#"{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"groupName":"g","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#
    );
    assert_eq!(
        SubscriptionGroupConfig::decode(br#"{"groupName":"g"}"#).unwrap(),
        config
    );
}

#[test]
fn lock_bodies_use_java_names() {
    let request = LockBatchRequestBody {
        client_id: "c".into(),
        consumer_group: "g".into(),
        mq_set: [queue("T", 0)].into_iter().collect(),
    };
    let text = serde_json::to_string(&request).unwrap();
    assert_eq!(
        text,
        r#"{"clientId":"c","consumerGroup":"g","mqSet":[{"brokerName":"b","queueId":0,"topic":"T"}]}"#
    );
    let response: LockBatchResponseBody =
        serde_json::from_str(r#"{"lockOKMQSet":[{"brokerName":"b","queueId":0,"topic":"T"}]}"#)
            .unwrap();
    assert_eq!(response.lock_ok_mq_set, request.mq_set);
}

#[test]
fn consumer_connection_round_trip() {
    let mut connection = ConsumerConnection {
        consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
        consume_type: "CONSUME_PASSIVELY".into(),
        message_model: "CLUSTERING".into(),
        ..ConsumerConnection::default()
    };
    connection.connection_set.insert(Connection {
        client_addr: "127.0.0.1:5000".into(),
        client_id: "c".into(),
        language: "JAVA".into(),
        version: 409,
    });
    connection.subscription_table.insert(
        "T".into(),
        super::super::SubscriptionData::tags("T", "*", 1),
    );
    assert_eq!(
        ConsumerConnection::decode(&connection.encode()).unwrap(),
        connection
    );
}

proptest! {
    #[test]
    fn queue_keyed_tables_round_trip(
        entries in proptest::collection::btree_map(
            ("[a-zA-Z%{}\":,]{1,8}", 0i32..16), (any::<i64>(), any::<i64>(), any::<i64>()), 0..6)
    ) {
        let mut stats = TopicStatsTable::default();
        let mut consume = ConsumeStats::default();
        for ((topic, id), (a, b, c)) in entries {
            stats.offset_table.insert(queue(&topic, id),
                TopicOffset { last_update_timestamp: a, max_offset: b, min_offset: c });
            consume.offset_table.insert(queue(&topic, id),
                OffsetWrapper { broker_offset: a, consumer_offset: b, last_timestamp: c });
        }
        prop_assert_eq!(TopicStatsTable::decode(&stats.encode()).unwrap(), stats);
        prop_assert_eq!(ConsumeStats::decode(&consume.encode()).unwrap(), consume);
    }

    #[test]
    fn consumer_offsets_round_trip(
        table in proptest::collection::btree_map("[a-zA-Z%@0-9]{1,12}",
            proptest::collection::btree_map(any::<i32>(), any::<i64>(), 0..4), 0..4)
    ) {
        let offsets = ConsumerOffsetWrapper { offset_table: table };
        prop_assert_eq!(ConsumerOffsetWrapper::decode(&offsets.encode()).unwrap(), offsets);
    }
}
