//! Admin changes are on disk before their answer: a topic, a subscription group and a broker
//! config update each survive a `kill -9` sent the moment their answer arrives, round after
//! round on one store, and so does the topic a send auto-created with its acked message; a
//! write the disk refuses answers SYSTEM_ERROR. And committed consumer offsets never point
//! past the log: a commit past a queue's end is stored as the end, and offsets past the
//! recovered end at start (as an ASYNC_FLUSH machine crash leaves them) are clamped to it,
//! logged once per group and written.

mod cluster;

use std::time::Duration;

use cluster::*;
use integration::{wait_until, RawClient};
use wire::body::ConsumerOffsetWrapper;
use wire::headers::pull::PullSysFlag;
use wire::{RemotingCommand, RequestCode, ResponseCode};

/// Nothing is created behind the test's back: a topic or group that exists after the restart
/// came from its file.
const NO_AUTO_CREATE: &str = "autoCreateTopicEnable=false\nautoCreateSubscriptionGroup=false";
const ROUNDS: usize = 3;

fn call(addr: std::net::SocketAddr, request: RemotingCommand) -> RemotingCommand {
    RawClient::connect(addr).unwrap().call(request).unwrap()
}

fn json(response: &RemotingCommand) -> serde_json::Value {
    assert_eq!(
        response.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        response.remark
    );
    let text = String::from_utf8_lossy(&response.body).to_string();
    serde_json::from_str(&wire::fastjson::normalize(&text)).unwrap()
}

/// SIGKILL at once (the answer has just arrived), then a new broker on the same store.
fn kill_and_restart(cluster: &mut Cluster, config: &str) {
    cluster.stop_broker(libc::SIGKILL);
    cluster.start_broker(config);
}

#[test]
fn a_created_topic_survives_kill_9_right_after_its_answer() {
    let mut cluster = Cluster::start(NO_AUTO_CREATE);
    let mut client = cluster.client();
    let unknown = send(&mut client, "NeverCreated", 0, "m", "x");
    assert_eq!(
        unknown.response_code(),
        ResponseCode::TOPIC_NOT_EXIST,
        "auto-creation must be off for this test to prove anything"
    );
    for round in 0..ROUNDS {
        create_topic_on(cluster.broker_addr(), &format!("Kept{round}"), 2);
        kill_and_restart(&mut cluster, NO_AUTO_CREATE);
        let all = json(&call(
            cluster.broker_addr(),
            RemotingCommand::request(RequestCode::GET_ALL_TOPIC_CONFIG, 0),
        ));
        for earlier in 0..=round {
            let config = &all["topicConfigTable"][format!("Kept{earlier}")];
            assert_eq!(
                config["writeQueueNums"], 2,
                "round {round}: Kept{earlier} lost"
            );
        }
        let mut client = cluster.client();
        let sent = send(&mut client, &format!("Kept{round}"), 1, "after", "x");
        assert_eq!(
            sent.response_code(),
            ResponseCode::SUCCESS,
            "{:?}",
            sent.remark
        );
    }
}

#[test]
fn a_message_acked_in_an_auto_created_topic_survives_kill_9() {
    const AUTO: &str = "flushDiskType=SYNC_FLUSH";
    const CHECK: &str = "flushDiskType=SYNC_FLUSH\nautoCreateTopicEnable=false";
    let mut cluster = Cluster::start(AUTO);
    for round in 0..ROUNDS {
        let topic = format!("Auto{round}");
        let sent = send(
            &mut cluster.client(),
            &topic,
            0,
            &format!("first{round}"),
            "x",
        );
        assert_eq!(
            sent.response_code(),
            ResponseCode::SUCCESS,
            "{:?}",
            sent.remark
        );
        // Restarted without auto-creation: only topics.json can know the topic.
        kill_and_restart(&mut cluster, CHECK);
        let pulled = call(cluster.broker_addr(), pull_request(&topic, 0, 0, "*", 0));
        assert_eq!(
            pulled.response_code(),
            ResponseCode::SUCCESS,
            "round {round}"
        );
        assert_eq!(bodies(&pulled), [format!("first{round}")]);
        kill_and_restart(&mut cluster, AUTO);
    }
}

