//! JSON bodies of requests and responses, as the Java servers and clients write them.
//!
//! Field names are Java's bean names; fields are declared in alphabetical order because
//! fastjson writes them so. Reading is tolerant: unknown fields are ignored, missing ones take
//! their Java default, and fastjson's unquoted integer keys are accepted (see [`fastjson`]).
//! Bodies whose integer-keyed maps must be written in one form or the other for the asking
//! client ([`TopicRouteData`], [`ClusterInfo`]) take a `standard_json` flag.
//!
//! [`fastjson`]: crate::fastjson

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::fastjson::{self, write_integer_key_map, write_string};

mod admin;
mod heartbeat;
pub mod running_info;

pub use admin::{
    Connection, ConsumeStats, ConsumerConnection, ConsumerOffsetWrapper, LockBatchRequestBody,
    LockBatchResponseBody, MessageQueue, OffsetWrapper, ProducerConnection, ResetOffsetBody,
    SubscriptionGroupConfig, TopicOffset, TopicStatsTable,
};
pub use heartbeat::{
    ConsumerData, ConsumerListBody, HeartbeatData, ProducerData, SubscriptionData,
};
pub use running_info::{ConsumeStatus, ConsumerRunningInfo, ProcessQueueInfo};

/// Largest inflated REGISTER_BROKER body accepted: bounds a zip bomb.
pub const REGISTER_BODY_INFLATED_SIZE_MAX: u64 = 64 * 1024 * 1024;

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Our body types hold only strings, numbers, booleans and string-keyed maps: infallible.
    serde_json::to_vec(value).unwrap_or_default()
}

/// A broker's topic-config version; equal when both fields are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataVersion {
    pub counter: i64,
    pub timestamp: i64,
}

impl DataVersion {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "DataVersion")
    }

    pub fn encode(&self) -> Vec<u8> {
        to_vec(self)
    }
}

/// One topic's configuration on a broker (`TopicConfig.java`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicConfig {
    pub order: bool,
    pub perm: i32,
    pub read_queue_nums: i32,
    pub topic_filter_type: String,
    pub topic_name: String,
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            order: false,
            perm: 6,
            read_queue_nums: 16,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_name: String::new(),
            topic_sys_flag: 0,
            write_queue_nums: 16,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicConfigSerializeWrapper {
    pub data_version: DataVersion,
    pub topic_config_table: BTreeMap<String, TopicConfig>,
}

/// The body of REGISTER_BROKER (request version >= V3_0_11).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RegisterBrokerBody {
    pub filter_server_list: Vec<String>,
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

impl RegisterBrokerBody {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "RegisterBrokerBody")
    }

    pub fn encode(&self) -> Vec<u8> {
        to_vec(self)
    }

    /// The `compressed=true` form: a zlib stream of
    /// `i32 len | DataVersion JSON | i32 count | (i32 len | "name read write perm filter")* |
    /// i32 len | filter servers JSON`. topicSysFlag and order do not survive it (upstream).
    pub fn decode_compressed(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut inflated = Vec::new();
        flate2::read::ZlibDecoder::new(bytes)
            .take(REGISTER_BODY_INFLATED_SIZE_MAX + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| DecodeError::CompressionInvalid {
                reason: e.to_string(),
            })?;
        if inflated.len() as u64 > REGISTER_BODY_INFLATED_SIZE_MAX {
            return Err(DecodeError::FieldTooLong {
                name: "inflated register body",
                size: inflated.len(),
                size_max: REGISTER_BODY_INFLATED_SIZE_MAX as usize,
            });
        }
        let mut reader = SizedReader {
            bytes: &inflated,
            position: 0,
        };
        let data_version = DataVersion::decode(reader.sized("dataVersion")?)?;
        let count = reader.i32("topic count")?;
        let mut table = BTreeMap::new();
        for _ in 0..count.max(0) {
            let text = std::str::from_utf8(reader.sized("topic config")?).map_err(|_| {
                DecodeError::Utf8Invalid {
                    field: "topic config",
                }
            })?;
            let config = parse_topic_config_text(text)?;
            table.insert(config.topic_name.clone(), config);
        }
        let filter_server_list = match reader.remaining() {
            0 => Vec::new(),
            _ => fastjson::from_fastjson(reader.sized("filterServerList")?, "filterServerList")?,
        };
        let topic_config_serialize_wrapper = TopicConfigSerializeWrapper {
            data_version,
            topic_config_table: table,
        };
        Ok(RegisterBrokerBody {
            filter_server_list,
            topic_config_serialize_wrapper,
        })
    }

    /// Encodes the compressed form (best compression, as the Java broker does).
    pub fn encode_compressed(&self) -> Vec<u8> {
        let mut plain = Vec::new();
        let mut sized = |bytes: &[u8]| {
            plain.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            plain.extend_from_slice(bytes);
        };
        let wrapper = &self.topic_config_serialize_wrapper;
        sized(&wrapper.data_version.encode());
        let count = (wrapper.topic_config_table.len() as i32).to_be_bytes();
        let mut topics = Vec::new();
        for config in wrapper.topic_config_table.values() {
            let text = format!(
                "{} {} {} {} {}",
                config.topic_name,
                config.read_queue_nums,
                config.write_queue_nums,
                config.perm,
                config.topic_filter_type
            );
            topics.extend_from_slice(&(text.len() as i32).to_be_bytes());
            topics.extend_from_slice(text.as_bytes());
        }
        let filters = to_vec(&self.filter_server_list);
        let mut all = plain;
        all.extend_from_slice(&count);
        all.extend_from_slice(&topics);
        all.extend_from_slice(&(filters.len() as i32).to_be_bytes());
        all.extend_from_slice(&filters);
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let _ = std::io::Write::write_all(&mut encoder, &all);
        encoder.finish().unwrap_or_default()
    }
}

