//! Long polling: pulls that found nothing, held per topic and queue until a message arrives
//! for them or their suspend timeout passes, then run again (never held twice, never
//! committing an offset twice). RocketMQ's `PullRequestHoldService`.
//!
//! Owned by the event-loop thread. Arrivals come from the store's dispatch thread as loop
//! messages; the tick sweeps timeouts every second (upstream: every 5 s).
//!
//! Invariant: a held pull is answered exactly once: it leaves the table when re-run, when its
//! connection closes (no answer), or at shutdown.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use wire::RemotingCommand;

use super::pull::TagFilter;

pub struct HeldPull<C> {
    pub connection: C,
    pub request: RemotingCommand,
    pub queue_offset: u64,
    pub deadline: Instant,
    pub filter: TagFilter,
}

/// The queues that have held pulls, shared with the store's dispatch thread: it hands the
/// loop an arrival only for those, so a busy queue nobody waits on costs no loop message.
#[derive(Default)]
pub struct HeldQueues {
    queues: Mutex<HashMap<String, HashSet<i32>>>,
}

impl HeldQueues {
    pub fn contains(&self, topic: &str, queue_id: i32) -> bool {
        let queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues.get(topic).is_some_and(|ids| ids.contains(&queue_id))
    }

    /// Takes the held queues of `polls` (call after every change to them): rebuilt only when
    /// a queue started or stopped having held pulls, so the dispatch thread, which takes this
    /// lock per message, is not held up by a rebuild per pull.
    pub fn update<C: Copy + Eq + Hash>(&self, polls: &mut LongPolls<C>) {
        if !std::mem::take(&mut polls.queues_changed) {
            return;
        }
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        queues.clear();
        for (topic, queue_id) in polls.held.keys() {
            queues.entry(topic.clone()).or_default().insert(*queue_id);
        }
    }
}

pub struct LongPolls<C> {
    held: HashMap<(String, i32), Vec<HeldPull<C>>>,
    count: usize,
    /// A queue gained its first held pull or lost its last since [`HeldQueues::update`].
    queues_changed: bool,
}

impl<C: Copy + Eq + Hash> Default for LongPolls<C> {
    fn default() -> Self {
        LongPolls {
            held: HashMap::new(),
            count: 0,
            queues_changed: false,
        }
    }
}

impl<C: Copy + Eq + Hash> LongPolls<C> {
    pub fn hold(&mut self, topic: &str, queue_id: i32, pull: HeldPull<C>) {
        let pulls = self.held.entry((topic.to_string(), queue_id)).or_default();
        self.queues_changed |= pulls.is_empty();
        pulls.push(pull);
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A message with `tags_code` arrived in the queue, which now ends at `max_offset`: the
    /// held pulls it satisfies.
    pub fn on_arrival(
        &mut self,
        topic: &str,
        queue_id: i32,
        max_offset: u64,
        tags_code: i64,
    ) -> Vec<HeldPull<C>> {
        let Some(pulls) = self.held.get_mut(&(topic.to_string(), queue_id)) else {
            return Vec::new();
        };
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(pulls)
            .into_iter()
            .partition(|pull| pull.queue_offset < max_offset && pull.filter.accepts(tags_code));
        *pulls = waiting;
        if pulls.is_empty() {
            self.held.remove(&(topic.to_string(), queue_id));
            self.queues_changed = true;
        }
        self.count -= ready.len();
        ready
    }

    /// The held pulls whose time is up at `now`, or whose queue (by `max_offset_of`) has grown
    /// past them meanwhile.
    pub fn on_tick(
        &mut self,
        now: Instant,
        max_offset_of: impl Fn(&str, i32) -> u64,
    ) -> Vec<HeldPull<C>> {
        let mut ready = Vec::new();
        let queues = self.held.len();
        self.held.retain(|(topic, queue_id), pulls| {
            let max_offset = max_offset_of(topic, *queue_id);
            let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(pulls)
                .into_iter()
                .partition(|pull| now >= pull.deadline || pull.queue_offset < max_offset);
            ready.extend(due);
            *pulls = waiting;
            !pulls.is_empty()
        });
        self.queues_changed |= self.held.len() != queues;
        self.count -= ready.len();
        ready
    }

    /// Forgets the pulls of a closed connection.
    pub fn on_connection_closed(&mut self, connection: C) {
        let mut dropped = 0;
        let queues = self.held.len();
        self.held.retain(|_, pulls| {
            let before = pulls.len();
            pulls.retain(|pull| pull.connection != connection);
            dropped += before - pulls.len();
            !pulls.is_empty()
        });
        self.queues_changed |= self.held.len() != queues;
        self.count -= dropped;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pull(connection: u32, offset: u64, deadline: Instant, filter: TagFilter) -> HeldPull<u32> {
        HeldPull {
            connection,
            request: RemotingCommand::request(wire::RequestCode::PULL_MESSAGE, connection as i32),
            queue_offset: offset,
            deadline,
            filter,
        }
    }

    #[test]
    fn arrivals_wake_matching_pulls_and_ticks_expire_the_rest() {
        let now = Instant::now();
        let later = now + Duration::from_secs(15);
        let mut polls = LongPolls::default();
        polls.hold("T", 0, pull(1, 5, later, TagFilter::all()));
        polls.hold("T", 0, pull(2, 5, later, TagFilter::parse("b")));
        polls.hold(
            "T",
            1,
            pull(3, 0, now + Duration::from_millis(10), TagFilter::all()),
        );
        assert_eq!(polls.len(), 3);
        let a = i64::from(wire::java_string_hash("a"));
        let woken = polls.on_arrival("T", 0, 6, a);
        assert_eq!(
            woken.iter().map(|p| p.connection).collect::<Vec<_>>(),
            vec![1]
        );
        assert!(
            polls.on_arrival("T", 0, 5, a).is_empty(),
            "no new message past offset 5"
        );
        let expired = polls.on_tick(now + Duration::from_secs(1), |_, _| 0);
        assert_eq!(
            expired.iter().map(|p| p.connection).collect::<Vec<_>>(),
            vec![3]
        );
        let grown = polls.on_tick(now + Duration::from_secs(1), |_, _| 9);
        assert_eq!(
            grown.iter().map(|p| p.connection).collect::<Vec<_>>(),
            vec![2]
        );
        assert!(polls.is_empty());
    }

    #[test]
    fn held_queues_follow_the_first_and_last_pull_of_a_queue() {
        let later = Instant::now() + Duration::from_secs(15);
        let (mut polls, held) = (LongPolls::default(), HeldQueues::default());
        polls.hold("T", 0, pull(1, 0, later, TagFilter::all()));
        held.update(&mut polls);
        assert!(held.contains("T", 0) && !held.contains("T", 1));
        polls.hold("T", 0, pull(2, 0, later, TagFilter::all()));
        assert!(
            !polls.queues_changed,
            "a second pull on a held queue changes no queue"
        );
        polls.on_connection_closed(1);
        held.update(&mut polls);
        assert!(held.contains("T", 0));
        polls.on_connection_closed(2);
        held.update(&mut polls);
        assert!(!held.contains("T", 0));
    }

    #[test]
    fn closed_connections_leave_no_held_pulls() {
        let later = Instant::now() + Duration::from_secs(15);
        let mut polls = LongPolls::default();
        polls.hold("T", 0, pull(1, 0, later, TagFilter::all()));
        polls.hold("T", 0, pull(2, 0, later, TagFilter::all()));
        polls.on_connection_closed(1);
        assert_eq!(polls.len(), 1);
        assert_eq!(polls.on_arrival("T", 0, 1, 0).len(), 1);
    }
}
