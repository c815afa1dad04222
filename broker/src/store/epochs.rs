//! The epoch history of the commit log: which master incarnation wrote which bytes. Every
//! start of a master begins a new epoch at the end of its log; a slave keeps a copy of its
//! master's history. Two logs hold the same bytes wherever their histories agree (same epoch,
//! same incarnation nonce, same start) and both reach: within one epoch a single master
//! process appended sequentially, and slaves only copy. This is what replication checks
//! before any byte is streamed ([`common_end`]), after Kafka's leader epochs and RocketMQ
//! 5's epoch file. The rule is ours: Apache RocketMQ 4.x master/slave has no such history.
//!
//! ```text
//!  <root>/epochs, big-endian:
//!  +0  magic "RSEP" u32 | count u32
//!  +8  count × ( epoch u64 | nonce u64 | start_offset u64 | flags u64 )   flags bit 0: a
//!      verified slave replicated this epoch
//!  end CRC32 of everything before, u32
//! ```
//!
//! Written atomically (temp file, fsync, rename, directory fsync) before the store accepts any
//! byte of a new epoch, and by a slave after it truncated its log to what it shares with its
//! master. Owned by [`super::MessageStore`] behind a mutex; replication threads change it.

use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::direct_file::sync_directory;

const MAGIC: u32 = u32::from_be_bytes(*b"RSEP");
const ENTRY_SIZE: usize = 32;
const FILE_NAME: &str = "epochs";
/// Far more than a broker restarts in its life; bounds what a peer may make us allocate.
pub const EPOCHS_MAX: usize = 1 << 16;
const FLAG_REPLICATED: u64 = 1;
const FLAG_RECOVERING: u64 = 2;

/// One master incarnation and where its bytes start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    pub epoch: u64,
    /// Random per incarnation: two stores that both started an epoch 1 are not one history.
    pub nonce: u64,
    pub start_offset: u64,
    /// A verified slave copied this epoch (then a master that lost data waits for it).
    pub replicated: bool,
    /// A master that may have lost the end of this epoch has not begun the next one yet: it
    /// still waits for its slave, also after another restart.
    pub recovering: bool,
}

