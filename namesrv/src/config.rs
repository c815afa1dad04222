//! The namesrv's configuration: Apache RocketMQ's `namesrv.properties` keys, parsed at the
//! boundary into typed fields. Unknown keys are warned about and ignored; a malformed value of
//! a known key is an error naming the key, so the process refuses to start rather than run with
//! a setting the operator did not ask for.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Keys Java's namesrv accepts that mean nothing here (threads, Netty buffers, ...): accepted
/// silently so that an upstream config file works unchanged.
const IGNORED_KEYS: &[&str] = &[
    "rocketmqHome",
    "configStorePath",
    "productEnvName",
    "clusterTest",
    "serverWorkerThreads",
    "serverCallbackExecutorThreads",
    "serverSelectorThreads",
    "serverOnewaySemaphoreValue",
    "serverAsyncSemaphoreValue",
    "serverSocketSndBufSize",
    "serverSocketRcvBufSize",
    "serverPooledByteBufAllocatorEnable",
    "useEpollNativeSelector",
    "writeBufferHighWaterMark",
    "writeBufferLowWaterMark",
];

/// Keys that UPDATE_NAMESRV_CONFIG may not change (upstream's `configBlackList`).
pub const UPDATE_BLACKLIST: &[&str] = &[
    "configBlackList",
    "configStorePath",
    "kvConfigPath",
    "rocketmqHome",
    "listenPort",
];

#[derive(Debug, Clone, PartialEq)]
pub struct NamesrvConfig {
    /// `listenPort`
    pub listen_port: u16,
    /// `bindAddress`: the interface to listen on (upstream listens on all of them).
    pub bind_address: IpAddr,
    /// `kvConfigPath`
    pub kv_config_path: PathBuf,
    /// `orderMessageEnable`: answer routes with `orderTopicConf` from the KV config.
    pub order_message_enable: bool,
    /// `brokerChannelExpiredTime` (ms): a broker silent this long is dropped.
    pub broker_expiry: Duration,
    /// `scanNotActiveBrokerInterval` (ms): how often silent brokers are looked for.
    pub scan_interval: Duration,
    /// `serverChannelMaxIdleTimeSeconds`: idle connections are closed after this.
    pub idle_timeout: Duration,
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| ".".into());
        NamesrvConfig {
            listen_port: 9876,
            bind_address: IpAddr::from([0, 0, 0, 0]),
            kv_config_path: home.join("namesrv").join("kvConfig.json"),
            order_message_enable: false,
            broker_expiry: Duration::from_secs(120),
            scan_interval: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
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
        }
    }
}

impl std::error::Error for ConfigError {}

fn parse<T: std::str::FromStr>(
    key: &str,
    value: &str,
    expected: &'static str,
) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::ValueInvalid {
        key: key.to_string(),
        value: value.to_string(),
        expected,
    })
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        v if v.eq_ignore_ascii_case("true") => Ok(true),
        v if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ConfigError::ValueInvalid {
            key: key.to_string(),
            value: value.to_string(),
            expected: "true or false",
        }),
    }
}

impl NamesrvConfig {
    /// Applies one `key=value`. Ignored upstream keys succeed; unknown keys are `KeyUnknown`.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        match key {
            "listenPort" => self.listen_port = parse(key, value, "a port number")?,
            "bindAddress" => self.bind_address = parse(key, value, "an IP address")?,
            "kvConfigPath" => self.kv_config_path = PathBuf::from(value.trim()),
            "orderMessageEnable" => self.order_message_enable = parse_bool(key, value)?,
            "brokerChannelExpiredTime" => {
                self.broker_expiry = Duration::from_millis(parse(key, value, "milliseconds")?)
            }
            "scanNotActiveBrokerInterval" => {
                let ms: u64 = parse(key, value, "milliseconds")?;
                self.scan_interval = Duration::from_millis(ms.max(100));
            }
            "serverChannelMaxIdleTimeSeconds" => {
                self.idle_timeout = Duration::from_secs(parse(key, value, "seconds")?)
            }
            key if IGNORED_KEYS.contains(&key) => {}
            _ => {
                return Err(ConfigError::KeyUnknown {
                    key: key.to_string(),
                })
            }
        }
        Ok(())
    }

    /// Applies every pair; unknown keys are logged as warnings, the first malformed value is
    /// returned as an error.
    pub fn apply_all<'a>(
        &mut self,
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<(), ConfigError> {
        for (key, value) in pairs {
            match self.apply(key, value) {
                Err(ConfigError::KeyUnknown { key }) => {
                    log::warn!("ignoring unknown config key {key}")
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// The settings as `key=value` pairs, for GET_NAMESRV_CONFIG.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        vec![
            ("listenPort".into(), self.listen_port.to_string()),
            ("bindAddress".into(), self.bind_address.to_string()),
            (
                "kvConfigPath".into(),
                self.kv_config_path.display().to_string(),
            ),
            (
                "orderMessageEnable".into(),
                self.order_message_enable.to_string(),
            ),
            (
                "brokerChannelExpiredTime".into(),
                self.broker_expiry.as_millis().to_string(),
            ),
            (
                "scanNotActiveBrokerInterval".into(),
                self.scan_interval.as_millis().to_string(),
            ),
            (
                "serverChannelMaxIdleTimeSeconds".into(),
                self.idle_timeout.as_secs().to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_parse_and_round_trip() {
        let mut config = NamesrvConfig::default();
        config
            .apply_all([
                ("listenPort", "19876"),
                ("orderMessageEnable", "TRUE"),
                ("brokerChannelExpiredTime", "5000"),
                ("kvConfigPath", "/tmp/kv.json"),
                ("bindAddress", "127.0.0.1"),
                ("serverWorkerThreads", "8"),
                ("someFutureKey", "x"),
            ])
            .unwrap();
        assert_eq!(config.listen_port, 19876);
        assert!(config.order_message_enable);
        assert_eq!(config.broker_expiry, Duration::from_secs(5));
        assert_eq!(config.kv_config_path, PathBuf::from("/tmp/kv.json"));
        let mut again = NamesrvConfig::default();
        let pairs = config.to_pairs();
        again
            .apply_all(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn malformed_values_name_the_key() {
        let mut config = NamesrvConfig::default();
        let error = config.apply("listenPort", "70000").unwrap_err();
        assert!(error.to_string().contains("listenPort"), "{error}");
        let error = config.apply("orderMessageEnable", "yes").unwrap_err();
        let named =
            matches!(&error, ConfigError::ValueInvalid { key, .. } if key == "orderMessageEnable");
        assert!(named, "{error}");
        assert_eq!(
            config.apply("nope", "1"),
            Err(ConfigError::KeyUnknown { key: "nope".into() })
        );
    }
}
