//! SlaveSynchronize: a slave copies its master's topic table, consumer offsets and
//! subscription groups every 10 s over the normal protocol (GET_ALL_TOPIC_CONFIG,
//! GET_ALL_CONSUMER_OFFSET, GET_ALL_SUBSCRIPTIONGROUP_CONFIG), so that it can serve pulls and
//! offset queries when the master is gone.
//!
//! Owned by the event-loop thread; one outbound connection to the master's `listenPort`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use client::net::{ConnectionId, Context};
use wire::{RemotingCommand, RequestCode, ResponseCode};

const SYNC_INTERVAL: Duration = Duration::from_secs(10);

/// What a pending request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Topics,
    Offsets,
    Groups,
}

#[derive(Default)]
pub struct SlaveSync {
    master: Option<SocketAddr>,
    connection: Option<ConnectionId>,
    pending: HashMap<i32, Table>,
    next_opaque: i32,
    last_round: Option<Instant>,
}

impl SlaveSync {
    pub fn is_master_connection(&self, id: ConnectionId) -> bool {
        self.connection == Some(id)
    }

    /// Sends a round of requests when one is due and the master's address is known.
    pub fn tick(&mut self, ctx: &mut Context<'_>, now: Instant, master: Option<SocketAddr>) {
        if master != self.master {
            self.master = master;
            self.connection = None;
            self.last_round = None;
        }
        let Some(master) = self.master else {
            return;
        };
        if self
            .last_round
            .is_some_and(|last| now.duration_since(last) < SYNC_INTERVAL)
        {
            return;
        }
        self.last_round = Some(now);
        let id = match self.connection {
            Some(id) if ctx.is_open(id) => id,
            _ => match ctx.connect(master) {
                Ok(id) => {
                    self.connection = Some(id);
                    id
                }
                Err(error) => {
                    log::warn!("slave sync: cannot connect to master {master}: {error}");
                    return;
                }
            },
        };
        let requests = [
            (RequestCode::GET_ALL_TOPIC_CONFIG, Table::Topics),
            (RequestCode::GET_ALL_CONSUMER_OFFSET, Table::Offsets),
            (RequestCode::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, Table::Groups),
        ];
        for (code, table) in requests {
            self.next_opaque = self.next_opaque.wrapping_add(1).max(1 << 24);
            let request = RemotingCommand::request(code, self.next_opaque);
            if ctx.send(id, &request) {
                self.pending.insert(self.next_opaque, table);
            }
        }
    }

    /// The table an answer from the master carries, when it is one of ours and succeeded.
    pub fn on_response(&mut self, response: &RemotingCommand) -> Option<Table> {
        let table = self.pending.remove(&response.opaque)?;
        if response.code != ResponseCode::SUCCESS.as_i32() {
            log::warn!(
                "slave sync: master refused {table:?}: {:?}",
                response.remark
            );
            return None;
        }
        Some(table)
    }
}