fn parse_topic_config_text(text: &str) -> Result<TopicConfig, DecodeError> {
    let invalid = || DecodeError::FieldInvalid {
        name: "topic config",
        value: text.to_string(),
    };
    let tokens: Vec<&str> = text.split(' ').collect();
    if tokens.len() < 4 || tokens[0].is_empty() {
        return Err(invalid());
    }
    let number = |token: &str| token.parse::<i32>().map_err(|_| invalid());
    Ok(TopicConfig {
        topic_name: tokens[0].to_string(),
        read_queue_nums: number(tokens[1])?,
        write_queue_nums: number(tokens[2])?,
        perm: number(tokens[3])?,
        topic_filter_type: tokens.get(4).unwrap_or(&"SINGLE_TAG").to_string(),
        ..TopicConfig::default()
    })
}

struct SizedReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> SizedReader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        let available = self.remaining();
        if available < 4 {
            return Err(DecodeError::HeaderTruncated {
                field,
                needed: 4,
                available,
            });
        }
        let b = &self.bytes[self.position..self.position + 4];
        self.position += 4;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn sized(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let length = self.i32(field)?;
        if length < 0 || length as usize > self.remaining() {
            return Err(DecodeError::HeaderFieldLengthInvalid {
                field,
                length: length.into(),
            });
        }
        let slice = &self.bytes[self.position..self.position + length as usize];
        self.position += length as usize;
        Ok(slice)
    }
}

/// One broker name's queues of a topic (`QueueData.java`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueueData {
    pub broker_name: String,
    pub perm: i32,
    pub read_queue_nums: i32,
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

/// One broker name's addresses by broker id (`BrokerData.java`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BrokerData {
    pub broker_addrs: BTreeMap<i64, String>,
    pub broker_name: String,
    pub cluster: String,
}

impl BrokerData {
    /// Compact JSON; `brokerAddrs` keys quoted iff `standard_json`, never omitted (the Go
    /// client slices its raw text and panics without it).
    fn write(&self, standard_json: bool, out: &mut String) {
        out.push_str("{\"brokerAddrs\":");
        let addrs = self
            .broker_addrs
            .iter()
            .map(|(id, addr)| (*id, addr.as_str()));
        write_integer_key_map(addrs, standard_json, out);
        out.push_str(",\"brokerName\":");
        write_string(&self.broker_name, out);
        out.push_str(",\"cluster\":");
        write_string(&self.cluster, out);
        out.push('}');
    }
}

/// A topic's route (`TopicRouteData.java`), the answer to GET_ROUTEINFO_BY_TOPIC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicRouteData {
    pub broker_datas: Vec<BrokerData>,
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    pub queue_datas: Vec<QueueData>,
}

