//! SEND_MESSAGE (10), SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320): from a request to
//! the stored records, and from the append to the response.
//!
//! Records are built as the Java broker builds them: the body verbatim (still compressed when
//! the producer compressed it), BORNHOST the TCP peer, STOREHOST `brokerIP1:listenPort`,
//! `CLUSTER` added and `WAIT` dropped from the stored properties; a batch's header properties
//! are appended to every inner message's. Every send response carries msgId, queueId and
//! queueOffset, whatever its code (the Java client unboxes them).
//!
//! Runs on the event-loop thread; pure functions, no I/O.

use std::net::SocketAddr;

use wire::headers::send::SendMessageRequestHeader;
use wire::message::batch::decode_batch_views;
use wire::message::sys_flag;
use wire::message::{MagicVersion, RecordView};
use wire::message_id::OffsetMsgId;
use wire::properties::{self, Properties};
use wire::ResponseCode;

use crate::store::AppendResult;

/// A send refused before it reached the store: the code and remark of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ResponseCode,
    pub remark: String,
    /// Nothing was stored because the commit log has no room until the flush catches up: a
    /// send waits and tries again rather than being answered.
    pub wait_for_flush: bool,
}

pub fn refuse(code: ResponseCode, remark: impl Into<String>) -> Refusal {
    Refusal {
        code,
        remark: remark.into(),
        wait_for_flush: false,
    }
}

/// Where the records come from and go to.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub born_host: SocketAddr,
    pub store_host: SocketAddr,
    pub cluster: &'a str,
    pub message_size_max: usize,
}

/// The stored property string of one message: `extra` (a batch's header properties) appended,
/// WAIT dropped, CLUSTER set.
fn stored_properties(own: &str, extra: &str, cluster: &str) -> Result<String, Refusal> {
    let merged = if extra.is_empty() {
        own.to_string()
    } else {
        properties::append(own, extra)
    };
    let mut map: Properties = properties::decode(&merged);
    map.remove(properties::WAIT);
    map.insert(properties::CLUSTER, cluster);
    let encoded = properties::encode(&map);
    if encoded.len() > properties::PROPERTIES_SIZE_MAX {
        return Err(refuse(
            ResponseCode::MESSAGE_ILLEGAL,
            format!("properties of {} bytes exceed 32767", encoded.len()),
        ));
    }
    Ok(encoded)
}

/// Encodes the records of a send request, back to back, for [`crate::store::MessageStore::append`].
pub fn encode_records(
    header: &SendMessageRequestHeader,
    body: &[u8],
    topic: &str,
    queue_id: i32,
    origin: &Origin<'_>,
) -> Result<Vec<u8>, Refusal> {
    if body.len() > origin.message_size_max {
        return Err(refuse(
            ResponseCode::MESSAGE_ILLEGAL,
            format!(
                "message body of {} bytes exceeds {}",
                body.len(),
                origin.message_size_max
            ),
        ));
    }
    let header_properties = header.properties.as_deref().unwrap_or("");
    let mut template = RecordView {
        version: MagicVersion::V1,
        body_crc: 0,
        queue_id,
        flag: header.flag,
        queue_offset: 0,
        commit_log_offset: 0,
        sys_flag: header.sys_flag,
        born_timestamp: header.born_timestamp,
        born_host: origin.born_host,
        store_timestamp: 0,
        store_host: origin.store_host,
        reconsume_times: header.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: 0,
        body,
        topic,
        properties: "",
    };
    let mut out = Vec::with_capacity(body.len() + 256);
    if !header.batch {
        let stored = stored_properties(header_properties, "", origin.cluster)?;
        template.properties = &stored;
        template.encode(&mut out).map_err(illegal)?;
        return Ok(out);
    }
    check_batch(header, topic)?;
    let items = decode_batch_views(body).map_err(illegal)?;
    for item in items {
        if properties::find(item.properties, properties::DELAY).is_some_and(|d| d != "0") {
            return Err(refuse(
                ResponseCode::MESSAGE_ILLEGAL,
                "a batch cannot hold delayed messages",
            ));
        }
        let stored = stored_properties(item.properties, header_properties, origin.cluster)?;
        let record = RecordView {
            flag: item.flag,
            body: item.body,
            properties: &stored,
            ..template
        };
        record.encode(&mut out).map_err(illegal)?;
    }
    Ok(out)
}