impl Epoch {
    /// Same incarnation, same start: the `replicated` flag is local knowledge.
    pub fn same_as(&self, other: &Epoch) -> bool {
        self.epoch == other.epoch
            && self.nonce == other.nonce
            && self.start_offset == other.start_offset
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpochHistory {
    entries: Vec<Epoch>,
}

impl EpochHistory {
    pub fn new(entries: Vec<Epoch>) -> EpochHistory {
        EpochHistory { entries }
    }

    pub fn entries(&self) -> &[Epoch] {
        &self.entries
    }

    pub fn last(&self) -> Option<&Epoch> {
        self.entries.last()
    }

    /// Begins the next epoch at `start_offset` (the log's end). Epochs that hold no byte of
    /// this log (starting at or past its end: a promoted slave that copied its master's
    /// history, or a log cut shorter since) are dropped rather than kept.
    pub fn begin(&mut self, start_offset: u64) -> Epoch {
        let epoch = self
            .entries
            .iter()
            .map(|entry| entry.epoch)
            .max()
            .map_or(1, |last| last.saturating_add(1));
        while self
            .entries
            .last()
            .is_some_and(|last| last.start_offset >= start_offset)
        {
            self.entries.pop();
        }
        let begun = Epoch {
            epoch,
            nonce: random_nonce(),
            start_offset,
            replicated: false,
            recovering: false,
        };
        self.entries.push(begun);
        begun
    }

    /// Marks the last epoch as one whose end may be lost and not yet taken back; whether that
    /// changed anything.
    pub fn mark_recovering(&mut self) -> bool {
        match self.entries.last_mut() {
            Some(last) if !last.recovering => {
                last.recovering = true;
                true
            }
            _ => false,
        }
    }

    /// Marks the last epoch as replicated; whether that changed anything.
    pub fn mark_replicated(&mut self) -> bool {
        match self.entries.last_mut() {
            Some(last) if !last.replicated => {
                last.replicated = true;
                true
            }
            _ => false,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.entries.len() * ENTRY_SIZE);
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        for entry in &self.entries {
            encode_entry(entry, &mut out);
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<EpochHistory, String> {
        if bytes.len() < 12 {
            return Err(format!("{} bytes, too short", bytes.len()));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_be_bytes() != crc {
            return Err("CRC mismatch".into());
        }
        if body[..4] != MAGIC.to_be_bytes() {
            return Err("not an epoch file".into());
        }
        let count = u32::from_be_bytes([body[4], body[5], body[6], body[7]]) as usize;
        let (entries, rest) = decode_entries(&body[8..], count)?;
        if !rest.is_empty() {
            return Err(format!("{} bytes after the entries", rest.len()));
        }
        Ok(EpochHistory { entries })
    }

    /// Reads `<root>/epochs`; an absent file is an empty history, a damaged one an error
    /// (the store must not guess which bytes are whose).
    pub fn load(root: &Path) -> io::Result<EpochHistory> {
        match fs::read(root.join(FILE_NAME)) {
            Ok(bytes) => EpochHistory::decode(&bytes).map_err(|reason| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {reason}", root.join(FILE_NAME).display()),
                )
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(EpochHistory::default()),
            Err(error) => Err(error),
        }
    }

    pub fn save(&self, root: &Path) -> io::Result<()> {
        let target: PathBuf = root.join(FILE_NAME);
        let temp = root.join(format!("{FILE_NAME}.tmp"));
        {
            let mut file = fs::File::create(&temp)?;
            file.write_all(&self.encode())?;
            file.sync_all()?;
        }
        fs::rename(&temp, &target)?;
        sync_directory(root)
    }
}

/// An entry's 32 bytes.
pub fn encode_entry(entry: &Epoch, out: &mut Vec<u8>) {
    out.extend_from_slice(&entry.epoch.to_be_bytes());
    out.extend_from_slice(&entry.nonce.to_be_bytes());
    out.extend_from_slice(&entry.start_offset.to_be_bytes());
    let mut flags = 0;
    if entry.replicated {
        flags |= FLAG_REPLICATED;
    }
    if entry.recovering {
        flags |= FLAG_RECOVERING;
    }
    out.extend_from_slice(&flags.to_be_bytes());
}

/// `count` entries from the start of `bytes`, checked to start in order; and the rest.
pub fn decode_entries(bytes: &[u8], count: usize) -> Result<(Vec<Epoch>, &[u8]), String> {
    if count > EPOCHS_MAX || bytes.len() < count * ENTRY_SIZE {
        return Err(format!("{count} epochs in {} bytes", bytes.len()));
    }
    let word = |at: usize| {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(&bytes[at..at + 8]);
        u64::from_be_bytes(eight)
    };
    let mut entries: Vec<Epoch> = Vec::with_capacity(count);
    for index in 0..count {
        let at = index * ENTRY_SIZE;
        let entry = Epoch {
            epoch: word(at),
            nonce: word(at + 8),
            start_offset: word(at + 16),
            replicated: word(at + 24) & FLAG_REPLICATED != 0,
            recovering: word(at + 24) & FLAG_RECOVERING != 0,
        };
        if entries
            .last()
            .is_some_and(|last| last.start_offset > entry.start_offset)
        {
            return Err(format!(
                "epoch {} starts before the one before it",
                entry.epoch
            ));
        }
        entries.push(entry);
    }
    Ok((entries, &bytes[count * ENTRY_SIZE..]))
}

/// The end of what two logs provably share: `master` ends at `master_end`, `slave` at
/// `slave_end`. Entries are compared in order; in the last one both hold, the shorter log's
/// reach in it is where sharing ends. A slave without history shares nothing (its bytes
/// cannot be checked); nor do logs whose first epochs differ.
pub fn common_end(
    master: &EpochHistory,
    master_end: u64,
    slave: &EpochHistory,
    slave_end: u64,
) -> u64 {
    let reach = |history: &EpochHistory, index: usize, end: u64| {
        history
            .entries
            .get(index + 1)
            .map_or(end, |next| next.start_offset)
            .min(end)
    };
    let mut common = 0;
    for (index, (m, s)) in master.entries.iter().zip(&slave.entries).enumerate() {
        if !m.same_as(s) {
            break;
        }
        let (master_reach, slave_reach) = (
            reach(master, index, master_end),
            reach(slave, index, slave_end),
        );
        common = master_reach.min(slave_reach);
        if master_reach != slave_reach {
            break;
        }
    }
    common.min(master_end).min(slave_end)
}

/// A random nonce (std's randomly keyed hasher, no extra crate).
fn random_nonce() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos()),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: u64, start_offset: u64) -> Epoch {
        Epoch {
            epoch,
            nonce: epoch * 7919,
            start_offset,
            replicated: false,
            recovering: false,
        }
    }

    fn history(entries: &[(u64, u64)]) -> EpochHistory {
        EpochHistory::new(entries.iter().map(|(e, s)| epoch(*e, *s)).collect())
    }

    #[test]
    fn the_common_end_is_where_the_histories_or_the_logs_part() {
        let master = history(&[(1, 0), (2, 1000), (3, 1500)]);
        // Behind on an older epoch: everything it has is shared.
        assert_eq!(common_end(&master, 2000, &history(&[(1, 0)]), 800), 800);
        // Ahead in an epoch the master left earlier (it lost its tail, then began epoch 3).
        assert_eq!(
            common_end(&master, 2000, &history(&[(1, 0), (2, 1000)]), 1700),
            1500
        );
        // Diverged: another epoch 2 (another nonce) from the same offset.
        let mut other = history(&[(1, 0), (2, 1000)]);
        other.entries[1].nonce = 1;
        assert_eq!(common_end(&master, 2000, &other, 1200), 1000);
        // Same history, the slave ahead in the master's current epoch: the master's end.
        assert_eq!(common_end(&master, 2000, &master.clone(), 2100), 2000);
        // No history (a slave from before epochs, or empty): nothing shared.
        assert_eq!(common_end(&master, 2000, &EpochHistory::default(), 900), 0);
        // Another store altogether.
        assert_eq!(common_end(&master, 2000, &history(&[(4, 0)]), 900), 0);
    }

    #[test]
    fn epochs_begin_in_order_survive_a_round_trip_and_refuse_damage() {
        let mut history = EpochHistory::default();
        let first = history.begin(0);
        assert_eq!((first.epoch, first.start_offset), (1, 0));
        // A master that restarted without appending replaces its empty epoch.
        let second = history.begin(0);
        assert_eq!((second.epoch, history.entries().len()), (2, 1));
        history.begin(4096);
        assert!(history.mark_recovering());
        assert!(!history.mark_recovering());
        assert!(history.mark_replicated());
        assert!(!history.mark_replicated());
        let bytes = history.encode();
        assert_eq!(EpochHistory::decode(&bytes).unwrap(), history);
        let mut damaged = bytes.clone();
        damaged[12] ^= 1;
        assert!(EpochHistory::decode(&damaged).is_err());
        // A promoted slave's history can list epochs past its log's end: beginning there
        // drops them (no epoch may start before the one before it), and numbers keep rising.
        let mut promoted = history.clone();
        let begun = promoted.begin(100);
        assert_eq!(promoted.entries().len(), 2);
        assert_eq!(begun.epoch, 4);
        assert!(!begun.recovering);
    }

    #[test]
    fn the_file_is_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("epochs-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert_eq!(EpochHistory::load(&dir).unwrap(), EpochHistory::default());
        let history = history(&[(1, 0), (2, 77)]);
        history.save(&dir).unwrap();
        assert_eq!(EpochHistory::load(&dir).unwrap(), history);
        fs::write(dir.join(FILE_NAME), b"garbage!garbage!").unwrap();
        assert!(EpochHistory::load(&dir).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
