//! Client-management bodies: HEART_BEAT's `HeartbeatData` and what hangs off it, and the
//! GET_CONSUMER_LIST_BY_GROUP answer.
//!
//! Java and Go both write these, differently: Go puts `codeSet` items in JSON strings, writes
//! `subVersion` in nanoseconds and its fields in struct order. Reading accepts either; enum-like
//! fields stay strings (an unknown value is kept, not rejected), with helpers for the known ones.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::DecodeError;
use crate::fastjson;

/// A client's subscription to one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionData {
    pub class_filter_mode: bool,
    /// Java hash codes of the tags; Go sends them as strings.
    #[serde(deserialize_with = "int_or_string_set")]
    pub code_set: BTreeSet<i32>,
    pub expression_type: String,
    pub sub_string: String,
    pub sub_version: i64,
    pub tags_set: BTreeSet<String>,
    pub topic: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            code_set: BTreeSet::new(),
            expression_type: "TAG".into(),
            sub_string: "*".into(),
            sub_version: 0,
            tags_set: BTreeSet::new(),
            topic: String::new(),
        }
    }
}

impl SubscriptionData {
    /// A TAG subscription as the Java client builds it from `subscribe(topic, expression)`:
    /// `*` or empty means all; otherwise `a || b` lists tags, each with its hash code.
    pub fn tags(topic: &str, expression: &str, sub_version: i64) -> Self {
        let mut data = SubscriptionData {
            topic: topic.to_string(),
            sub_version,
            ..SubscriptionData::default()
        };
        let expression = expression.trim();
        if expression.is_empty() || expression == "*" {
            return data;
        }
        data.sub_string = expression.to_string();
        for tag in expression
            .split("||")
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
        {
            data.tags_set.insert(tag.to_string());
            data.code_set.insert(crate::java_string_hash(tag));
        }
        data
    }

    /// Whether every message matches (no tag filter).
    pub fn is_all(&self) -> bool {
        self.sub_string.trim().is_empty() || self.sub_string.trim() == "*"
    }
}

fn int_or_string_set<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeSet<i32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrString {
        Int(i32),
        Text(String),
    }
    let items: Option<Vec<IntOrString>> = Option::deserialize(deserializer)?;
    items
        .unwrap_or_default()
        .into_iter()
        .map(|item| match item {
            IntOrString::Int(value) => Ok(value),
            IntOrString::Text(text) => text.trim().parse().map_err(serde::de::Error::custom),
        })
        .collect()
}

/// One consumer group of a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerData {
    pub consume_from_where: String,
    /// `CONSUME_PASSIVELY` (push) or `CONSUME_ACTIVELY` (pull).
    pub consume_type: String,
    pub group_name: String,
    /// `CLUSTERING` or `BROADCASTING`.
    pub message_model: String,
    pub subscription_data_set: Vec<SubscriptionData>,
    pub unit_mode: bool,
}

impl Default for ConsumerData {
    fn default() -> Self {
        ConsumerData {
            consume_from_where: "CONSUME_FROM_LAST_OFFSET".into(),
            consume_type: "CONSUME_PASSIVELY".into(),
            group_name: String::new(),
            message_model: "CLUSTERING".into(),
            subscription_data_set: Vec::new(),
            unit_mode: false,
        }
    }
}

impl ConsumerData {
    pub fn is_broadcasting(&self) -> bool {
        self.message_model == "BROADCASTING"
    }
}

/// One producer group of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProducerData {
    pub group_name: String,
}

/// The HEART_BEAT body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HeartbeatData {
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub consumer_data_set: Vec<ConsumerData>,
    pub producer_data_set: Vec<ProducerData>,
}

impl HeartbeatData {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "HeartbeatData")
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The GET_CONSUMER_LIST_BY_GROUP answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerListBody {
    pub consumer_id_list: Vec<String>,
}

