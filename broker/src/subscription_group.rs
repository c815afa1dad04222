//! Consumer-group settings (upstream `SubscriptionGroupManager`): one
//! [`SubscriptionGroupConfig`] per group (may it consume, retry queues, retry count, which
//! broker to read from when slow, ...), created on first sight when
//! `autoCreateSubscriptionGroup`, with a DataVersion bumped on every change.
//!
//! Thread: owned by the event-loop thread, no locks; persisted like the topic table (snapshot
//! to a persister thread, or [`SubscriptionGroupManager::persist`] where blocking is fine).
//! The loop notices every change by its DataVersion and writes the file at once; an admin
//! change's answer waits for it (`crate::durable_state`).
//!
//! Invariants: every entry's key equals its `group_name`; the DataVersion counter grows by one
//! with every change and never otherwise; `dirty` is set by every change.
//!
//! File `<storePathRootDir>/config/subscriptionGroup.json`, also the body of
//! GET_ALL_SUBSCRIPTIONGROUP_CONFIG (5.x's extra `forbiddenTable` is ignored on reading):
//!
//! ```text
//! {"dataVersion":{"counter":1,"timestamp":1700000000000},
//!  "subscriptionGroupTable":{"g":{"brokerId":0,"consumeBroadcastEnable":true,
//!      "consumeEnable":true,"consumeFromMinEnable":true,"groupName":"g",
//!      "notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,
//!      "whichBrokerWhenConsumeSlowly":1}}}
//! ```

use crate::persister::StateTable;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use client::durable::{self, Source};
use serde::{Deserialize, Serialize};
use wire::body::{DataVersion, SubscriptionGroupConfig};
use wire::{fastjson, DecodeError};

use crate::config::BrokerConfig;
use crate::topic_config::{next_data_version, now_ms};

/// Groups the broker knows from the start, as upstream's constructor makes them.
pub const SYSTEM_GROUPS: [&str; 8] = [
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_RMQ_SYS_TRANS",
];
/// Groups with this prefix are created on first sight even without autoCreateSubscriptionGroup.
pub const SYSTEM_GROUP_PREFIX: &str = "CID_RMQ_SYS_";
/// Upstream's `Validators.CHARACTER_MAX_LENGTH`.
pub const GROUP_NAME_LENGTH_MAX: usize = 255;

/// Whether a peer-supplied name may become a group: `^[%|a-zA-Z0-9_-]+$`, at most 255 bytes.
pub fn is_valid_group_name(group: &str) -> bool {
    !group.is_empty()
        && group.len() <= GROUP_NAME_LENGTH_MAX
        && group
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
}

/// The file and the GET_ALL_SUBSCRIPTIONGROUP_CONFIG body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionGroupWrapper {
    pub data_version: DataVersion,
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
}

