//! The real `namesrv` process on an ephemeral loopback port, spoken to with raw frames in both
//! serialisations: routing, liveness, KV config, config.

mod common;

use std::time::{Duration, Instant};

use common::*;
use integration::wait_until;
use serde_json::Value;
use wire::{RemotingCommand, RequestCode, ResponseCode, SerializeType};

#[test]
fn route_round_trip_in_both_serialisations() {
    let namesrv = start_namesrv("");
    let mut broker = client(&namesrv);
    let body = register_body(1, &[("TopicTest", 4), ("Other", 2)]);
    let response = broker
        .call(register_request("broker-a", 0, "127.0.0.1:10911", body))
        .unwrap();
    assert_eq!(
        response.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        response.remark
    );

    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let mut asker = client(&namesrv);
        let response = asker
            .call(route_request("TopicTest", 409, serialize_type))
            .unwrap();
        assert_eq!(
            response.serialize_type, serialize_type,
            "answered in the request's type"
        );
        assert_eq!(response.response_code(), ResponseCode::SUCCESS);
        let text = std::str::from_utf8(&response.body).unwrap();
        assert!(
            text.contains(r#""brokerAddrs":{"0":"127.0.0.1:10911"}"#),
            "{text}"
        );
        let route: Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(route["brokerDatas"][0]["brokerName"], "broker-a");
        assert_eq!(route["brokerDatas"][0]["cluster"], "DefaultCluster");
        assert_eq!(route["queueDatas"][0]["readQueueNums"], 4);
        assert_eq!(route["queueDatas"][0]["perm"], 6);
        assert!(route["filterServerTable"].is_object());
    }
}

