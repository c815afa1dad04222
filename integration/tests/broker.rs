//! The real `broker` with a real `namesrv`, on ephemeral loopback ports, spoken to with raw
//! frames: registration, send and pull round trips with tags, long polling, offsets across a
//! restart, SYNC_FLUSH acks across `kill -9`, and hostile requests.

mod cluster;

use std::time::{Duration, Instant};

use cluster::*;
use integration::{wait_until, RawClient};
use wire::{RemotingCommand, RequestCode, ResponseCode};

#[test]
fn send_and_pull_round_trip_with_tags_and_routes() {
    let cluster = Cluster::start("");
    assert!(
        wait_until(Duration::from_secs(10), || cluster.routed("TBW102")),
        "broker never registered"
    );
    let mut client = cluster.client();
    for n in 0..10 {
        let response = send(
            &mut client,
            "RoundTrip",
            n % 2,
            &format!("m{n}"),
            if n % 3 == 0 { "a" } else { "b" },
        );
        assert_eq!(
            response.response_code(),
            ResponseCode::SUCCESS,
            "{:?}",
            response.remark
        );
        assert_eq!(ext(&response, "queueId"), (n % 2).to_string());
        assert_eq!(ext(&response, "queueOffset"), (n / 2).to_string());
        assert_eq!(ext(&response, "msgId").len(), 32);
    }
    assert!(
        wait_until(Duration::from_secs(10), || cluster.routed("RoundTrip")),
        "auto-created topic not routed"
    );
    let addr = cluster.broker_addr();
    assert!(wait_until(Duration::from_secs(10), || max_offset(
        addr,
        "RoundTrip",
        0
    ) == 5));
    let all = client
        .call(pull_request("RoundTrip", 0, 0, "*", 0))
        .unwrap();
    assert_eq!(
        all.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        all.remark
    );
    assert_eq!(bodies(&all), vec!["m0", "m2", "m4", "m6", "m8"]);
    assert_eq!(ext(&all, "nextBeginOffset"), "5");
    assert_eq!(ext(&all, "maxOffset"), "5");
    let tagged = client
        .call(pull_request("RoundTrip", 0, 0, "a", 0))
        .unwrap();
    assert_eq!(bodies(&tagged), vec!["m0", "m6"]);
    let end = client
        .call(pull_request("RoundTrip", 0, 5, "*", 0))
        .unwrap();
    assert_eq!(end.response_code(), ResponseCode::PULL_NOT_FOUND);
    let moved = client
        .call(pull_request("RoundTrip", 0, 99, "*", 0))
        .unwrap();
    assert_eq!(moved.response_code(), ResponseCode::PULL_OFFSET_MOVED);
    assert_eq!(ext(&moved, "nextBeginOffset"), "5");
}

