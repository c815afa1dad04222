//! The raw requests the chaos tool makes, each one call on a blocking [`RawClient`] (5 s to
//! connect, 10 s for the answer, so every request is bounded): SEND_MESSAGE_V2, PULL_MESSAGE,
//! GET_MIN/MAX_OFFSET, GET_BROKER_RUNTIME_INFO, UPDATE_AND_CREATE_TOPIC, GET_TOPIC_STATS_INFO
//! and VIEW_MESSAGE_BY_ID.
//!
//! Used by the senders (sends) and the main thread (everything else); no state of its own.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use integration::RawClient;
use wire::headers::pull::PullSysFlag;
use wire::{RemotingCommand, RequestCode, ResponseCode};

pub const TOPIC: &str = "ChaosTopic";
pub const PRODUCER_GROUP: &str = "chaos-producers";
pub const CONSUMER_GROUP: &str = "chaos-verifier";

/// Records a pull may return at once.
pub const PULL_BATCH: u32 = 32;

/// One message as the senders send it.
pub struct Outgoing<'a> {
    pub queue_id: i32,
    pub body: &'a [u8],
    pub unique_key: &'a str,
    pub tags: &'a str,
    pub born_ms: i64,
}

/// SEND_MESSAGE_V2 with WAIT=true, a UNIQ_KEY and TAGS, to one queue.
pub fn send(client: &mut RawClient, message: &Outgoing<'_>) -> std::io::Result<RemotingCommand> {
    let properties = format!(
        "TAGS\u{1}{}\u{2}WAIT\u{1}true\u{2}UNIQ_KEY\u{1}{}",
        message.tags, message.unique_key
    );
    let request = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, 0)
        .with_ext("a", PRODUCER_GROUP)
        .with_ext("b", TOPIC)
        .with_ext("c", "TBW102")
        .with_ext("d", "4")
        .with_ext("e", message.queue_id.to_string())
        .with_ext("f", "0")
        .with_ext("g", message.born_ms.to_string())
        .with_ext("h", "0")
        .with_ext("i", properties)
        .with_ext("j", "0")
        .with_ext("k", "false")
        .with_ext("m", "false")
        .with_body(message.body.to_vec());
    client.call(request)
}

/// PULL_MESSAGE of up to [`PULL_BATCH`] records of every tag, committing nothing, not held.
pub fn pull(
    client: &mut RawClient,
    queue_id: i32,
    offset: i64,
) -> std::io::Result<RemotingCommand> {
    let flags = PullSysFlag::new(false, false, true, false).bits();
    let request = RemotingCommand::request(RequestCode::PULL_MESSAGE, 0)
        .with_ext("consumerGroup", CONSUMER_GROUP)
        .with_ext("topic", TOPIC)
        .with_ext("queueId", queue_id.to_string())
        .with_ext("queueOffset", offset.to_string())
        .with_ext("maxMsgNums", PULL_BATCH.to_string())
        .with_ext("sysFlag", flags.to_string())
        .with_ext("commitOffset", "0")
        .with_ext("suspendTimeoutMillis", "0")
        .with_ext("subscription", "*")
        .with_ext("subVersion", "1")
        .with_ext("expressionType", "TAG");
    client.call(request)
}

pub fn ext(response: &RemotingCommand, key: &str) -> Option<String> {
    response.ext_fields.get(key).map(str::to_string)
}

fn connect(addr: SocketAddr) -> Result<RawClient, String> {
    RawClient::connect(addr).map_err(|e| format!("connect {addr}: {e}"))
}

fn call(addr: SocketAddr, request: RemotingCommand) -> Result<RemotingCommand, String> {
    let code = request.request_code();
    connect(addr)?
        .call(request)
        .map_err(|e| format!("{} to {addr}: {e}", code.name()))
}