#[test]
fn route_keys_follow_the_asking_clients_version() {
    let namesrv = start_namesrv("");
    let mut broker = client(&namesrv);
    broker
        .call(register_request(
            "broker-a",
            0,
            "127.0.0.1:10911",
            register_body(1, &[("T", 4)]),
        ))
        .unwrap();
    broker
        .call(register_request(
            "broker-a",
            1,
            "127.0.0.1:10921",
            register_body(1, &[]),
        ))
        .unwrap();
    let mut asker = client(&namesrv);
    // Go and Java <= 4.9.3 (version < 401): fastjson's legacy unquoted integer keys.
    let legacy = asker
        .call(route_request("T", 317, SerializeType::Json))
        .unwrap();
    let text = std::str::from_utf8(&legacy.body).unwrap();
    assert!(
        text.contains(r#""brokerAddrs":{0:"127.0.0.1:10911",1:"127.0.0.1:10921"}"#),
        "{text}"
    );
    let route = parse_lenient(&legacy.body);
    assert_eq!(
        route["brokerDatas"][0]["brokerAddrs"]["1"],
        "127.0.0.1:10921"
    );
    // Version 317 but acceptStandardJsonOnly=true: standard JSON.
    let request =
        route_request("T", 317, SerializeType::Json).with_ext("acceptStandardJsonOnly", "true");
    let standard = asker.call(request).unwrap();
    let text = std::str::from_utf8(&standard.body).unwrap();
    assert!(
        text.contains(r#"{"0":"127.0.0.1:10911","1":"127.0.0.1:10921"}"#),
        "{text}"
    );
}

#[test]
fn unknown_topic_is_topic_not_exist() {
    let namesrv = start_namesrv("");
    let response = client(&namesrv)
        .call(route_request("Nope", 409, SerializeType::Json))
        .unwrap();
    assert_eq!(response.response_code(), ResponseCode::TOPIC_NOT_EXIST);
    assert!(response.remark.unwrap_or_default().contains("Nope"));
    assert!(response.body.is_empty());
}

#[test]
fn cluster_info_and_topic_lists() {
    let namesrv = start_namesrv("");
    let mut broker = client(&namesrv);
    broker
        .call(register_request(
            "broker-a",
            0,
            "127.0.0.1:1",
            register_body(1, &[("A", 4), ("B", 4)]),
        ))
        .unwrap();
    broker
        .call(register_request(
            "broker-b",
            0,
            "127.0.0.1:2",
            register_body(1, &[("B", 2)]),
        ))
        .unwrap();
    let mut asker = client(&namesrv);
    let info = asker
        .call(RemotingCommand::request(
            RequestCode::GET_BROKER_CLUSTER_INFO,
            0,
        ))
        .unwrap();
    let info = parse_lenient(&info.body);
    assert_eq!(
        info["clusterAddrTable"]["DefaultCluster"],
        serde_json::json!(["broker-a", "broker-b"])
    );
    assert_eq!(
        info["brokerAddrTable"]["broker-b"]["brokerAddrs"]["0"],
        "127.0.0.1:2"
    );

    let list = asker
        .call(RemotingCommand::request(
            RequestCode::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            0,
        ))
        .unwrap();
    let list: Value = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(list["topicList"], serde_json::json!(["A", "B"]));

    let by_cluster = asker
        .call(
            RemotingCommand::request(RequestCode::GET_TOPICS_BY_CLUSTER, 0)
                .with_ext("cluster", "DefaultCluster"),
        )
        .unwrap();
    let by_cluster: Value = serde_json::from_slice(&by_cluster.body).unwrap();
    assert_eq!(by_cluster["topicList"], serde_json::json!(["A", "B"]));

    let system = asker
        .call(RemotingCommand::request(
            RequestCode::GET_SYSTEM_TOPIC_LIST_FROM_NS,
            0,
        ))
        .unwrap();
    let system: Value = serde_json::from_slice(&system.body).unwrap();
    let topics = system["topicList"].as_array().unwrap();
    for expected in ["DefaultCluster", "broker-a", "broker-b"] {
        assert!(topics.iter().any(|t| t == expected), "{system}");
    }
}

#[test]
fn slave_learns_its_master_and_routes_survive_the_master() {
    let namesrv = start_namesrv("");
    let mut master = client(&namesrv);
    master
        .call(register_request(
            "broker-a",
            0,
            "127.0.0.1:10911",
            register_body(1, &[("T", 4)]),
        ))
        .unwrap();
    let mut slave = client(&namesrv);
    let response = slave
        .call(register_request(
            "broker-a",
            1,
            "127.0.0.1:10921",
            register_body(1, &[]),
        ))
        .unwrap();
    assert_eq!(
        response.ext_fields.get("masterAddr"),
        Some("127.0.0.1:10911")
    );
    assert_eq!(
        response.ext_fields.get("haServerAddr"),
        Some("127.0.0.1:10911-ha")
    );

    // The master's connection closes: its address goes at once, the slave keeps serving T.
    drop(master);
    let mut asker = client(&namesrv);
    assert!(wait_until(Duration::from_secs(5), || {
        let route = asker
            .call(route_request("T", 409, SerializeType::Json))
            .unwrap();
        let route: Value = serde_json::from_slice(&route.body).unwrap_or(Value::Null);
        route["brokerDatas"][0]["brokerAddrs"] == serde_json::json!({"1": "127.0.0.1:10921"})
    }));
    // Then the slave unregisters cleanly: the topic is gone.
    let unregister = RemotingCommand::request(RequestCode::UNREGISTER_BROKER, 0)
        .with_ext("brokerName", "broker-a")
        .with_ext("brokerAddr", "127.0.0.1:10921")
        .with_ext("clusterName", "DefaultCluster")
        .with_ext("brokerId", "1");
    assert_eq!(
        slave.call(unregister).unwrap().response_code(),
        ResponseCode::SUCCESS
    );
    let response = asker
        .call(route_request("T", 409, SerializeType::Json))
        .unwrap();
    assert_eq!(response.response_code(), ResponseCode::TOPIC_NOT_EXIST);
}

#[test]
fn silent_broker_expires() {
    let namesrv = start_namesrv("brokerChannelExpiredTime=1000\nscanNotActiveBrokerInterval=200");
    let mut broker = client(&namesrv);
    broker
        .call(register_request(
            "broker-a",
            0,
            "127.0.0.1:1",
            register_body(1, &[("T", 4)]),
        ))
        .unwrap();
    let mut asker = client(&namesrv);
    let found = asker
        .call(route_request("T", 409, SerializeType::Json))
        .unwrap();
    assert_eq!(found.response_code(), ResponseCode::SUCCESS);
    let started = Instant::now();
    assert!(wait_until(Duration::from_secs(10), || {
        let response = asker
            .call(route_request("T", 409, SerializeType::Json))
            .unwrap();
        response.response_code() == ResponseCode::TOPIC_NOT_EXIST
    }));
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "expired too early"
    );
    // The expired broker's connection was closed by the namesrv.
    assert!(broker.is_closed_by_peer(Duration::from_secs(5)));
}

#[test]
fn compressed_registration_is_accepted() {
    use std::io::Write as _;
    let namesrv = start_namesrv("");
    let mut plain = Vec::new();
    let version = br#"{"counter":2,"timestamp":1700000000000}"#;
    plain.extend_from_slice(&(version.len() as i32).to_be_bytes());
    plain.extend_from_slice(version);
    plain.extend_from_slice(&1i32.to_be_bytes());
    let topic = b"Zipped 8 8 6 SINGLE_TAG";
    plain.extend_from_slice(&(topic.len() as i32).to_be_bytes());
    plain.extend_from_slice(topic);
    plain.extend_from_slice(&2i32.to_be_bytes());
    plain.extend_from_slice(b"[]");
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&plain).unwrap();
    let body = encoder.finish().unwrap();
    let mut request = register_request("broker-z", 0, "127.0.0.1:3", body);
    request.ext_fields.insert("compressed", "true");
    // The broker's connection stays open: closing it would drop the broker at once.
    let mut broker = client(&namesrv);
    let response = broker.call(request).unwrap();
    assert_eq!(
        response.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        response.remark
    );
    let route = client(&namesrv)
        .call(route_request("Zipped", 409, SerializeType::Json))
        .unwrap();
    let route: Value = serde_json::from_slice(&route.body).unwrap();
    assert_eq!(route["queueDatas"][0]["writeQueueNums"], 8);
}