impl TopicRouteData {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "TopicRouteData")
    }

    /// Legacy fastjson (unquoted `brokerAddrs` keys) unless `standard_json`; see the spec's
    /// version gate (request version >= 401 or acceptStandardJsonOnly).
    pub fn encode(&self, standard_json: bool) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        out.push_str("{\"brokerDatas\":[");
        for (index, broker) in self.broker_datas.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            broker.write(standard_json, &mut out);
        }
        out.push_str("],\"filterServerTable\":");
        out.push_str(&String::from_utf8_lossy(&to_vec(&self.filter_server_table)));
        if let Some(conf) = &self.order_topic_conf {
            out.push_str(",\"orderTopicConf\":");
            write_string(conf, &mut out);
        }
        out.push_str(",\"queueDatas\":");
        out.push_str(&String::from_utf8_lossy(&to_vec(&self.queue_datas)));
        out.push('}');
        out.into_bytes()
    }
}

/// Every broker and cluster (`ClusterInfo.java`), the answer to GET_BROKER_CLUSTER_INFO.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterInfo {
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

impl ClusterInfo {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "ClusterInfo")
    }

    pub fn encode(&self, standard_json: bool) -> Vec<u8> {
        let mut out = String::with_capacity(256);
        out.push_str("{\"brokerAddrTable\":{");
        for (index, (name, broker)) in self.broker_addr_table.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            write_string(name, &mut out);
            out.push(':');
            broker.write(standard_json, &mut out);
        }
        out.push_str("},\"clusterAddrTable\":");
        out.push_str(&String::from_utf8_lossy(&to_vec(&self.cluster_addr_table)));
        out.push('}');
        out.into_bytes()
    }
}

/// A list of topic names (`TopicList.java`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicList {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_addr: Option<String>,
    pub topic_list: Vec<String>,
}

impl TopicList {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "TopicList")
    }

    pub fn encode(&self) -> Vec<u8> {
        to_vec(self)
    }
}

/// A set of group names (`GroupList.java`): QUERY_TOPIC_CONSUME_BY_WHO's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GroupList {
    pub group_list: Vec<String>,
}

impl GroupList {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "GroupList")
    }

    pub fn encode(&self) -> Vec<u8> {
        to_vec(self)
    }
}

/// A string table (`KVTable.java`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KvTable {
    pub table: BTreeMap<String, String>,
}

impl KvTable {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "KVTable")
    }

    pub fn encode(&self) -> Vec<u8> {
        to_vec(self)
    }
}

/// `java.util.Properties` text, the body of GET/UPDATE_NAMESRV_CONFIG and broker config.
pub mod properties_text {
    /// Parses `key=value` (or `key: value`, `key value`) lines; `#` and `!` start comments;
    /// a trailing backslash continues a line; `\n`, `\t`, `\\`, `\=`, `\:` and `\uXXXX`
    /// escapes are honoured.
    pub fn parse(text: &str) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut logical = String::new();
        for line in text.lines() {
            let trimmed = line.trim_start();
            if logical.is_empty() && (trimmed.is_empty() || trimmed.starts_with(['#', '!'])) {
                continue;
            }
            let continued = trimmed.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1;
            logical.push_str(if continued {
                &trimmed[..trimmed.len() - 1]
            } else {
                trimmed
            });
            if continued {
                continue;
            }
            if let Some(pair) = split_pair(&std::mem::take(&mut logical)) {
                pairs.push(pair);
            }
        }
        if let Some(pair) = split_pair(&logical) {
            pairs.push(pair);
        }
        pairs
    }

    fn split_pair(line: &str) -> Option<(String, String)> {
        if line.is_empty() {
            return None;
        }
        let mut key_end = line.len();
        let mut escaped = false;
        for (index, c) in line.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '=' || c == ':' || c.is_whitespace() {
                key_end = index;
                break;
            }
        }
        let rest = line[key_end..].trim_start();
        let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest).trim_start();
        Some((unescape(&line[..key_end]), unescape(rest)))
    }

    fn unescape(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('f') => out.push('\u{c}'),
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(decoded) => out.push(decoded),
                        None => out.push_str(&hex),
                    }
                }
                Some(other) => out.push(other),
                None => {}
            }
        }
        out
    }

    /// Writes `key=value` lines, escaping what `parse` would otherwise misread.
    pub fn encode(pairs: &[(String, String)]) -> String {
        let mut out = String::new();
        for (key, value) in pairs {
            escape_into(key, true, &mut out);
            out.push('=');
            escape_into(value, false, &mut out);
            out.push('\n');
        }
        out
    }

    fn escape_into(text: &str, is_key: bool, out: &mut String) {
        for (index, c) in text.chars().enumerate() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{c}' => out.push_str("\\f"),
                '=' | ':' if is_key => {
                    out.push('\\');
                    out.push(c);
                }
                ' ' if is_key || index == 0 => out.push_str("\\ "),
                '#' | '!' if index == 0 && is_key => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests;
