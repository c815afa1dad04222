//! Consumer progress (upstream `ConsumerOffsetManager`): for each `topic@group`, the next queue
//! offset to consume per queue id, as committed by UPDATE_CONSUMER_OFFSET and by pulls.
//!
//! Thread: owned by the event-loop thread, no locks. Commits only mark the table dirty; every
//! few seconds (upstream `flushConsumerOffsetInterval`, 5 s) the loop takes a
//! [`ConsumerOffsetManager::take_snapshot`] for a persister thread, so an unchanged table is
//! never rewritten.
//!
//! Consumer commits are not admin changes: they stay periodic as upstream's, while the admin
//! changes of this table (INVOKE_BROKER_TO_RESET_OFFSET, DELETE_TOPIC_IN_BROKER,
//! DELETE_SUBSCRIPTIONGROUP with removeOffset) are written before their answer goes out
//! (`crate::state_commit`).
//!
//! Invariants: keys are `topic@group` (topic and group names cannot contain `@`); a commit
//! overwrites, even with a smaller offset (upstream: a consumer reset is legitimate), and sets
//! `dirty` only when a value actually changes.
//!
//! Rules for offsets past the end of the log (a committed offset is the next queue offset the
//! group consumes, so one past the queue's max offset would skip the messages stored there
//! later):
//! 1. A commit (UPDATE_CONSUMER_OFFSET, the commit piggy-backed on a pull, an offset reset)
//!    past its queue's current max offset is stored as that max offset
//!    ([`ConsumerOffsetManager::commit_clamped`]); a queue the store does not have ends at 0.
//!    The max offset counts what has been dispatched, which is all a consumer could have seen.
//! 2. At start, once the store has recovered (torn tail cut, consume queues rebuilt to the
//!    recovered end), every committed offset past its queue's max offset is set to it
//!    ([`ConsumerOffsetManager::clamp_to_queue_ends`]), logged once per group with the count
//!    of queues clamped, and the file is rewritten before the broker serves. Under ASYNC_FLUSH
//!    a machine crash loses the unflushed tail while offsets committed for it survive; the
//!    next messages stored at those queue offsets would otherwise never reach the group.
//! 3. Offsets at or below the end are never changed, nor are negative ones (upstream's "no
//!    offset" marker). Clamping can make a group consume a message twice, never skip one.
//!
//! File `<storePathRootDir>/config/consumerOffset.json` in fastjson's form, integer keys
//! unquoted (read tolerantly, quoted or not; the previous content kept in `.bak`):
//!
//! ```text
//! {"offsetTable":{"TopicA@groupX":{0:250,1:248},"%RETRY%groupX@groupX":{0:0}}}
//!                  └ topic@group ┘ └ queue id: next offset ┘
//! ```

use crate::persister::StateTable;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use client::durable::{self, Source};
use wire::body::ConsumerOffsetWrapper;

pub const TOPIC_GROUP_SEPARATOR: char = '@';

fn key(topic: &str, group: &str) -> String {
    format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}")
}

/// `(topic, group)` of a key; `None` for a malformed one (kept, but matched by nothing).
fn split_key(key: &str) -> Option<(&str, &str)> {
    key.split_once(TOPIC_GROUP_SEPARATOR)
}

#[derive(Debug)]
pub struct ConsumerOffsetManager {
    path: PathBuf,
    table: BTreeMap<String, BTreeMap<i32, i64>>,
    dirty: bool,
}

impl ConsumerOffsetManager {
    /// `<root>/config/consumerOffset.json`.
    pub fn file_path(store_path_root_dir: &Path) -> PathBuf {
        store_path_root_dir
            .join("config")
            .join("consumerOffset.json")
    }

    /// An empty table persisted under `store_path_root_dir`; nothing is read.
    pub fn new(store_path_root_dir: &Path) -> Self {
        ConsumerOffsetManager {
            path: Self::file_path(store_path_root_dir),
            table: BTreeMap::new(),
            dirty: false,
        }
    }