impl SubscriptionGroupWrapper {
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        fastjson::from_fastjson(bytes, "SubscriptionGroupWrapper")
    }

    pub fn encode(&self) -> Vec<u8> {
        // Strings, integers, booleans and string-keyed maps always serialise.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[derive(Debug)]
pub struct SubscriptionGroupManager {
    path: PathBuf,
    table: BTreeMap<String, SubscriptionGroupConfig>,
    data_version: DataVersion,
    auto_create_subscription_group: bool,
    dirty: bool,
}

impl SubscriptionGroupManager {
    /// `<root>/config/subscriptionGroup.json`.
    pub fn file_path(store_path_root_dir: &Path) -> PathBuf {
        store_path_root_dir
            .join("config")
            .join("subscriptionGroup.json")
    }

    /// The system groups, without reading any file.
    pub fn with_system_groups(config: &BrokerConfig) -> Self {
        let table = SYSTEM_GROUPS
            .iter()
            .map(|group| (group.to_string(), default_config(group)))
            .collect();
        SubscriptionGroupManager {
            path: Self::file_path(&config.store_path_root_dir),
            table,
            data_version: DataVersion {
                counter: 0,
                timestamp: now_ms(),
            },
            auto_create_subscription_group: config.auto_create_subscription_group,
            dirty: false,
        }
    }

    /// The system groups, then the file over them, or its backup when the file is unreadable;
    /// an undecodable file without a usable backup is an error.
    pub fn load(config: &BrokerConfig) -> io::Result<Self> {
        let mut manager = Self::with_system_groups(config);
        let loaded = durable::read_with_backup(&manager.path, SubscriptionGroupWrapper::decode)?;
        if let Some((wrapper, source)) = loaded {
            for (name, mut group) in wrapper.subscription_group_table {
                if group.group_name != name {
                    log::warn!(
                        "subscriptionGroup.json: entry {name} names {}",
                        group.group_name
                    );
                    group.group_name = name.clone();
                }
                manager.table.insert(name, group);
            }
            manager.data_version = wrapper.data_version;
            manager.dirty = source == Source::Backup;
        }
        Ok(manager)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, group: &str) -> Option<&SubscriptionGroupConfig> {
        self.table.get(group)
    }

    pub fn contains(&self, group: &str) -> bool {
        self.table.contains_key(group)
    }

    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.table.keys().map(String::as_str)
    }

    pub fn data_version(&self) -> DataVersion {
        self.data_version
    }

    /// The group's settings, created with upstream's defaults if it is unknown and
    /// autoCreateSubscriptionGroup is on (or it is a `CID_RMQ_SYS_` group) and its name is
    /// valid. `None`: the group does not exist (SUBSCRIPTION_GROUP_NOT_EXIST).
    pub fn find_or_create(&mut self, group: &str) -> Option<&SubscriptionGroupConfig> {
        if !self.table.contains_key(group) {
            let may_create =
                self.auto_create_subscription_group || group.starts_with(SYSTEM_GROUP_PREFIX);
            if !may_create || !is_valid_group_name(group) {
                return None;
            }
            log::info!("auto-create subscription group {group}");
            self.table.insert(group.to_string(), default_config(group));
            self.changed();
        }
        self.table.get(group)
    }

    /// Inserts or replaces (UPDATE_AND_CREATE_SUBSCRIPTIONGROUP); false if nothing changed.
    /// Callers validate the name.
    pub fn update(&mut self, config: SubscriptionGroupConfig) -> bool {
        match self.table.get(&config.group_name) {
            Some(existing) if *existing == config => return false,
            Some(existing) => log::info!("update subscription group {existing:?} to {config:?}"),
            None => log::info!("create subscription group {config:?}"),
        }
        self.table.insert(config.group_name.clone(), config);
        self.changed();
        true
    }

    /// False if the group did not exist.
    pub fn delete(&mut self, group: &str) -> bool {
        let removed = self.table.remove(group).is_some();
        if removed {
            log::info!("delete subscription group {group}");
            self.changed();
        }
        removed
    }

    fn changed(&mut self) {
        self.data_version = next_data_version(self.data_version, now_ms());
        self.dirty = true;
    }

    pub fn wrapper(&self) -> SubscriptionGroupWrapper {
        SubscriptionGroupWrapper {
            data_version: self.data_version,
            subscription_group_table: self.table.clone(),
        }
    }

    /// The file's content and the GET_ALL_SUBSCRIPTIONGROUP_CONFIG body.
    pub fn encode(&self) -> Vec<u8> {
        self.wrapper().encode()
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// A slave takes its master's groups whole (SlaveSynchronize), when the version moved.
    pub fn replace_all(&mut self, wrapper: SubscriptionGroupWrapper) {
        if wrapper.data_version == self.data_version {
            return;
        }
        self.table = wrapper.subscription_group_table;
        self.data_version = wrapper.data_version;
        self.dirty = true;
    }
}

impl StateTable for SubscriptionGroupManager {
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

fn default_config(group: &str) -> SubscriptionGroupConfig {
    SubscriptionGroupConfig {
        group_name: group.to_string(),
        ..SubscriptionGroupConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("broker-groups-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn config(root: &Path, auto_create: bool) -> BrokerConfig {
        BrokerConfig {
            store_path_root_dir: root.to_path_buf(),
            auto_create_subscription_group: auto_create,
            ..BrokerConfig::default()
        }
    }

    #[test]
    fn auto_created_groups_take_upstream_defaults() {
        let mut manager =
            SubscriptionGroupManager::with_system_groups(&config(Path::new("/x"), true));
        assert!(manager.contains("TOOLS_CONSUMER") && manager.contains("CID_RMQ_SYS_TRANS"));
        assert!(!manager.is_dirty());
        let version = manager.data_version();
        let created = manager.find_or_create("cg").unwrap().clone();
        let expected = br#"{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"groupName":"cg","notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}"#;
        assert_eq!(created.encode(), expected);
        assert_eq!(manager.data_version().counter, version.counter + 1);
        assert!(manager.is_dirty());
        manager.find_or_create("cg").unwrap();
        assert_eq!(manager.data_version().counter, version.counter + 1);
        assert!(manager.find_or_create("bad name").is_none());
        assert!(manager.find_or_create("").is_none());
        assert!(manager.find_or_create(&"g".repeat(256)).is_none());
        assert!(manager.find_or_create(&"g".repeat(255)).is_some());
    }

    #[test]
    fn without_auto_create_only_system_groups_appear() {
        let mut manager =
            SubscriptionGroupManager::with_system_groups(&config(Path::new("/x"), false));
        assert!(manager.find_or_create("cg").is_none());
        assert!(!manager.contains("cg"));
        assert!(manager.find_or_create("TOOLS_CONSUMER").is_some());
        assert!(manager.find_or_create("CID_RMQ_SYS_NEW").is_some());
        assert!(manager.contains("CID_RMQ_SYS_NEW"));
    }

    #[test]
    fn update_and_delete_bump_the_version_on_change_only() {
        let mut manager =
            SubscriptionGroupManager::with_system_groups(&config(Path::new("/x"), true));
        let start = manager.data_version().counter;
        let mut group = default_config("g");
        assert!(manager.update(group.clone()));
        assert!(!manager.update(group.clone()));
        group.consume_enable = false;
        group.retry_queue_nums = 3;
        assert!(manager.update(group.clone()));
        assert_eq!(manager.get("g"), Some(&group));
        assert_eq!(manager.data_version().counter, start + 2);
        assert!(manager.delete("g"));
        assert!(!manager.delete("g"));
        assert_eq!(manager.data_version().counter, start + 3);
    }

    #[test]
    fn reads_the_upstream_file_and_round_trips() {
        let root = temp_root("upstream");
        let path = SubscriptionGroupManager::file_path(&root);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let upstream = "{\n\t\"dataVersion\":{\"counter\":4,\"timestamp\":1700000000000},\n\t\
            \"forbiddenTable\":{},\n\t\"subscriptionGroupTable\":{\n\t\t\"cg\":{\"brokerId\":1,\
            \"consumeEnable\":false,\"groupName\":\"cg\",\"retryQueueNums\":2,\
            \"attributes\":{}}\n\t}\n}";
        fs::write(&path, upstream).unwrap();
        let mut manager = SubscriptionGroupManager::load(&config(&root, true)).unwrap();
        let group = manager.get("cg").unwrap();
        assert_eq!(
            (
                group.broker_id,
                group.consume_enable,
                group.retry_queue_nums
            ),
            (1, false, 2)
        );
        assert_eq!(
            group.retry_max_times, 16,
            "missing fields take upstream defaults"
        );
        assert!(manager.contains("TOOLS_CONSUMER"));
        assert_eq!(manager.data_version().counter, 4);

        manager.find_or_create("new");
        manager.persist().unwrap();
        let reloaded = SubscriptionGroupManager::load(&config(&root, true)).unwrap();
        assert_eq!(reloaded.wrapper(), manager.wrapper());
        let body = SubscriptionGroupWrapper::decode(&manager.encode()).unwrap();
        assert_eq!(body, manager.wrapper());

        fs::write(&path, "{").unwrap();
        let from_backup = SubscriptionGroupManager::load(&config(&root, true)).unwrap();
        assert!(from_backup.contains("cg") && !from_backup.contains("new"));
        fs::remove_dir_all(&root).unwrap();
    }
}
