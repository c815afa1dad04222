//! The persister thread: writes the broker's state files (topics, consumer offsets,
//! subscription groups) crash-safely, off the event loop, so that an fsync never stalls a
//! socket. The newest snapshot of a file wins; older queued ones are skipped.
//!
//! Owned by the event loop, which submits snapshots; `finish` drains the queue at shutdown.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam::channel::{unbounded, Sender};

/// A table kept in a state file (topics, consumer offsets, subscription groups): the dirty
/// flag and the snapshot the persister writes, shared by the three managers.
pub trait StateTable {
    fn state_path(&self) -> &Path;
    /// The file's content now.
    fn state_bytes(&self) -> Vec<u8>;
    fn dirty_flag(&mut self) -> &mut bool;

    /// Call when a snapshot taken with [`Self::take_snapshot`] could not be written.
    fn mark_dirty(&mut self) {
        *self.dirty_flag() = true;
    }

    /// The file's new content if something changed since the last snapshot; clears the flag.
    fn take_snapshot(&mut self) -> Option<Vec<u8>> {
        if !std::mem::take(self.dirty_flag()) {
            return None;
        }
        Some(self.state_bytes())
    }

    /// Writes the file now (blocking), keeping the previous one as `.bak`.
    fn persist(&mut self) -> std::io::Result<()> {
        client::durable::write_keeping_backup(self.state_path(), &self.state_bytes())?;
        *self.dirty_flag() = false;
        Ok(())
    }
}

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