/// A queue's (min, max) offsets on a broker.
pub fn queue_offsets(addr: SocketAddr, queue_id: i32) -> Result<(i64, i64), String> {
    let mut client = connect(addr)?;
    let mut get = |code: RequestCode| -> Result<i64, String> {
        let request = RemotingCommand::request(code, 0)
            .with_ext("topic", TOPIC)
            .with_ext("queueId", queue_id.to_string());
        let response = client
            .call(request)
            .map_err(|e| format!("{} to {addr}: {e}", code.name()))?;
        if response.response_code() != ResponseCode::SUCCESS {
            return Err(format!(
                "{} to {addr}: {}",
                code.name(),
                response.response_code()
            ));
        }
        ext(&response, "offset")
            .and_then(|o| o.parse().ok())
            .ok_or_else(|| format!("{} to {addr}: no offset", code.name()))
    };
    Ok((
        get(RequestCode::GET_MIN_OFFSET)?,
        get(RequestCode::GET_MAX_OFFSET)?,
    ))
}

/// GET_BROKER_RUNTIME_INFO as its key-value table.
pub fn runtime_info(addr: SocketAddr) -> Result<BTreeMap<String, String>, String> {
    let request = RemotingCommand::request(RequestCode::GET_BROKER_RUNTIME_INFO, 0);
    let response = call(addr, request)?;
    if response.response_code() != ResponseCode::SUCCESS {
        return Err(format!(
            "runtime info of {addr}: {}",
            response.response_code()
        ));
    }
    wire::body::KvTable::decode(&response.body)
        .map(|table| table.table)
        .map_err(|e| format!("runtime info of {addr}: {e}"))
}

/// A number from the runtime info table.
pub fn runtime_number(table: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    table.get(key).and_then(|value| value.parse().ok())
}

/// UPDATE_AND_CREATE_TOPIC with `queues` read and write queues.
pub fn create_topic(addr: SocketAddr, queues: i32) -> Result<(), String> {
    let request = RemotingCommand::request(RequestCode::UPDATE_AND_CREATE_TOPIC, 0)
        .with_ext("topic", TOPIC)
        .with_ext("defaultTopic", "TBW102")
        .with_ext("readQueueNums", queues.to_string())
        .with_ext("writeQueueNums", queues.to_string())
        .with_ext("perm", "6")
        .with_ext("topicFilterType", "SINGLE_TAG")
        .with_ext("order", "false");
    let response = call(addr, request)?;
    match response.response_code() {
        ResponseCode::SUCCESS => Ok(()),
        code => Err(format!(
            "create {TOPIC} on {addr}: {code} {:?}",
            response.remark
        )),
    }
}

/// The topic's queue count as GET_TOPIC_STATS_INFO reports it; `None` when it does not exist.
pub fn topic_queue_count(addr: SocketAddr) -> Result<Option<usize>, String> {
    let request =
        RemotingCommand::request(RequestCode::GET_TOPIC_STATS_INFO, 0).with_ext("topic", TOPIC);
    let response = call(addr, request)?;
    match response.response_code() {
        ResponseCode::SUCCESS => wire::body::TopicStatsTable::decode(&response.body)
            .map(|table| Some(table.offset_table.len()))
            .map_err(|e| format!("topic stats of {addr}: {e}")),
        ResponseCode::TOPIC_NOT_EXIST => Ok(None),
        code => Err(format!(
            "topic stats of {addr}: {code} {:?}",
            response.remark
        )),
    }
}

/// The record stored at a commit-log offset (VIEW_MESSAGE_BY_ID); `None` when there is none.
pub fn view_message(addr: SocketAddr, commit_log_offset: i64) -> Result<Option<Vec<u8>>, String> {
    let request = RemotingCommand::request(RequestCode::VIEW_MESSAGE_BY_ID, 0)
        .with_ext("offset", commit_log_offset.to_string());
    let response = call(addr, request)?;
    Ok((response.response_code() == ResponseCode::SUCCESS).then_some(response.body))
}
