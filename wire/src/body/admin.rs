//! Admin and consumer-progress bodies: message queues, topic stats, consume stats, consumer
//! offsets, subscription groups, connections, queue locks.
//!
//! Two fastjson forms matter here. Maps keyed by `MessageQueue` (TopicStatsTable, ConsumeStats)
//! are written with the key as a raw JSON object, `{{"brokerName":..}:{..}}`, which is not JSON
//! but is the only form the Java admin tools parse; integer-keyed maps (consumer offsets) have
//! unquoted keys. [`crate::fastjson::normalize`] reads both.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::fastjson::{self, write_string};

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A queue of a topic on one broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MessageQueue {
    pub broker_name: String,
    pub queue_id: i32,
    pub topic: String,
}

/// Writes `{{mq}:value,...}` with each key a raw object, as fastjson does.
pub(super) fn write_queue_keyed<V: Serialize>(map: &BTreeMap<MessageQueue, V>, out: &mut String) {
    out.push('{');
    for (index, (queue, value)) in map.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(&to_json(queue));
        out.push(':');
        out.push_str(&to_json(value));
    }
    out.push('}');
}

/// Reads a queue-keyed map whose keys `normalize` turned into strings of object text.
pub(super) fn read_queue_keyed<V: DeserializeOwned>(
    map: BTreeMap<String, V>,
    what: &'static str,
) -> Result<BTreeMap<MessageQueue, V>, DecodeError> {
    map.into_iter()
        .map(|(key, value)| {
            let queue = serde_json::from_str(&key).map_err(|e| DecodeError::JsonInvalid {
                what,
                reason: e.to_string(),
            })?;
            Ok((queue, value))
        })
        .collect()
}

/// One queue's offsets (`TopicOffset.java`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicOffset {
    pub last_update_timestamp: i64,
    pub max_offset: i64,
    pub min_offset: i64,
}

/// GET_TOPIC_STATS_INFO's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicStatsTable {
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
}

#[derive(Deserialize)]
struct StringKeyed<V> {
    #[serde(default = "BTreeMap::new", rename = "offsetTable")]
    offset_table: BTreeMap<String, V>,
}

/// `{"offsetTable":{{mq}:value,...}}`, the one field of the queue-keyed tables below.
fn encode_offset_table<V: Serialize>(table: &BTreeMap<MessageQueue, V>) -> Vec<u8> {
    let mut out = String::from("{\"offsetTable\":");
    write_queue_keyed(table, &mut out);
    out.push('}');
    out.into_bytes()
}

fn decode_offset_table<V: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<BTreeMap<MessageQueue, V>, DecodeError> {
    let raw: StringKeyed<V> = fastjson::from_fastjson(bytes, what)?;
    read_queue_keyed(raw.offset_table, what)
}

impl TopicStatsTable {
    pub fn encode(&self) -> Vec<u8> {
        encode_offset_table(&self.offset_table)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(TopicStatsTable {
            offset_table: decode_offset_table(bytes, "TopicStatsTable")?,
        })
    }
}

/// INVOKE_BROKER_TO_RESET_OFFSET's answer and RESET_CONSUMER_CLIENT_OFFSET's body: the
/// offset each queue was reset to (`ResetOffsetBody.java`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetOffsetBody {
    pub offset_table: BTreeMap<MessageQueue, i64>,
}

impl ResetOffsetBody {
    pub fn encode(&self) -> Vec<u8> {
        encode_offset_table(&self.offset_table)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Ok(ResetOffsetBody {
            offset_table: decode_offset_table(bytes, "ResetOffsetBody")?,
        })
    }
}

/// One queue's consumption (`OffsetWrapper.java`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OffsetWrapper {
    pub broker_offset: i64,
    pub consumer_offset: i64,
    pub last_timestamp: i64,
}

/// GET_CONSUME_STATS's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumeStats {
    pub consume_tps: f64,
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
}