#[test]
fn bad_body_crc_is_refused() {
    let namesrv = start_namesrv("");
    let mut request = register_request("broker-a", 0, "127.0.0.1:1", register_body(1, &[("T", 4)]));
    request.ext_fields.insert("bodyCrc32", "12345");
    let response = client(&namesrv).call(request).unwrap();
    assert_eq!(response.response_code(), ResponseCode::SYSTEM_ERROR);
    assert!(response.remark.unwrap_or_default().contains("crc32"));
}

fn kv_request(code: RequestCode, key: &str, value: Option<&str>) -> RemotingCommand {
    let mut request = RemotingCommand::request(code, 0)
        .with_ext("namespace", "ORDER_TOPIC_CONFIG")
        .with_ext("key", key);
    if let Some(value) = value {
        request.ext_fields.insert("value", value);
    }
    request
}

#[test]
fn kv_config_persists_across_restart() {
    let mut namesrv = start_namesrv("");
    let mut admin = client(&namesrv);
    let put = admin
        .call(kv_request(
            RequestCode::PUT_KV_CONFIG,
            "T",
            Some("broker-a:4"),
        ))
        .unwrap();
    assert_eq!(put.response_code(), ResponseCode::SUCCESS);
    admin
        .call(kv_request(
            RequestCode::PUT_KV_CONFIG,
            "U",
            Some("broker-a:2"),
        ))
        .unwrap();
    admin
        .call(kv_request(RequestCode::DELETE_KV_CONFIG, "U", None))
        .unwrap();
    let get = admin
        .call(kv_request(RequestCode::GET_KV_CONFIG, "T", None))
        .unwrap();
    assert_eq!(get.ext_fields.get("value"), Some("broker-a:4"));

    // kill -9: an acknowledged PUT must already be on disk.
    namesrv.process.signal(libc::SIGKILL);
    namesrv
        .process
        .wait_timeout(Duration::from_secs(5))
        .expect("killed");
    let Namesrv { dir, .. } = namesrv;
    let namesrv = start_in(dir, "");
    let mut admin = client(&namesrv);
    let get = admin
        .call(kv_request(RequestCode::GET_KV_CONFIG, "T", None))
        .unwrap();
    assert_eq!(get.ext_fields.get("value"), Some("broker-a:4"));
    let gone = admin
        .call(kv_request(RequestCode::GET_KV_CONFIG, "U", None))
        .unwrap();
    assert_eq!(gone.response_code(), ResponseCode::QUERY_NOT_FOUND);
    let list = RemotingCommand::request(RequestCode::GET_KVLIST_BY_NAMESPACE, 0)
        .with_ext("namespace", "ORDER_TOPIC_CONFIG");
    let list = admin.call(list).unwrap();
    let table: Value = serde_json::from_slice(&list.body).unwrap();
    assert_eq!(table["table"], serde_json::json!({"T": "broker-a:4"}));
}

