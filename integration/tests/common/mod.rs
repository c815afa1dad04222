//! Shared by the namesrv test files: start a namesrv, build its requests, read its bodies.
// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;

use integration::{spawn_namesrv, Process, RawClient, TempDir};
use serde_json::Value;
use wire::{RemotingCommand, RequestCode, SerializeType};

pub struct Namesrv {
    pub process: Process,
    pub addr: SocketAddr,
    pub dir: TempDir,
}

pub fn start_namesrv(extra_config: &str) -> Namesrv {
    let dir = TempDir::new("namesrv");
    start_in(dir, extra_config)
}

pub fn start_in(dir: TempDir, extra_config: &str) -> Namesrv {
    let (process, addr) = spawn_namesrv(dir.path(), extra_config);
    Namesrv { process, addr, dir }
}

pub fn client(namesrv: &Namesrv) -> RawClient {
    RawClient::connect(namesrv.addr).unwrap()
}

pub fn register_body(counter: i64, topics: &[(&str, i32)]) -> Vec<u8> {
    let table: serde_json::Map<String, Value> = topics
        .iter()
        .map(|(topic, queues)| {
            let config = serde_json::json!({
                "order": false, "perm": 6, "readQueueNums": queues, "topicFilterType": "SINGLE_TAG",
                "topicName": topic, "topicSysFlag": 0, "writeQueueNums": queues
            });
            (topic.to_string(), config)
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "filterServerList": [],
        "topicConfigSerializeWrapper": {
            "dataVersion": {"counter": counter, "timestamp": 1_700_000_000_000i64},
            "topicConfigTable": table
        }
    }))
    .unwrap()
}

pub fn register_request(name: &str, id: i64, addr: &str, body: Vec<u8>) -> RemotingCommand {
    let crc = wire::crc32_masked(&body);
    RemotingCommand::request(RequestCode::REGISTER_BROKER, 0)
        .with_ext("brokerName", name)
        .with_ext("brokerAddr", addr)
        .with_ext("clusterName", "DefaultCluster")
        .with_ext("haServerAddr", format!("{addr}-ha"))
        .with_ext("brokerId", id.to_string())
        .with_ext("compressed", "false")
        .with_ext("bodyCrc32", crc.to_string())
        .with_body(body)
}

pub fn route_request(topic: &str, version: i32, serialize_type: SerializeType) -> RemotingCommand {
    let mut request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 0)
        .with_ext("topic", topic)
        .with_serialize_type(serialize_type);
    request.version = version;
    request
}

/// Parses a body that may use fastjson's unquoted integer keys.
pub fn parse_lenient(body: &[u8]) -> Value {
    let text = std::str::from_utf8(body).unwrap();
    serde_json::from_str(&wire::fastjson::normalize(text)).unwrap_or_else(|e| panic!("{e}: {text}"))
}
