//! The client's connection layer: one reactor thread per client instance running a
//! `client::net` event loop, multiplexing connections to namesrvs and brokers by address.
//! Requests are matched to answers by opaque, each with its own timeout; oneway requests
//! expect none; requests a server starts (NOTIFY_CONSUMER_IDS_CHANGED, ...) go to the owner's
//! handler. A peer that refused a connection is not dialled again for a backoff that doubles
//! up to 5 s; calls to it fail at once meanwhile.
//!
//! Threads: callers on any thread hand requests to the reactor through its `Remote`; answers
//! come back through the callback given with each request (the blocking `invoke` waits on a
//! channel). Nothing blocks the reactor.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel;

use crate::error::ClientError;
use crate::net::{CloseReason, ConnectionId, Context, EventLoop, Handler, LoopConfig, Remote};
use wire::RemotingCommand;

/// Called once with the answer (or the failure) of a request.
pub type Reply = Box<dyn FnOnce(Result<RemotingCommand, ClientError>) + Send>;

/// Called on the reactor with a request a server sent; returns the answer to send, if any.
pub type ServerRequestHandler =
    Arc<dyn Fn(SocketAddr, RemotingCommand) -> Option<RemotingCommand> + Send + Sync>;

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

enum Message {
    Send {
        addr: SocketAddr,
        command: RemotingCommand,
        reply: Option<Reply>,
        timeout: Duration,
    },
    Close(SocketAddr),
}

struct Pending {
    reply: Reply,
    deadline: Instant,
    addr: SocketAddr,
    timeout: Duration,
}

struct Peer {
    connection: Option<ConnectionId>,
    backoff: Duration,
    retry_at: Option<Instant>,
}

struct Reactor {
    peers: HashMap<SocketAddr, Peer>,
    by_connection: HashMap<ConnectionId, SocketAddr>,
    pending: HashMap<i32, Pending>,
    on_request: Option<ServerRequestHandler>,
}

/// A handle on the reactor; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct RemotingClient {
    remote: Remote<Message>,
    next_opaque: Arc<AtomicI32>,
}

impl RemotingClient {
    /// Starts the reactor thread; `on_request` answers requests servers send.
    pub fn start(on_request: Option<ServerRequestHandler>) -> Result<RemotingClient, ClientError> {
        let config = LoopConfig {
            idle_timeout: None,
            ..LoopConfig::default()
        };
        let mut event_loop = EventLoop::<Reactor>::new(config)?;
        let remote = event_loop.remote();
        let mut reactor = Reactor {
            peers: HashMap::new(),
            by_connection: HashMap::new(),
            pending: HashMap::new(),
            on_request,
        };
        std::thread::Builder::new()
            .name("rocketmq-client".into())
            .spawn(move || {
                if let Err(error) = event_loop.run(&mut reactor) {
                    log::error!("client reactor stopped: {error}");
                }
                for (_, pending) in reactor.pending.drain() {
                    (pending.reply)(Err(ClientError::Shutdown));
                }
            })?;
        Ok(RemotingClient {
            remote,
            next_opaque: Arc::new(AtomicI32::new(1)),
        })
    }

    fn opaque(&self) -> i32 {
        self.next_opaque.fetch_add(1, Ordering::Relaxed) & i32::MAX
    }

    /// Sends `command` (its opaque is assigned here) and calls `reply` with the answer.
    pub fn invoke_async(
        &self,
        addr: SocketAddr,
        mut command: RemotingCommand,
        timeout: Duration,
        reply: Reply,
    ) {
        command.opaque = self.opaque();
        let message = Message::Send {
            addr,
            command,
            reply: Some(reply),
            timeout,
        };
        if let Err(Message::Send {
            reply: Some(reply), ..
        }) = self.remote.send(message)
        {
            reply(Err(ClientError::Shutdown));
        }
    }

    /// Sends `command` and waits for the answer.
    pub fn invoke(
        &self,
        addr: SocketAddr,
        command: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let (sender, receiver) = channel::bounded(1);
        self.invoke_async(
            addr,
            command,
            timeout,
            Box::new(move |result| {
                let _ = sender.send(result);
            }),
        );
        // The reactor always calls back (answer, failure or timeout); the margin covers a
        // reactor that stopped without draining.
        receiver
            .recv_timeout(timeout + Duration::from_secs(1))
            .unwrap_or(Err(ClientError::Timeout {
                addr,
                timeout_ms: timeout.as_millis() as u64,
            }))
    }

    /// Sends `command` flagged oneway: no answer is expected.
    pub fn invoke_oneway(
        &self,
        addr: SocketAddr,
        mut command: RemotingCommand,
    ) -> Result<(), ClientError> {
        command.opaque = self.opaque();
        command.mark_oneway();
        let message = Message::Send {
            addr,
            command,
            reply: None,
            timeout: Duration::ZERO,
        };
        self.remote.send(message).map_err(|_| ClientError::Shutdown)
    }

    /// Closes the connection to `addr` (pending calls on it fail).
    pub fn close(&self, addr: SocketAddr) {
        let _ = self.remote.send(Message::Close(addr));
    }