#[test]
fn a_held_pull_wakes_when_a_message_arrives() {
    let cluster = Cluster::start("");
    let mut client = cluster.client();
    let created = send(&mut client, "LongPoll", 0, "first", "t");
    assert_eq!(created.response_code(), ResponseCode::SUCCESS);
    let addr = cluster.broker_addr();
    // Dispatch is asynchronous: pull at offset 1 only once the queue holds the first message
    // (a pull past the end of an empty queue is OFFSET_MOVED, not held).
    assert!(wait_until(Duration::from_secs(10), || max_offset(
        addr, "LongPoll", 0
    ) == 1));
    let waiter = std::thread::spawn(move || {
        let mut puller = RawClient::connect(addr).unwrap();
        let started = Instant::now();
        let response = puller
            .call(pull_request("LongPoll", 0, 1, "*", 20_000))
            .unwrap();
        (response, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let sent_at = Instant::now();
    assert_eq!(
        send(&mut client, "LongPoll", 0, "second", "t").response_code(),
        ResponseCode::SUCCESS
    );
    let (response, waited) = waiter.join().unwrap();
    assert_eq!(
        response.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        response.remark
    );
    assert_eq!(bodies(&response), vec!["second"]);
    assert!(
        waited >= Duration::from_millis(250),
        "answered before the message existed"
    );
    assert!(
        sent_at.elapsed() < Duration::from_secs(5),
        "woke only at the timeout"
    );
}

#[test]
fn offsets_and_messages_survive_a_restart() {
    let mut cluster = Cluster::start("");
    let mut client = cluster.client();
    for n in 0..5 {
        assert_eq!(
            send(&mut client, "Durable", 1, &format!("d{n}"), "x").response_code(),
            ResponseCode::SUCCESS
        );
    }
    // A commit is clamped to the queue's dispatched end: wait until the messages are there.
    let addr = cluster.broker_addr();
    assert!(wait_until(Duration::from_secs(10), || {
        max_offset(addr, "Durable", 1) == 5
    }));
    let update = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, 0)
        .with_ext("consumerGroup", "cg")
        .with_ext("topic", "Durable")
        .with_ext("queueId", "1")
        .with_ext("commitOffset", "3");
    assert_eq!(
        client.call(update).unwrap().response_code(),
        ResponseCode::SUCCESS
    );
    cluster.stop_broker(libc::SIGTERM);
    cluster.start_broker("");
    let mut client = cluster.client();
    let query = RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET, 0)
        .with_ext("consumerGroup", "cg")
        .with_ext("topic", "Durable")
        .with_ext("queueId", "1");
    let answer = client.call(query).unwrap();
    assert_eq!(answer.response_code(), ResponseCode::SUCCESS);
    assert_eq!(ext(&answer, "offset"), "3");
    let pulled = client.call(pull_request("Durable", 1, 3, "*", 0)).unwrap();
    assert_eq!(bodies(&pulled), vec!["d3", "d4"]);
}

#[test]
fn sync_flush_acks_survive_kill_9() {
    let mut cluster = Cluster::start("flushDiskType=SYNC_FLUSH");
    let mut client = cluster.client();
    let mut acked = 0;
    for n in 0..200 {
        let response = send(&mut client, "Acked", 0, &format!("k{n}"), "x");
        if response.response_code() == ResponseCode::SUCCESS {
            acked += 1;
        }
    }
    assert_eq!(acked, 200);
    cluster.stop_broker(libc::SIGKILL);
    cluster.start_broker("flushDiskType=SYNC_FLUSH");
    let mut client = cluster.client();
    let mut got = Vec::new();
    let mut offset = 0;
    while got.len() < 200 {
        let response = client
            .call(pull_request("Acked", 0, offset, "*", 0))
            .unwrap();
        assert_eq!(
            response.response_code(),
            ResponseCode::SUCCESS,
            "after {} messages",
            got.len()
        );
        got.extend(bodies(&response));
        offset = ext(&response, "nextBeginOffset").parse().unwrap();
    }
    let expected: Vec<String> = (0..200).map(|n| format!("k{n}")).collect();
    assert_eq!(got, expected);
}

#[test]
fn hostile_requests_get_answers_and_the_broker_keeps_serving() {
    let cluster = Cluster::start("");
    let mut client = cluster.client();
    let unknown = client
        .call(RemotingCommand::request(RequestCode::Unknown(9999), 0))
        .unwrap();
    assert_eq!(
        unknown.response_code(),
        ResponseCode::REQUEST_CODE_NOT_SUPPORTED
    );
    assert!(unknown.remark.unwrap_or_default().contains("9999"));
    let missing = client
        .call(pull_request("NoSuchTopic", 0, 0, "*", 0))
        .unwrap();
    assert_eq!(missing.response_code(), ResponseCode::TOPIC_NOT_EXIST);
    assert!(missing.ext_fields.get("nextBeginOffset").is_some());
    let bad_header = client
        .call(RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, 0).with_ext("b", "T"))
        .unwrap();
    assert_eq!(bad_header.response_code(), ResponseCode::SYSTEM_ERROR);
    send(&mut client, "Hostile", 0, "h", "x");
    let negative = client.call(pull_request("Hostile", 0, -5, "*", 0)).unwrap();
    assert_ne!(negative.response_code(), ResponseCode::SUCCESS);
    let mut huge = RawClient::connect(cluster.broker_addr()).unwrap();
    huge.send_bytes(&(100u32 << 20).to_be_bytes()).unwrap();
    assert!(
        huge.is_closed_by_peer(Duration::from_secs(5)),
        "a 100 MB frame was not refused"
    );
    let still = send(&mut client, "Hostile", 0, "after", "x");
    assert_eq!(still.response_code(), ResponseCode::SUCCESS);
}

