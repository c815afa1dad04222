//! Pull workers: threads (`workerThreads`) that read the store for pulls whose data is older
//! than the commit log's memory window, and for queries by key, so that `pread` on a slow disk
//! never blocks the event loop. Results go back to the loop through its `Remote`, which
//! answers (or holds the pull).
//!
//! The queue in front of the workers is bounded: when it is full the loop reads the store
//! itself rather than queue without bound.

use std::sync::Arc;
use std::thread::JoinHandle;

use client::net::{ConnectionId, Remote};
use crossbeam::channel::{bounded, Sender, TrySendError};
use wire::RemotingCommand;

use super::consume::{read, PullJob};
use crate::server::Message;
use crate::store::MessageStore;

/// Pull jobs waiting for a worker, at most.
const QUEUE_SIZE_MAX: usize = 1024;

enum Job {
    Pull(Box<PullJob>),
    Query(ConnectionId, Box<RemotingCommand>),
}

pub struct PullWorkers {
    sender: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl PullWorkers {
    pub fn spawn(
        count: usize,
        store: Arc<MessageStore>,
        remote: Remote<Message>,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = bounded::<Job>(QUEUE_SIZE_MAX);
        let mut threads = Vec::new();
        for index in 0..count {
            let (receiver, store, remote) = (receiver.clone(), store.clone(), remote.clone());
            let thread = std::thread::Builder::new()
                .name(format!("broker-pull-{index}"))
                .spawn(move || {
                    for job in receiver {
                        let message = match job {
                            Job::Pull(job) => Message::PullDone(Box::new(read(&store, *job))),
                            Job::Query(connection, request) => {
                                let response = super::query::answer(&store, &request);
                                Message::Answer(connection, Box::new(response))
                            }
                        };
                        if remote.send(message).is_err() {
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
        self.send(Job::Pull(job)).map_err(|job| match job {
            Job::Pull(job) => job,
            Job::Query(..) => unreachable!("a pull job comes back as one"),
        })
    }

    /// Queues a QUERY_MESSAGE; gives the request back when the queue is full.
    pub fn submit_query(
        &self,
        connection: ConnectionId,
        request: Box<RemotingCommand>,
    ) -> Result<(), Box<RemotingCommand>> {
        self.send(Job::Query(connection, request))
            .map_err(|job| match job {
                Job::Query(_, request) => request,
                Job::Pull(_) => unreachable!("a query job comes back as one"),
            })
    }

    fn send(&self, job: Job) -> Result<(), Job> {
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
