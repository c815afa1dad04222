//! Verification: the ledger of every SEND_OK and the checks of the stored queues against it,
//! on the master and the slave, by pulling each queue from each broker in step:
//!
//! - queue offsets are contiguous from the queue's min offset: no gap (a queue offset the
//!   broker cannot serve, or skips) and no duplicate (a record served twice, or a message
//!   stored at two queue offsets);
//! - every record is intact: its CRC holds and its body is the one its prefix names;
//! - master and slave hold byte-identical records at every queue offset (else diverged);
//! - every acked message is at the queue offset its ack named, with its body and the
//!   commit-log offset of its msgId, on both brokers (else lost).
//!
//! A loss is confirmed before it is counted: the queue offset is pulled again on a new
//! connection and the commit-log offset is read with VIEW_MESSAGE_BY_ID. A second read that
//! disagrees with the first is reported as an inconsistent read, not as a loss.
//!
//! Owned by the main thread; runs while the senders are paused.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;

use wire::message::RecordView;

use crate::cursor::Cursor;
use crate::requests;
use crate::sender::{Ack, Identity};

/// Detail lines kept per kind and verification pass; the counts are always complete.
const DETAILS_MAX: usize = 6;

struct Entry {
    ack: Ack,
    lost: bool,
}

/// Every ack of the run, and where the master was last seen holding each message.
pub struct Ledger {
    seed: u64,
    entries: Vec<Entry>,
    /// Per queue: queue offset -> the newest ack naming it.
    by_queue: Vec<BTreeMap<i64, usize>>,
    seen: HashMap<(u16, u64), (i32, i64)>,
    pub lost_total: u64,
    /// Damage already counted, carried from one verification to the next.
    flagged: HashSet<(Damage, i32, i64)>,
}

/// The brokers to verify; the slave's records are compared only once it has caught up,
/// except where both hold a record.
pub struct Brokers {
    pub master: SocketAddr,
    pub slave: Option<SocketAddr>,
    pub slave_complete: bool,
}

/// A kind of damage found at one queue offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Damage {
    Gap,
    Duplicate,
    Corrupt,
    Diverged,
}

#[derive(Debug, Default)]
pub struct Findings {
    /// Acks newly found lost.
    pub lost: u64,
    /// Queue offsets newly found damaged, by kind (a place found again is not counted again).
    pub diverged: u64,
    pub gaps: u64,
    pub duplicates: u64,
    pub corrupt: u64,
    /// Second reads that disagreed with the first.
    pub inconsistent: u64,
    pub records_checked: u64,
    pub details: Vec<String>,
    noted: BTreeMap<String, usize>,
    /// Every (damage, queue, offset) found so far in the run.
    flagged: HashSet<(Damage, i32, i64)>,
}

impl Findings {
    /// Keeps a detail line, at most [`DETAILS_MAX`] per kind (its first word) and pass.
    pub fn note(&mut self, line: String) {
        let kind = line.split(' ').next().unwrap_or("").to_string();
        let count = self.noted.entry(kind).or_default();
        *count += 1;
        if *count <= DETAILS_MAX {
            self.details.push(line);
        }
    }

    /// Detail lines not kept, by kind.
    pub fn unnoted(&self) -> Vec<String> {
        self.noted
            .iter()
            .filter(|(_, count)| **count > DETAILS_MAX)
            .map(|(kind, count)| format!("... and {} more {kind}", count - DETAILS_MAX))
            .collect()
    }

    /// Counts damage at a queue offset, once per run.
    pub fn flag(&mut self, damage: Damage, queue_id: i32, offset: i64, line: String) {
        if !self.flagged.insert((damage, queue_id, offset)) {
            return;
        }
        *match damage {
            Damage::Gap => &mut self.gaps,
            Damage::Duplicate => &mut self.duplicates,
            Damage::Corrupt => &mut self.corrupt,
            Damage::Diverged => &mut self.diverged,
        } += 1;
        self.note(line);
    }
}

#[derive(Debug, Clone)]
pub struct Record {
    pub queue_id: i32,
    pub queue_offset: i64,
    pub commit_log_offset: i64,
    pub bytes: Vec<u8>,
    pub identity: Option<Identity>,
    /// Its body is the one its prefix names.
    pub intact: bool,
}

impl Record {
    pub fn read(seed: u64, bytes: &[u8]) -> Result<(Record, usize), String> {
        let (view, size) = RecordView::decode(bytes, true).map_err(|e| e.to_string())?;
        let identity = Identity::parse(seed, view.body);
        let intact = identity.is_some_and(|id| id.body(seed) == view.body);
        let record = Record {
            queue_id: view.queue_id,
            queue_offset: view.queue_offset,
            commit_log_offset: view.commit_log_offset,
            bytes: bytes[..size].to_vec(),
            identity,
            intact,
        };
        Ok((record, size))
    }

