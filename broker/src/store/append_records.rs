//! The records of one append: parsed and checked before the commit log's lock is taken
//! ([`parse_records`]: whole, decodable message records with valid topics), then stamped
//! under it ([`stamp_record`]: queue offset, commit-log offset, store time, in place).
//!
//! Runs on the appending thread; [`stamp_record`] under the commit log's append lock, which
//! guards the queue-offset table it advances.

use std::collections::HashMap;

use wire::message::{self, sys_flag, AppendStamp, RecordKind, RecordView};

use super::commit_log::AppendedRecord;
use super::error::StoreError;

/// topic → queue id → next queue offset.
pub(super) type QueueOffsets = HashMap<String, HashMap<i32, i64>>;

/// One record of an append, as checked before the lock is taken.
pub(super) struct ParsedRecord {
    start: usize,
    size: usize,
    queue_id: i32,
    topic_start: usize,
    topic_size: usize,
    in_queue: bool,
}

/// The records laid back to back in `records`, each checked to be a whole, decodable message
/// record with a valid topic.
pub(super) fn parse_records(records: &[u8]) -> Result<Vec<ParsedRecord>, StoreError> {
    let mut parsed = Vec::new();
    let mut start = 0;
    while start < records.len() {
        let header = message::peek(&records[start..])?;
        if !matches!(header.kind, RecordKind::Message(_)) || header.size() == 0 {
            return Err(StoreError::Record(wire::DecodeError::RecordMagicUnknown {
                magic: header.magic,
            }));
        }
        let size = header.size();
        if start + size > records.len() {
            return Err(StoreError::Record(wire::DecodeError::RecordTruncated {
                needed: size,
                available: records.len() - start,
            }));
        }
        let view = RecordView::decode(&records[start..start + size], false)?.0;
        if !is_topic_valid(view.topic) {
            return Err(StoreError::TopicInvalid {
                topic: view.topic.to_string(),
            });
        }
        parsed.push(ParsedRecord {
            start,
            size,
            queue_id: view.queue_id,
            // The topic borrows from `records`: its distance from the start is its position.
            topic_start: view.topic.as_ptr() as usize - records.as_ptr() as usize,
            topic_size: view.topic.len(),
            in_queue: matches!(
                sys_flag::TransactionType::of(view.sys_flag),
                sys_flag::TransactionType::Not | sys_flag::TransactionType::Commit
            ),
        });
        start += size;
    }
    if parsed.is_empty() {
        return Err(StoreError::Record(wire::DecodeError::RecordTruncated {
            needed: message::RECORD_SIZE_MIN_V1,
            available: 0,
        }));
    }
    Ok(parsed)
}

/// Topics become directory names under `consumequeue/`: RocketMQ's character set only, so a
/// topic can never be `..` or hold a path separator.
pub fn is_topic_valid(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 127
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
}

/// Assigns the record its queue offset (transaction PREPARED and ROLLBACK records take none)
/// and stamps it in place.
pub(super) fn stamp_record(
    queue_offsets: &mut QueueOffsets,
    records: &mut [u8],
    record: &ParsedRecord,
    base_offset: u64,
    store_timestamp: i64,
) -> Result<AppendedRecord, StoreError> {
    let queue_id = record.queue_id;
    let queue_offset = if record.in_queue {
        let topic_bytes = &records[record.topic_start..record.topic_start + record.topic_size];
        let topic = std::str::from_utf8(topic_bytes).map_err(|_| StoreError::TopicInvalid {
            topic: String::from_utf8_lossy(topic_bytes).into(),
        })?;
        let queues = match queue_offsets.get_mut(topic) {
            Some(queues) => queues,
            None => queue_offsets.entry(topic.to_string()).or_default(),
        };
        let next = queues.entry(queue_id).or_insert(0);
        let queue_offset = *next;
        *next += 1;
        queue_offset
    } else {
        0
    };
    let size = record.size as u32;
    let commit_log_offset = base_offset + record.start as u64;
    message::stamp(
        &mut records[record.start..record.start + record.size],
        &AppendStamp {
            queue_offset,
            commit_log_offset: commit_log_offset as i64,
            store_timestamp,
        },
    )?;
    Ok(AppendedRecord {
        commit_log_offset,
        size,
        queue_id,
        queue_offset,
        store_timestamp,
    })
}
