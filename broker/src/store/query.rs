//! Reads for consumers: messages of a queue from a queue offset (RocketMQ's `getMessage`,
//! with its statuses), queue offset bounds, and the search by store timestamp.
//!
//! Runs on whichever thread serves the pull; it takes one consume queue's lock for the units,
//! then reads the commit log (memory window, or `pread` of older data).

use wire::consume_unit::{ConsumeUnit, BLANK_UNIT};
use wire::message::RecordView;
use wire::properties::KEY_SEPARATOR;

use super::consume_queue::lock_queue;
use super::error::StoreError;
use super::index::IndexProgress;
use super::message_store::MessageStore;

/// Outcome of [`MessageStore::get_messages`], named as upstream's `GetMessageStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    Found,
    NoMatchedMessage,
    MessageWasRemoving,
    OffsetFoundNull,
    OffsetOverflowOne,
    OffsetOverflowBadly,
    OffsetTooSmall,
    NoMessageInQueue,
    NoMatchedLogicQueue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetResult {
    pub status: GetStatus,
    pub next_offset: u64,
    pub min_offset: u64,
    pub max_offset: u64,
    /// The records found, back to back, exactly as stored.
    pub records: Vec<u8>,
    pub record_count: usize,
    /// Commit-log offset of the last record returned (for the read-from-slave suggestion).
    pub last_commit_log_offset: u64,
}

/// Units scanned per call at most (upstream: 16 000 bytes of units, or more for big batches).
const SCAN_UNITS_MIN: usize = 800;