#[derive(Deserialize)]
struct ConsumeStatsRaw {
    #[serde(default, rename = "consumeTps")]
    consume_tps: f64,
    #[serde(default, rename = "offsetTable")]
    offset_table: BTreeMap<String, OffsetWrapper>,
}

impl ConsumeStats {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from("{\"consumeTps\":");
        // fastjson writes a double with a fractional part: 0.0, not 0.
        if self.consume_tps.fract() == 0.0 && self.consume_tps.is_finite() {
            out.push_str(&format!("{:.1}", self.consume_tps));
        } else {
            out.push_str(&to_json(&self.consume_tps));
        }
        out.push_str(",\"offsetTable\":");
        write_queue_keyed(&self.offset_table, &mut out);
        out.push('}');
        out.into_bytes()
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let raw: ConsumeStatsRaw = fastjson::from_fastjson(bytes, "ConsumeStats")?;
        let offset_table = read_queue_keyed(raw.offset_table, "ConsumeStats")?;
        Ok(ConsumeStats {
            consume_tps: raw.consume_tps,
            offset_table,
        })
    }
}

/// Consumer offsets as `consumerOffset.json` and GET_ALL_CONSUMER_OFFSET hold them:
/// `"topic@group"` -> queue id -> next offset, integer keys unquoted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerOffsetWrapper {
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
}

impl ConsumerOffsetWrapper {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "ConsumerOffsetWrapper")
    }

    /// fastjson's legacy form, unquoted queue ids (what upstream tools and files expect).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from("{\"offsetTable\":{");
        for (index, (key, queues)) in self.offset_table.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            write_string(key, &mut out);
            out.push_str(":{");
            for (position, (queue_id, offset)) in queues.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&format!("{queue_id}:{offset}"));
            }
            out.push('}');
        }
        out.push_str("}}");
        out.into_bytes()
    }
}

/// A consumer group's settings (`SubscriptionGroupConfig.java`), defaults as upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionGroupConfig {
    pub broker_id: i64,
    pub consume_broadcast_enable: bool,
    pub consume_enable: bool,
    pub consume_from_min_enable: bool,
    pub group_name: String,
    pub notify_consumer_ids_changed_enable: bool,
    pub retry_max_times: i32,
    pub retry_queue_nums: i32,
    pub which_broker_when_consume_slowly: i64,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        SubscriptionGroupConfig {
            broker_id: 0,
            consume_broadcast_enable: true,
            consume_enable: true,
            consume_from_min_enable: true,
            group_name: String::new(),
            notify_consumer_ids_changed_enable: true,
            retry_max_times: 16,
            retry_queue_nums: 1,
            which_broker_when_consume_slowly: 1,
        }
    }
}

impl SubscriptionGroupConfig {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "SubscriptionGroupConfig")
    }

    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }
}

/// One client connection as the broker reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Connection {
    pub client_addr: String,
    pub client_id: String,
    pub language: String,
    pub version: i32,
}

/// GET_CONSUMER_CONNECTION_LIST's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerConnection {
    pub connection_set: BTreeSet<Connection>,
    pub consume_from_where: String,
    pub consume_type: String,
    pub message_model: String,
    pub subscription_table: BTreeMap<String, super::SubscriptionData>,
}

impl ConsumerConnection {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "ConsumerConnection")
    }

    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }
}

/// GET_PRODUCER_CONNECTION_LIST's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProducerConnection {
    pub connection_set: BTreeSet<Connection>,
}

impl ProducerConnection {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "ProducerConnection")
    }

    pub fn encode(&self) -> Vec<u8> {
        to_json(self).into_bytes()
    }
}

/// LOCK_BATCH_MQ and UNLOCK_BATCH_MQ requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LockBatchRequestBody {
    pub client_id: String,
    pub consumer_group: String,
    pub mq_set: BTreeSet<MessageQueue>,
}

/// LOCK_BATCH_MQ's answer: the queues now held by the asking client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockBatchResponseBody {
    #[serde(default, rename = "lockOKMQSet")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

#[cfg(test)]
mod tests;
