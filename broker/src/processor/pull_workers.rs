//! Pull workers: threads (`workerThreads`) that read the store for pulls whose data is older
//! than the commit log's memory window, so that `pread` on a slow disk never blocks the event
//! loop. Results go back to the loop through its `Remote`, which answers or holds the pull.
//!
//! The queue in front of the workers is bounded: when it is full the loop reads the pull
//! itself rather than queue without bound.

use std::sync::Arc;
use std::thread::JoinHandle;

use client::net::Remote;
use crossbeam::channel::{bounded, Sender, TrySendError};

use super::consume::{read, PullJob};
use crate::server::Message;
use crate::store::MessageStore;

/// Pull jobs waiting for a worker, at most.
const QUEUE_SIZE_MAX: usize = 1024;

pub struct PullWorkers {
    sender: Option<Sender<Box<PullJob>>>,
    threads: Vec<JoinHandle<()>>,
}

impl PullWorkers {
    pub fn spawn(
        count: usize,
        store: Arc<MessageStore>,
        remote: Remote<Message>,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = bounded::<Box<PullJob>>(QUEUE_SIZE_MAX);
        let mut threads = Vec::new();
        for index in 0..count {
            let (receiver, store, remote) = (receiver.clone(), store.clone(), remote.clone());
            let thread = std::thread::Builder::new()
                .name(format!("broker-pull-{index}"))
                .spawn(move || {
                    for job in receiver {
                        let done = read(&store, *job);
                        if remote.send(Message::PullDone(Box::new(done))).is_err() {
                            return;
                        }
                    }
                })?;
            threads.push(thread);
        }
        Ok(PullWorkers {
            sender: Some(sender),
            threads,
        })
    }

    /// Queues a job; gives it back when the queue is full or the workers are gone.
    pub fn submit(&self, job: Box<PullJob>) -> Result<(), Box<PullJob>> {
        let Some(sender) = &self.sender else {
            return Err(job);
        };
        sender.try_send(job).map_err(|error| match error {
            TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
        })
    }
}

impl Drop for PullWorkers {
    fn drop(&mut self) {
        self.sender = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
