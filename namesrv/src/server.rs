//! The namesrv process around its state: binds the listener, owns the event loop, turns
//! connection events into route-table changes, runs the liveness scan, and hands KV writes to
//! the persister thread, answering those requests only once the file is durable.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use client::net::{CloseReason, ConnectionId, Context, EventLoop, Handler, LoopConfig};
use wire::{RemotingCommand, ResponseCode};

use crate::config::NamesrvConfig;
use crate::kv_config::{KvConfig, Persisted, Persister};
use crate::processor::{Outcome, Processor};

/// What other threads tell the event loop.
#[derive(Debug)]
pub enum Message {
    /// The persister finished a KV snapshot.
    Persisted(Persisted),
}

/// A bound, not yet running namesrv.
pub struct Server {
    event_loop: EventLoop<Namesrv>,
    handler: Namesrv,
    local_addr: SocketAddr,
}

impl Server {
    /// Loads the KV config, binds `address` (port 0 picks one) and starts the persister.
    pub fn bind(config: NamesrvConfig, address: SocketAddr) -> io::Result<Server> {
        let kv = KvConfig::load(&config.kv_config_path)?;
        let loop_config = LoopConfig {
            idle_timeout: Some(config.idle_timeout),
            ..LoopConfig::default()
        };
        let mut event_loop = EventLoop::new(loop_config)?;
        let local_addr = event_loop.listen(address)?;
        let remote = event_loop.remote();
        let persister = Persister::spawn(config.kv_config_path.clone(), move |done| {
            if remote.send(Message::Persisted(done)).is_err() {
                log::warn!("KV write finished after the event loop stopped");
            }
        })?;
        let handler = Namesrv {
            last_scan: Instant::now(),
            processor: Processor::new(config, kv),
            persister,
            pending: HashMap::new(),
            stop: None,
        };
        Ok(Server {
            event_loop,
            handler,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `stop` becomes true (checked every loop tick).
    pub fn run(mut self, stop: &'static AtomicBool) -> io::Result<()> {
        log::info!("namesrv serving on {}", self.local_addr);
        self.handler.stop = Some(stop);
        self.event_loop.run(&mut self.handler)
    }
}

struct Namesrv {
    processor: Processor,
    persister: Persister,
    /// KV requests waiting for their snapshot to be durable: ticket -> (peer, response).
    pending: HashMap<u64, (ConnectionId, Option<RemotingCommand>)>,
    last_scan: Instant,
    stop: Option<&'static AtomicBool>,
}

impl Handler for Namesrv {
    type Message = Message;

    fn on_command(&mut self, ctx: &mut Context<'_>, id: ConnectionId, command: RemotingCommand) {
        if command.is_response() {
            log::debug!("ignoring a response (opaque {}) from {id}", command.opaque);
            return;
        }
        let oneway = command.is_oneway();
        match self.processor.process(id, &command, ctx.now()) {
            Outcome::Reply(response) => {
                if !oneway {
                    ctx.send(id, &response);
                }
            }
            Outcome::Persist {
                snapshot,
                ticket,
                response,
            } => {
                let response = (!oneway).then_some(response);
                if self.persister.submit(ticket, snapshot) {
                    self.pending.insert(ticket, (id, response));
                } else if let Some(response) = response {
                    let failed = failed_persist(&response, "KV persister is not running");
                    ctx.send(id, &failed);
                }
            }
        }
    }

    fn on_close(&mut self, _ctx: &mut Context<'_>, id: ConnectionId, reason: &CloseReason) {
        if let Some(addr) = self.processor.on_connection_closed(id) {
            log::info!("broker {addr} removed: its connection closed ({reason})");
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: Message) {
        let Message::Persisted(Persisted { ticket, result }) = message;
        let Some((id, Some(response))) = self.pending.remove(&ticket) else {
            return;
        };
        match result {
            Ok(()) => ctx.send(id, &response),
            Err(error) => ctx.send(id, &failed_persist(&response, &error.to_string())),
        };
    }

    fn on_tick(&mut self, ctx: &mut Context<'_>, now: Instant) {
        if self.stop.is_some_and(|stop| stop.load(Ordering::SeqCst)) {
            log::info!("stop requested");
            ctx.stop();
            return;
        }
        if now.saturating_duration_since(self.last_scan) < self.processor.config().scan_interval {
            return;
        }
        self.last_scan = now;
        for (addr, connection) in self.processor.expire(now) {
            log::warn!("broker {addr} expired: silent past the expiry; removed");
            if let Some(id) = connection {
                ctx.close(id);
            }
        }
    }
}

/// The answer to a KV request whose change could not be made durable: the change stays in
/// memory (the next successful write carries it) but the caller is told it is not persisted.
fn failed_persist(response: &RemotingCommand, reason: &str) -> RemotingCommand {
    let mut failed = response.clone();
    failed.code = ResponseCode::SYSTEM_ERROR.as_i32();
    failed.remark = Some(format!("KV config not persisted: {reason}"));
    failed
}