    /// Reads the file, or its backup when the file is missing, empty or undecodable. Missing
    /// both is a first start (empty table); an undecodable file without a usable backup is an
    /// error, since starting empty would send every group back to its consume-from point.
    pub fn load(store_path_root_dir: &Path) -> io::Result<Self> {
        let mut manager = Self::new(store_path_root_dir);
        if let Some((wrapper, source)) =
            durable::read_with_backup(&manager.path, ConsumerOffsetWrapper::decode)?
        {
            manager.table = wrapper.offset_table;
            manager.dirty = source == Source::Backup;
        }
        Ok(manager)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores `offset` as the group's next offset in the queue.
    pub fn commit(&mut self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        let queues = self.table.entry(key(topic, group)).or_default();
        let previous = queues.insert(queue_id, offset);
        match previous {
            Some(previous) if previous == offset => return,
            Some(previous) if previous > offset => log::debug!(
                "offset of {group} on {topic}:{queue_id} moves back from {previous} to {offset}"
            ),
            _ => {}
        }
        self.dirty = true;
    }

    /// [`Self::commit`] with rule 1: `offset` is stored as at most `max_offset`, the queue's
    /// current end. Returns what was stored.
    pub fn commit_clamped(
        &mut self,
        group: &str,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_offset: u64,
    ) -> i64 {
        let end = i64::try_from(max_offset).unwrap_or(i64::MAX);
        let stored = offset.min(end);
        if stored != offset {
            log::debug!("commit of {group} on {topic}:{queue_id} at {offset} clamped to {end}");
        }
        self.commit(group, topic, queue_id, stored);
        stored
    }

    /// Rule 2, at start: every offset past its queue's end (`max_offset(topic, queue_id)`) is
    /// set to the end. Returns, per group, how many queues were clamped (none: empty).
    pub fn clamp_to_queue_ends(
        &mut self,
        max_offset: impl Fn(&str, i32) -> u64,
    ) -> BTreeMap<String, usize> {
        let mut clamped: BTreeMap<String, usize> = BTreeMap::new();
        for (key, queues) in self.table.iter_mut() {
            let Some((topic, group)) = split_key(key) else {
                continue;
            };
            for (queue_id, offset) in queues.iter_mut() {
                let end = i64::try_from(max_offset(topic, *queue_id)).unwrap_or(i64::MAX);
                if *offset > end {
                    *offset = end;
                    *clamped.entry(group.to_string()).or_default() += 1;
                }
            }
        }
        self.dirty |= !clamped.is_empty();
        clamped
    }

    /// The committed next offset, `None` if the group never committed one for the queue.
    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.table.get(&key(topic, group))?.get(&queue_id).copied()
    }

    /// Every queue's committed offset of the group on the topic.
    pub fn offsets(&self, group: &str, topic: &str) -> Option<&BTreeMap<i32, i64>> {
        self.table.get(&key(topic, group))
    }

    /// Forgets every offset of the group (DELETE_SUBSCRIPTIONGROUP with removeOffset).
    pub fn remove_group(&mut self, group: &str) -> bool {
        self.remove_where(|_, key_group| key_group == group)
    }

    /// Forgets every group's offsets on the topic (the topic was deleted).
    pub fn remove_topic(&mut self, topic: &str) -> bool {
        self.remove_where(|key_topic, _| key_topic == topic)
    }

    fn remove_where(&mut self, matches: impl Fn(&str, &str) -> bool) -> bool {
        let before = self.table.len();
        self.table
            .retain(|key, _| !split_key(key).is_some_and(|(topic, group)| matches(topic, group)));
        let removed = self.table.len() != before;
        self.dirty |= removed;
        removed
    }

    /// Topics the group has offsets for (GET_CONSUME_STATS without a topic).
    pub fn topics_of_group(&self, group: &str) -> BTreeSet<String> {
        self.table
            .keys()
            .filter_map(|key| split_key(key))
            .filter(|(_, key_group)| *key_group == group)
            .map(|(topic, _)| topic.to_string())
            .collect()
    }

