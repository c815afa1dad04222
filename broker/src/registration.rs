//! Registration with the name servers: REGISTER_BROKER to every namesrv at start, every
//! `registerNameServerPeriod` (30 s) and whenever the topic table changes; UNREGISTER_BROKER
//! at a clean stop. Each namesrv gets its own outbound connection on the broker's event loop,
//! reopened on the next round when it drops. A slave learns its master's addresses from the
//! answers.
//!
//! Owned by the event-loop thread.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use client::net::{ConnectionId, Context};
use wire::body::{RegisterBrokerBody, TopicConfigSerializeWrapper};
use wire::headers::namesrv::{
    RegisterBrokerRequestHeader, RegisterBrokerResponseHeader, UnregisterBrokerRequestHeader,
};
use wire::headers::CommandHeader;
use wire::{RemotingCommand, RequestCode, ResponseCode};

/// Who this broker is, as the namesrv files it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub cluster_name: String,
    pub broker_name: String,
    pub broker_id: i64,
    pub broker_addr: String,
    pub ha_server_addr: String,
}

/// What the masters' addresses are, as the last answer said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterAddresses {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
}

pub struct Registration {
    identity: Identity,
    namesrvs: Vec<SocketAddr>,
    connections: HashMap<SocketAddr, ConnectionId>,
    /// Requests in flight by opaque, to match answers.
    pending: HashMap<i32, SocketAddr>,
    next_opaque: i32,
    period: Duration,
    last_round: Option<Instant>,
    pub master: MasterAddresses,
    /// Answers received with SUCCESS since start (tests and logs).
    pub registered_count: u64,
}

/// Resolves `host:port` namesrv addresses; an unresolvable one is an error naming it.
pub fn resolve(addresses: &[String]) -> Result<Vec<SocketAddr>, String> {
    addresses
        .iter()
        .map(|address| {
            address
                .to_socket_addrs()
                .ok()
                .and_then(|mut found| found.next())
                .ok_or_else(|| format!("cannot resolve namesrv address {address:?}"))
        })
        .collect()
}

impl Registration {
    pub fn new(identity: Identity, namesrvs: Vec<SocketAddr>, period: Duration) -> Self {
        Registration {
            identity,
            namesrvs,
            connections: HashMap::new(),
            pending: HashMap::new(),
            next_opaque: 1 << 20,
            period,
            last_round: None,
            master: MasterAddresses::default(),
            registered_count: 0,
        }
    }

    pub fn is_namesrv_connection(&self, id: ConnectionId) -> bool {
        self.connections.values().any(|known| *known == id)
    }

    /// Registers now when a round is due (or `force`d by a topic change).
    pub fn tick(
        &mut self,
        ctx: &mut Context<'_>,
        now: Instant,
        force: bool,
        topics: impl FnOnce() -> TopicConfigSerializeWrapper,
    ) {
        let due = match self.last_round {
            None => true,
            Some(last) => now.duration_since(last) >= self.period,
        };
        if !(due || force) || self.namesrvs.is_empty() {
            return;
        }
        self.last_round = Some(now);
        let body = RegisterBrokerBody {
            filter_server_list: Vec::new(),
            topic_config_serialize_wrapper: topics(),
        }
        .encode();
        let header = RegisterBrokerRequestHeader {
            broker_name: self.identity.broker_name.clone(),
            broker_addr: self.identity.broker_addr.clone(),
            cluster_name: self.identity.cluster_name.clone(),
            ha_server_addr: self.identity.ha_server_addr.clone(),
            broker_id: self.identity.broker_id,
            compressed: false,
            body_crc32: wire::crc32_masked(&body) as i32,
        };
        for namesrv in self.namesrvs.clone() {
            // A namesrv that never answered the last round (its connection dropped) will not:
            // forget those requests rather than keep one a round forever.
            self.pending.retain(|_, pending| *pending != namesrv);
            let mut request = RemotingCommand::request(RequestCode::REGISTER_BROKER, self.opaque());
            header.write_to(&mut request.ext_fields);
            request.body = body.clone();
            self.send(ctx, namesrv, request);
        }
    }

    fn opaque(&mut self) -> i32 {
        self.next_opaque = self.next_opaque.wrapping_add(1).max(1 << 20);
        self.next_opaque
    }

    fn send(&mut self, ctx: &mut Context<'_>, namesrv: SocketAddr, request: RemotingCommand) {
        let id = match self.connections.get(&namesrv) {
            Some(id) if ctx.is_open(*id) => *id,
            _ => match ctx.connect(namesrv) {
                Ok(id) => {
                    self.connections.insert(namesrv, id);
                    id
                }
                Err(error) => {
                    log::warn!("namesrv {namesrv}: cannot connect: {error}");
                    return;
                }
            },
        };
        self.pending.insert(request.opaque, namesrv);
        if !ctx.send(id, &request) {
            self.pending.remove(&request.opaque);
            log::warn!("namesrv {namesrv}: connection lost before registering");
        }
    }

    /// An answer on a namesrv connection.
    pub fn on_response(&mut self, response: &RemotingCommand) {
        let Some(namesrv) = self.pending.remove(&response.opaque) else {
            return;
        };
        if response.code != ResponseCode::SUCCESS.as_i32() {
            log::warn!(
                "namesrv {namesrv} refused registration: code {} {}",
                response.code,
                response.remark.as_deref().unwrap_or("")
            );
            return;
        }
        if self.registered_count == 0 {
            log::info!("registered with namesrv {namesrv}");
        }
        self.registered_count += 1;
        if let Ok(header) = RegisterBrokerResponseHeader::read_from(&response.ext_fields) {
            self.master = MasterAddresses {
                master_addr: header.master_addr.filter(|a| !a.is_empty()),
                ha_server_addr: header.ha_server_addr.filter(|a| !a.is_empty()),
            };
        }
    }

    /// Best-effort UNREGISTER_BROKER to every connected namesrv (at a clean stop).
    pub fn unregister(&mut self, ctx: &mut Context<'_>) {
        let header = UnregisterBrokerRequestHeader {
            broker_name: self.identity.broker_name.clone(),
            broker_addr: self.identity.broker_addr.clone(),
            cluster_name: self.identity.cluster_name.clone(),
            broker_id: self.identity.broker_id,
        };
        for (namesrv, id) in self.connections.clone() {
            let mut request =
                RemotingCommand::request(RequestCode::UNREGISTER_BROKER, self.opaque());
            header.write_to(&mut request.ext_fields);
            if !ctx.send(id, &request) {
                log::warn!("namesrv {namesrv}: not connected, cannot unregister");
            }
        }
    }
}
