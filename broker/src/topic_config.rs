//! The broker's topic table (upstream `TopicConfigManager`): every topic this broker serves,
//! with its queue counts, permission and flags, and the DataVersion the namesrv compares to
//! decide whether a registration carries news.
//!
//! Thread: owned by the event-loop thread, no locks. Persisting blocks on fsync, so the loop
//! hands a snapshot to a persister thread (or calls [`TopicConfigManager::persist`] where
//! blocking is fine: start-up, tests). Every change names its topic
//! ([`TopicConfigManager::take_changed_topics`]): the loop writes the file at once and holds
//! the answers that depend on the change until it is on disk (`crate::durable_state`).
//!
//! Invariants:
//! - every entry's key equals its `topic_name`;
//! - the DataVersion counter grows by one with every change of the table and never otherwise
//!   (an update to identical values is not a change);
//! - `dirty` is set by every change and cleared only by a snapshot or a successful persist.
//!
//! File `<storePathRootDir>/config/topics.json`, upstream's `TopicConfigSerializeWrapper`,
//! read tolerantly (fastjson quirks, unknown fields such as 5.x `attributes`), the previous
//! content kept in `topics.json.bak`:
//!
//! ```text
//! {"dataVersion":{"counter":3,"timestamp":1700000000000},
//!  "topicConfigTable":{"T":{"order":false,"perm":6,"readQueueNums":4,
//!      "topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}}}
//! ```

use crate::persister::StateTable;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use client::durable::{self, Source};
use serde::Serialize;
use wire::body::{DataVersion, TopicConfig, TopicConfigSerializeWrapper};
use wire::fastjson;

use crate::config::BrokerConfig;

pub const PERM_READ: i32 = 4;
pub const PERM_WRITE: i32 = 2;
/// The topic may serve as a template for auto-creation (TBW102).
pub const PERM_INHERIT: i32 = 1;

/// The auto-create template producers name in `defaultTopic`.
pub const AUTO_CREATE_TOPIC: &str = "TBW102";
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
/// Delayed messages wait here, queue `level - 1`.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
pub const SCHEDULE_TOPIC_QUEUE_COUNT: i32 = 18;
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
pub const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
pub const TRACE_TOPIC: &str = "RMQ_SYS_TRACE_TOPIC";
pub const RETRY_TOPIC_PREFIX: &str = "%RETRY%";
pub const DLQ_TOPIC_PREFIX: &str = "%DLQ%";
/// `<cluster>_REPLY_TOPIC` carries request-reply answers.
pub const REPLY_TOPIC_SUFFIX: &str = "_REPLY_TOPIC";
const SYSTEM_TOPIC_PREFIX: &str = "rmq_sys_";
/// The cluster-name and broker-name topics: upstream gives them PERM_INHERIT plus read and
/// write when `clusterTopicEnable` / `brokerTopicEnable`, both true by default and not
/// configurable here.
const CLUSTER_AND_BROKER_TOPIC_PERM: i32 = PERM_INHERIT | PERM_READ | PERM_WRITE;

pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_TOPIC_PREFIX}{group}")
}

pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_TOPIC_PREFIX}{group}")
}

/// Topics no producer may send to (upstream `TopicValidator.isNotAllowedSendTopic`).
pub fn is_send_forbidden(topic: &str) -> bool {
    [
        SCHEDULE_TOPIC,
        TRANS_HALF_TOPIC,
        TRANS_OP_HALF_TOPIC,
        TRANS_CHECK_MAX_TIME_TOPIC,
        SELF_TEST_TOPIC,
        OFFSET_MOVED_EVENT,
    ]
    .contains(&topic)
}

pub fn is_readable(perm: i32) -> bool {
    perm & PERM_READ != 0
}

pub fn is_writable(perm: i32) -> bool {
    perm & PERM_WRITE != 0
}

pub fn is_inheritable(perm: i32) -> bool {
    perm & PERM_INHERIT != 0
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// Upstream's `DataVersion.nextVersion`: counter + 1, timestamp = now.
pub fn next_data_version(version: DataVersion, now_ms: i64) -> DataVersion {
    DataVersion {
        counter: version.counter + 1,
        timestamp: now_ms,
    }
}

/// What a call did to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicChange {
    Unchanged,
    Created,
    Updated,
    Deleted,
}

impl TopicChange {
    /// Whether the namesrvs must hear of it now rather than at the next periodic registration:
    /// upstream registers after every creation and update, but never after a deletion (the
    /// admin tool deletes the route from each namesrv itself).
    pub fn needs_registration(self) -> bool {
        matches!(self, TopicChange::Created | TopicChange::Updated)
    }
}