    fn describe(&self) -> String {
        match self.identity {
            Some(id) => format!(
                "c{} n{} (round {}) at commit-log offset {}",
                id.connection, id.sequence, id.round, self.commit_log_offset
            ),
            None => format!(
                "a foreign record at commit-log offset {}",
                self.commit_log_offset
            ),
        }
    }

    /// Whether this is the acked message, where and as its ack says.
    fn holds(&self, ack: &Ack) -> bool {
        self.intact
            && self.identity == Some(ack.id)
            && self.queue_id == ack.queue_id
            && self.queue_offset == ack.queue_offset
            && self.commit_log_offset == ack.commit_log_offset
    }
}

/// What a broker serves at one queue offset.
pub enum Slot {
    Record(Record),
    Missing {
        reason: String,
        corrupt: bool,
    },
    /// At or past the queue's max offset.
    End,
}

impl Ledger {
    pub fn new(seed: u64, queues: i32) -> Ledger {
        Ledger {
            seed,
            entries: Vec::new(),
            by_queue: (0..queues).map(|_| BTreeMap::new()).collect(),
            seen: HashMap::new(),
            lost_total: 0,
            flagged: HashSet::new(),
        }
    }

    pub fn acked(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Adds a round's acks. Two acks naming one queue offset cannot both be kept: the older
    /// is lost (its place was given again after a crash).
    pub fn add(&mut self, acks: Vec<Ack>, findings: &mut Findings) {
        for ack in acks {
            let index = self.entries.len();
            self.entries.push(Entry { ack, lost: false });
            let older = self.by_queue[ack.queue_id as usize].insert(ack.queue_offset, index);
            if let Some(older) = older {
                let reason = format!(
                    "its queue offset was acked again, to c{} n{}",
                    ack.id.connection, ack.id.sequence
                );
                self.mark_lost(older, &reason, findings);
            }
        }
    }

    fn mark_lost(&mut self, index: usize, reason: &str, findings: &mut Findings) {
        let entry = &mut self.entries[index];
        if entry.lost {
            return;
        }
        entry.lost = true;
        self.lost_total += 1;
        findings.lost += 1;
        let ack = entry.ack;
        findings.note(format!(
            "LOST c{} n{} (round {}) acked at queue {} offset {} commit-log offset {}: {reason}",
            ack.id.connection,
            ack.id.sequence,
            ack.id.round,
            ack.queue_id,
            ack.queue_offset,
            ack.commit_log_offset
        ));
    }

    /// The lowest queue offset acked since `round` in each queue (`i64::MAX` when none).
    pub fn lowest_acked_since(&self, round: u32) -> Vec<i64> {
        let mut lowest = vec![i64::MAX; self.by_queue.len()];
        for entry in self.entries.iter().rev() {
            if entry.ack.id.round < round {
                break;
            }
            let slot = &mut lowest[entry.ack.queue_id as usize];
            *slot = (*slot).min(entry.ack.queue_offset);
        }
        lowest
    }
}

impl Ledger {
    /// Verifies every queue from `from[queue]` (or its min offset) to its end on both
    /// brokers, and the acks past the ends. An error means a broker could not be read.
    pub fn verify(
        &mut self,
        brokers: &Brokers,
        from: &[i64],
        findings: &mut Findings,
    ) -> Result<(), String> {
        findings.flagged = std::mem::take(&mut self.flagged);
        let mut result = Ok(());
        for queue_id in 0..self.by_queue.len() as i32 {
            let from = from.get(queue_id as usize).copied().unwrap_or(0);
            result = self.verify_queue(brokers, queue_id, from, findings);
            if result.is_err() {
                break;
            }
        }
        self.flagged = std::mem::take(&mut findings.flagged);
        result
    }