    /// Groups with offsets on the topic (QUERY_TOPIC_CONSUME_BY_WHO).
    pub fn groups_of_topic(&self, topic: &str) -> BTreeSet<String> {
        self.table
            .keys()
            .filter_map(|key| split_key(key))
            .filter(|(key_topic, _)| *key_topic == topic)
            .map(|(_, group)| group.to_string())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// GET_ALL_CONSUMER_OFFSET's body (encode it with `ConsumerOffsetWrapper::encode`).
    pub fn wrapper(&self) -> ConsumerOffsetWrapper {
        ConsumerOffsetWrapper {
            offset_table: self.table.clone(),
        }
    }

    /// Takes the master's table wholesale, as a slave does every 10 s (upstream
    /// `SlaveSynchronize`); dirty only if it differs.
    pub fn replace_all(&mut self, wrapper: ConsumerOffsetWrapper) {
        if wrapper.offset_table != self.table {
            self.table = wrapper.offset_table;
            self.dirty = true;
        }
    }

    /// The file's content: fastjson form, unquoted queue ids.
    pub fn encode(&self) -> Vec<u8> {
        self.wrapper().encode()
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }
}

impl StateTable for ConsumerOffsetManager {
    fn state_path(&self) -> &Path {
        &self.path
    }

    fn state_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    fn dirty_flag(&mut self) -> &mut bool {
        &mut self.dirty
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("broker-offsets-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn commit_query_and_the_dirty_flag() {
        let mut manager = ConsumerOffsetManager::new(Path::new("/nonexistent"));
        assert_eq!(manager.query("g", "T", 0), None);
        assert!(!manager.is_dirty());
        manager.commit("g", "T", 0, 250);
        manager.commit("g", "T", 1, 248);
        assert_eq!(manager.query("g", "T", 0), Some(250));
        assert_eq!(manager.query("g", "T", 2), None);
        assert_eq!(manager.query("h", "T", 0), None);
        assert!(manager.take_snapshot().is_some());
        assert!(manager.take_snapshot().is_none());
        // The same value again changes nothing; a smaller one overwrites.
        manager.commit("g", "T", 0, 250);
        assert!(!manager.is_dirty());
        manager.commit("g", "T", 0, 100);
        assert_eq!(manager.query("g", "T", 0), Some(100));
        assert!(manager.is_dirty());
        let queues: Vec<_> = manager.offsets("g", "T").unwrap().iter().collect();
        assert_eq!(queues, [(&0, &100), (&1, &248)]);
    }

    #[test]
    fn groups_topics_and_removal() {
        let mut manager = ConsumerOffsetManager::new(Path::new("/nonexistent"));
        manager.commit("g1", "A", 0, 1);
        manager.commit("g1", "B", 0, 1);
        manager.commit("g2", "A", 3, 1);
        manager.commit("g1", "%RETRY%g1", 0, 0);
        let topics: Vec<_> = manager.topics_of_group("g1").into_iter().collect();
        assert_eq!(topics, ["%RETRY%g1", "A", "B"]);
        let groups: Vec<_> = manager.groups_of_topic("A").into_iter().collect();
        assert_eq!(groups, ["g1", "g2"]);
        manager.take_snapshot();
        assert!(manager.remove_group("g1"));
        assert!(!manager.remove_group("g1"));
        assert!(manager.take_snapshot().is_some());
        assert_eq!(manager.groups_of_topic("A").len(), 1);
        assert!(manager.remove_topic("A"));
        assert!(manager.is_empty());
    }

    #[test]
    fn reads_the_upstream_file_with_unquoted_keys() {
        let root = temp_root("upstream");
        let path = ConsumerOffsetManager::file_path(&root);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        // 4.9 writes it pretty-printed; 5.x adds a dataVersion.
        let upstream = "{\n\t\"offsetTable\":{\n\t\t\"TopicA@groupX\":{0:250,1:248},\n\t\t\
            \"%RETRY%groupX@groupX\":{0:0}\n\t},\"dataVersion\":{\"counter\":2}\n}";
        fs::write(&path, upstream).unwrap();
        let manager = ConsumerOffsetManager::load(&root).unwrap();
        assert_eq!(manager.query("groupX", "TopicA", 1), Some(248));
        assert_eq!(manager.query("groupX", "%RETRY%groupX", 0), Some(0));
        assert!(!manager.is_dirty());
        assert_eq!(
            manager.encode(),
            br#"{"offsetTable":{"%RETRY%groupX@groupX":{0:0},"TopicA@groupX":{0:250,1:248}}}"#
        );
        // Quoted keys (standard JSON) read the same.
        fs::write(&path, r#"{"offsetTable":{"T@g":{"0":5}}}"#).unwrap();
        let manager = ConsumerOffsetManager::load(&root).unwrap();
        assert_eq!(manager.query("g", "T", 0), Some(5));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn persist_round_trips_and_falls_back_to_the_backup() {
        let root = temp_root("persist");
        let mut manager = ConsumerOffsetManager::load(&root).unwrap();
        assert!(manager.is_empty());
        manager.commit("g", "T", 0, 10);
        manager.persist().unwrap();
        manager.commit("g", "T", 0, 20);
        manager.commit("g", "U", 7, -1);
        manager.persist().unwrap();
        assert!(!manager.is_dirty());
        let reloaded = ConsumerOffsetManager::load(&root).unwrap();
        assert_eq!(reloaded.wrapper(), manager.wrapper());

        fs::write(manager.path(), "{\"offsetTable\":{\"T@g\":{0:").unwrap();
        let from_backup = ConsumerOffsetManager::load(&root).unwrap();
        assert_eq!(from_backup.query("g", "T", 0), Some(10));
        assert!(
            from_backup.is_dirty(),
            "the main file is rewritten at the next persist"
        );

        fs::write(durable::backup_path(manager.path()), "garbage").unwrap();
        let error = ConsumerOffsetManager::load(&root).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_commit_past_the_end_is_stored_as_the_end() {
        let mut manager = ConsumerOffsetManager::new(Path::new("/nonexistent"));
        assert_eq!(manager.commit_clamped("g", "T", 0, 120, 100), 100);
        assert_eq!(manager.query("g", "T", 0), Some(100));
        assert_eq!(
            manager.commit_clamped("g", "T", 0, 40, 100),
            40,
            "moving back is kept"
        );
        assert_eq!(
            manager.commit_clamped("g", "T", 1, 5, 0),
            0,
            "a queue the store lacks"
        );
        assert_eq!(
            manager.commit_clamped("g", "T", 2, -1, 0),
            -1,
            "no offset stays so"
        );
        assert_eq!(manager.query("g", "T", 0), Some(40));
    }

    #[test]
    fn offsets_past_the_recovered_end_are_clamped_per_group() {
        let mut manager = ConsumerOffsetManager::new(Path::new("/nonexistent"));
        manager.commit("g1", "T", 0, 500);
        manager.commit("g1", "T", 1, 90);
        manager.commit("g1", "U", 0, 7);
        manager.commit("g2", "T", 0, 100);
        manager.commit("g2", "T", 3, -1);
        manager.take_snapshot();
        let ends = |topic: &str, queue_id: i32| match (topic, queue_id) {
            ("T", 0) => 100,
            ("T", 1) => 100,
            _ => 0,
        };
        let clamped = manager.clamp_to_queue_ends(ends);
        assert_eq!(
            clamped.into_iter().collect::<Vec<_>>(),
            [("g1".to_string(), 2)]
        );
        assert_eq!(manager.query("g1", "T", 0), Some(100));
        assert_eq!(manager.query("g1", "T", 1), Some(90));
        assert_eq!(manager.query("g1", "U", 0), Some(0));
        assert_eq!(manager.query("g2", "T", 0), Some(100), "at the end: kept");
        assert_eq!(manager.query("g2", "T", 3), Some(-1));
        assert!(
            manager.take_snapshot().is_some(),
            "the clamp is to be written"
        );
        assert!(manager.clamp_to_queue_ends(ends).is_empty());
        assert!(!manager.is_dirty());
    }

    #[test]
    fn a_slave_takes_the_master_table() {
        let mut manager = ConsumerOffsetManager::new(Path::new("/nonexistent"));
        manager.commit("g", "T", 0, 1);
        manager.take_snapshot();
        let master = ConsumerOffsetWrapper::decode(br#"{"offsetTable":{"T@g":{0:9}}}"#).unwrap();
        manager.replace_all(master.clone());
        assert_eq!(manager.query("g", "T", 0), Some(9));
        assert!(manager.take_snapshot().is_some());
        manager.replace_all(master);
        assert!(!manager.is_dirty());
    }
}
