use super::*;
use proptest::prelude::*;

const ROUTE_LEGACY: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

const REGISTER_BODY: &str = r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}}}}"#;

#[test]
fn gotcha_broker_addrs_keys_gate_on_version() {
    // The spec's example (§4.4) is the legacy form, byte for byte; the standard form differs
    // only in the quoted keys.
    let route = TopicRouteData::decode(ROUTE_LEGACY.as_bytes()).unwrap();
    assert_eq!(route.broker_datas[0].broker_addrs[&1], "10.0.0.2:10911");
    assert_eq!(
        String::from_utf8(route.encode(false)).unwrap(),
        ROUTE_LEGACY
    );
    let standard = String::from_utf8(route.encode(true)).unwrap();
    assert_eq!(
        standard,
        ROUTE_LEGACY
            .replace("{0:", "{\"0\":")
            .replace(",1:", ",\"1\":")
    );
    assert_eq!(TopicRouteData::decode(standard.as_bytes()).unwrap(), route);
    let _: serde_json::Value = serde_json::from_str(&standard).expect("strict JSON");
}

#[test]
fn gotcha_broker_addrs_never_omitted_and_compact() {
    let route = TopicRouteData {
        broker_datas: vec![BrokerData {
            broker_name: "b".into(),
            ..BrokerData::default()
        }],
        ..TopicRouteData::default()
    };
    for standard in [false, true] {
        let text = String::from_utf8(route.encode(standard)).unwrap();
        assert!(text.contains(r#""brokerAddrs":{}"#), "{text}");
        assert!(
            !text.contains(' '),
            "no whitespace (the Go client splits raw text): {text}"
        );
    }
}

#[test]
fn order_topic_conf_only_when_set() {
    let mut route = TopicRouteData::decode(ROUTE_LEGACY.as_bytes()).unwrap();
    assert!(!String::from_utf8(route.encode(true))
        .unwrap()
        .contains("orderTopicConf"));
    route.order_topic_conf = Some("broker-a:4".into());
    let text = String::from_utf8(route.encode(true)).unwrap();
    assert!(text.contains(r#""orderTopicConf":"broker-a:4""#), "{text}");
    assert_eq!(TopicRouteData::decode(text.as_bytes()).unwrap(), route);
}

#[test]
fn cluster_info_spec_example() {
    let legacy = r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
    let info = ClusterInfo::decode(legacy.as_bytes()).unwrap();
    assert_eq!(String::from_utf8(info.encode(false)).unwrap(), legacy);
    assert_eq!(ClusterInfo::decode(&info.encode(true)).unwrap(), info);
}

#[test]
fn register_body_spec_example_round_trips() {
    let body = RegisterBrokerBody::decode(REGISTER_BODY.as_bytes()).unwrap();
    let wrapper = &body.topic_config_serialize_wrapper;
    assert_eq!(
        wrapper.data_version,
        DataVersion {
            counter: 3,
            timestamp: 1_700_000_000_000
        }
    );
    assert_eq!(wrapper.topic_config_table["TopicTest"].read_queue_nums, 4);
    assert_eq!(String::from_utf8(body.encode()).unwrap(), REGISTER_BODY);
}

#[test]
fn gotcha_compressed_register_body_loses_sys_flag_and_order() {
    let mut body = RegisterBrokerBody::decode(REGISTER_BODY.as_bytes()).unwrap();
    body.filter_server_list = vec!["10.0.0.9:1".into()];
    let mut with_flags = body.clone();
    let config = with_flags
        .topic_config_serialize_wrapper
        .topic_config_table
        .get_mut("TopicTest");
    let config = config.unwrap();
    config.topic_sys_flag = 3;
    config.order = true;
    let decoded = RegisterBrokerBody::decode_compressed(&with_flags.encode_compressed()).unwrap();
    assert_eq!(decoded, body);
}

#[test]
fn hostile_compressed_register_bodies() {
    assert!(matches!(
        RegisterBrokerBody::decode_compressed(b"not zlib at all"),
        Err(DecodeError::CompressionInvalid { .. })
    ));
    let compress = |plain: &[u8]| {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, plain).unwrap();
        encoder.finish().unwrap()
    };
    // A length that lies, a negative one, a truncated count.
    for plain in [
        &[0x7f, 0, 0, 0, b'{'][..],
        &[0xff, 0xff, 0xff, 0xff],
        &[0, 0, 0, 2, b'{', b'}', 0],
    ] {
        assert!(
            RegisterBrokerBody::decode_compressed(&compress(plain)).is_err(),
            "{plain:?}"
        );
    }
    // A zip bomb: 65 MiB of zeros inflates past the bound and is refused.
    let bomb = compress(&vec![0u8; 65 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024);
    assert!(matches!(
        RegisterBrokerBody::decode_compressed(&bomb),
        Err(DecodeError::FieldTooLong { .. })
    ));
}

#[test]
fn invalid_bodies_are_typed_errors() {
    assert!(matches!(
        TopicRouteData::decode(b"\xff\xfe"),
        Err(DecodeError::Utf8Invalid { .. })
    ));
    assert!(matches!(
        TopicRouteData::decode(b"{\"brokerDatas\":"),
        Err(DecodeError::JsonInvalid { .. })
    ));
    // Unknown fields (5.x additions) are ignored; missing ones default.
    let route = TopicRouteData::decode(
        br#"{"topicQueueMappingByBroker":{},"queueDatas":[{"brokerName":"b","zone":1}]}"#,
    )
    .unwrap();
    assert_eq!(route.queue_datas[0].broker_name, "b");
}

#[test]
fn topic_list_and_kv_table() {
    let list = TopicList {
        broker_addr: None,
        topic_list: vec!["A".into(), "B".into()],
    };
    assert_eq!(list.encode(), br#"{"topicList":["A","B"]}"#);
    assert_eq!(TopicList::decode(&list.encode()).unwrap(), list);
    let table = KvTable {
        table: [("k".to_string(), "v".to_string())].into_iter().collect(),
    };
    assert_eq!(table.encode(), br#"{"table":{"k":"v"}}"#);
}

#[test]
fn properties_text_parses_java_forms() {
    let text = concat!(
        "# comment\n! also\n a = 1\nb:2\nc 3\nd=multi\\\n   line\n",
        "e=\\u00e9\\n\nf\n\\ key\\=x=v\\\\\n"
    );
    let pairs = properties_text::parse(text);
    let expected: Vec<(String, String)> = [
        ("a", "1"),
        ("b", "2"),
        ("c", "3"),
        ("d", "multiline"),
        ("e", "é\n"),
        ("f", ""),
        (" key=x", "v\\"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(pairs, expected);
}

prop_compose! {
    fn broker_data()(
        addrs in proptest::collection::btree_map(0i64..4, "[0-9.]{1,15}:[0-9]{1,5}", 0..3),
        name in "[a-zA-Z0-9_-]{1,12}",
        cluster in "[a-zA-Z0-9_-]{1,12}",
    ) -> BrokerData {
        BrokerData { broker_addrs: addrs, broker_name: name, cluster }
    }
}

prop_compose! {
    fn queue_data()(name in "[a-z-]{1,8}", perm in 0i32..8, read in 0i32..64,
                    flag in 0i32..4, write in 0i32..64) -> QueueData {
        QueueData { broker_name: name, perm, read_queue_nums: read, topic_sys_flag: flag,
                    write_queue_nums: write }
    }
}

proptest! {
    #[test]
    fn route_round_trips_in_both_forms(
        brokers in proptest::collection::vec(broker_data(), 0..3),
        queues in proptest::collection::vec(queue_data(), 0..3),
        conf in proptest::option::of("[a-z:;0-9]{1,12}"),
        standard in any::<bool>(),
    ) {
        let route = TopicRouteData {
            broker_datas: brokers,
            filter_server_table: BTreeMap::new(),
            order_topic_conf: conf,
            queue_datas: queues,
        };
        prop_assert_eq!(TopicRouteData::decode(&route.encode(standard)).unwrap(), route);
    }

    #[test]
    fn cluster_info_round_trips(brokers in proptest::collection::vec(broker_data(), 0..4),
                                standard in any::<bool>()) {
        let mut info = ClusterInfo::default();
        for broker in brokers {
            info.cluster_addr_table.entry(broker.cluster.clone()).or_default()
                .insert(broker.broker_name.clone());
            info.broker_addr_table.insert(broker.broker_name.clone(), broker);
        }
        prop_assert_eq!(ClusterInfo::decode(&info.encode(standard)).unwrap(), info);
    }

    #[test]
    fn register_body_round_trips(
        topics in proptest::collection::btree_map(
            "[a-zA-Z0-9_%-]{1,16}", (0i32..32, 0i32..32, 0i32..8), 0..5),
        counter in any::<i64>(), timestamp in any::<i64>(),
        filters in proptest::collection::vec("[0-9.:]{1,12}", 0..2),
    ) {
        let table = topics.into_iter().map(|(name, (read, write, perm))| {
            (name.clone(), TopicConfig { topic_name: name, read_queue_nums: read,
                write_queue_nums: write, perm, ..TopicConfig::default() })
        }).collect();
        let body = RegisterBrokerBody {
            filter_server_list: filters,
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version: DataVersion { counter, timestamp }, topic_config_table: table },
        };
        prop_assert_eq!(&RegisterBrokerBody::decode(&body.encode()).unwrap(), &body);
        let compressed = body.encode_compressed();
        prop_assert_eq!(&RegisterBrokerBody::decode_compressed(&compressed).unwrap(), &body);
    }

    #[test]
    fn properties_text_round_trips(pairs in proptest::collection::vec(
        ("[a-zA-Z0-9 =:#!.\\\\]{1,10}", "(?s)[a-zA-Z0-9 =:#!\\\\\n\t]{0,10}"), 0..5)) {
        let encoded = properties_text::encode(&pairs);
        prop_assert_eq!(properties_text::parse(&encoded), pairs);
    }

    #[test]
    fn compressed_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = RegisterBrokerBody::decode_compressed(&bytes);
    }
}