    fn verify_queue(
        &mut self,
        brokers: &Brokers,
        queue_id: i32,
        from: i64,
        findings: &mut Findings,
    ) -> Result<(), String> {
        let (master_min, master_max) = requests::queue_offsets(brokers.master, queue_id)?;
        let slave_range = match brokers.slave {
            Some(addr) => Some(requests::queue_offsets(addr, queue_id)?),
            None => None,
        };
        let start = from.min(master_max).max(master_min);
        let end = master_max.max(slave_range.map_or(0, |(_, max)| max));
        let mut master = Cursor::new(self.seed, brokers.master, queue_id, master_max);
        let mut slave = brokers
            .slave
            .zip(slave_range)
            .map(|(addr, (_, max))| Cursor::new(self.seed, addr, queue_id, max));
        for offset in start..end {
            let on_master = master.at(offset, findings)?;
            let on_slave = match slave.as_mut() {
                Some(cursor) => Some(cursor.at(offset, findings)?),
                None => None,
            };
            findings.records_checked += 1;
            self.check_master(queue_id, offset, &on_master, findings);
            if let Some(on_slave) = &on_slave {
                check_same(brokers, queue_id, offset, &on_master, on_slave, findings);
            }
            self.check_ack(
                brokers,
                queue_id,
                offset,
                &on_master,
                on_slave.as_ref(),
                findings,
            )?;
        }
        let beyond: Vec<usize> = self.by_queue[queue_id as usize]
            .range(end..)
            .chain(self.by_queue[queue_id as usize].range(..master_min))
            .map(|(_, index)| *index)
            .collect();
        for index in beyond {
            let reason = format!("outside the master's queue ({master_min}..{master_max})");
            self.confirm_lost(brokers.master, "master", index, reason, findings)?;
        }
        Ok(())
    }

    /// A record's integrity, and that no message is stored at two places.
    fn check_master(&mut self, queue_id: i32, offset: i64, slot: &Slot, findings: &mut Findings) {
        let record = match slot {
            Slot::Record(record) => record,
            Slot::Missing { reason, corrupt } => {
                let (damage, kind) = match corrupt {
                    true => (Damage::Corrupt, "CORRUPT"),
                    false => (Damage::Gap, "GAP"),
                };
                let line =
                    format!("{kind} on the master: queue {queue_id} offset {offset}: {reason}");
                findings.flag(damage, queue_id, offset, line);
                return;
            }
            Slot::End => return,
        };
        if !record.intact || record.queue_id != queue_id {
            let line = format!(
                "CORRUPT on the master: queue {queue_id} offset {offset} holds {} (queue {})",
                record.describe(),
                record.queue_id
            );
            findings.flag(Damage::Corrupt, queue_id, offset, line);
        }
        let Some(id) = record.identity else {
            return;
        };
        let here = (queue_id, offset);
        if let Some(before) = self.seen.insert((id.connection, id.sequence), here) {
            if before != here {
                let line = format!(
                    "DUPLICATE: c{} n{} at queue {} offset {} and at queue {queue_id} offset {offset}",
                    id.connection, id.sequence, before.0, before.1
                );
                findings.flag(Damage::Duplicate, queue_id, offset, line);
            }
        }
    }

    /// The ack naming this queue offset, if any, against what each broker holds there.
    fn check_ack(
        &mut self,
        brokers: &Brokers,
        queue_id: i32,
        offset: i64,
        on_master: &Slot,
        on_slave: Option<&Slot>,
        findings: &mut Findings,
    ) -> Result<(), String> {
        let Some(&index) = self.by_queue[queue_id as usize].get(&offset) else {
            return Ok(());
        };
        if self.entries[index].lost {
            return Ok(());
        }
        let ack = self.entries[index].ack;
        if let Some(reason) = missing_reason(&ack, on_master) {
            return self.confirm_lost(brokers.master, "master", index, reason, findings);
        }
        let (Some(addr), Some(on_slave)) = (brokers.slave, on_slave) else {
            return Ok(());
        };
        // A slave still behind is not asked for what it has not received yet.
        if !brokers.slave_complete && !matches!(on_slave, Slot::Record(_)) {
            return Ok(());
        }
        if let Some(reason) = missing_reason(&ack, on_slave) {
            return self.confirm_lost(addr, "slave", index, reason, findings);
        }
        Ok(())
    }

