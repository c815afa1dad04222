//! Admin changes are on disk before their answer: a topic, a subscription group and a broker
//! config update each survive a `kill -9` sent the moment their answer arrives, round after
//! round on one store, and so does the topic a send auto-created with its acked message; a
//! write the disk refuses answers SYSTEM_ERROR.

mod cluster;

use std::time::Duration;

use cluster::*;
use integration::{wait_until, RawClient};
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
