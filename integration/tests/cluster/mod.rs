//! Shared by the broker test files: a namesrv and a broker started on loopback, and raw
//! send and pull requests.
// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use integration::{spawn_broker, spawn_namesrv, Process, RawClient, TempDir};
use wire::headers::pull::PullSysFlag;
use wire::message::RecordView;
use wire::{RemotingCommand, RequestCode, ResponseCode};

pub struct Cluster {
    pub namesrv: (Process, SocketAddr),
    pub broker: Option<(Process, SocketAddr)>,
    pub slave: Option<(Process, SocketAddr)>,
    pub dir: TempDir,
}

impl Cluster {
    pub fn start(extra: &str) -> Cluster {
        let dir = TempDir::new("broker");
        let namesrv_dir = dir.path().join("namesrv");
        std::fs::create_dir_all(&namesrv_dir).unwrap();
        let namesrv = spawn_namesrv(&namesrv_dir, "");
        let mut cluster = Cluster {
            namesrv,
            broker: None,
            slave: None,
            dir,
        };
        cluster.start_broker(extra);
        cluster
    }

    pub fn start_broker(&mut self, extra: &str) {
        let broker = spawn_broker(self.dir.path(), self.namesrv.1, extra);
        self.broker = Some(broker);
    }

    /// Starts broker-a's slave (brokerId 1) with its own store; `extra` goes to its config.
    pub fn start_slave(&mut self, extra: &str) {
        let dir = self.dir.path().join("slave");
        std::fs::create_dir_all(&dir).unwrap();
        let config = format!("brokerId=1\nbrokerRole=SLAVE\n{extra}");
        self.slave = Some(spawn_broker(&dir, self.namesrv.1, &config));
    }

    pub fn slave_addr(&self) -> SocketAddr {
        self.slave.as_ref().unwrap().1
    }

    pub fn slave_client(&self) -> RawClient {
        RawClient::connect(self.slave_addr()).unwrap()
    }

    pub fn broker_addr(&self) -> SocketAddr {
        self.broker.as_ref().unwrap().1
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(self.broker_addr()).unwrap()
    }

    pub fn stop_broker(&mut self, signal: i32) {
        let (mut process, _) = self.broker.take().unwrap();
        process.signal(signal);
        assert!(
            process.wait_timeout(Duration::from_secs(20)).is_some(),
            "broker did not stop"
        );
    }

    /// Whether the namesrv has a route for `topic` pointing at this broker.
    pub fn routed(&self, topic: &str) -> bool {
        let mut namesrv = RawClient::connect(self.namesrv.1).unwrap();
        let request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 0)
            .with_ext("topic", topic);
        let response = namesrv.call(request).unwrap();
        response.response_code() == ResponseCode::SUCCESS
            && String::from_utf8_lossy(&response.body).contains(&self.broker_addr().to_string())
    }
}

pub fn send(
    client: &mut RawClient,
    topic: &str,
    queue_id: i32,
    body: &str,
    tags: &str,
) -> RemotingCommand {
    try_send(client, topic, queue_id, body, tags).unwrap()
}

/// [`send`], returning the connection's failure rather than panicking.
pub fn try_send(
    client: &mut RawClient,
    topic: &str,
    queue_id: i32,
    body: &str,
    tags: &str,
) -> std::io::Result<RemotingCommand> {
    let properties = format!("TAGS\u{1}{tags}\u{2}WAIT\u{1}true\u{2}UNIQ_KEY\u{1}{body}");
    client.call(send_request(
        topic,
        4,
        queue_id,
        &properties,
        body.as_bytes(),
    ))
}

/// A SEND_MESSAGE_V2 of `body` with `properties` to `topic` (of `queues` queues), `queue_id`.
pub fn send_request(
    topic: &str,
    queues: i32,
    queue_id: i32,
    properties: &str,
    body: &[u8],
) -> RemotingCommand {
    RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, 0)
        .with_ext("a", "pg")
        .with_ext("b", topic)
        .with_ext("c", "TBW102")
        .with_ext("d", queues.to_string())
        .with_ext("e", queue_id.to_string())
        .with_ext("f", "0")
        .with_ext("g", "1700000000000")
        .with_ext("h", "0")
        .with_ext("i", properties)
        .with_ext("j", "0")
        .with_ext("k", "false")
        .with_ext("m", "false")
        .with_body(body.to_vec())
}