#[test]
fn a_created_subscription_group_survives_kill_9_right_after_its_answer() {
    let mut cluster = Cluster::start(NO_AUTO_CREATE);
    for round in 0..ROUNDS {
        let group = format!("kept_group_{round}");
        let body = serde_json::json!({
            "groupName": group, "consumeEnable": true, "consumeFromMinEnable": true,
            "consumeBroadcastEnable": true, "retryQueueNums": 1, "retryMaxTimes": 7 + round,
            "brokerId": 0, "whichBrokerWhenConsumeSlowly": 1,
            "notifyConsumerIdsChangedEnable": true
        });
        let update = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, 0)
            .with_body(serde_json::to_vec(&body).unwrap());
        let answer = call(cluster.broker_addr(), update);
        assert_eq!(
            answer.response_code(),
            ResponseCode::SUCCESS,
            "{:?}",
            answer.remark
        );
        kill_and_restart(&mut cluster, NO_AUTO_CREATE);
        let all = json(&call(
            cluster.broker_addr(),
            RemotingCommand::request(RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, 0),
        ));
        for earlier in 0..=round {
            let config = &all["subscriptionGroupTable"][format!("kept_group_{earlier}")];
            assert_eq!(
                config["retryMaxTimes"],
                7 + earlier,
                "round {round}: group {earlier}"
            );
        }
    }
}

#[test]
fn a_broker_config_update_survives_kill_9_right_after_its_answer() {
    let mut cluster = Cluster::start("");
    for round in 0..ROUNDS {
        let queues = 3 + round;
        let update = RemotingCommand::request(RequestCode::UPDATE_BROKER_CONFIG, 0)
            .with_body(format!("defaultTopicQueueNums={queues}\n").into_bytes());
        let answer = call(cluster.broker_addr(), update);
        assert_eq!(
            answer.response_code(),
            ResponseCode::SUCCESS,
            "{:?}",
            answer.remark
        );
        kill_and_restart(&mut cluster, "");
        let config = call(
            cluster.broker_addr(),
            RemotingCommand::request(RequestCode::GET_BROKER_CONFIG, 0),
        );
        assert_eq!(config.response_code(), ResponseCode::SUCCESS);
        let text = String::from_utf8_lossy(&config.body).to_string();
        assert!(
            text.lines()
                .any(|line| line == format!("defaultTopicQueueNums={queues}")),
            "round {round}: the update is lost:\n{text}"
        );
    }
}

#[test]
fn a_change_the_disk_refuses_answers_system_error_and_is_retried() {
    let cluster = Cluster::start("");
    let addr = cluster.broker_addr();
    create_topic_on(addr, "Before", 1);
    // A file stands where the config directory should be: every write of a state file fails.
    let config_dir = cluster.dir.path().join("store/config");
    let aside = cluster.dir.path().join("store/config.aside");
    std::fs::rename(&config_dir, &aside).unwrap();
    std::fs::write(&config_dir, b"in the way").unwrap();
    let answer = call(addr, create_topic_request("Refused", 1));
    assert_eq!(answer.response_code(), ResponseCode::SYSTEM_ERROR);
    let remark = answer.remark.unwrap_or_default();
    assert!(
        remark.contains("not durable") && remark.contains("topics.json"),
        "{remark}"
    );
    std::fs::remove_file(&config_dir).unwrap();
    std::fs::rename(&aside, &config_dir).unwrap();
    // Applied all the same, and written once the disk takes it again.
    let topics = config_dir.join("topics.json");
    let written =
        || std::fs::read_to_string(&topics).is_ok_and(|text| text.contains("\"Refused\""));
    assert!(
        wait_until(Duration::from_secs(20), written),
        "never retried"
    );
}

fn commit(addr: std::net::SocketAddr, group: &str, queue_id: i32, offset: i64) {
    let update = RemotingCommand::request(RequestCode::UPDATE_CONSUMER_OFFSET, 0)
        .with_ext("consumerGroup", group)
        .with_ext("topic", "Clamp")
        .with_ext("queueId", queue_id.to_string())
        .with_ext("commitOffset", offset.to_string());
    assert_eq!(call(addr, update).response_code(), ResponseCode::SUCCESS);
}

