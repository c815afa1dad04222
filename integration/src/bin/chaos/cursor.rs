//! A reader of one queue on one broker, one queue offset at a time, pulling batches as it
//! goes: what the broker serves at each offset is a record, a gap (with the broker's reason),
//! or the end of the queue. A record served out of order is a duplicate.
//!
//! Owned by the main thread, during verification.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use integration::RawClient;
use wire::{RemotingCommand, ResponseCode};

use crate::requests;
use crate::verify::{Damage, Findings, Record, Slot};

pub struct Cursor {
    seed: u64,
    pub addr: SocketAddr,
    queue_id: i32,
    max: i64,
    client: Option<RawClient>,
    buffer: VecDeque<Record>,
    /// Offsets below this one are known missing, for `skip_reason`.
    skip_to: i64,
    skip_reason: String,
    skip_corrupt: bool,
}

impl Cursor {
    /// A cursor over `queue_id` on `addr`, whose queue ends at `max`.
    pub fn new(seed: u64, addr: SocketAddr, queue_id: i32, max: i64) -> Cursor {
        Cursor {
            seed,
            addr,
            queue_id,
            max,
            client: None,
            buffer: VecDeque::new(),
            skip_to: 0,
            skip_reason: String::new(),
            skip_corrupt: false,
        }
    }

    /// What the broker serves at `offset`; offsets must be asked in increasing order. An
    /// error means the broker could not be read at all (after retries).
    pub fn at(&mut self, offset: i64, findings: &mut Findings) -> Result<Slot, String> {
        if offset >= self.max {
            return Ok(Slot::End);
        }
        loop {
            while let Some(front) = self.buffer.front() {
                if front.queue_offset == offset {
                    let record = self.buffer.pop_front().ok_or("empty buffer")?;
                    return Ok(Slot::Record(record));
                }
                if front.queue_offset > offset {
                    return Ok(Slot::Missing {
                        reason: format!("skipped: the next record is at {}", front.queue_offset),
                        corrupt: false,
                    });
                }
                let line = format!(
                    "DUPLICATE: {} served queue {} offset {} again when asked for {offset}",
                    self.addr, self.queue_id, front.queue_offset
                );
                findings.flag(Damage::Duplicate, self.queue_id, front.queue_offset, line);
                self.buffer.pop_front();
            }
            if offset < self.skip_to {
                return Ok(Slot::Missing {
                    reason: self.skip_reason.clone(),
                    corrupt: self.skip_corrupt,
                });
            }
            self.fill(offset)?;
            if !self.buffer.iter().any(|r| r.queue_offset >= offset) && self.skip_to <= offset {
                self.skip(
                    offset + 1,
                    "served only records of earlier offsets".into(),
                    false,
                );
            }
        }
    }

    fn skip(&mut self, to: i64, reason: String, corrupt: bool) {
        self.skip_to = to;
        self.skip_reason = reason;
        self.skip_corrupt = corrupt;
    }

    /// Pulls a batch at `offset` into the buffer, or marks offsets missing.
    fn fill(&mut self, offset: i64) -> Result<(), String> {
        let response = self.pull(offset)?;
        let code = response.response_code();
        if code != ResponseCode::SUCCESS {
            let next: i64 = requests::ext(&response, "nextBeginOffset")
                .and_then(|n| n.parse().ok())
                .unwrap_or(offset + 1);
            let reason = format!(
                "pull answered {code} {}, next begin offset {next}",
                response.remark.as_deref().unwrap_or("")
            );
            self.skip(next.min(self.max).max(offset + 1), reason, false);
            return Ok(());
        }
        let mut position = 0;
        let mut count = 0;
        while position < response.body.len() {
            match Record::read(self.seed, &response.body[position..]) {
                Ok((record, size)) => {
                    self.buffer.push_back(record);
                    position += size;
                    count += 1;
                }
                // The records before it are kept; the next pull starts at the bad one.
                Err(error) => {
                    if count == 0 {
                        self.skip(offset + 1, format!("undecodable record: {error}"), true);
                    }
                    break;
                }
            }
        }
        if count == 0 && self.skip_to <= offset {
            self.skip(
                offset + 1,
                "pull answered SUCCESS without records".into(),
                false,
            );
        }
        Ok(())
    }

    /// One pull, retried on new connections (the broker may be slow, never faulted here).
    fn pull(&mut self, offset: i64) -> Result<RemotingCommand, String> {
        let mut last_error = String::new();
        for attempt in 0..4u64 {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(250 * attempt));
            }
            if self.client.is_none() {
                match RawClient::connect(self.addr) {
                    Ok(client) => self.client = Some(client),
                    Err(error) => {
                        last_error = format!("connect: {error}");
                        continue;
                    }
                }
            }
            let Some(client) = self.client.as_mut() else {
                continue;
            };
            match requests::pull(client, self.queue_id, offset) {
                Ok(response) => return Ok(response),
                Err(error) => {
                    last_error = error.to_string();
                    self.client = None;
                }
            }
        }
        Err(format!(
            "cannot pull queue {} offset {offset} from {}: {last_error}",
            self.queue_id, self.addr
        ))
    }
}
