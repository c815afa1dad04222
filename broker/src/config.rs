//! The broker's configuration: Apache RocketMQ's `broker.conf` keys, parsed at the boundary into
//! typed fields. Unknown keys are warned about and ignored; a malformed value of a known key is
//! an error naming the key, so the broker refuses to start rather than run with a setting the
//! operator did not ask for. Keys keep their upstream spelling only here.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::store::{FlushMode, IndexConfig, StoreConfig};

/// What a broker is in its replica set (`brokerRole`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    /// Acks once the slave has the bytes.
    SyncMaster,
    /// Acks at once; the slave catches up.
    AsyncMaster,
    Slave,
}

/// When an append is durable (`flushDiskType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    SyncFlush,
    AsyncFlush,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConfig {
    pub broker_cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    /// `namesrvAddr`, `;`-separated upstream.
    pub namesrv_addrs: Vec<String>,
    pub listen_port: u16,
    /// The address advertised to clients (STOREHOST of every record): must be reachable.
    pub broker_ip1: IpAddr,
    /// The address advertised for HA.
    pub broker_ip2: IpAddr,
    pub ha_listen_port: u16,
    pub ha_master_address: Option<String>,
    pub store_path_root_dir: PathBuf,
    pub broker_role: BrokerRole,
    pub flush_disk_type: FlushDiskType,
    pub auto_create_topic_enable: bool,
    pub auto_create_subscription_group: bool,
    pub default_topic_queue_nums: i32,
    pub broker_permission: i32,
    pub mapped_file_size_commit_log: u64,
    /// Units per consume-queue file (upstream configures bytes: `mappedFileSizeConsumeQueue`).
    pub consume_queue_file_units: u64,
    pub max_message_size: usize,
    pub flush_interval_commit_log: Duration,
    pub sync_flush_timeout: Duration,
    pub slave_timeout: Duration,
    /// Our own: how long a master that may have lost data waits for its slave to give it
    /// back before it accepts sends (`haRecoveryWaitMills`; 0: never waits).
    pub ha_recovery_wait: Duration,
    pub file_reserved_time: Duration,
    /// Hours of the day (0-23) at which expired segments are deleted (`deleteWhen`, `04;16`).
    pub delete_when: Vec<u8>,
    pub disk_max_used_space_ratio: u8,
    /// `cleanFileForciblyEnable`: past the forcible ratio, unexpired segments are removed.
    pub clean_file_forcibly_enable: bool,
    /// `cleanResourceInterval`: how often retention checks the disk.
    pub clean_resource_interval: Duration,
    pub slave_read_enable: bool,
    pub long_polling_enable: bool,
    pub short_polling_time: Duration,
    pub notify_consumer_ids_changed_enable: bool,
    pub register_name_server_period: Duration,
    /// Our own: false forces buffered writes + fdatasync instead of O_DIRECT.
    pub direct_io: bool,
    pub message_index_enable: bool,
    pub max_hash_slot_num: u32,
    pub max_index_num: u32,
    /// Our own: the commit log's crash journal (off only to measure its cost).
    pub journal_enable: bool,
    /// Our own: where the journal lives (default /dev/shm when it is a tmpfs).
    pub journal_dir: Option<PathBuf>,
    /// Our own: appends wait while this many bytes of the commit log are not flushed.
    pub max_unflushed_commit_log_size: u64,
    /// Our own: event-loop threads and store/worker threads.
    pub io_threads: usize,
    pub worker_threads: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| ".".into());
        BrokerConfig {
            broker_cluster_name: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_id: 0,
            namesrv_addrs: Vec::new(),
            listen_port: 10911,
            broker_ip1: IpAddr::from([127, 0, 0, 1]),
            broker_ip2: IpAddr::from([127, 0, 0, 1]),
            ha_listen_port: 10912,
            ha_master_address: None,
            store_path_root_dir: home.join("store"),
            broker_role: BrokerRole::AsyncMaster,
            flush_disk_type: FlushDiskType::AsyncFlush,
            auto_create_topic_enable: true,
            auto_create_subscription_group: true,
            default_topic_queue_nums: 8,
            broker_permission: 6,
            mapped_file_size_commit_log: 1 << 30,
            consume_queue_file_units: 300_000,
            max_message_size: 4 * 1024 * 1024,
            flush_interval_commit_log: Duration::from_millis(500),
            sync_flush_timeout: Duration::from_millis(5000),
            slave_timeout: Duration::from_millis(3000),
            ha_recovery_wait: Duration::from_secs(30),
            file_reserved_time: Duration::from_secs(72 * 3600),
            delete_when: vec![4],
            disk_max_used_space_ratio: 75,
            clean_file_forcibly_enable: true,
            clean_resource_interval: Duration::from_millis(10_000),
            slave_read_enable: false,
            long_polling_enable: true,
            short_polling_time: Duration::from_millis(1000),
            notify_consumer_ids_changed_enable: true,
            register_name_server_period: Duration::from_secs(30),
            direct_io: true,
            message_index_enable: true,
            // Upstream's 5,000,000 keeps all 20 MB of the slot table resident (keys hash
            // to random slots); 500,000 costs 2 MB and chains of about 40 in a full file.
            max_hash_slot_num: 500_000,
            max_index_num: 20_000_000,
            journal_enable: true,
            journal_dir: None,
            // About a twentieth of a second of this machine's disk (dd: 0.8-1.3 GB/s).
            max_unflushed_commit_log_size: 64 << 20,
            io_threads: 1,
            worker_threads: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    ValueInvalid {
        key: String,
        value: String,
        expected: &'static str,
    },
    KeyUnknown {
        key: String,
    },
    Inconsistent {
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ValueInvalid {
                key,
                value,
                expected,
            } => {
                write!(
                    f,
                    "config key {key}: invalid value {value:?} (expected {expected})"
                )
            }
            ConfigError::KeyUnknown { key } => write!(f, "unknown config key {key}"),
            ConfigError::Inconsistent { reason } => write!(f, "inconsistent config: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Upstream keys that mean nothing here (thread pools, Netty, features not offered): accepted
/// silently so that an upstream `broker.conf` works unchanged.
const IGNORED_KEYS: &[&str] = &[
    "rocketmqHome",
    "storePathCommitLog",
    "storePathConsumeQueue",
    "sendMessageThreadPoolNums",
    "pullMessageThreadPoolNums",
    "useReentrantLockWhenPutMessage",
    "transientStorePoolEnable",
    "warmMapedFileEnable",
    "serverWorkerThreads",
    "serverSelectorThreads",
    "clientWorkerThreads",
    "waitTimeMillsInSendQueue",
    "osPageCacheBusyTimeOutMills",
    "traceTopicEnable",
    "aclEnable",
    "enableDLegerCommitLog",
    "brokerFastFailureEnable",
    "messageDelayLevel",
    "flushConsumeQueueLeastPages",
];

fn invalid(key: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::ValueInvalid {
        key: key.into(),
        value: value.into(),
        expected,
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "a number in range"))
}

fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "true or false")),
    }
}