fn admin(client: &mut RawClient, code: RequestCode, fields: &[(&str, &str)]) -> RemotingCommand {
    let mut request = RemotingCommand::request(code, 0);
    for (key, value) in fields {
        request = request.with_ext(*key, *value);
    }
    let response = client.call(request).unwrap();
    assert_eq!(
        response.response_code(),
        ResponseCode::SUCCESS,
        "{code:?}: {:?}",
        response.remark
    );
    response
}

fn json(response: &RemotingCommand) -> serde_json::Value {
    let text = String::from_utf8_lossy(&response.body).to_string();
    serde_json::from_str(&wire::fastjson::normalize(&text)).unwrap()
}

/// Six messages on "Admin", a consumer and a producer heartbeat, an offset commit; returns
/// the cluster, a client and the last message's offset id.
fn seeded_cluster() -> (Cluster, RawClient, String) {
    let cluster = Cluster::start("");
    let mut client = cluster.client();
    let mut msg_id = String::new();
    for n in 0..6 {
        let response = send(&mut client, "Admin", n % 2, &format!("a{n}"), "x");
        msg_id = ext(&response, "msgId");
    }
    let heartbeat = serde_json::json!({
        "clientID": "127.0.0.1@probe",
        "producerDataSet": [{"groupName": "pg"}],
        "consumerDataSet": [{
            "groupName": "cg", "consumeType": "CONSUME_PASSIVELY", "messageModel": "CLUSTERING",
            "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET", "unitMode": false,
            "subscriptionDataSet": [{"topic": "Admin", "subString": "*", "tagsSet": [], "codeSet": [],
                                     "subVersion": 1, "expressionType": "TAG", "classFilterMode": false}]
        }]
    });
    let beat = RemotingCommand::request(RequestCode::HEART_BEAT, 0)
        .with_body(serde_json::to_vec(&heartbeat).unwrap());
    assert_eq!(
        client.call(beat).unwrap().response_code(),
        ResponseCode::SUCCESS
    );
    // A commit is clamped to the queue's dispatched end: wait until the messages are there.
    let addr = cluster.broker_addr();
    let dispatched = || (0..2).all(|queue| max_offset(addr, "Admin", queue) == 3);
    assert!(wait_until(Duration::from_secs(10), dispatched));
    admin(
        &mut client,
        RequestCode::UPDATE_CONSUMER_OFFSET,
        &[
            ("consumerGroup", "cg"),
            ("topic", "Admin"),
            ("queueId", "0"),
            ("commitOffset", "2"),
        ],
    );
    (cluster, client, msg_id)
}

#[test]
fn admin_queries_report_topics_groups_clients_and_counters() {
    let (_cluster, mut client, _) = seeded_cluster();
    let stats = json(&admin(
        &mut client,
        RequestCode::GET_TOPIC_STATS_INFO,
        &[("topic", "Admin")],
    ));
    let text = stats.to_string();
    assert!(text.contains("\"maxOffset\":3"), "{text}");
    let consume = admin(
        &mut client,
        RequestCode::GET_CONSUME_STATS,
        &[("consumerGroup", "cg"), ("topic", "Admin")],
    );
    let text = String::from_utf8_lossy(&consume.body).to_string();
    assert!(
        text.contains("\"brokerOffset\":3") && text.contains("\"consumerOffset\":2"),
        "{text}"
    );
    let connections = admin(
        &mut client,
        RequestCode::GET_CONSUMER_CONNECTION_LIST,
        &[("consumerGroup", "cg")],
    );
    assert!(String::from_utf8_lossy(&connections.body).contains("127.0.0.1@probe"));
    let ids = admin(
        &mut client,
        RequestCode::GET_CONSUMER_LIST_BY_GROUP,
        &[("consumerGroup", "cg")],
    );
    assert_eq!(json(&ids)["consumerIdList"][0], "127.0.0.1@probe");
    let producers = admin(
        &mut client,
        RequestCode::GET_PRODUCER_CONNECTION_LIST,
        &[("producerGroup", "pg")],
    );
    assert!(String::from_utf8_lossy(&producers.body).contains("127.0.0.1@probe"));
    let offsets = admin(&mut client, RequestCode::GET_ALL_CONSUMER_OFFSET, &[]);
    assert!(String::from_utf8_lossy(&offsets.body).contains("Admin@cg"));
    let runtime = json(&admin(
        &mut client,
        RequestCode::GET_BROKER_RUNTIME_INFO,
        &[],
    ));
    assert_eq!(runtime["table"]["msgPutTotalTodayNow"], "6");
}

