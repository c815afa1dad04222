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
