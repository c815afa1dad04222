//! The persister thread: writes the broker's state files (topics, consumer offsets,
//! subscription groups, config updates) crash-safely, off the event loop, so that an fsync
//! never stalls a socket. It is the only writer of those files: the newest snapshot of a file
//! wins, older queued ones are skipped, and a write that fails is retried every second until
//! it succeeds or newer bytes replace it.
//!
//! Owned by the event loop, which submits snapshots; `finish` drains the queue at shutdown.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};

/// A table kept in a state file (topics, consumer offsets, subscription groups): the dirty
/// flag and the snapshot the persister writes, shared by the three managers.
pub trait StateTable {
    fn state_path(&self) -> &Path;
    /// The file's content now.
    fn state_bytes(&self) -> Vec<u8>;
    fn dirty_flag(&mut self) -> &mut bool;

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

/// One file's new content, and who waits for it to be on disk.
struct Job {
    path: PathBuf,
    bytes: Vec<u8>,
    done: Option<Sender<Result<(), String>>>,
}

/// How soon a write that failed (a full or failing disk) is tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

pub struct Persister {
    sender: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// Newest bytes of each file not yet written, with the callers waiting for them.
type Pending = HashMap<PathBuf, (Vec<u8>, Vec<Sender<Result<(), String>>>)>;

fn add(pending: &mut Pending, job: Job) {
    let entry = pending.entry(job.path).or_default();
    entry.0 = job.bytes;
    entry.1.extend(job.done);
}

/// Writes every pending file; keeps the ones that failed for the next try.
fn write_pending(pending: &mut Pending, failing: &mut HashSet<PathBuf>) {
    pending.retain(|path, (bytes, waiters)| {
        let result = client::durable::write_keeping_backup(path, bytes);
        for waiter in waiters.drain(..) {
            let _ = waiter.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        }
        match result {
            Ok(()) => {
                if failing.remove(path) {
                    log::info!("persisted {} again", path.display());
                }
                false
            }
            Err(error) => {
                if failing.insert(path.clone()) {
                    log::error!("cannot persist {}: {error}; retrying", path.display());
                }
                true
            }
        }
    });
}

fn run(receiver: Receiver<Job>) {
    let mut pending = Pending::new();
    let mut failing = HashSet::new();
    loop {
        let received = if pending.is_empty() {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            receiver.recv_timeout(RETRY_INTERVAL)
        };
        let stopping = match received {
            Ok(job) => {
                add(&mut pending, job);
                false
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        };
        // Coalesce what queued up meanwhile: only the newest bytes of each file.
        for job in receiver.try_iter() {
            add(&mut pending, job);
        }
        write_pending(&mut pending, &mut failing);
        if stopping {
            // One last try at shutdown; a disk that still fails keeps the previous files.
            return;
        }
    }
}

impl Persister {
    pub fn spawn() -> std::io::Result<Persister> {
        let (sender, receiver) = unbounded::<Job>();
        let thread = std::thread::Builder::new()
            .name("broker-persist".into())
            .spawn(move || run(receiver))?;
        Ok(Persister {
            sender: Some(sender),
            thread: Some(thread),
        })
    }

    /// Queues `bytes` as the new content of `path`; written off the caller's thread, after
    /// anything queued before it, and retried until it succeeds or newer bytes replace it.
    pub fn submit(&self, path: PathBuf, bytes: Vec<u8>) {
        self.send(Job {
            path,
            bytes,
            done: None,
        });
    }

    /// As [`Self::submit`], and waits until the file is on disk. The single writer keeps the
    /// order: an older snapshot queued before can never land after this one.
    pub fn write_now(&self, path: PathBuf, bytes: Vec<u8>) -> Result<(), String> {
        let (done, written) = bounded(1);
        self.send(Job {
            path,
            bytes,
            done: Some(done),
        });
        written
            .recv()
            .unwrap_or_else(|_| Err("persister thread is gone".into()))
    }

    fn send(&self, job: Job) {
        if let Some(sender) = &self.sender {
            if sender.send(job).is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_is_retried_and_write_now_waits_for_the_disk() {
        let root = std::env::temp_dir().join(format!("persister-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let path = root.join("config").join("topics.json");
        let persister = Persister::spawn().unwrap();
        // A file stands where the directory should be: the write fails and stays pending.
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(path.parent().unwrap(), b"in the way").unwrap();
        assert!(persister.write_now(path.clone(), b"one".to_vec()).is_err());
        std::fs::remove_file(path.parent().unwrap()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read(&path).ok().as_deref() != Some(&b"one"[..]) {
            assert!(std::time::Instant::now() < deadline, "never retried");
            std::thread::sleep(Duration::from_millis(20));
        }
        persister.submit(path.clone(), b"two".to_vec());
        persister
            .write_now(path.clone(), b"three".to_vec())
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