/// Why a send to an unknown topic could not create it (the processor answers TOPIC_NOT_EXIST).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoCreateRefused {
    TemplateMissing {
        default_topic: String,
    },
    TemplateNotInheritable {
        default_topic: String,
        perm: i32,
    },
    /// The template is TBW102 and `autoCreateTopicEnable` is false.
    AutoCreateDisabled,
}

impl fmt::Display for AutoCreateRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AutoCreateRefused::TemplateMissing { default_topic } => {
                write!(f, "default topic {default_topic} does not exist")
            }
            AutoCreateRefused::TemplateNotInheritable {
                default_topic,
                perm,
            } => write!(
                f,
                "default topic {default_topic} has no inherit permission ({perm})"
            ),
            AutoCreateRefused::AutoCreateDisabled => write!(f, "autoCreateTopicEnable is false"),
        }
    }
}

impl std::error::Error for AutoCreateRefused {}

/// `topics.json` as written: borrows the table instead of cloning it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WrapperRef<'a> {
    data_version: &'a DataVersion,
    topic_config_table: &'a BTreeMap<String, TopicConfig>,
}

#[derive(Debug)]
pub struct TopicConfigManager {
    path: PathBuf,
    table: BTreeMap<String, TopicConfig>,
    data_version: DataVersion,
    system_topics: BTreeSet<String>,
    auto_create_topic_enable: bool,
    dirty: bool,
    /// Topics created, updated or deleted since [`Self::take_changed_topics`].
    changed_topics: Vec<String>,
}

impl TopicConfigManager {
    /// `<root>/config/topics.json`.
    pub fn file_path(store_path_root_dir: &Path) -> PathBuf {
        store_path_root_dir.join("config").join("topics.json")
    }

    /// The system topics, then `topics.json` over them (its entries win), or its backup when
    /// the file is unreadable. A file that exists but neither it nor its backup decodes is an
    /// error: starting without the operator's topics would be worse than not starting.
    pub fn load(config: &BrokerConfig) -> io::Result<Self> {
        let mut manager = Self::with_system_topics(config);
        let loaded = durable::read_with_backup(&manager.path, |bytes| {
            fastjson::from_fastjson::<TopicConfigSerializeWrapper>(bytes, "topics.json")
        })?;
        if let Some((wrapper, source)) = loaded {
            for (name, mut topic) in wrapper.topic_config_table {
                if topic.topic_name != name {
                    log::warn!("topics.json: entry {name} names {}", topic.topic_name);
                    topic.topic_name = name.clone();
                }
                manager.table.insert(name, topic);
            }
            manager.data_version = wrapper.data_version;
            // Restore the main file from the backup at the next persist.
            manager.dirty = source == Source::Backup;
        }
        Ok(manager)
    }

    /// The topics upstream's constructor creates, without reading any file.
    pub fn with_system_topics(config: &BrokerConfig) -> Self {
        let mut manager = TopicConfigManager {
            path: Self::file_path(&config.store_path_root_dir),
            table: BTreeMap::new(),
            data_version: DataVersion {
                counter: 0,
                timestamp: now_ms(),
            },
            system_topics: [TRACE_TOPIC, TRANS_CHECK_MAX_TIME_TOPIC]
                .into_iter()
                .map(String::from)
                .collect(),
            auto_create_topic_enable: config.auto_create_topic_enable,
            dirty: false,
            changed_topics: Vec::new(),
        };
        let read_write = PERM_READ | PERM_WRITE;
        let cluster_perm = CLUSTER_AND_BROKER_TOPIC_PERM;
        manager.add_system_topic(SELF_TEST_TOPIC, 1, read_write);
        if config.auto_create_topic_enable {
            let queue_count = config.default_topic_queue_nums;
            manager.add_system_topic(AUTO_CREATE_TOPIC, queue_count, PERM_INHERIT | read_write);
        } else {
            manager.system_topics.insert(AUTO_CREATE_TOPIC.into());
        }
        manager.add_system_topic(BENCHMARK_TOPIC, 1024, read_write);
        manager.add_system_topic(&config.broker_cluster_name, 16, cluster_perm);
        manager.add_system_topic(&config.broker_name, 1, cluster_perm);
        manager.add_system_topic(OFFSET_MOVED_EVENT, 1, read_write);
        manager.add_system_topic(SCHEDULE_TOPIC, SCHEDULE_TOPIC_QUEUE_COUNT, read_write);
        let reply_topic = format!("{}{REPLY_TOPIC_SUFFIX}", config.broker_cluster_name);
        manager.add_system_topic(&reply_topic, 1, read_write);
        manager.add_system_topic(TRANS_HALF_TOPIC, 1, read_write);
        manager.add_system_topic(TRANS_OP_HALF_TOPIC, 1, read_write);
        manager
    }

