//! The persister thread: writes the broker's state files (topics, consumer offsets,
//! subscription groups, config updates) crash-safely (atomic replace, fsync of the file and
//! its directory), off the event loop, so that an fsync never stalls a socket. It is the only
//! writer of those files: the newest snapshot of a file wins, older queued ones are skipped
//! (group commit: changes made while a write is under way ride on the next one), and a write
//! that fails is retried every second until it succeeds or newer bytes replace it.
//!
//! A snapshot may carry a [`Ticket`]: the change the loop parked answers on. The thread reports
//! the outcome of the first write that carried it through the listener (a loop message), once.
//!
//! Owned by the event loop, which submits snapshots; `finish` drains the queue at shutdown.
//! The queue is unbounded by count but not in effect: the loop keeps at most one ticketed
//! write per file in flight and submits untracked snapshots once per persist interval, and
//! queued snapshots of one file collapse into one.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{unbounded, Receiver, RecvTimeoutError, Sender};

use crate::state_commit::Ticket;

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

/// One file's new content, and the change it makes durable when the loop waits for one.
struct Job {
    path: PathBuf,
    bytes: Vec<u8>,
    ticket: Option<Ticket>,
}

/// How soon a write that failed (a full or failing disk) is tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Told, on the persister thread, how a write that carried a ticket ended.
pub type WrittenListener = std::sync::Arc<dyn Fn(Ticket, Result<(), String>) + Send + Sync>;

pub struct Persister {
    sender: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Also told of a ticketed write the caller did itself (the thread gone).
    on_written: WrittenListener,
}

/// Newest bytes of each file not yet written, with the newest ticket they carry.
type Pending = HashMap<PathBuf, (Vec<u8>, Option<Ticket>)>;

fn add(pending: &mut Pending, job: Job) {
    let entry = pending.entry(job.path).or_default();
    entry.0 = job.bytes;
    // Newer bytes carry every change the older ones did: the newest ticket stands for all.
    if let Some(ticket) = job.ticket {
        assert!(
            entry
                .1
                .is_none_or(|older| older.file == ticket.file && older.seq <= ticket.seq),
            "tickets of one file arrive in order"
        );
        entry.1 = Some(ticket);
    }
}

/// Writes every pending file; keeps the ones that failed for the next try. A ticket is
/// reported once, with the outcome of the first write that carried it; retries carry none.
fn write_pending(
    pending: &mut Pending,
    failing: &mut HashSet<PathBuf>,
    on_written: &WrittenListener,
) {
    pending.retain(|path, (bytes, ticket)| {
        let result = client::durable::write_keeping_backup(path, bytes);
        if let Some(ticket) = ticket.take() {
            let outcome = result
                .as_ref()
                .map(|_| ())
                .map_err(|e| format!("cannot write {}: {e}", path.display()));
            on_written(ticket, outcome);
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

fn run(receiver: Receiver<Job>, on_written: WrittenListener) {
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
        // Coalesce what queued up meanwhile: only the newest bytes of each file (group commit).
        for job in receiver.try_iter() {
            add(&mut pending, job);
        }
        write_pending(&mut pending, &mut failing, &on_written);
        if stopping {
            // One last try at shutdown; a disk that still fails keeps the previous files.
            return;
        }
    }
}

impl Persister {
    /// Starts the thread; `on_written` hears how each ticketed write ended.
    pub fn spawn(on_written: WrittenListener) -> std::io::Result<Persister> {
        let (sender, receiver) = unbounded::<Job>();
        let listener = on_written.clone();
        let thread = std::thread::Builder::new()
            .name("broker-persist".into())
            .spawn(move || run(receiver, listener))?;
        Ok(Persister {
            sender: Some(sender),
            thread: Some(thread),
            on_written,
        })
    }

    /// Queues `bytes` as the new content of `path`; written off the caller's thread, after
    /// anything queued before it, and retried until it succeeds or newer bytes replace it.
    pub fn submit(&self, path: PathBuf, bytes: Vec<u8>) {
        self.send(Job {
            path,
            bytes,
            ticket: None,
        });
    }

    /// As [`Self::submit`], and reports through the listener when the file holding these bytes
    /// (or newer ones) is on disk, or why it is not. The single writer keeps the order: an
    /// older snapshot queued before can never land after this one.
    pub fn submit_ticketed(&self, path: PathBuf, bytes: Vec<u8>, ticket: Ticket) {
        self.send(Job {
            path,
            bytes,
            ticket: Some(ticket),
        });
    }

    /// After [`Self::finish`] (shutdown), or should the thread be gone, the caller's thread
    /// writes, blocking: nothing is dropped, and a ticket's outcome is still reported (an
    /// answer parked for it must not wait forever).
    fn send(&self, job: Job) {
        let job = match &self.sender {
            Some(sender) => match sender.send(job) {
                Ok(()) => return,
                Err(returned) => returned.into_inner(),
            },
            None => job,
        };
        let result = client::durable::write_keeping_backup(&job.path, &job.bytes);
        if let Err(error) = &result {
            log::error!("cannot persist {}: {error}", job.path.display());
        }
        if let Some(ticket) = job.ticket {
            let outcome = result.map_err(|e| format!("cannot write {}: {e}", job.path.display()));
            (self.on_written)(ticket, outcome);
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
    use crate::state_commit::StateFile;

    fn temp_root(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("persister-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        root
    }

    type Reports = crossbeam::channel::Receiver<(Ticket, Result<(), String>)>;

    fn reporting() -> (Persister, Reports) {
        let (told, heard) = unbounded();
        let persister = Persister::spawn(std::sync::Arc::new(move |ticket, result| {
            let _ = told.send((ticket, result));
        }))
        .unwrap();
        (persister, heard)
    }

    fn ticket(seq: u64) -> Ticket {
        Ticket {
            file: StateFile::Topics,
            seq,
        }
    }

    #[test]
    fn a_failed_write_is_reported_once_and_retried_in_the_background() {
        let root = temp_root("retry");
        let path = root.join("config").join("topics.json");
        let (persister, heard) = reporting();
        // A file stands where the directory should be: the write fails and stays pending.
        std::fs::write(path.parent().unwrap(), b"in the way").unwrap();
        persister.submit_ticketed(path.clone(), b"one".to_vec(), ticket(1));
        let (told, result) = heard.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(told, ticket(1));
        assert!(result.unwrap_err().contains("topics.json"));
        std::fs::remove_file(path.parent().unwrap()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read(&path).ok().as_deref() != Some(&b"one"[..]) {
            assert!(std::time::Instant::now() < deadline, "never retried");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(heard.try_recv().is_err(), "a retry reports nothing");
        persister.submit(path.clone(), b"two".to_vec());
        persister.submit_ticketed(path.clone(), b"three".to_vec(), ticket(2));
        let (told, result) = heard.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!((told, result), (ticket(2), Ok(())));
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn after_finish_writes_happen_on_the_caller() {
        let root = temp_root("finish");
        let path = root.join("consumerOffset.json");
        let (mut persister, _heard) = reporting();
        persister.submit(path.clone(), b"queued".to_vec());
        persister.finish();
        assert_eq!(std::fs::read(&path).unwrap(), b"queued");
        persister.submit(path.clone(), b"late".to_vec());
        assert_eq!(std::fs::read(&path).unwrap(), b"late");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