fn committed(addr: std::net::SocketAddr, group: &str, queue_id: i32) -> String {
    let query = RemotingCommand::request(RequestCode::QUERY_CONSUMER_OFFSET, 0)
        .with_ext("consumerGroup", group)
        .with_ext("topic", "Clamp")
        .with_ext("queueId", queue_id.to_string());
    let answer = call(addr, query);
    assert_eq!(
        answer.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        answer.remark
    );
    ext(&answer, "offset")
}

/// A pull of queue 0 from offset 0 that carries a commit of `offset` for `group`.
fn pull_committing(addr: std::net::SocketAddr, group: &str, offset: i64) {
    let flags = PullSysFlag::new(true, false, true, false).bits();
    let pull = pull_request("Clamp", 0, 0, "*", 0)
        .with_ext("consumerGroup", group)
        .with_ext("sysFlag", flags.to_string())
        .with_ext("commitOffset", offset.to_string());
    assert_eq!(call(addr, pull).response_code(), ResponseCode::SUCCESS);
}

/// Three messages in queue 0 of "Clamp" (2 queues), dispatched.
fn clamp_cluster() -> Cluster {
    let cluster = Cluster::start("");
    let addr = cluster.broker_addr();
    create_topic_on(addr, "Clamp", 2);
    let mut client = cluster.client();
    for n in 0..3 {
        let sent = send(&mut client, "Clamp", 0, &format!("c{n}"), "x");
        assert_eq!(sent.response_code(), ResponseCode::SUCCESS);
    }
    assert!(wait_until(Duration::from_secs(10), || {
        max_offset(addr, "Clamp", 0) == 3
    }));
    cluster
}

#[test]
fn a_commit_past_the_end_of_its_queue_is_stored_as_the_end() {
    let cluster = clamp_cluster();
    let addr = cluster.broker_addr();
    commit(addr, "cg", 0, 2);
    assert_eq!(
        committed(addr, "cg", 0),
        "2",
        "a commit within the queue is kept"
    );
    commit(addr, "cg", 0, 100);
    assert_eq!(
        committed(addr, "cg", 0),
        "3",
        "a commit past the end is the end"
    );
    commit(addr, "cg", 1, 5);
    assert_eq!(committed(addr, "cg", 1), "0", "an empty queue ends at 0");
    pull_committing(addr, "puller", 1);
    assert_eq!(committed(addr, "puller", 0), "1");
    pull_committing(addr, "puller", 50);
    assert_eq!(
        committed(addr, "puller", 0),
        "3",
        "a pull's commit is clamped too"
    );
}

#[test]
fn offsets_past_the_recovered_end_are_clamped_at_start() {
    let mut cluster = clamp_cluster();
    commit(cluster.broker_addr(), "cg", 0, 2);
    // As an ASYNC_FLUSH machine crash leaves it: offsets past what the log recovers.
    cluster.stop_broker(libc::SIGTERM);
    let file = cluster.dir.path().join("store/config/consumerOffset.json");
    let past = r#"{"offsetTable":{"Clamp@cg":{0:40,1:9},"Clamp@other":{0:2},"Gone@cg":{0:4}}}"#;
    std::fs::write(&file, past).unwrap();
    cluster.start_broker("");
    let addr = cluster.broker_addr();
    assert_eq!(committed(addr, "cg", 0), "3");
    assert_eq!(committed(addr, "cg", 1), "0");
    assert_eq!(
        committed(addr, "other", 0),
        "2",
        "within the log: untouched"
    );
    let written = ConsumerOffsetWrapper::decode(&std::fs::read(&file).unwrap()).unwrap();
    let table = &written.offset_table;
    assert_eq!(
        table["Clamp@cg"].get(&0),
        Some(&3),
        "the clamp is written at start"
    );
    assert_eq!(table["Clamp@cg"].get(&1), Some(&0));
    assert_eq!(
        table["Gone@cg"].get(&0),
        Some(&0),
        "a queue the store lacks ends at 0"
    );
    assert_eq!(table["Clamp@other"].get(&0), Some(&2));
    let log = std::fs::read_to_string(cluster.dir.path().join("broker.log")).unwrap();
    let told = |group: &str| {
        log.lines()
            .filter(|line| line.contains(&format!("consumer group {group}: ")))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let cg = told("cg");
    assert_eq!(cg.len(), 1, "one line per group: {cg:?}");
    assert!(cg[0].contains("3 committed offset(s)"), "{}", cg[0]);
    assert!(told("other").is_empty());
}