    fn add_system_topic(&mut self, topic: &str, queue_count: i32, perm: i32) {
        self.system_topics.insert(topic.to_string());
        self.table.insert(
            topic.to_string(),
            TopicConfig {
                topic_name: topic.to_string(),
                read_queue_nums: queue_count,
                write_queue_nums: queue_count,
                perm,
                ..TopicConfig::default()
            },
        );
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, topic: &str) -> Option<&TopicConfig> {
        self.table.get(topic)
    }

    pub fn contains(&self, topic: &str) -> bool {
        self.table.contains_key(topic)
    }

    pub fn topic_names(&self) -> impl Iterator<Item = &str> {
        self.table.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn is_order(&self, topic: &str) -> bool {
        self.table.get(topic).is_some_and(|config| config.order)
    }

    /// A topic the broker made for itself (admins may not create or update it), or one named
    /// with upstream's `rmq_sys_` prefix.
    pub fn is_system_topic(&self, topic: &str) -> bool {
        self.system_topics.contains(topic) || topic.starts_with(SYSTEM_TOPIC_PREFIX)
    }

    pub fn data_version(&self) -> DataVersion {
        self.data_version
    }

    /// Inserts or replaces (UPDATE_AND_CREATE_TOPIC); callers validate the name.
    pub fn create_or_update(&mut self, config: TopicConfig) -> TopicChange {
        let change = match self.table.get(&config.topic_name) {
            Some(existing) if *existing == config => return TopicChange::Unchanged,
            Some(existing) => {
                log::info!("update topic config, old: {existing:?} new: {config:?}");
                TopicChange::Updated
            }
            None => {
                log::info!("create topic {config:?}");
                TopicChange::Created
            }
        };
        self.changed(&config.topic_name);
        self.table.insert(config.topic_name.clone(), config);
        change
    }

    /// A send to `topic`, unknown so far, names `default_topic` as template (upstream's
    /// `createTopicInSendMessageMethod`): the template must exist and carry PERM_INHERIT (TBW102
    /// only while autoCreateTopicEnable); the new topic gets min(requested, template's write
    /// queues) queues, the template's permission without INHERIT and its filter type.
    pub fn create_from_default(
        &mut self,
        topic: &str,
        default_topic: &str,
        queue_count_requested: i32,
        topic_sys_flag: i32,
    ) -> Result<(&TopicConfig, TopicChange), AutoCreateRefused> {
        let mut change = TopicChange::Unchanged;
        if !self.table.contains_key(topic) {
            let template = self.template(default_topic)?;
            let queue_count = queue_count_requested.min(template.write_queue_nums).max(0);
            let created = TopicConfig {
                topic_name: topic.to_string(),
                read_queue_nums: queue_count,
                write_queue_nums: queue_count,
                perm: template.perm & !PERM_INHERIT,
                topic_filter_type: template.topic_filter_type.clone(),
                topic_sys_flag,
                order: false,
            };
            log::info!("create topic {created:?} from default topic {default_topic}");
            self.table.insert(topic.to_string(), created);
            self.changed(topic);
            change = TopicChange::Created;
        }
        match self.table.get(topic) {
            Some(config) => Ok((config, change)),
            None => unreachable!("the topic was present or has just been inserted"),
        }
    }

    fn template(&self, default_topic: &str) -> Result<&TopicConfig, AutoCreateRefused> {
        let template =
            self.table
                .get(default_topic)
                .ok_or_else(|| AutoCreateRefused::TemplateMissing {
                    default_topic: default_topic.to_string(),
                })?;
        if default_topic == AUTO_CREATE_TOPIC && !self.auto_create_topic_enable {
            return Err(AutoCreateRefused::AutoCreateDisabled);
        }
        if !is_inheritable(template.perm) {
            return Err(AutoCreateRefused::TemplateNotInheritable {
                default_topic: default_topic.to_string(),
                perm: template.perm,
            });
        }
        Ok(template)
    }

    /// Creates `topic` with these settings unless it exists (upstream's
    /// `createTopicInSendMessageBackMethod`); an existing topic is returned unchanged.
    pub fn create_if_absent(
        &mut self,
        topic: &str,
        queue_count: i32,
        perm: i32,
        topic_sys_flag: i32,
    ) -> (&TopicConfig, TopicChange) {
        let mut change = TopicChange::Unchanged;
        if !self.table.contains_key(topic) {
            let created = TopicConfig {
                topic_name: topic.to_string(),
                read_queue_nums: queue_count,
                write_queue_nums: queue_count,
                perm,
                topic_sys_flag,
                ..TopicConfig::default()
            };
            log::info!("create topic {created:?}");
            self.table.insert(topic.to_string(), created);
            self.changed(topic);
            change = TopicChange::Created;
        }
        match self.table.get(topic) {
            Some(config) => (config, change),
            None => unreachable!("the topic was present or has just been inserted"),
        }
    }

    /// `%RETRY%<group>`, readable and writable, as a heartbeat or a send-back creates it.
    pub fn create_retry_topic(
        &mut self,
        group: &str,
        retry_queue_count: i32,
        topic_sys_flag: i32,
    ) -> (&TopicConfig, TopicChange) {
        let topic = retry_topic(group);
        self.create_if_absent(
            &topic,
            retry_queue_count,
            PERM_READ | PERM_WRITE,
            topic_sys_flag,
        )
    }

    /// `%DLQ%<group>`: one queue, readable and writable.
    pub fn create_dlq_topic(&mut self, group: &str) -> (&TopicConfig, TopicChange) {
        let topic = dlq_topic(group);
        self.create_if_absent(&topic, 1, PERM_READ | PERM_WRITE, 0)
    }

    pub fn delete(&mut self, topic: &str) -> TopicChange {
        match self.table.remove(topic) {
            Some(old) => {
                log::info!("delete topic config {old:?}");
                self.changed(topic);
                TopicChange::Deleted
            }
            None => TopicChange::Unchanged,
        }
    }

    fn changed(&mut self, topic: &str) {
        self.data_version = next_data_version(self.data_version, now_ms());
        self.dirty = true;
        self.changed_topics.push(topic.to_string());
    }

    /// The topics changed since the last call, so the loop can hold sends into them until
    /// the file that holds their new config is durable.
    pub fn take_changed_topics(&mut self) -> Vec<String> {
        std::mem::take(&mut self.changed_topics)
    }

    /// GET_ALL_TOPIC_CONFIG's body: every topic and the current DataVersion.
    pub fn serialize_wrapper(&self) -> TopicConfigSerializeWrapper {
        TopicConfigSerializeWrapper {
            data_version: self.data_version,
            topic_config_table: self.table.clone(),
        }
    }

    /// What REGISTER_BROKER carries. A broker that is not both readable and writable
    /// (`brokerPermission`) advertises its own permission for every topic, as upstream.
    pub fn registration_wrapper(&self, broker_permission: i32) -> TopicConfigSerializeWrapper {
        let mut wrapper = self.serialize_wrapper();
        if !is_readable(broker_permission) || !is_writable(broker_permission) {
            for config in wrapper.topic_config_table.values_mut() {
                config.perm = broker_permission;
            }
        }
        wrapper
    }

    /// One topic with the current DataVersion: the body of an incremental registration.
    pub fn single_topic_wrapper(&self, topic: &str) -> Option<TopicConfigSerializeWrapper> {
        let config = self.table.get(topic)?;
        Some(TopicConfigSerializeWrapper {
            data_version: self.data_version,
            topic_config_table: BTreeMap::from([(topic.to_string(), config.clone())]),
        })
    }

    /// The compact JSON of [`Self::serialize_wrapper`] (a GET_ALL_TOPIC_CONFIG body).
    pub fn encode(&self) -> Vec<u8> {
        let wrapper = WrapperRef {
            data_version: &self.data_version,
            topic_config_table: &self.table,
        };
        // Strings, integers, booleans and string-keyed maps always serialise.
        serde_json::to_vec(&wrapper).unwrap_or_default()
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// A slave takes its master's table whole (SlaveSynchronize), when the version moved.
    pub fn replace_all(&mut self, wrapper: TopicConfigSerializeWrapper) {
        if wrapper.data_version == self.data_version {
            return;
        }
        self.table = wrapper.topic_config_table;
        self.data_version = wrapper.data_version;
        self.dirty = true;
    }

    /// A new data version, so that the namesrvs take the next registration (the broker's
    /// permission changed).
    pub fn bump_version(&mut self) {
        self.data_version = next_data_version(self.data_version, now_ms());
        self.dirty = true;
    }
}

impl StateTable for TopicConfigManager {
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
mod tests;
