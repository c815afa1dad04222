//! Group commit of the broker's state files (topics, subscription groups, consumer offsets,
//! broker-config updates): which change of which file is durable, which write to start next,
//! and which parked answers a finished write releases. An admin change is applied in memory,
//! gets a sequence number, and its answer waits here until a write that includes it is on disk.
//!
//! Owned by the event-loop thread; pure bookkeeping, no I/O and no clock: the loop takes a
//! snapshot of a file and hands it to the persister thread when [`StateCommits::writes_to_start`]
//! says so, and reports the outcome with [`StateCommits::on_written`].
//!
//! ```text
//!  change ─▶ seq = ++changed ─▶ park(answer, seq) ─▶ write in flight?
//!                                                      no ─▶ start write(changed)
//!                                                      yes ─▶ rides the next write
//!  write(S) durable ─▶ written = S ─▶ release answers needing <= S
//!                                 ─▶ changed > S? start write(changed)  (group commit)
//! ```
//!
//! Invariants, per file:
//! - at most one write in flight, and it carries every change numbered up to its sequence (the
//!   snapshot is taken after the change was applied in memory);
//! - `written <= changed`; `in_flight`, when set, is in `(written, changed]`;
//! - an answer is released only by a write whose sequence is at least the change it waits for,
//!   never by an older snapshot; a failed write releases the answers it covered with the
//!   failure, and starts no new write by itself (only new changes or new waiters do), so a dead
//!   disk cannot make the loop spin.

use std::fmt;

/// A state file the broker writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateFile {
    Topics,
    SubscriptionGroups,
    ConsumerOffsets,
    BrokerConfig,
}

impl StateFile {
    pub const ALL: [StateFile; 4] = [
        StateFile::Topics,
        StateFile::SubscriptionGroups,
        StateFile::ConsumerOffsets,
        StateFile::BrokerConfig,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for StateFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            StateFile::Topics => "topics.json",
            StateFile::SubscriptionGroups => "subscriptionGroup.json",
            StateFile::ConsumerOffsets => "consumerOffset.json",
            StateFile::BrokerConfig => "broker.updated.properties",
        };
        f.write_str(name)
    }
}

/// A change of one file: the write carrying sequence `seq` or a later one makes it durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub file: StateFile,
    pub seq: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct FileCommit {
    /// The newest change applied in memory.
    changed: u64,
    /// Every change up to here is on disk.
    written: u64,
    /// The sequence of the write under way.
    in_flight: Option<u64>,
    /// A write must start once none is in flight: a change or a waiter not covered yet.
    write_wanted: bool,
}

struct Parked<W> {
    needs: Vec<Ticket>,
    waiter: W,
}

/// The answers waiting for state files, and each file's write bookkeeping.
pub struct StateCommits<W> {
    files: [FileCommit; 4],
    parked: Vec<Parked<W>>,
}

impl<W> Default for StateCommits<W> {
    fn default() -> Self {
        StateCommits {
            files: [FileCommit::default(); 4],
            parked: Vec::new(),
        }
    }
}

impl<W> StateCommits<W> {
    /// Answers parked.
    pub fn len(&self) -> usize {
        self.parked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parked.is_empty()
    }

    /// Records a change of `file` already applied in memory; its ticket.
    pub fn change(&mut self, file: StateFile) -> Ticket {
        let state = &mut self.files[file.index()];
        state.changed += 1;
        state.write_wanted = true;
        Ticket {
            file,
            seq: state.changed,
        }
    }

    /// Whether the change of `ticket` is on disk.
    pub fn is_durable(&self, ticket: Ticket) -> bool {
        self.files[ticket.file.index()].written >= ticket.seq
    }

    /// The newest change of `file`.
    pub fn changed(&self, file: StateFile) -> u64 {
        self.files[file.index()].changed
    }

