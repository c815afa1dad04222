//! GET_CONSUMER_RUNNING_INFO's answer (`ConsumerRunningInfo.java`): what a consumer reports of
//! itself to `mqadmin consumerStatus` and `consumerProgress -s`, relayed by the broker. The
//! queue table is keyed by `MessageQueue` objects, written as fastjson writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::admin::{read_queue_keyed, write_queue_keyed};
use super::{MessageQueue, SubscriptionData};
use crate::error::DecodeError;
use crate::fastjson;

/// `properties` keys Apache's tools read.
pub const PROP_CONSUME_TYPE: &str = "PROP_CONSUME_TYPE";
pub const PROP_CONSUME_ORDERLY: &str = "PROP_CONSUMEORDERLY";
pub const PROP_CONSUMER_START_TIMESTAMP: &str = "PROP_CONSUMER_START_TIMESTAMP";
pub const PROP_NAMESERVER_ADDR: &str = "PROP_NAMESERVER_ADDR";
pub const PROP_CLIENT_VERSION: &str = "PROP_CLIENT_VERSION";
pub const PROP_THREADPOOL_CORE_SIZE: &str = "PROP_THREADPOOL_CORE_SIZE";

/// One queue as the consumer holds it (`ProcessQueueInfo.java`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProcessQueueInfo {
    pub commit_offset: i64,
    pub cached_msg_min_offset: i64,
    pub cached_msg_max_offset: i64,
    pub cached_msg_count: i32,
    #[serde(rename = "cachedMsgSizeInMiB")]
    pub cached_msg_size_in_mib: i32,
    pub transaction_msg_min_offset: i64,
    pub transaction_msg_max_offset: i64,
    pub transaction_msg_count: i32,
    pub locked: bool,
    pub try_unlock_times: i64,
    pub last_lock_timestamp: i64,
    /// Upstream's spelling.
    pub droped: bool,
    pub last_pull_timestamp: i64,
    pub last_consume_timestamp: i64,
}

/// One topic's consumption rates (`ConsumeStatus.java`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumeStatus {
    #[serde(rename = "pullRT")]
    pub pull_rt: f64,
    #[serde(rename = "pullTPS")]
    pub pull_tps: f64,
    #[serde(rename = "consumeRT")]
    pub consume_rt: f64,
    #[serde(rename = "consumeOKTPS")]
    pub consume_ok_tps: f64,
    #[serde(rename = "consumeFailedTPS")]
    pub consume_failed_tps: f64,
    #[serde(rename = "consumeFailedMsgs")]
    pub consume_failed_msgs: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumerRunningInfo {
    pub properties: BTreeMap<String, String>,
    pub subscription_set: Vec<SubscriptionData>,
    pub mq_table: BTreeMap<MessageQueue, ProcessQueueInfo>,
    pub status_table: BTreeMap<String, ConsumeStatus>,
    pub jstack: Option<String>,
}

#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[derive(Default)]
struct Raw {
    properties: BTreeMap<String, serde_json::Value>,
    subscription_set: Vec<SubscriptionData>,
    mq_table: BTreeMap<String, ProcessQueueInfo>,
    status_table: BTreeMap<String, ConsumeStatus>,
    jstack: Option<String>,
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl ConsumerRunningInfo {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from("{");
        if let Some(jstack) = &self.jstack {
            out.push_str(&format!("\"jstack\":{},", to_json(jstack)));
        }
        out.push_str("\"mqTable\":");
        write_queue_keyed(&self.mq_table, &mut out);
        out.push_str(&format!(
            ",\"properties\":{},\"statusTable\":{},\"subscriptionSet\":{}}}",
            to_json(&self.properties),
            to_json(&self.status_table),
            to_json(&self.subscription_set)
        ));
        out.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let raw: Raw = fastjson::from_fastjson(bytes, "ConsumerRunningInfo")?;
        // Java's Properties may hold non-string values (an enum, a long): keep their text.
        let properties = raw
            .properties
            .into_iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(text) => (key, text),
                other => (key, other.to_string()),
            })
            .collect();
        Ok(ConsumerRunningInfo {
            properties,
            subscription_set: raw.subscription_set,
            mq_table: read_queue_keyed(raw.mq_table, "ConsumerRunningInfo")?,
            status_table: raw.status_table,
            jstack: raw.jstack,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_object_keyed_queues() {
        let mut info = ConsumerRunningInfo::default();
        info.properties
            .insert(PROP_CONSUME_TYPE.into(), "CONSUME_PASSIVELY".into());
        let queue = MessageQueue {
            broker_name: "b".into(),
            queue_id: 3,
            topic: "T".into(),
        };
        let process = ProcessQueueInfo {
            commit_offset: 42,
            ..ProcessQueueInfo::default()
        };
        info.mq_table.insert(queue, process);
        info.status_table
            .insert("T".into(), ConsumeStatus::default());
        let text = String::from_utf8(info.encode()).unwrap();
        assert!(
            text.contains(r#""mqTable":{{"brokerName":"b","queueId":3,"topic":"T"}:{"#),
            "{text}"
        );
        assert!(text.contains(r#""consumeOKTPS":0.0"#), "{text}");
        assert_eq!(ConsumerRunningInfo::decode(text.as_bytes()).unwrap(), info);
        // Java writes a long start timestamp as a number.
        let java = br#"{"mqTable":{},"properties":{"PROP_CONSUMER_START_TIMESTAMP":17}}"#;
        let decoded = ConsumerRunningInfo::decode(java).unwrap();
        assert_eq!(decoded.properties[PROP_CONSUMER_START_TIMESTAMP], "17");
    }
}
