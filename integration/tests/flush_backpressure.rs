//! Back-pressure from the flush: a broker whose unflushed commit log may hold at most 1 MiB
//! (`maxUnflushedCommitLogSize`) under ASYNC_FLUSH (a flush every 500 ms for less than a
//! chunk) parks the sends that do not fit and appends them once the flush made room, instead
//! of refusing them or growing its memory. Every send is answered SEND_OK (or, only if a
//! flush were more than 2 s late, SYSTEM_BUSY with nothing stored), the broker reports that
//! sends waited, and every acknowledged message is there.

mod cluster;

use cluster::*;
use integration::RawClient;
use wire::{RemotingCommand, RequestCode, ResponseCode};

/// A SEND_MESSAGE_V2 of `body` with a short UNIQ_KEY (the helper's `try_send` uses the body).
fn send_big(client: &mut RawClient, queue_id: i32, key: &str, body: &str) -> RemotingCommand {
    let properties = format!("WAIT\u{1}true\u{2}UNIQ_KEY\u{1}{key}\u{2}");
    let request = send_request("Parked", 4, queue_id, &properties, body.as_bytes());
    client.call(request).expect("an answer")
}

fn runtime_value(client: &mut RawClient, key: &str) -> u64 {
    let request = RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, 0);
    let body = client.call(request).unwrap().body;
    let table: serde_json::Value = serde_json::from_slice(&body).unwrap();
    table["table"][key]
        .as_str()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{key} missing: {table}"))
}

#[test]
fn sends_past_the_unflushed_bound_wait_for_the_flush_and_are_all_stored() {
    let cluster = Cluster::start("maxUnflushedCommitLogSize=1048576\nflushIntervalCommitLog=500");
    let senders: Vec<_> = (0..4i32)
        .map(|thread| {
            let addr = cluster.broker_addr();
            std::thread::spawn(move || {
                let mut client = RawClient::connect(addr).unwrap();
                (0..6)
                    .map(|n| {
                        let body = format!("{thread}-{n}|").repeat(300 * 1024 / 5);
                        let response =
                            send_big(&mut client, thread, &format!("k{thread}-{n}"), &body);
                        (body, response)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut stored = 0;
    for (thread, sender) in senders.into_iter().enumerate() {
        let answers = sender.join().unwrap();
        let on_broker = pull_all(cluster.broker_addr(), "Parked", thread as i32);
        let mut next = 0;
        for (body, response) in answers {
            match response.response_code() {
                ResponseCode::SUCCESS => {
                    let (queue_offset, got) = &on_broker[next];
                    assert_eq!(*queue_offset, next as i64);
                    assert!(
                        *got == body,
                        "queue {thread} offset {next} holds another body"
                    );
                    next += 1;
                    stored += 1;
                }
                ResponseCode::SYSTEM_BUSY => {
                    let remark = response.remark.unwrap_or_default();
                    assert!(remark.contains("flush"), "{remark}");
                }
                other => panic!("{other:?}: {:?}", response.remark),
            }
        }
        assert_eq!(
            on_broker.len(),
            next,
            "queue {thread}: nothing unacknowledged stored"
        );
    }
    assert!(stored > 0);
    let mut client = cluster.client();
    assert!(
        runtime_value(&mut client, "sendsParkedForFlushTotal") > 0,
        "7 MB of sends never waited for a 1 MiB bound"
    );
    assert_eq!(runtime_value(&mut client, "sendThreadPoolQueueSize"), 0);
}