impl ConsumerListBody {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "ConsumerListBody")
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The Java body of the spec (§5.1), byte for byte.
    const JAVA: &str = r#"{"clientID":"10.0.0.5@4242#81234567890123","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000000,"tagsSet":[],"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%cg"}],"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}"#;

    #[test]
    fn java_heartbeat_round_trips_byte_for_byte() {
        let heartbeat = HeartbeatData::decode(JAVA.as_bytes()).unwrap();
        assert_eq!(heartbeat.client_id, "10.0.0.5@4242#81234567890123");
        let consumer = &heartbeat.consumer_data_set[0];
        assert_eq!(consumer.subscription_data_set[1].topic, "%RETRY%cg");
        assert_eq!(
            heartbeat.producer_data_set[0].group_name,
            "CLIENT_INNER_PRODUCER"
        );
        assert_eq!(String::from_utf8(heartbeat.encode()).unwrap(), JAVA);
    }

    #[test]
    fn gotcha_go_codeset_strings() {
        // Go: struct field order, codeSet items as strings, subVersion in nanoseconds.
        let go = r#"{"clientID":"127.0.0.1@4242#1700000000000000000","producerDataSet":[],"consumerDataSet":[{"groupName":"g","consumeType":"CONSUME_PASSIVELY","messageModel":"BROADCASTING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],"subVersion":1700000000000000000,"expressionType":"TAG"}],"unitMode":false}]}"#;
        let heartbeat = HeartbeatData::decode(go.as_bytes()).unwrap();
        let consumer = &heartbeat.consumer_data_set[0];
        assert!(consumer.is_broadcasting());
        let subscription = &consumer.subscription_data_set[0];
        assert_eq!(
            subscription.code_set,
            [2_598_919, 2_598_920].into_iter().collect()
        );
        assert_eq!(subscription.sub_version, 1_700_000_000_000_000_000);
        assert_eq!(
            subscription,
            &SubscriptionData::tags("T", "TagA || TagB", subscription.sub_version)
        );
        assert!(HeartbeatData::decode(
            br#"{"consumerDataSet":[{"subscriptionDataSet":[{"codeSet":["x"]}]}]}"#
        )
        .is_err());
    }

    #[test]
    fn missing_fields_take_java_defaults() {
        let heartbeat = HeartbeatData::decode(br#"{"clientID":"c","consumerDataSet":[{"groupName":"g","subscriptionDataSet":[{"topic":"T","codeSet":null}]}]}"#).unwrap();
        let consumer = &heartbeat.consumer_data_set[0];
        assert_eq!(consumer.message_model, "CLUSTERING");
        assert!(consumer.subscription_data_set[0].is_all());
    }

    #[test]
    fn consumer_list_body() {
        let body = ConsumerListBody {
            consumer_id_list: vec!["a".into(), "b".into()],
        };
        assert_eq!(body.encode(), br#"{"consumerIdList":["a","b"]}"#);
        assert_eq!(ConsumerListBody::decode(&body.encode()).unwrap(), body);
    }

    const EXPRESSION: &str = "(\\*|[a-z]{1,4}( \\|\\| [a-z]{1,4}){0,2})";

    proptest! {
        #[test]
        fn heartbeat_round_trips(
            client_id in "[a-zA-Z0-9@#.]{1,20}",
            groups in proptest::collection::vec(
                ("[a-z]{1,8}", "[a-zA-Z]{1,8}", EXPRESSION, any::<i64>(), any::<bool>()), 0..3),
            producers in proptest::collection::vec("[A-Z_]{1,12}", 0..3),
        ) {
            let consumer = |(group_name, topic, expression, version, broadcast)| ConsumerData {
                group_name,
                message_model: if broadcast { "BROADCASTING" } else { "CLUSTERING" }.into(),
                subscription_data_set: vec![SubscriptionData::tags(topic, expression, version)],
                ..ConsumerData::default()
            };
            let heartbeat = HeartbeatData {
                client_id,
                consumer_data_set: groups
                    .iter()
                    .map(|(g, t, e, v, b)| consumer((g.clone(), t.as_str(), e.as_str(), *v, *b)))
                    .collect(),
                producer_data_set: producers
                    .into_iter()
                    .map(|group_name| ProducerData { group_name })
                    .collect(),
            };
            prop_assert_eq!(HeartbeatData::decode(&heartbeat.encode()).unwrap(), heartbeat);
        }
    }
}