impl MessageStore {
    /// Up to `count_max` messages (and about `size_max` bytes; the first message always fits)
    /// of `topic`/`queue_id` from `offset`, skipping those whose tags code `filter` rejects.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: u64,
        count_max: usize,
        size_max: usize,
        filter: &dyn Fn(i64) -> bool,
    ) -> Result<GetResult, StoreError> {
        let mut result = GetResult {
            status: GetStatus::NoMatchedLogicQueue,
            next_offset: 0,
            min_offset: 0,
            max_offset: 0,
            records: Vec::new(),
            record_count: 0,
            last_commit_log_offset: 0,
        };
        let _reads = self.reads.read().unwrap_or_else(|p| p.into_inner());
        let Some(queue) = self.queues.get(topic, queue_id) else {
            return Ok(result);
        };
        let units = {
            let queue = lock_queue(&queue);
            result.min_offset = queue.min_offset();
            result.max_offset = queue.max_offset();
            let (status, next) = match (queue.min_offset(), queue.max_offset()) {
                (_, 0) => (Some(GetStatus::NoMessageInQueue), 0),
                (min, _) if offset < min => (Some(GetStatus::OffsetTooSmall), min),
                (_, max) if offset == max => (Some(GetStatus::OffsetOverflowOne), offset),
                (_, max) if offset > max => (Some(GetStatus::OffsetOverflowBadly), max),
                _ => (None, offset),
            };
            if let Some(status) = status {
                result.status = status;
                result.next_offset = next;
                return Ok(result);
            }
            queue.units(offset, count_max.max(SCAN_UNITS_MIN))?
        };
        if units.is_empty() {
            result.status = GetStatus::OffsetFoundNull;
            let per_file = self.config().consume_queue_file_units;
            result.next_offset = offset - offset % per_file + per_file;
            return Ok(result);
        }
        self.collect_records(&mut result, offset, &units, count_max, size_max, filter)?;
        Ok(result)
    }

    fn collect_records(
        &self,
        result: &mut GetResult,
        offset: u64,
        units: &[ConsumeUnit],
        count_max: usize,
        size_max: usize,
        filter: &dyn Fn(i64) -> bool,
    ) -> Result<(), StoreError> {
        let mut scanned = 0u64;
        let mut removing = false;
        for unit in units {
            if result.record_count >= count_max
                || (result.record_count > 0 && result.records.len() + unit.size as usize > size_max)
            {
                break;
            }
            scanned += 1;
            if *unit == BLANK_UNIT || !filter(unit.tags_code) {
                continue;
            }
            let commit_log_offset = unit.commit_log_offset.max(0) as u64;
            let before = result.records.len();
            let size = unit.size.max(0) as usize;
            if self
                .log
                .read_into(commit_log_offset, size, &mut result.records)?
                != size
            {
                // Retention took the segment while this pull was running.
                result.records.truncate(before);
                removing = true;
                continue;
            }
            result.record_count += 1;
            result.last_commit_log_offset = commit_log_offset;
        }
        result.next_offset = offset + scanned;
        result.status = match (result.record_count, removing) {
            (0, true) => GetStatus::MessageWasRemoving,
            (0, false) => GetStatus::NoMatchedMessage,
            _ => GetStatus::Found,
        };
        Ok(())
    }

    /// Whether reading the queue from `queue_offset` would go to disk: its message is older
    /// than the commit log's memory window. (The consume-queue unit itself is read through
    /// the page cache.)
    pub fn needs_disk(&self, topic: &str, queue_id: i32, queue_offset: u64) -> bool {
        let Some(queue) = self.queues.get(topic, queue_id) else {
            return false;
        };
        let unit = lock_queue(&queue).unit(queue_offset);
        match unit {
            Ok(Some(unit)) if unit != BLANK_UNIT => {
                (unit.commit_log_offset.max(0) as u64) < self.log.memory_start()
            }
            _ => false,
        }
    }

    /// (min, max) queue offsets of a queue; (0, 0) when it does not exist.
    pub fn queue_offsets(&self, topic: &str, queue_id: i32) -> (u64, u64) {
        match self.queues.get(topic, queue_id) {
            Some(queue) => {
                let queue = lock_queue(&queue);
                (queue.min_offset(), queue.max_offset())
            }
            None => (0, 0),
        }
    }

    /// Queue ids that have a consume queue for `topic`.
    pub fn queue_ids(&self, topic: &str) -> Vec<i32> {
        self.queues.topic_queue_ids(topic)
    }

    /// Store timestamp of the message at `queue_offset`, if it is still there.
    pub fn store_timestamp_at(
        &self,
        topic: &str,
        queue_id: i32,
        queue_offset: u64,
    ) -> Result<Option<i64>, StoreError> {
        let Some(queue) = self.queues.get(topic, queue_id) else {
            return Ok(None);
        };
        let unit = lock_queue(&queue).unit(queue_offset)?;
        let Some(unit) = unit.filter(|unit| *unit != BLANK_UNIT) else {
            return Ok(None);
        };
        let record = self.log.read(
            unit.commit_log_offset.max(0) as u64,
            unit.size.max(0) as usize,
        )?;
        if record.len() != unit.size as usize {
            return Ok(None);
        }
        Ok(Some(RecordView::decode(&record, false)?.0.store_timestamp))
    }

    /// The first queue offset whose message was stored at or after `timestamp` (ms); the max
    /// offset when every message is older. Binary search over the queue.
    pub fn offset_by_timestamp(
        &self,
        topic: &str,
        queue_id: i32,
        timestamp: i64,
    ) -> Result<u64, StoreError> {
        let (min, max) = self.queue_offsets(topic, queue_id);
        let (mut low, mut high) = (min, max);
        while low < high {
            let middle = low + (high - low) / 2;
            match self.store_timestamp_at(topic, queue_id, middle)? {
                Some(stored) if stored >= timestamp => high = middle,
                // A message that vanished under retention counts as old.
                _ => low = middle + 1,
            }
        }
        Ok(low)
    }

    /// Store time of the oldest message still in the queue (`GET_EARLIEST_MSG_STORETIME`).
    pub fn earliest_store_timestamp(
        &self,
        topic: &str,
        queue_id: i32,
    ) -> Result<Option<i64>, StoreError> {
        let (min, max) = self.queue_offsets(topic, queue_id);
        if min >= max {
            return Ok(None);
        }
        self.store_timestamp_at(topic, queue_id, min)
    }

    /// The raw record at a commit-log offset (VIEW_MESSAGE_BY_ID), if it is a whole message.
    pub fn record_at(&self, commit_log_offset: u64) -> Result<Option<Vec<u8>>, StoreError> {
        // A record names its own commit-log offset: checking it before trusting TOTALSIZE means
        // an offset in the middle of a record (a client's guess) never sizes a large read.
        let position = wire::message::COMMIT_LOG_OFFSET_POSITION;
        let head = self.log.read(commit_log_offset, position + 8)?;
        let Ok(header) = wire::message::peek(&head) else {
            return Ok(None);
        };
        let claimed = head
            .get(position..position + 8)
            .and_then(|bytes| bytes.try_into().ok())
            .map(i64::from_be_bytes);
        if !matches!(header.kind, wire::message::RecordKind::Message(_))
            || claimed != Some(commit_log_offset as i64)
        {
            return Ok(None);
        }
        let record = self.log.read(commit_log_offset, header.size())?;
        let valid = RecordView::decode(&record, false).is_ok();
        Ok(valid.then_some(record))
    }

    /// Messages of `topic` carrying `key` (a KEYS entry or the UNIQ_KEY) stored within
    /// `[begin, end]` ms, newest first, at most `max`, as raw records; with the index's
    /// progress. Index hits whose record does not carry the key (hash collisions, entries
    /// left by a cut log) are dropped here.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> Result<(Vec<Vec<u8>>, IndexProgress), StoreError> {
        let Some(index) = self.index() else {
            return Ok((Vec::new(), IndexProgress::default()));
        };
        let mut records = Vec::new();
        for offset in index.query(topic, key, max, begin, end) {
            let Some(record) = self.record_at(offset)? else {
                continue;
            };
            let Ok((view, _)) = RecordView::decode(&record, false) else {
                continue;
            };
            let has_key = view.unique_key() == Some(key)
                || view
                    .keys()
                    .is_some_and(|keys| keys.split(KEY_SEPARATOR).any(|k| k == key));
            if view.topic == topic && has_key {
                records.push(record);
            }
        }
        Ok((records, index.progress()))
    }
}
