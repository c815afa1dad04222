//! The persister thread: writes the broker's state files (topics, consumer offsets,
//! subscription groups) crash-safely, off the event loop, so that an fsync never stalls a
//! socket. The newest snapshot of a file wins; older queued ones are skipped.
//!
//! Owned by the event loop, which submits snapshots; `finish` drains the queue at shutdown.

use std::collections::HashMap;
use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam::channel::{unbounded, Sender};

pub struct Persister {
    sender: Option<Sender<(PathBuf, Vec<u8>)>>,
    thread: Option<JoinHandle<()>>,
}

impl Persister {
    pub fn spawn() -> std::io::Result<Persister> {
        let (sender, receiver) = unbounded::<(PathBuf, Vec<u8>)>();
        let thread = std::thread::Builder::new()
            .name("broker-persist".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    // Coalesce what queued up meanwhile: only the newest bytes of each file.
                    let mut latest: HashMap<PathBuf, Vec<u8>> = HashMap::new();
                    latest.insert(first.0, first.1);
                    for (path, bytes) in receiver.try_iter() {
                        latest.insert(path, bytes);
                    }
                    for (path, bytes) in latest {
                        if let Err(error) = client::durable::write_keeping_backup(&path, &bytes) {
                            log::error!("cannot persist {}: {error}", path.display());
                        }
                    }
                }
            })?;
        Ok(Persister {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    pub fn submit(&self, path: PathBuf, bytes: Vec<u8>) {
        if let Some(sender) = &self.sender {
            if sender.send((path, bytes)).is_err() {
                log::error!("persister thread is gone; state not written");
            }
        }
    }

    /// Writes everything submitted so far and stops the thread.
    pub fn finish(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("persister thread panicked");
            }
        }
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.finish();
    }
}