    /// Parks `waiter` until every change in `needs` is durable; gives it back when they all
    /// are already.
    pub fn park(&mut self, needs: &[Ticket], waiter: W) -> Option<W> {
        let needs: Vec<Ticket> = needs
            .iter()
            .copied()
            .filter(|ticket| !self.is_durable(*ticket))
            .collect();
        if needs.is_empty() {
            return Some(waiter);
        }
        for ticket in &needs {
            let state = &mut self.files[ticket.file.index()];
            assert!(ticket.seq <= state.changed, "a ticket from the future");
            // Covered by the write under way, or by a failed one: a new write is needed.
            if state.in_flight.is_none_or(|seq| seq < ticket.seq) {
                state.write_wanted = true;
            }
        }
        self.parked.push(Parked { needs, waiter });
        None
    }

    /// The writes to start now, each to carry a snapshot taken now with this ticket.
    pub fn writes_to_start(&mut self) -> Vec<Ticket> {
        let mut start = Vec::new();
        for file in StateFile::ALL {
            let state = &mut self.files[file.index()];
            if state.write_wanted && state.in_flight.is_none() {
                state.write_wanted = false;
                if state.changed > state.written {
                    state.in_flight = Some(state.changed);
                    start.push(Ticket {
                        file,
                        seq: state.changed,
                    });
                }
            }
        }
        start
    }

    /// The write of `ticket` ended with `result`; the waiters it decides, each with its outcome
    /// (the first failure among its files, else success). Call [`Self::writes_to_start`] next.
    pub fn on_written(
        &mut self,
        ticket: Ticket,
        result: &Result<(), String>,
    ) -> Vec<(W, Result<(), String>)> {
        let state = &mut self.files[ticket.file.index()];
        assert!(
            ticket.seq <= state.changed,
            "a write of a change never made"
        );
        if state.in_flight.is_some_and(|seq| seq <= ticket.seq) {
            state.in_flight = None;
        }
        if result.is_ok() {
            state.written = state.written.max(ticket.seq);
        }
        let mut decided = Vec::new();
        let mut waiting = Vec::with_capacity(self.parked.len());
        for mut parked in std::mem::take(&mut self.parked) {
            let covered = |t: &Ticket| t.file == ticket.file && t.seq <= ticket.seq;
            if parked.needs.iter().any(covered) {
                if let Err(reason) = result {
                    decided.push((parked.waiter, Err(reason.clone())));
                    continue;
                }
                parked.needs.retain(|t| !covered(t));
            }
            if parked.needs.is_empty() {
                decided.push((parked.waiter, Ok(())));
            } else {
                waiting.push(parked);
            }
        }
        self.parked = waiting;
        decided
    }