    /// Stops the reactor; pending calls fail with `Shutdown`.
    pub fn shutdown(&self) {
        self.remote.stop();
    }
}

impl Reactor {
    fn connection(
        &mut self,
        ctx: &mut Context<'_>,
        addr: SocketAddr,
        now: Instant,
    ) -> Result<ConnectionId, ClientError> {
        let peer = self.peers.entry(addr).or_insert(Peer {
            connection: None,
            backoff: BACKOFF_MIN,
            retry_at: None,
        });
        if let Some(id) = peer.connection.filter(|id| ctx.is_open(*id)) {
            return Ok(id);
        }
        if peer.retry_at.is_some_and(|at| now < at) {
            return Err(ClientError::Connection {
                addr,
                reason: "refused recently; backing off".into(),
            });
        }
        match ctx.connect(addr) {
            Ok(id) => {
                peer.connection = Some(id);
                self.by_connection.insert(id, addr);
                Ok(id)
            }
            Err(error) => {
                Self::back_off(peer, now);
                Err(ClientError::Connection {
                    addr,
                    reason: error.to_string(),
                })
            }
        }
    }

    fn back_off(peer: &mut Peer, now: Instant) {
        peer.retry_at = Some(now + peer.backoff);
        peer.backoff = (peer.backoff * 2).min(BACKOFF_MAX);
    }

    fn on_send(
        &mut self,
        ctx: &mut Context<'_>,
        addr: SocketAddr,
        command: RemotingCommand,
        reply: Option<Reply>,
        timeout: Duration,
    ) {
        let now = ctx.now();
        let id = match self.connection(ctx, addr, now) {
            Ok(id) => id,
            Err(error) => {
                if let Some(reply) = reply {
                    reply(Err(error));
                }
                return;
            }
        };
        let opaque = command.opaque;
        if let Some(reply) = reply {
            self.pending.insert(
                opaque,
                Pending {
                    reply,
                    deadline: now + timeout,
                    addr,
                    timeout,
                },
            );
        }
        if !ctx.send(id, &command) {
            if let Some(pending) = self.pending.remove(&opaque) {
                (pending.reply)(Err(ClientError::Connection {
                    addr,
                    reason: "connection closed".into(),
                }));
            }
        }
    }

    fn on_server_request(
        &mut self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: RemotingCommand,
    ) {
        let Some(addr) = self.by_connection.get(&id).copied() else {
            return;
        };
        let oneway = request.is_oneway();
        let answer = match &self.on_request {
            Some(handler) => handler(addr, request),
            None => None,
        };
        if let (Some(answer), false) = (answer, oneway) {
            ctx.send(id, &answer);
        }
    }
}

impl Handler for Reactor {
    type Message = Message;

    fn on_connected(&mut self, _ctx: &mut Context<'_>, id: ConnectionId) {
        if let Some(peer) = self
            .by_connection
            .get(&id)
            .and_then(|addr| self.peers.get_mut(addr))
        {
            peer.backoff = BACKOFF_MIN;
            peer.retry_at = None;
        }
    }

    fn on_command(&mut self, ctx: &mut Context<'_>, id: ConnectionId, command: RemotingCommand) {
        if !command.is_response() {
            self.on_server_request(ctx, id, command);
            return;
        }
        if let Some(pending) = self.pending.remove(&command.opaque) {
            (pending.reply)(Ok(command));
        }
    }

    fn on_close(&mut self, ctx: &mut Context<'_>, id: ConnectionId, reason: &CloseReason) {
        let Some(addr) = self.by_connection.remove(&id) else {
            return;
        };
        if let Some(peer) = self.peers.get_mut(&addr) {
            if peer.connection == Some(id) {
                peer.connection = None;
            }
            if matches!(reason, CloseReason::ConnectFailed(_)) {
                Self::back_off(peer, ctx.now());
            }
        }
        let lost: Vec<i32> = self
            .pending
            .iter()
            .filter(|(_, p)| p.addr == addr)
            .map(|(o, _)| *o)
            .collect();
        for opaque in lost {
            if let Some(pending) = self.pending.remove(&opaque) {
                (pending.reply)(Err(ClientError::Connection {
                    addr,
                    reason: reason.to_string(),
                }));
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: Message) {
        match message {
            Message::Send {
                addr,
                command,
                reply,
                timeout,
            } => self.on_send(ctx, addr, command, reply, timeout),
            Message::Close(addr) => {
                if let Some(id) = self.peers.get(&addr).and_then(|p| p.connection) {
                    ctx.close(id);
                }
            }
        }
    }

    fn on_tick(&mut self, _ctx: &mut Context<'_>, now: Instant) {
        let late: Vec<i32> = self
            .pending
            .iter()
            .filter(|(_, p)| now >= p.deadline)
            .map(|(o, _)| *o)
            .collect();
        for opaque in late {
            if let Some(pending) = self.pending.remove(&opaque) {
                let timeout_ms = pending.timeout.as_millis() as u64;
                (pending.reply)(Err(ClientError::Timeout {
                    addr: pending.addr,
                    timeout_ms,
                }));
            }
        }
    }
}
