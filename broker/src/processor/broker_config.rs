//! GET_BROKER_CONFIG (26) and UPDATE_BROKER_CONFIG (25): the broker's settings as properties
//! text, and changes to them at runtime (`mqadmin getBrokerConfig` / `updateBrokerConfig`).
//!
//! Keys fall in three kinds. Identity, addresses and store layout are refused
//! (NO_PERMISSION): changing them under a running store would corrupt it or lie to the
//! namesrvs. The keys the broker reads per request take effect at once. The rest are
//! accepted and apply from the next start. Every accepted change is kept in
//! [`BrokerConfig::updates_path`], which the broker reads after `broker.conf` at start; the
//! answer goes out once that file is on disk.
//!
//! Runs on the event-loop thread.

use std::collections::BTreeMap;

use wire::body::properties_text;
use wire::headers::admin::GetBrokerConfigResponseHeader;
use wire::headers::CommandHeader;
use wire::{RemotingCommand, ResponseCode};

use crate::config::ConfigError;
use crate::server::Broker;

type Answer = Result<RemotingCommand, (ResponseCode, String)>;

/// Never changed at runtime.
const FIXED_KEYS: &[&str] = &[
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "brokerRole",
    "namesrvAddr",
    "listenPort",
    "brokerIP1",
    "brokerIP2",
    "haListenPort",
    "storePathRootDir",
    "mappedFileSizeCommitLog",
    "mappedFileSizeConsumeQueue",
    "flushDiskType",
    "useDirectIo",
    "messageIndexEnable",
    "maxHashSlotNum",
    "maxIndexNum",
];

/// Read per request: a change applies to the next one.
const LIVE_KEYS: &[&str] = &[
    "brokerPermission",
    "longPollingEnable",
    "shortPollingTimeMills",
    "notifyConsumerIdsChangedEnable",
    "slaveReadEnable",
    "syncFlushTimeout",
    "slaveTimeout",
    "maxMessageSize",
];

impl Broker {
    pub(crate) fn on_get_broker_config(&self, request: &RemotingCommand) -> Answer {
        let mut response = RemotingCommand::response_to(request, ResponseCode::SUCCESS);
        let version = String::from_utf8_lossy(&self.config_version.encode()).into_owned();
        GetBrokerConfigResponseHeader { version }.write_to(&mut response.ext_fields);
        response.body = properties_text::encode(&self.config.to_properties()).into_bytes();
        Ok(response)
    }

    pub(crate) fn on_update_broker_config(&mut self, request: &RemotingCommand) -> Answer {
        let text = std::str::from_utf8(&request.body).map_err(|_| {
            (
                ResponseCode::SYSTEM_ERROR,
                "config body is not UTF-8".to_string(),
            )
        })?;
        let pairs = properties_text::parse(text);
        if pairs.is_empty() {
            return Err((
                ResponseCode::SYSTEM_ERROR,
                "no key=value in the body".into(),
            ));
        }
        if let Some((key, _)) = pairs.iter().find(|(k, _)| FIXED_KEYS.contains(&k.as_str())) {
            return Err((
                ResponseCode::NO_PERMISSION,
                format!("{key} cannot be changed on a running broker"),
            ));
        }
        // Checked whole first: one bad value refuses the request and changes nothing.
        let mut candidate = self.config.clone();
        for (key, value) in &pairs {
            candidate.apply(key, value).map_err(config_error)?;
        }
        candidate.validate().map_err(config_error)?;
        self.persist_config_updates(&pairs);
        let (mut live, mut later) = (Vec::new(), Vec::new());
        for (key, value) in &pairs {
            if LIVE_KEYS.contains(&key.as_str()) {
                self.config.apply(key, value).map_err(config_error)?;
                live.push(key.as_str());
            } else {
                later.push(key.as_str());
            }
        }
        if live.contains(&"brokerPermission") {
            // The namesrvs take a registration only with a new data version.
            self.topics.bump_version();
            self.topics_changed = true;
        }
        self.config_version = crate::topic_config::next_data_version(
            self.config_version,
            crate::topic_config::now_ms(),
        );
        log::info!("broker config updated: now {live:?}, at restart {later:?}");
        let mut response = RemotingCommand::response_to(request, ResponseCode::SUCCESS);
        if !later.is_empty() {
            response.remark = Some(format!("applies at restart: {}", later.join(", ")));
        }
        Ok(response)
    }

    /// Merges `pairs` into the updates kept so far; the answer waits for the file.
    fn persist_config_updates(&mut self, pairs: &[(String, String)]) {
        self.config_updates.extend(pairs.iter().cloned());
        self.state_changed(crate::state_commit::StateFile::BrokerConfig);
    }
}

/// The content of [`crate::config::BrokerConfig::updates_path`]: every update kept, as
/// properties text.
pub fn encode_updates(updates: &BTreeMap<String, String>) -> Vec<u8> {
    let all: Vec<(String, String)> = updates
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    properties_text::encode(&all).into_bytes()
}

/// The updates a previous run kept (empty when there is no file or it cannot be read: the
/// broker started with them already applied by `main`, which refuses an unreadable file).
pub fn load_updates(path: &std::path::Path) -> BTreeMap<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => properties_text::parse(&text).into_iter().collect(),
        Err(_) => BTreeMap::new(),
    }
}

fn config_error(error: ConfigError) -> (ResponseCode, String) {
    (ResponseCode::SYSTEM_ERROR, error.to_string())
}