#[test]
fn order_topic_conf_is_served_when_enabled() {
    let namesrv = start_namesrv("orderMessageEnable=true");
    let mut admin = client(&namesrv);
    admin
        .call(register_request(
            "broker-a",
            0,
            "127.0.0.1:1",
            register_body(1, &[("T", 4)]),
        ))
        .unwrap();
    admin
        .call(kv_request(
            RequestCode::PUT_KV_CONFIG,
            "T",
            Some("broker-a:4"),
        ))
        .unwrap();
    let route = admin
        .call(route_request("T", 409, SerializeType::Json))
        .unwrap();
    let route: Value = serde_json::from_slice(&route.body).unwrap();
    assert_eq!(route["orderTopicConf"], "broker-a:4");
}

#[test]
fn delete_topic_and_write_perm() {
    let namesrv = start_namesrv("");
    let mut admin = client(&namesrv);
    admin
        .call(register_request(
            "broker-a",
            0,
            "127.0.0.1:1",
            register_body(1, &[("T", 4), ("U", 4)]),
        ))
        .unwrap();
    let wipe = RemotingCommand::request(RequestCode::WIPE_WRITE_PERM_OF_BROKER, 0)
        .with_ext("brokerName", "broker-a");
    let wipe = admin.call(wipe).unwrap();
    assert_eq!(wipe.ext_fields.get("wipeTopicCount"), Some("2"));
    let route = admin
        .call(route_request("T", 409, SerializeType::Json))
        .unwrap();
    let route: Value = serde_json::from_slice(&route.body).unwrap();
    assert_eq!(route["queueDatas"][0]["perm"], 4);
    let add = RemotingCommand::request(RequestCode::ADD_WRITE_PERM_OF_BROKER, 0)
        .with_ext("brokerName", "broker-a");
    assert_eq!(
        admin.call(add).unwrap().ext_fields.get("addTopicCount"),
        Some("2")
    );

    let delete =
        RemotingCommand::request(RequestCode::DELETE_TOPIC_IN_NAMESRV, 0).with_ext("topic", "T");
    assert_eq!(
        admin.call(delete).unwrap().response_code(),
        ResponseCode::SUCCESS
    );
    let route = admin
        .call(route_request("T", 409, SerializeType::Json))
        .unwrap();
    assert_eq!(route.response_code(), ResponseCode::TOPIC_NOT_EXIST);
    let route = admin
        .call(route_request("U", 409, SerializeType::Json))
        .unwrap();
    assert_eq!(route.response_code(), ResponseCode::SUCCESS);
}