fn check_batch(header: &SendMessageRequestHeader, topic: &str) -> Result<(), Refusal> {
    if topic.starts_with("%RETRY%") {
        return Err(refuse(
            ResponseCode::MESSAGE_ILLEGAL,
            "a batch cannot go to a retry topic",
        ));
    }
    if header.sys_flag & sys_flag::TRANSACTION_MASK != 0 {
        return Err(refuse(
            ResponseCode::MESSAGE_ILLEGAL,
            "a batch cannot be transactional",
        ));
    }
    Ok(())
}

fn illegal(error: wire::DecodeError) -> Refusal {
    refuse(ResponseCode::MESSAGE_ILLEGAL, error.to_string())
}

/// The msgId field: offset message ids, comma-joined for a batch.
pub fn message_ids(result: &AppendResult, store_host: SocketAddr) -> String {
    let ids: Vec<String> = result
        .records
        .iter()
        .map(|record| {
            OffsetMsgId {
                store_host,
                commit_log_offset: record.commit_log_offset as i64,
            }
            .encode()
        })
        .collect();
    ids.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::message::batch::{encode_batch, BatchItem};

    fn header(batch: bool, properties: &str) -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "pg".into(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 1,
            sys_flag: 0,
            born_timestamp: 42,
            flag: 7,
            properties: Some(properties.into()),
            reconsume_times: None,
            unit_mode: false,
            batch,
            max_reconsume_times: None,
        }
    }

    fn origin() -> Origin<'static> {
        Origin {
            born_host: "10.0.0.9:5555".parse().unwrap(),
            store_host: "127.0.0.1:10911".parse().unwrap(),
            cluster: "C1",
            message_size_max: 4 << 20,
        }
    }

    #[test]
    fn a_single_message_keeps_its_body_and_gets_cluster_without_wait() {
        let props = "TAGS\u{1}a\u{2}WAIT\u{1}true\u{2}KEYS\u{1}k1 k2";
        let out = encode_records(&header(false, props), b"hello", "T", 1, &origin()).unwrap();
        let (view, size) = RecordView::decode(&out, true).unwrap();
        assert_eq!(size, out.len());
        assert_eq!(
            (view.body, view.topic, view.queue_id, view.flag),
            (&b"hello"[..], "T", 1, 7)
        );
        assert_eq!(view.born_host, origin().born_host);
        assert_eq!(view.store_host, origin().store_host);
        let stored = properties::decode(view.properties);
        assert_eq!(stored.get("CLUSTER"), Some("C1"));
        assert_eq!(stored.get("WAIT"), None);
        assert_eq!(stored.get("KEYS"), Some("k1 k2"));
    }

    #[test]
    fn a_batch_becomes_contiguous_records_with_the_header_properties() {
        let items: Vec<BatchItem> = (0..3)
            .map(|n| BatchItem {
                flag: n,
                body: format!("body-{n}").into_bytes(),
                properties: format!("UNIQ_KEY\u{1}U{n}"),
            })
            .collect();
        let mut body = Vec::new();
        encode_batch(&items, &mut body).unwrap();
        let out = encode_records(&header(true, "WAIT\u{1}true"), &body, "T", 1, &origin()).unwrap();
        let mut position = 0;
        for n in 0..3 {
            let (view, size) = RecordView::decode(&out[position..], true).unwrap();
            assert_eq!(view.body, format!("body-{n}").as_bytes());
            assert_eq!(view.flag, n);
            let stored = properties::decode(view.properties);
            assert_eq!(stored.get("UNIQ_KEY"), Some(format!("U{n}").as_str()));
            assert_eq!(stored.get("CLUSTER"), Some("C1"));
            position += size;
        }
        assert_eq!(position, out.len());
        let refused = encode_records(&header(true, ""), &body, "%RETRY%g", 0, &origin());
        assert_eq!(refused.unwrap_err().code, ResponseCode::MESSAGE_ILLEGAL);
    }

    #[test]
    fn oversized_and_malformed_bodies_are_illegal() {
        let mut small = origin();
        small.message_size_max = 4;
        let refused = encode_records(&header(false, ""), b"hello", "T", 0, &small).unwrap_err();
        assert_eq!(refused.code, ResponseCode::MESSAGE_ILLEGAL);
        let garbage = encode_records(&header(true, ""), &[0, 0, 0, 99, 1], "T", 0, &origin());
        assert_eq!(garbage.unwrap_err().code, ResponseCode::MESSAGE_ILLEGAL);
    }
}