#[test]
fn admin_requests_manage_groups_topics_and_view_messages() {
    let (cluster, mut client, msg_id) = seeded_cluster();
    let group =
        serde_json::json!({"groupName": "newGroup", "consumeEnable": true, "retryMaxTimes": 5});
    let create_group =
        RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0)
            .with_body(serde_json::to_vec(&group).unwrap());
    assert_eq!(
        client.call(create_group).unwrap().response_code(),
        ResponseCode::SUCCESS
    );
    let groups = admin(
        &mut client,
        RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
        &[],
    );
    assert!(String::from_utf8_lossy(&groups.body).contains("newGroup"));
    admin(
        &mut client,
        RequestCode::UPDATE_AND_CREATE_TOPIC,
        &[
            ("topic", "Made"),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "3"),
            ("writeQueueNums", "3"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("order", "false"),
        ],
    );
    let topics = admin(&mut client, RequestCode::GET_ALL_TOPIC_CONFIG, &[]);
    assert!(String::from_utf8_lossy(&topics.body).contains("\"Made\""));
    assert!(
        wait_until(Duration::from_secs(10), || cluster.routed("Made")),
        "created topic not routed"
    );
    admin(
        &mut client,
        RequestCode::DELETE_TOPIC_IN_BROKER,
        &[("topic", "Made")],
    );
    let topics = admin(&mut client, RequestCode::GET_ALL_TOPIC_CONFIG, &[]);
    assert!(!String::from_utf8_lossy(&topics.body).contains("\"Made\""));

    let id = wire::message_id::OffsetMsgId::decode(&msg_id).unwrap();
    let offset = id.commit_log_offset.to_string();
    let viewed = admin(
        &mut client,
        RequestCode::VIEW_MESSAGE_BY_ID,
        &[("offset", &offset)],
    );
    let (record, _) = wire::message::RecordView::decode(&viewed.body, true).unwrap();
    assert_eq!(record.body, b"a5");
}

#[test]
fn old_data_is_pulled_through_the_pull_workers() {
    let cluster = Cluster::start("slaveReadEnable=true");
    let mut client = cluster.client();
    // 48 MiB in 4 MiB batches: well past the 32 MiB the commit log keeps in memory.
    for batch in 0..12 {
        let bodies: Vec<Vec<u8>> = (0..64)
            .map(|n| {
                let mut body = format!("b{batch}-{n}|").repeat(16 * 1024).into_bytes();
                body.truncate(60 * 1024);
                body
            })
            .collect();
        let response = send_batch(&mut client, "Cold", 0, &bodies);
        assert_eq!(
            response.response_code(),
            ResponseCode::SUCCESS,
            "{:?}",
            response.remark
        );
    }
    // Memory is released only once flushed (ASYNC_FLUSH: within the 500 ms interval).
    let flushed = || {
        let mut info = RawClient::connect(cluster.broker_addr()).unwrap();
        let request = RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, 0);
        let body = info.call(request).unwrap().body;
        let table: serde_json::Value = serde_json::from_slice(&body).unwrap();
        table["table"]["commitLogFlushedOffset"] == table["table"]["commitLogMaxOffset"]
    };
    assert!(
        wait_until(Duration::from_secs(10), flushed),
        "never flushed"
    );
    let first = client.call(pull_request("Cold", 0, 0, "*", 0)).unwrap();
    assert_eq!(
        first.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        first.remark
    );
    let got = bodies(&first);
    assert!(!got.is_empty());
    assert_eq!(
        ext(&first, "suggestWhichBrokerId"),
        "1",
        "a consumer this far behind goes to the slave"
    );
    assert!(got[0].starts_with("b0-0|b0-0|"), "{}", &got[0][..20]);
    let mut runtime = RawClient::connect(cluster.broker_addr()).unwrap();
    let info = runtime
        .call(RemotingCommand::request(
            RequestCode::GET_BROKER_RUNTIME_INFO,
            0,
        ))
        .unwrap();
    let text = String::from_utf8_lossy(&info.body).to_string();
    assert!(!text.contains("\"diskPulls\":\"0\""), "{text}");
}
