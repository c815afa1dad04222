//! The event loop's side of the state files' durability: notes every change of the topic and
//! subscription-group tables (whatever request made it: an admin request, a send that
//! auto-created its topic, a heartbeat that created a retry topic, a pull that created its
//! group), hands a snapshot of the changed file to the persister thread, parks the answers
//! that must not go out before the change is on disk, and releases them when the persister
//! reports (`Message::Persisted`). The bookkeeping itself is [`crate::state_commit`].
//!
//! What waits (upstream writes the topic, group and config files before answering, blocking
//! its request thread; here only the answer waits, the loop goes on):
//! - every admin request that changed state (topics, groups, broker config, offset resets,
//!   deletions) waits for each file it changed;
//! - a send or send-back stored in a topic whose config was created or changed and is not on
//!   disk yet waits for `topics.json`, then for its own flush as any send: acked messages in
//!   a topic a restart would not know would answer TOPIC_NOT_EXIST. Only the first sends into
//!   a new topic (those within one fsync of its creation) wait; later ones are untouched.
//!
//! What does not wait: heartbeats and pulls (their changes are written at once all the same,
//! and a send into a topic they created waits as above), and consumer offset commits, which
//! stay periodic as upstream's `flushConsumerOffsetInterval`.
//!
//! A failed write answers SYSTEM_ERROR saying the change is applied but not durable; the
//! change stays in memory (messages may already be stored under it) and the persister keeps
//! retrying the file. Parked answers are bounded ([`STATE_WAITERS_MAX`]); past it, admin
//! changes and sends that would wait are refused with SYSTEM_BUSY before they change anything.
//!
//! Owned by the event-loop thread.

use std::collections::HashMap;
use std::path::PathBuf;

use client::net::{ConnectionId, Context};
use wire::body::DataVersion;
use wire::{RemotingCommand, ResponseCode};

use crate::persister::StateTable;
use crate::server::Broker;
use crate::state_commit::{StateCommits, StateFile, Ticket};

/// Answers parked for state files at most.
pub const STATE_WAITERS_MAX: usize = 65_536;

/// What a parked answer does once its state files are durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPersist {
    /// Goes out as it is (an admin change).
    Answer,
    /// A stored message: next it waits for its own durability as any send (SYNC_FLUSH,
    /// SYNC_MASTER) from the end of its records.
    Stored { end_offset: u64, wait: bool },
}

pub struct StateWaiter {
    pub connection: ConnectionId,
    pub response: RemotingCommand,
    pub then: AfterPersist,
}

/// The loop's durability state of the state files.
pub struct DurableState {
    commits: StateCommits<StateWaiter>,
    /// Changes noted since the current request began (the management dispatcher's).
    changes: Vec<Ticket>,
    /// Topics whose new config is not known durable yet, with the change that carries it.
    undurable_topics: HashMap<String, u64>,
    /// The table versions last noted: a different one is a change not noted yet.
    topics_version: DataVersion,
    groups_version: DataVersion,
}

impl DurableState {
    pub fn new(topics_version: DataVersion, groups_version: DataVersion) -> Self {
        DurableState {
            commits: StateCommits::default(),
            changes: Vec::new(),
            undurable_topics: HashMap::new(),
            topics_version,
            groups_version,
        }
    }

    pub fn is_full(&self) -> bool {
        self.commits.len() >= STATE_WAITERS_MAX
    }

    pub fn len(&self) -> usize {
        self.commits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }
}

impl Broker {
    /// Notes the changes of the topic and group tables made since the last call and starts
    /// their writes. Cheap: called after every request.
    pub(crate) fn note_state_changes(&mut self) {
        let topics = self.topics.take_changed_topics();
        let version = self.topics.data_version();
        if !topics.is_empty() || version != self.durable_state.topics_version {
            self.durable_state.topics_version = version;
            let ticket = self.state_changed(StateFile::Topics);
            for topic in topics {
                self.durable_state
                    .undurable_topics
                    .insert(topic, ticket.seq);
            }
        }
        let version = self.groups.data_version();
        if version != self.durable_state.groups_version {
            self.durable_state.groups_version = version;
            self.state_changed(StateFile::SubscriptionGroups);
        }
    }

    /// Records a change of `file` (already applied in memory) and starts its write unless one
    /// is under way, in which case the change rides on the next.
    pub(crate) fn state_changed(&mut self, file: StateFile) -> Ticket {
        let ticket = self.durable_state.commits.change(file);
        self.durable_state.changes.push(ticket);
        self.start_state_writes();
        ticket
    }

    /// Starts collecting the changes of one request.
    pub(crate) fn begin_state_changes(&mut self) {
        self.note_state_changes();
        self.durable_state.changes.clear();
    }

    /// The changes made since [`Self::begin_state_changes`].
    pub(crate) fn take_state_changes(&mut self) -> Vec<Ticket> {
        self.note_state_changes();
        std::mem::take(&mut self.durable_state.changes)
    }