pub fn pull_request(
    topic: &str,
    queue_id: i32,
    offset: i64,
    subscription: &str,
    suspend_ms: i64,
) -> RemotingCommand {
    let flags = PullSysFlag::new(false, suspend_ms > 0, true, false).bits();
    RemotingCommand::request(RequestCode::PULL_MESSAGE, 0)
        .with_ext("consumerGroup", "cg")
        .with_ext("topic", topic)
        .with_ext("queueId", queue_id.to_string())
        .with_ext("queueOffset", offset.to_string())
        .with_ext("maxMsgNums", "32")
        .with_ext("sysFlag", flags.to_string())
        .with_ext("commitOffset", "0")
        .with_ext("suspendTimeoutMillis", suspend_ms.to_string())
        .with_ext("subscription", subscription)
        .with_ext("subVersion", "1")
        .with_ext("expressionType", "TAG")
}

/// Bodies of the records in a pull answer, CRC-checked.
pub fn bodies(response: &RemotingCommand) -> Vec<String> {
    let mut out = Vec::new();
    let mut position = 0;
    while position < response.body.len() {
        let (view, size) = RecordView::decode(&response.body[position..], true).unwrap();
        out.push(String::from_utf8(view.body.to_vec()).unwrap());
        position += size;
    }
    out
}

pub fn ext(response: &RemotingCommand, key: &str) -> String {
    response.ext_fields.get(key).unwrap_or_default().to_string()
}

/// One SEND_BATCH_MESSAGE of `bodies` to `topic`/`queue_id`.
pub fn send_batch(
    client: &mut RawClient,
    topic: &str,
    queue_id: i32,
    bodies: &[Vec<u8>],
) -> RemotingCommand {
    let items: Vec<wire::message::batch::BatchItem> = bodies
        .iter()
        .map(|body| wire::message::batch::BatchItem {
            flag: 0,
            body: body.clone(),
            properties: String::new(),
        })
        .collect();
    let mut body = Vec::new();
    wire::message::batch::encode_batch(&items, &mut body).unwrap();
    let request = RemotingCommand::request(RequestCode::SEND_BATCH_MESSAGE, 0)
        .with_ext("a", "pg")
        .with_ext("b", topic)
        .with_ext("c", "TBW102")
        .with_ext("d", "4")
        .with_ext("e", queue_id.to_string())
        .with_ext("f", "0")
        .with_ext("g", "1700000000000")
        .with_ext("h", "0")
        .with_ext("m", "true")
        .with_body(body);
    client.call(request).unwrap()
}

/// A queue's max offset as `addr` reports it (GET_MAX_OFFSET).
pub fn max_offset(addr: SocketAddr, topic: &str, queue_id: i32) -> i64 {
    let mut client = RawClient::connect(addr).unwrap();
    let request = RemotingCommand::request(RequestCode::GET_MAX_OFFSET, 0)
        .with_ext("topic", topic)
        .with_ext("queueId", queue_id.to_string());
    let response = client.call(request).unwrap();
    ext(&response, "offset").parse().unwrap_or(-1)
}

/// Every record body of a queue from offset 0, pulled from `addr`, in queue order, with the
/// queue offset each record carries.
pub fn pull_all(addr: SocketAddr, topic: &str, queue_id: i32) -> Vec<(i64, String)> {
    let mut client = RawClient::connect(addr).unwrap();
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let response = client
            .call(pull_request(topic, queue_id, offset, "*", 0))
            .unwrap();
        if response.response_code() != ResponseCode::SUCCESS {
            return out;
        }
        let mut position = 0;
        while position < response.body.len() {
            let (view, size) = RecordView::decode(&response.body[position..], true).unwrap();
            out.push((
                view.queue_offset,
                String::from_utf8_lossy(view.body).into_owned(),
            ));
            position += size;
        }
        offset = ext(&response, "nextBeginOffset").parse().unwrap();
    }
}

/// An UPDATE_AND_CREATE_TOPIC request: read-write, `queues` read and write queues.
pub fn create_topic_request(topic: &str, queues: i32) -> RemotingCommand {
    RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 0)
        .with_ext("topic", topic)
        .with_ext("defaultTopic", "TBW102")
        .with_ext("readQueueNums", queues.to_string())
        .with_ext("writeQueueNums", queues.to_string())
        .with_ext("perm", "6")
        .with_ext("topicFilterType", "SINGLE_TAG")
        .with_ext("order", "false")
}

/// UPDATE_AND_CREATE_TOPIC on one broker.
pub fn create_topic_on(broker: SocketAddr, topic: &str, queues: i32) {
    let create = create_topic_request(topic, queues);
    let answer = RawClient::connect(broker).unwrap().call(create).unwrap();
    assert_eq!(
        answer.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        answer.remark
    );
}