    /// Reads the acked message again two ways before counting it lost.
    fn confirm_lost(
        &mut self,
        addr: SocketAddr,
        broker: &str,
        index: usize,
        reason: String,
        findings: &mut Findings,
    ) -> Result<(), String> {
        if self.entries[index].lost {
            return Ok(());
        }
        let ack = self.entries[index].ack;
        let mut again = Cursor::new(self.seed, addr, ack.queue_id, i64::MAX);
        let mut scratch = Findings::default();
        let second = again.at(ack.queue_offset, &mut scratch)?;
        if let Slot::Record(record) = &second {
            if record.holds(&ack) {
                findings.inconsistent += 1;
                findings.note(format!(
                    "INCONSISTENT READ on the {broker}: queue {} offset {}: first {reason}, \
                     then the acked message",
                    ack.queue_id, ack.queue_offset
                ));
                return Ok(());
            }
        }
        let second = describe_slot(&second);
        let viewed = match requests::view_message(addr, ack.commit_log_offset)? {
            None => "nothing".to_string(),
            Some(bytes) => match Record::read(self.seed, &bytes) {
                Ok((record, _)) if record.holds(&ack) => "the acked message".to_string(),
                Ok((record, _)) => record.describe(),
                Err(error) => format!("an unreadable record ({error})"),
            },
        };
        let reason = format!(
            "on the {broker}: {reason}; read again: {second}; its commit-log offset holds {viewed}"
        );
        self.mark_lost(index, &reason, findings);
        Ok(())
    }
}

/// Why `slot` is not the acked message, or `None` when it is.
fn missing_reason(ack: &Ack, slot: &Slot) -> Option<String> {
    match slot {
        Slot::Record(record) if record.holds(ack) => None,
        other => Some(describe_slot(other)),
    }
}

fn describe_slot(slot: &Slot) -> String {
    match slot {
        Slot::Record(record) if !record.intact => format!("a damaged {}", record.describe()),
        Slot::Record(record) => format!("holds {}", record.describe()),
        Slot::Missing { reason, .. } => reason.clone(),
        Slot::End => "past the queue's end".to_string(),
    }
}

/// Master and slave must hold the same bytes at every queue offset: the slave may lack the
/// tail only while it has not caught up, and may never hold what the master does not.
fn check_same(
    brokers: &Brokers,
    queue_id: i32,
    offset: i64,
    on_master: &Slot,
    on_slave: &Slot,
    findings: &mut Findings,
) {
    let differs = match (on_master, on_slave) {
        (Slot::Record(master), Slot::Record(slave)) => master.bytes != slave.bytes,
        (Slot::Record(_), _) => brokers.slave_complete,
        (_, Slot::Record(_)) => true,
        _ => false,
    };
    if differs {
        let line = format!(
            "DIVERGED at queue {queue_id} offset {offset}: master {}, slave {}",
            describe_slot(on_master),
            describe_slot(on_slave)
        );
        findings.flag(Damage::Diverged, queue_id, offset, line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(sequence: u64, round: u32, queue_id: i32, queue_offset: i64) -> Ack {
        Ack {
            id: Identity {
                connection: 0,
                sequence,
                round,
                size: 100,
            },
            queue_id,
            queue_offset,
            commit_log_offset: sequence as i64 * 1000,
        }
    }

    #[test]
    fn a_queue_offset_acked_twice_loses_the_older_ack() {
        let mut ledger = Ledger::new(1, 2);
        let mut findings = Findings::default();
        ledger.add(vec![ack(1, 1, 0, 0), ack(2, 1, 0, 1)], &mut findings);
        ledger.add(vec![ack(3, 2, 0, 1), ack(4, 2, 1, 0)], &mut findings);
        assert_eq!(findings.lost, 1);
        assert_eq!(ledger.lost_total, 1);
        assert!(
            findings.details[0].contains("LOST c0 n2"),
            "{:?}",
            findings.details
        );
        assert_eq!(ledger.lowest_acked_since(2), vec![1, 0]);
        assert_eq!(ledger.lowest_acked_since(3), vec![i64::MAX, i64::MAX]);
    }

    #[test]
    fn damage_at_one_place_counts_once() {
        let mut findings = Findings::default();
        findings.flag(Damage::Gap, 0, 5, "GAP a".into());
        findings.flag(Damage::Gap, 0, 5, "GAP a again".into());
        findings.flag(Damage::Diverged, 0, 5, "DIVERGED a".into());
        assert_eq!((findings.gaps, findings.diverged), (1, 1));
        for n in 0..10 {
            findings.note(format!("LOST {n}"));
        }
        assert_eq!(findings.unnoted(), vec!["... and 4 more LOST".to_string()]);
    }

    #[test]
    fn a_record_holds_an_ack_only_intact_and_in_place() {
        let acked = ack(7, 1, 2, 9);
        let body = acked.id.body(1);
        let properties = "TAGS\u{1}TagA\u{2}".to_string();
        let record = wire::message::MessageRecord {
            version: wire::message::MagicVersion::V1,
            body_crc: 0,
            queue_id: 2,
            flag: 0,
            queue_offset: 9,
            commit_log_offset: 7000,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_timestamp: 2,
            store_host: "127.0.0.1:2".parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            topic: "ChaosTopic".into(),
            properties,
        };
        let mut bytes = Vec::new();
        record.encode(&mut bytes).unwrap();
        let (read, size) = Record::read(1, &bytes).unwrap();
        assert_eq!(size, bytes.len());
        assert!(read.holds(&acked));
        assert!(!read.holds(&Ack {
            commit_log_offset: 7001,
            ..acked
        }));
        let elsewhere = ack(8, 1, 2, 9);
        assert!(!read.holds(&elsewhere));
    }
}