    /// The newest change of `file`, noted or not yet.
    pub(crate) fn latest_state_change(&mut self, file: StateFile) -> Ticket {
        self.note_state_changes();
        Ticket {
            file,
            seq: self.durable_state.commits.changed(file),
        }
    }

    /// The change a message stored in `topic` must wait for: its config's latest change, when
    /// that is not on disk yet.
    pub(crate) fn topic_not_durable(&mut self, topic: &str) -> Option<Ticket> {
        self.note_state_changes();
        let seq = *self.durable_state.undurable_topics.get(topic)?;
        let ticket = Ticket {
            file: StateFile::Topics,
            seq,
        };
        (!self.durable_state.commits.is_durable(ticket)).then_some(ticket)
    }

    /// Parks `response` until every change in `needs` is on disk; gives the waiter back when
    /// they all already are.
    pub(crate) fn park_until_persisted(
        &mut self,
        needs: &[Ticket],
        connection: ConnectionId,
        response: RemotingCommand,
        then: AfterPersist,
    ) -> Option<StateWaiter> {
        let waiter = StateWaiter {
            connection,
            response,
            then,
        };
        let back = self.durable_state.commits.park(needs, waiter);
        self.start_state_writes();
        back
    }

    fn start_state_writes(&mut self) {
        for ticket in self.durable_state.commits.writes_to_start() {
            let (path, bytes) = self.state_file_content(ticket.file);
            self.persister.submit_ticketed(path, bytes, ticket);
        }
    }

    /// The file's path and its content now (which includes every change noted so far).
    fn state_file_content(&mut self, file: StateFile) -> (PathBuf, Vec<u8>) {
        fn snapshot(table: &mut impl StateTable) -> (PathBuf, Vec<u8>) {
            *table.dirty_flag() = false;
            (table.state_path().to_path_buf(), table.state_bytes())
        }
        match file {
            StateFile::Topics => snapshot(&mut self.topics),
            StateFile::SubscriptionGroups => snapshot(&mut self.groups),
            StateFile::ConsumerOffsets => snapshot(&mut self.offsets),
            StateFile::BrokerConfig => (
                self.config.updates_path(),
                crate::processor::broker_config::encode_updates(&self.config_updates),
            ),
        }
    }

    /// The persister wrote (or failed to write) the change of `ticket`.
    pub(crate) fn on_state_persisted(
        &mut self,
        ctx: &mut Context<'_>,
        ticket: Ticket,
        result: Result<(), String>,
    ) {
        if result.is_ok() && ticket.file == StateFile::Topics {
            self.durable_state
                .undurable_topics
                .retain(|_, seq| *seq > ticket.seq);
        }
        let decided = self.durable_state.commits.on_written(ticket, &result);
        for (waiter, outcome) in decided {
            self.release_state_waiter(ctx, waiter, outcome);
        }
        self.start_state_writes();
    }

    fn release_state_waiter(
        &mut self,
        ctx: &mut Context<'_>,
        waiter: StateWaiter,
        outcome: Result<(), String>,
    ) {
        let StateWaiter {
            connection,
            mut response,
            then,
        } = waiter;
        match (outcome, then) {
            (Ok(()), AfterPersist::Answer) => {}
            (Ok(()), AfterPersist::Stored { end_offset, wait }) => {
                match self.answer_when_durable(connection, false, response, end_offset, wait) {
                    Some(answer) => response = answer,
                    None => return,
                }
            }
            (Err(reason), then) => {
                let what = match then {
                    AfterPersist::Answer => "the change is applied but not durable",
                    AfterPersist::Stored { .. } => {
                        "the message is stored, but its topic's config is not durable"
                    }
                };
                response.code = ResponseCode::SYSTEM_ERROR.as_i32();
                response.remark = Some(format!(
                    "{what}: {reason}; the broker keeps retrying the write"
                ));
            }
        }
        ctx.send(connection, &response);
    }

    /// At a clean stop: drains the persister, then writes on this thread every file parked
    /// answers still wait for, so each gets its real answer before the sockets close.
    pub(crate) fn finish_parked_state(&mut self, ctx: &mut Context<'_>) {
        if self.durable_state.is_empty() {
            return;
        }
        self.persister.finish();
        for file in self.durable_state.commits.awaited_files() {
            let (path, bytes) = self.state_file_content(file);
            let result = client::durable::write_keeping_backup(&path, &bytes)
                .map_err(|e| format!("cannot write {}: {e}", path.display()));
            let ticket = Ticket {
                file,
                seq: self.durable_state.commits.changed(file),
            };
            for (waiter, outcome) in self.durable_state.commits.on_written(ticket, &result) {
                self.release_state_waiter(ctx, waiter, outcome);
            }
        }
    }
}