    /// Files some parked answer still waits for.
    pub fn awaited_files(&self) -> Vec<StateFile> {
        let mut files: Vec<StateFile> = self
            .parked
            .iter()
            .flat_map(|parked| parked.needs.iter().map(|t| t.file))
            .collect();
        files.sort();
        files.dedup();
        files
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StateFile::*;

    fn ok() -> Result<(), String> {
        Ok(())
    }

    fn ids(decided: Vec<(u32, Result<(), String>)>) -> Vec<(u32, bool)> {
        decided.into_iter().map(|(id, r)| (id, r.is_ok())).collect()
    }

    #[test]
    fn a_burst_of_changes_during_a_write_rides_one_next_write() {
        let mut commits = StateCommits::default();
        let first = commits.change(Topics);
        assert!(commits.park(&[first], 1).is_none());
        assert_eq!(
            commits.writes_to_start(),
            [Ticket {
                file: Topics,
                seq: 1
            }]
        );
        for id in 2..=50 {
            let ticket = commits.change(Topics);
            assert!(commits.park(&[ticket], id).is_none());
            assert!(commits.writes_to_start().is_empty(), "one write at a time");
        }
        assert_eq!(ids(commits.on_written(first, &ok())), [(1, true)]);
        // The 49 changes made meanwhile: one write, and it carries the newest.
        let next = commits.writes_to_start();
        assert_eq!(
            next,
            [Ticket {
                file: Topics,
                seq: 50
            }]
        );
        assert!(commits.writes_to_start().is_empty());
        let released = ids(commits.on_written(next[0], &ok()));
        assert_eq!(released.len(), 49);
        assert!(released.iter().all(|(_, ok)| *ok));
        assert!(commits.is_empty());
        assert!(
            commits.writes_to_start().is_empty(),
            "nothing left to write"
        );
    }

    #[test]
    fn an_older_snapshot_never_releases_a_newer_change() {
        let mut commits = StateCommits::default();
        let one = commits.change(SubscriptionGroups);
        let write = commits.writes_to_start();
        assert_eq!(write, [one]);
        // Changed after the snapshot of seq 1 was taken: its answer waits for seq 2.
        let two = commits.change(SubscriptionGroups);
        assert!(commits.park(&[two], 7).is_none());
        assert!(commits.on_written(one, &ok()).is_empty());
        assert!(commits.is_durable(one) && !commits.is_durable(two));
        let write = commits.writes_to_start();
        assert_eq!(write, [two]);
        assert_eq!(ids(commits.on_written(two, &ok())), [(7, true)]);
    }

    #[test]
    fn an_answer_waits_for_every_file_it_changed() {
        let mut commits = StateCommits::default();
        let topics = commits.change(Topics);
        let offsets = commits.change(ConsumerOffsets);
        assert!(commits.park(&[topics, offsets], 3).is_none());
        assert_eq!(commits.writes_to_start(), [topics, offsets]);
        assert!(commits.on_written(offsets, &ok()).is_empty());
        assert_eq!(ids(commits.on_written(topics, &ok())), [(3, true)]);
    }

    #[test]
    fn a_durable_change_does_not_park() {
        let mut commits = StateCommits::default();
        let ticket = commits.change(BrokerConfig);
        commits.writes_to_start();
        commits.on_written(ticket, &ok());
        assert_eq!(commits.park(&[ticket], 9), Some(9));
        assert!(commits.is_empty());
    }

    #[test]
    fn a_failed_write_fails_what_it_covered_and_starts_nothing_by_itself() {
        let mut commits = StateCommits::default();
        let one = commits.change(Topics);
        commits.park(&[one], 1);
        commits.writes_to_start();
        let failure = Err("disk full".to_string());
        let decided = commits.on_written(one, &failure);
        assert_eq!(decided.len(), 1);
        assert_eq!(decided[0].1, failure);
        assert!(!commits.is_durable(one));
        assert!(commits.writes_to_start().is_empty(), "no retry storm");
        // A later send into the same topic waits for the same change: a new write starts.
        assert!(commits.park(&[one], 2).is_none());
        let retry = commits.writes_to_start();
        assert_eq!(retry, [one]);
        assert_eq!(ids(commits.on_written(retry[0], &ok())), [(2, true)]);
    }

    #[test]
    fn a_failure_of_one_file_fails_an_answer_waiting_for_two() {
        let mut commits = StateCommits::default();
        let topics = commits.change(Topics);
        let offsets = commits.change(ConsumerOffsets);
        commits.park(&[topics, offsets], 5);
        commits.writes_to_start();
        let decided = commits.on_written(offsets, &Err("EIO".into()));
        assert_eq!(decided, [(5, Err("EIO".to_string()))]);
        assert!(commits.on_written(topics, &ok()).is_empty());
    }

    #[test]
    fn changes_without_waiters_are_written_too() {
        let mut commits: StateCommits<u32> = StateCommits::default();
        let ticket = commits.change(SubscriptionGroups);
        assert_eq!(commits.writes_to_start(), [ticket]);
        commits.on_written(ticket, &ok());
        assert!(commits.is_durable(ticket));
        assert_eq!(commits.awaited_files(), []);
    }

    #[test]
    fn a_waiter_during_a_covering_write_starts_no_extra_write() {
        let mut commits = StateCommits::default();
        let ticket = commits.change(Topics);
        commits.writes_to_start();
        assert!(commits.park(&[ticket], 1).is_none());
        assert_eq!(commits.awaited_files(), [Topics]);
        assert_eq!(ids(commits.on_written(ticket, &ok())), [(1, true)]);
        assert!(commits.writes_to_start().is_empty());
    }
}