fn millis(key: &str, value: &str) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(number(key, value)?))
}

fn delete_hours(key: &str, value: &str) -> Result<Vec<u8>, ConfigError> {
    let hours: Result<Vec<u8>, _> = value
        .split(';')
        .map(str::trim)
        .filter(|hour| !hour.is_empty())
        .map(|hour| hour.parse::<u8>().ok().filter(|h| *h < 24).ok_or(()))
        .collect();
    match hours {
        Ok(hours) if !hours.is_empty() => Ok(hours),
        _ => Err(invalid(key, value, "hours 0-23 separated by ;")),
    }
}

impl BrokerConfig {
    /// Applies one `key=value`; ignored upstream keys succeed, unknown ones are `KeyUnknown`.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        if self.apply_identity(key, value)? || self.apply_store(key, value)? {
            return Ok(());
        }
        if self.apply_service(key, value)? || IGNORED_KEYS.contains(&key) {
            return Ok(());
        }
        Err(ConfigError::KeyUnknown {
            key: key.to_string(),
        })
    }

    fn apply_identity(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        let trimmed = value.trim();
        match key {
            "brokerClusterName" => self.broker_cluster_name = trimmed.into(),
            "brokerName" => self.broker_name = trimmed.into(),
            "brokerId" => self.broker_id = number(key, value)?,
            "namesrvAddr" => {
                self.namesrv_addrs = trimmed
                    .split(';')
                    .map(str::trim)
                    .filter(|addr| !addr.is_empty())
                    .map(String::from)
                    .collect()
            }
            "listenPort" => self.listen_port = number(key, value)?,
            "brokerIP1" => self.broker_ip1 = number(key, value)?,
            "brokerIP2" => self.broker_ip2 = number(key, value)?,
            "haListenPort" => self.ha_listen_port = number(key, value)?,
            "haMasterAddress" => {
                self.ha_master_address = (!trimmed.is_empty()).then(|| trimmed.to_string())
            }
            "brokerRole" => {
                self.broker_role = match trimmed {
                    "SYNC_MASTER" => BrokerRole::SyncMaster,
                    "ASYNC_MASTER" => BrokerRole::AsyncMaster,
                    "SLAVE" => BrokerRole::Slave,
                    _ => return Err(invalid(key, value, "SYNC_MASTER, ASYNC_MASTER or SLAVE")),
                }
            }
            "brokerPermission" => self.broker_permission = number(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn apply_store(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "storePathRootDir" => self.store_path_root_dir = PathBuf::from(value.trim()),
            "flushDiskType" => {
                self.flush_disk_type = match value.trim() {
                    "SYNC_FLUSH" => FlushDiskType::SyncFlush,
                    "ASYNC_FLUSH" => FlushDiskType::AsyncFlush,
                    _ => return Err(invalid(key, value, "SYNC_FLUSH or ASYNC_FLUSH")),
                }
            }
            "mappedFileSizeCommitLog" => self.mapped_file_size_commit_log = number(key, value)?,
            "mappedFileSizeConsumeQueue" => {
                let bytes: u64 = number(key, value)?;
                self.consume_queue_file_units = (bytes / 20).max(1);
            }
            "maxMessageSize" => self.max_message_size = number(key, value)?,
            "flushIntervalCommitLog" => self.flush_interval_commit_log = millis(key, value)?,
            "syncFlushTimeout" => self.sync_flush_timeout = millis(key, value)?,
            "fileReservedTime" => {
                let hours: u64 = number(key, value)?;
                self.file_reserved_time = Duration::from_secs(hours * 3600);
            }
            "deleteWhen" => self.delete_when = delete_hours(key, value)?,
            "diskMaxUsedSpaceRatio" => {
                let ratio: u8 = number(key, value)?;
                if !(10..=95).contains(&ratio) {
                    return Err(invalid(key, value, "a percentage from 10 to 95"));
                }
                self.disk_max_used_space_ratio = ratio;
            }
            "cleanFileForciblyEnable" => self.clean_file_forcibly_enable = boolean(key, value)?,
            "cleanResourceInterval" => {
                let interval = millis(key, value)?;
                if interval.is_zero() {
                    return Err(invalid(key, value, "a positive number of milliseconds"));
                }
                self.clean_resource_interval = interval;
            }
            "useDirectIo" => self.direct_io = boolean(key, value)?,
            "messageIndexEnable" => self.message_index_enable = boolean(key, value)?,
            "maxHashSlotNum" => self.max_hash_slot_num = number(key, value)?,
            "maxIndexNum" => self.max_index_num = number(key, value)?,
            "journalEnable" => self.journal_enable = boolean(key, value)?,
            "journalDir" => {
                let dir = value.trim();
                self.journal_dir = (!dir.is_empty()).then(|| PathBuf::from(dir));
            }
            "maxUnflushedCommitLogSize" => {
                let size: u64 = number(key, value)?;
                if size < 1 << 20 {
                    return Err(invalid(key, value, "bytes, at least 1048576"));
                }
                self.max_unflushed_commit_log_size = size;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn apply_service(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
        match key {
            "autoCreateTopicEnable" => self.auto_create_topic_enable = boolean(key, value)?,
            "autoCreateSubscriptionGroup" => {
                self.auto_create_subscription_group = boolean(key, value)?
            }
            "defaultTopicQueueNums" => self.default_topic_queue_nums = number(key, value)?,
            "slaveReadEnable" => self.slave_read_enable = boolean(key, value)?,
            "longPollingEnable" => self.long_polling_enable = boolean(key, value)?,
            "shortPollingTimeMills" => self.short_polling_time = millis(key, value)?,
            "notifyConsumerIdsChangedEnable" => {
                self.notify_consumer_ids_changed_enable = boolean(key, value)?
            }
            "registerNameServerPeriod" => {
                // Upstream clamps it to [10 s, 60 s].
                let period = millis(key, value)?;
                self.register_name_server_period =
                    period.clamp(Duration::from_secs(10), Duration::from_secs(60));
            }
            "slaveTimeout" => self.slave_timeout = millis(key, value)?,
            "haRecoveryWaitMills" => self.ha_recovery_wait = millis(key, value)?,
            "ioThreads" => self.io_threads = number(key, value)?,
            "workerThreads" => self.worker_threads = number(key, value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Applies every pair (unknown keys warned about), then checks the whole for consistency.
    pub fn apply_all<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), ConfigError> {
        let mut ha_port_given = false;
        for (key, value) in pairs {
            ha_port_given |= key == "haListenPort";
            match self.apply(key, value) {
                Err(ConfigError::KeyUnknown { key }) => {
                    log::warn!("ignoring unknown config key {key}")
                }
                other => other?,
            }
        }
        if !ha_port_given {
            self.ha_listen_port = self.listen_port.wrapping_add(1);
        }
        self.validate()
    }

    /// Cross-field rules: a slave has a non-zero id and a master id 0, thread counts are
    /// positive, the commit-log segment holds at least one maximal message.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let inconsistent = |reason: String| Err(ConfigError::Inconsistent { reason });
        match (self.broker_role, self.broker_id) {
            (BrokerRole::Slave, 0) => return inconsistent("a SLAVE needs brokerId > 0".into()),
            (BrokerRole::SyncMaster | BrokerRole::AsyncMaster, id) if id != 0 => {
                return inconsistent(format!("a master needs brokerId 0, not {id}"));
            }
            _ => {}
        }
        if self.io_threads == 0 || self.worker_threads == 0 {
            return inconsistent("ioThreads and workerThreads must be at least 1".into());
        }
        if self.max_hash_slot_num == 0 || !(2..=i32::MAX as u32).contains(&self.max_index_num) {
            return inconsistent(
                "maxHashSlotNum must be at least 1, maxIndexNum at least 2".into(),
            );
        }
        if self.io_threads > 1 {
            log::warn!(
                "ioThreads={}: one event loop serves every socket for now; using 1",
                self.io_threads
            );
        }
        let record_size_max = self.max_message_size as u64 + 64 * 1024;
        if self.mapped_file_size_commit_log < record_size_max {
            return inconsistent(format!(
                "mappedFileSizeCommitLog {} cannot hold a message of maxMessageSize {}",
                self.mapped_file_size_commit_log, self.max_message_size
            ));
        }
        if self.listen_port != 0 && self.listen_port < 3 {
            return inconsistent(
                "listenPort must leave room for the VIP port (listenPort - 2)".into(),
            );
        }
        if !self.mapped_file_size_commit_log.is_multiple_of(4096) {
            return inconsistent(format!(
                "mappedFileSizeCommitLog {} is not a multiple of 4096 (O_DIRECT blocks)",
                self.mapped_file_size_commit_log
            ));
        }
        Ok(())
    }

    /// Every key this broker knows with its current value, upstream spelling, sorted: the
    /// body of GET_BROKER_CONFIG.
    pub fn to_properties(&self) -> Vec<(String, String)> {
        let role = match self.broker_role {
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        };
        let flush = match self.flush_disk_type {
            FlushDiskType::SyncFlush => "SYNC_FLUSH",
            FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
        };
        let mut pairs: Vec<(&str, String)> = vec![
            ("brokerClusterName", self.broker_cluster_name.clone()),
            ("brokerName", self.broker_name.clone()),
            ("brokerId", self.broker_id.to_string()),
            ("namesrvAddr", self.namesrv_addrs.join(";")),
            ("listenPort", self.listen_port.to_string()),
            ("brokerIP1", self.broker_ip1.to_string()),
            ("brokerIP2", self.broker_ip2.to_string()),
            ("haListenPort", self.ha_listen_port.to_string()),
            (
                "haMasterAddress",
                self.ha_master_address.clone().unwrap_or_default(),
            ),
            (
                "storePathRootDir",
                self.store_path_root_dir.display().to_string(),
            ),
            ("brokerRole", role.into()),
            ("flushDiskType", flush.into()),
        ];
        pairs.extend(self.service_properties());
        pairs.extend(self.store_properties());
        pairs.sort();
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn service_properties(&self) -> Vec<(&'static str, String)> {
        let ms = |d: Duration| d.as_millis().to_string();
        let hours: Vec<String> = self.delete_when.iter().map(|h| format!("{h:02}")).collect();
        vec![
            (
                "autoCreateTopicEnable",
                self.auto_create_topic_enable.to_string(),
            ),
            (
                "autoCreateSubscriptionGroup",
                self.auto_create_subscription_group.to_string(),
            ),
            (
                "defaultTopicQueueNums",
                self.default_topic_queue_nums.to_string(),
            ),
            ("brokerPermission", self.broker_permission.to_string()),
            (
                "mappedFileSizeCommitLog",
                self.mapped_file_size_commit_log.to_string(),
            ),
            (
                "mappedFileSizeConsumeQueue",
                (self.consume_queue_file_units * 20).to_string(),
            ),
            ("maxMessageSize", self.max_message_size.to_string()),
            ("flushIntervalCommitLog", ms(self.flush_interval_commit_log)),
            ("syncFlushTimeout", ms(self.sync_flush_timeout)),
            ("slaveTimeout", ms(self.slave_timeout)),
            ("haRecoveryWaitMills", ms(self.ha_recovery_wait)),
            (
                "fileReservedTime",
                (self.file_reserved_time.as_secs() / 3600).to_string(),
            ),
            ("deleteWhen", hours.join(";")),
            (
                "diskMaxUsedSpaceRatio",
                self.disk_max_used_space_ratio.to_string(),
            ),
            (
                "cleanFileForciblyEnable",
                self.clean_file_forcibly_enable.to_string(),
            ),
            ("cleanResourceInterval", ms(self.clean_resource_interval)),
            ("slaveReadEnable", self.slave_read_enable.to_string()),
            ("longPollingEnable", self.long_polling_enable.to_string()),
            ("shortPollingTimeMills", ms(self.short_polling_time)),
            (
                "notifyConsumerIdsChangedEnable",
                self.notify_consumer_ids_changed_enable.to_string(),
            ),
            (
                "registerNameServerPeriod",
                ms(self.register_name_server_period),
            ),
            ("ioThreads", self.io_threads.to_string()),
            ("workerThreads", self.worker_threads.to_string()),
        ]
    }

    fn store_properties(&self) -> Vec<(&'static str, String)> {
        vec![
            ("useDirectIo", self.direct_io.to_string()),
            ("messageIndexEnable", self.message_index_enable.to_string()),
            ("maxHashSlotNum", self.max_hash_slot_num.to_string()),
            ("maxIndexNum", self.max_index_num.to_string()),
            ("journalEnable", self.journal_enable.to_string()),
            (
                "journalDir",
                self.journal_dir
                    .as_ref()
                    .map_or(String::new(), |dir| dir.display().to_string()),
            ),
            (
                "maxUnflushedCommitLogSize",
                self.max_unflushed_commit_log_size.to_string(),
            ),
        ]
    }

    /// Where UPDATE_BROKER_CONFIG keeps what it changed; read after `broker.conf` at start.
    pub fn updates_path(&self) -> PathBuf {
        self.store_path_root_dir
            .join("config")
            .join("broker.updated.properties")
    }

    /// The message store's settings under this configuration.
    pub fn store_config(&self) -> StoreConfig {
        let mut config = StoreConfig::new(self.store_path_root_dir.clone());
        config.commit_log.segment_size = self.mapped_file_size_commit_log;
        config.commit_log.chunk_size = (self.mapped_file_size_commit_log as usize).min(4 << 20);
        config.consume_queue_file_units = self.consume_queue_file_units;
        config.flush_mode = match self.flush_disk_type {
            FlushDiskType::SyncFlush => FlushMode::Sync,
            FlushDiskType::AsyncFlush => FlushMode::asynchronous(self.flush_interval_commit_log),
        };
        config.sync_flush_timeout = self.sync_flush_timeout;
        config.direct_io = self.direct_io;
        config.retention.file_reserved_time = self.file_reserved_time;
        config.retention.delete_hours = self.delete_when.clone();
        config.retention.disk_max_used_ratio = f64::from(self.disk_max_used_space_ratio) / 100.0;
        config.retention.clean_forcibly = self.clean_file_forcibly_enable;
        config.retention.interval = self.clean_resource_interval;
        config.index = self.message_index_enable.then_some(IndexConfig {
            hash_slots: self.max_hash_slot_num,
            entries: self.max_index_num,
        });
        config.commit_log.unflushed_size_max = self.max_unflushed_commit_log_size;
        // A batch is at most maxMessageSize of bodies plus each record's header and
        // properties; twice covers it.
        config.commit_log.append_size_max = 2 * self.max_message_size as u64;
        config.journal.enabled = self.journal_enable;
        config.journal.dir = self.journal_dir.clone();
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        let mut config = BrokerConfig::default();
        config.apply_all(pairs.iter().copied())?;
        Ok(config)
    }

    #[test]
    fn upstream_broker_conf_keys() {
        let config = parse(&[
            ("brokerClusterName", "DefaultCluster"),
            ("brokerName", "broker-b"),
            ("brokerId", "1"),
            ("namesrvAddr", "127.0.0.1:9876; 127.0.0.1:9877;"),
            ("listenPort", "20911"),
            ("brokerIP1", "127.0.0.1"),
            ("storePathRootDir", "/tmp/store-b"),
            ("brokerRole", "SLAVE"),
            ("flushDiskType", "SYNC_FLUSH"),
            ("autoCreateTopicEnable", "false"),
            ("defaultTopicQueueNums", "4"),
            ("mappedFileSizeCommitLog", "10485760"),
            ("fileReservedTime", "48"),
            ("deleteWhen", "04;16"),
            ("slaveReadEnable", "true"),
            ("sendMessageThreadPoolNums", "16"),
            ("someFutureKey", "whatever"),
        ])
        .unwrap();
        assert_eq!(
            config.namesrv_addrs,
            vec!["127.0.0.1:9876", "127.0.0.1:9877"]
        );
        assert_eq!(config.broker_role, BrokerRole::Slave);
        assert_eq!(config.flush_disk_type, FlushDiskType::SyncFlush);
        assert_eq!(
            config.ha_listen_port, 20912,
            "haListenPort defaults to listenPort + 1"
        );
        assert_eq!(config.file_reserved_time, Duration::from_secs(48 * 3600));
        assert_eq!(config.delete_when, vec![4, 16]);
        assert!(config.slave_read_enable && !config.auto_create_topic_enable);
        assert_eq!(config.mapped_file_size_commit_log, 10 * 1024 * 1024);
    }

    #[test]
    fn malformed_values_name_the_key() {
        for (key, value) in [
            ("brokerId", "one"),
            ("listenPort", "70000"),
            ("brokerRole", "MASTER"),
            ("flushDiskType", "SOMETIMES"),
            ("autoCreateTopicEnable", "yes"),
            ("deleteWhen", "25"),
            ("diskMaxUsedSpaceRatio", "100"),
            ("cleanResourceInterval", "0"),
            ("brokerIP1", "localhost"),
        ] {
            let error = parse(&[(key, value)]).unwrap_err();
            assert!(error.to_string().contains(key), "{key}={value}: {error}");
        }
    }

    #[test]
    fn store_settings_follow_the_broker_keys() {
        let config = parse(&[
            ("storePathRootDir", "/data/rmq"),
            ("mappedFileSizeCommitLog", "67108864"),
            ("flushDiskType", "SYNC_FLUSH"),
            ("deleteWhen", "04;16"),
            ("diskMaxUsedSpaceRatio", "60"),
            ("cleanFileForciblyEnable", "false"),
            ("cleanResourceInterval", "1500"),
            ("useDirectIo", "false"),
        ])
        .unwrap();
        let store = config.store_config();
        assert_eq!(store.root, PathBuf::from("/data/rmq"));
        assert_eq!(store.commit_log.segment_size, 64 << 20);
        assert_eq!(store.flush_mode, FlushMode::Sync);
        assert_eq!(store.retention.delete_hours, vec![4, 16]);
        assert!((store.retention.disk_max_used_ratio - 0.60).abs() < 1e-9);
        assert!(!store.retention.clean_forcibly);
        assert_eq!(store.retention.interval, Duration::from_millis(1500));
        assert!(!store.direct_io);
        let unaligned = parse(&[("mappedFileSizeCommitLog", "67108865")]);
        assert!(unaligned.is_err());
    }

    #[test]
    fn inconsistent_configs_are_refused() {
        assert!(
            parse(&[("brokerRole", "SLAVE")]).is_err(),
            "slave with id 0"
        );
        assert!(parse(&[("brokerId", "2")]).is_err(), "master with id 2");
        assert!(parse(&[("mappedFileSizeCommitLog", "4096")]).is_err());
        assert!(parse(&[("ioThreads", "0")]).is_err());
        let clamped = parse(&[("registerNameServerPeriod", "1000")]).unwrap();
        assert_eq!(clamped.register_name_server_period, Duration::from_secs(10));
        let explicit_ha = parse(&[("listenPort", "30911"), ("haListenPort", "40000")]).unwrap();
        assert_eq!(explicit_ha.ha_listen_port, 40000);
    }
}
