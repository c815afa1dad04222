//! The KV config store (`PUT/GET/DELETE_KV_CONFIG`, `GET_KVLIST_BY_NAMESPACE`): namespace ->
//! key -> value, the only namesrv state that survives a restart.
//!
//! The event loop owns the table; every change produces a snapshot that the persister thread
//! writes with [`write_atomically`] before the request is acknowledged, so an acked change
//! survives a crash and a crash mid-write leaves the previous file intact.
//!
//! File format, as Apache RocketMQ's `kvConfig.json`: `{"configTable":{"ns":{"k":"v"}}}`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;

use client::durable::write_atomically;
use crossbeam::channel::{self, Sender};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvConfig {
    #[serde(rename = "configTable", default)]
    table: BTreeMap<String, BTreeMap<String, String>>,
}

impl KvConfig {
    /// Loads `path`; a missing file is an empty table, an unreadable or corrupt one an error
    /// (starting empty would silently drop the operator's config).
    pub fn load(path: &Path) -> io::Result<Self> {
        match fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(KvConfig::default()),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| {
                let message = format!("{}: corrupt KV config: {error}", path.display());
                io::Error::new(io::ErrorKind::InvalidData, message)
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(KvConfig::default()),
            Err(error) => Err(error),
        }
    }

    pub fn put(&mut self, namespace: &str, key: &str, value: &str) {
        self.table
            .entry(namespace.to_string())
            .or_default()
            .insert(key.into(), value.into());
    }

    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.table.get(namespace)?.get(key).map(String::as_str)
    }

    /// Returns whether something was removed.
    pub fn delete(&mut self, namespace: &str, key: &str) -> bool {
        let Some(keys) = self.table.get_mut(namespace) else {
            return false;
        };
        let removed = keys.remove(key).is_some();
        if keys.is_empty() {
            self.table.remove(namespace);
        }
        removed
    }

    pub fn namespace(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.table.get(namespace)
    }

    pub fn to_json(&self) -> Vec<u8> {
        // A map of strings always serialises.
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}

/// A write the persister finished: the ticket it was given and how it went.
#[derive(Debug)]
pub struct Persisted {
    pub ticket: u64,
    pub result: io::Result<()>,
}

/// The thread that writes KV snapshots off the event loop. Dropping it closes its queue; the
/// thread finishes the writes already queued and exits.
pub struct Persister {
    sender: Option<Sender<(u64, Vec<u8>)>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Persister {
    /// Starts the thread; `on_done` runs on it after each write (it typically hands the result
    /// to the event loop through its `Remote`).
    pub fn spawn(
        path: PathBuf,
        on_done: impl Fn(Persisted) + Send + 'static,
    ) -> io::Result<Persister> {
        let (sender, receiver) = channel::unbounded::<(u64, Vec<u8>)>();
        let thread = thread::Builder::new()
            .name("kv-persister".into())
            .spawn(move || {
                for (ticket, bytes) in receiver {
                    let result = write_atomically(&path, &bytes);
                    if let Err(error) = &result {
                        log::error!("cannot persist KV config to {}: {error}", path.display());
                    }
                    on_done(Persisted { ticket, result });
                }
            })?;
        Ok(Persister {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Queues a snapshot; false if the thread is gone.
    pub fn submit(&self, ticket: u64, snapshot: Vec<u8>) -> bool {
        self.sender
            .as_ref()
            .is_some_and(|sender| sender.send((ticket, snapshot)).is_ok())
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("KV persister thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("namesrv-kv-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn put_get_delete_and_namespaces() {
        let mut config = KvConfig::default();
        config.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4");
        config.put("ORDER_TOPIC_CONFIG", "U", "broker-a:2");
        assert_eq!(config.get("ORDER_TOPIC_CONFIG", "T"), Some("broker-a:4"));
        assert_eq!(config.namespace("ORDER_TOPIC_CONFIG").unwrap().len(), 2);
        assert!(config.delete("ORDER_TOPIC_CONFIG", "T"));
        assert!(!config.delete("ORDER_TOPIC_CONFIG", "T"));
        assert!(config.delete("ORDER_TOPIC_CONFIG", "U"));
        assert!(config.namespace("ORDER_TOPIC_CONFIG").is_none());
    }

    #[test]
    fn survives_a_reload_and_reads_the_upstream_format() {
        let dir = temp_dir("reload");
        let path = dir.join("kvConfig.json");
        assert_eq!(KvConfig::load(&path).unwrap(), KvConfig::default());
        let mut config = KvConfig::default();
        config.put("ns", "k", "v \"quoted\" é");
        write_atomically(&path, &config.to_json()).unwrap();
        assert_eq!(KvConfig::load(&path).unwrap(), config);
        fs::write(
            &path,
            r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"a:4"}}}"#,
        )
        .unwrap();
        assert_eq!(
            KvConfig::load(&path)
                .unwrap()
                .get("ORDER_TOPIC_CONFIG", "T"),
            Some("a:4")
        );
        fs::write(&path, "{not json").unwrap();
        assert_eq!(
            KvConfig::load(&path).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn persister_writes_in_order_and_reports_each_ticket() {
        let dir = temp_dir("persister");
        let path = dir.join("sub").join("kvConfig.json");
        let (sender, receiver) = mpsc::channel();
        let persister = Persister::spawn(path.clone(), move |done| {
            let _ = sender.send((done.ticket, done.result.is_ok()));
        })
        .unwrap();
        for ticket in 0..5u64 {
            assert!(persister.submit(ticket, format!("{{\"n\":{ticket}}}").into_bytes()));
        }
        drop(persister);
        let done: Vec<(u64, bool)> = receiver.iter().collect();
        assert_eq!(done, (0..5).map(|t| (t, true)).collect::<Vec<_>>());
        assert_eq!(fs::read_to_string(&path).unwrap(), "{\"n\":4}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