#[test]
fn namesrv_config_get_and_update() {
    let namesrv = start_namesrv("");
    let mut admin = client(&namesrv);
    let config = admin
        .call(RemotingCommand::request(RequestCode::GET_NAMESRV_CONFIG, 0))
        .unwrap();
    let text = String::from_utf8(config.body).unwrap();
    assert!(text.contains("orderMessageEnable=false"), "{text}");
    let update = RemotingCommand::request(RequestCode::UPDATE_NAMESRV_CONFIG, 0)
        .with_body(b"orderMessageEnable=true\n".to_vec());
    assert_eq!(
        admin.call(update).unwrap().response_code(),
        ResponseCode::SUCCESS
    );
    let config = admin
        .call(RemotingCommand::request(RequestCode::GET_NAMESRV_CONFIG, 0))
        .unwrap();
    assert!(String::from_utf8(config.body)
        .unwrap()
        .contains("orderMessageEnable=true"));
    let forbidden = RemotingCommand::request(RequestCode::UPDATE_NAMESRV_CONFIG, 0)
        .with_body(b"kvConfigPath=/etc/passwd\n".to_vec());
    assert_eq!(
        admin.call(forbidden).unwrap().response_code(),
        ResponseCode::NO_PERMISSION
    );
    let malformed = RemotingCommand::request(RequestCode::UPDATE_NAMESRV_CONFIG, 0)
        .with_body(b"orderMessageEnable=perhaps\n".to_vec());
    let malformed = admin.call(malformed).unwrap();
    assert_eq!(malformed.response_code(), ResponseCode::SYSTEM_ERROR);
    assert!(malformed
        .remark
        .unwrap_or_default()
        .contains("orderMessageEnable"));
}

#[test]
fn unknown_code_is_not_supported_with_its_number() {
    let namesrv = start_namesrv("");
    let mut asker = client(&namesrv);
    let response = asker
        .call(RemotingCommand::request(RequestCode::Unknown(4242), 0))
        .unwrap();
    assert_eq!(
        response.response_code(),
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED
    );
    assert!(response.remark.unwrap_or_default().contains("4242"));
    // A request missing a required header field is answered, not dropped.
    let response = asker
        .call(RemotingCommand::request(
            RequestCode::GET_ROUTEINFO_BY_TOPIC,
            0,
        ))
        .unwrap();
    assert_eq!(response.response_code(), ResponseCode::SYSTEM_ERROR);
    assert!(response.remark.unwrap_or_default().contains("topic"));
    // A oneway request gets no answer; the connection still works afterwards.
    let mut oneway = RemotingCommand::request(RequestCode::Unknown(4242), 0);
    oneway.mark_oneway();
    asker.send(&mut oneway).unwrap();
    let response = asker
        .call(route_request("x", 409, SerializeType::Json))
        .unwrap();
    assert_eq!(response.response_code(), ResponseCode::TOPIC_NOT_EXIST);
}

#[test]
fn brokers_older_than_3_0_11_register_a_bare_topic_wrapper() {
    let namesrv = start_namesrv("");
    let body = br#"{"dataVersion":{"counter":1,"timestamp":1},"topicConfigTable":{"Old":{"perm":6,"readQueueNums":2,"topicName":"Old","writeQueueNums":2}}}"#;
    let mut request = register_request("broker-old", 0, "127.0.0.1:7", body.to_vec());
    request.version = 36;
    let mut broker = client(&namesrv);
    let response = broker.call(request).unwrap();
    assert_eq!(
        response.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        response.remark
    );
    let route = broker
        .call(route_request("Old", 409, SerializeType::Json))
        .unwrap();
    let route: Value = serde_json::from_slice(&route.body).unwrap();
    assert_eq!(route["queueDatas"][0]["readQueueNums"], 2);
}
