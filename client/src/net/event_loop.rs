//! The event loop every networked process runs on: one mio `Poll`, a slab of connections keyed
//! by token, listeners, a `Waker` for messages from other threads, and a tick for timers.
//!
//! One iteration: poll (bounded by the next tick) -> accept and read every ready socket until
//! `WouldBlock`, decoding every complete frame into handler calls (at most
//! `frames_per_tick_max` per connection; the rest wait in the buffer for the next iteration
//! without waiting for a new edge) -> drain messages from other threads -> tick when due ->
//! flush every connection with queued output in one pass -> free connections closed during the
//! batch. Closing is two-step so that a slab key is never reused inside one event batch.
//!
//! Sockets are registered once for READABLE | WRITABLE, edge-triggered: a writable edge costs
//! nothing while no output is queued, and no reply ever re-registers its socket.
//!
//! Tokens: listeners and the waker use tokens at the top of the range; connections use their
//! slab key. A `ConnectionId` carries a generation as well, so a reply meant for a connection
//! that has since closed never reaches a new peer in the same slot.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{self, Receiver, Sender, TryRecvError};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use wire::{FrameDecoder, RemotingCommand, FRAME_SIZE_MAX_DEFAULT};

use super::connection::{Connection, ReadStep, READ_CHUNK_SIZE};

const WAKER_TOKEN: Token = Token(usize::MAX);
/// Listener tokens count down from here: `usize::MAX - 1 - index`.
const LISTENER_TOKEN_BASE: usize = usize::MAX - 1;
const LISTENERS_MAX: usize = 16;

/// Identifies one connection for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    index: usize,
    generation: u32,
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "conn#{}.{}", self.index, self.generation)
    }
}

/// Settings of one loop.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    pub frame_size_max: usize,
    /// Stop reading a connection whose unsent output exceeds this; resume below half.
    pub write_queue_size_max: usize,
    /// Close connections with no traffic either way for this long.
    pub idle_timeout: Option<Duration>,
    /// Frames decoded per connection per iteration, so one busy peer cannot starve the rest.
    pub frames_per_tick_max: usize,
    pub tick_interval: Duration,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig {
            frame_size_max: FRAME_SIZE_MAX_DEFAULT,
            write_queue_size_max: 16 * 1024 * 1024,
            idle_timeout: Some(Duration::from_secs(120)),
            frames_per_tick_max: 64,
            tick_interval: Duration::from_millis(100),
        }
    }
}

/// Why a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    PeerClosed,
    Reset(io::ErrorKind),
    DecodeFailed(wire::DecodeError),
    IdleTimeout,
    ConnectFailed(io::ErrorKind),
    /// The handler (or the loop stopping) closed it.
    Local,
}

impl std::fmt::Display for CloseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseReason::PeerClosed => f.write_str("closed by peer"),
            CloseReason::Reset(kind) => write!(f, "connection error: {kind}"),
            CloseReason::DecodeFailed(error) => write!(f, "undecodable frame: {error}"),
            CloseReason::IdleTimeout => f.write_str("idle timeout"),
            CloseReason::ConnectFailed(kind) => write!(f, "connect failed: {kind}"),
            CloseReason::Local => f.write_str("closed locally"),
        }
    }
}

/// What the loop calls; every callback runs on the loop thread.
pub trait Handler {
    type Message: Send + 'static;

    fn on_accept(&mut self, _ctx: &mut Context<'_>, _id: ConnectionId, _peer: SocketAddr) {}
    fn on_connected(&mut self, _ctx: &mut Context<'_>, _id: ConnectionId) {}
    fn on_command(&mut self, ctx: &mut Context<'_>, id: ConnectionId, command: RemotingCommand);
    fn on_close(&mut self, _ctx: &mut Context<'_>, _id: ConnectionId, _reason: &CloseReason) {}
    fn on_message(&mut self, _ctx: &mut Context<'_>, _message: Self::Message) {}
    fn on_tick(&mut self, _ctx: &mut Context<'_>, _now: Instant) {}
}

/// The loop's connections and registry, as handler callbacks see them.
pub struct Context<'a> {
    core: &'a mut Core,
    now: Instant,
}

/// State shared by the loop and `Context`.
struct Core {
    poll: Poll,
    connections: Slab<Connection>,
    generation_next: u32,
    /// Connections with queued output or pending input, visited before the next poll.
    dirty: HashSet<usize>,
    /// Connections to free after this batch, with why.
    closing: Vec<(usize, CloseReason)>,
    config: LoopConfig,
    decoder: FrameDecoder,
    /// Where every socket read lands before its bytes join their connection's buffer.
    scratch: Vec<u8>,
    stopping: bool,
    /// Set once a stop is asked for: output queued by then is written first (a oneway send
    /// queued before `stop` is not thrown away) for as long as the peers keep taking it.
    /// Holds when the unsent total last went down, and that total.
    drain_progress: Option<(Instant, usize)>,
}

/// A stopping loop gives up on output no peer has taken any of for this long.
const STOP_DRAIN_STALL: Duration = Duration::from_secs(3);

impl Context<'_> {
    fn live(&mut self, id: ConnectionId) -> Option<&mut Connection> {
        self.core
            .connections
            .get_mut(id.index)
            .filter(|c| c.generation == id.generation && !c.closing)
    }

    /// Queues `command` on `id`; false if it is gone or the command cannot be encoded.
    pub fn send(&mut self, id: ConnectionId, command: &RemotingCommand) -> bool {
        self.send_with_body(id, command, &command.body)
    }

    /// Queues `header` framed around `body` (the command's own body is ignored), so stored
    /// records go out without being copied into a command first.
    pub fn send_with_body(
        &mut self,
        id: ConnectionId,
        header: &RemotingCommand,
        body: &[u8],
    ) -> bool {
        let Some(connection) = self.live(id) else {
            log::debug!("dropping a frame for {id}: connection gone");
            return false;
        };
        let start = connection.output.len();
        if let Err(error) = header.encode_header(body.len(), &mut connection.output) {
            connection.output.truncate(start);
            log::warn!("cannot encode a frame for {id}: {error}");
            return false;
        }
        connection.output.extend_from_slice(body);
        self.core.dirty.insert(id.index);
        true
    }

    pub fn close(&mut self, id: ConnectionId) {
        self.core.mark_closing(id, CloseReason::Local);
    }

    /// Starts a non-blocking connect; `on_connected` or `on_close` follows.
    pub fn connect(&mut self, addr: SocketAddr) -> io::Result<ConnectionId> {
        let stream = TcpStream::connect(addr)?;
        self.core.insert(stream, addr, false)
    }

    pub fn peer_addr(&self, id: ConnectionId) -> Option<SocketAddr> {
        self.core.get(id).map(|c| c.peer)
    }

    pub fn local_addr(&self, id: ConnectionId) -> Option<SocketAddr> {
        self.core.get(id).and_then(|c| c.stream.local_addr().ok())
    }

    pub fn is_open(&self, id: ConnectionId) -> bool {
        self.core.get(id).is_some_and(|c| !c.closing)
    }

    pub fn stop(&mut self) {
        self.core.ask_stop();
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn connection_count(&self) -> usize {
        self.core.connections.len()
    }
}

impl Core {
    fn ask_stop(&mut self) {
        self.stopping = true;
        self.drain_progress
            .get_or_insert_with(|| (Instant::now(), usize::MAX));
    }

    /// Stopping, and nothing left to write (or the peers stopped taking it).
    fn stopped(&mut self, now: Instant) -> bool {
        let Some((since, before)) = self.drain_progress.filter(|_| self.stopping) else {
            return false;
        };
        let unsent: usize = self
            .connections
            .iter()
            .filter(|(_, c)| !c.closing)
            .map(|(_, c)| c.unsent())
            .sum();
        if unsent < before {
            self.drain_progress = Some((now, unsent));
        }
        unsent == 0 || (unsent >= before && now.duration_since(since) >= STOP_DRAIN_STALL)
    }

    fn get(&self, id: ConnectionId) -> Option<&Connection> {
        self.connections
            .get(id.index)
            .filter(|c| c.generation == id.generation)
    }

    fn insert(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        connected: bool,
    ) -> io::Result<ConnectionId> {
        self.generation_next = self.generation_next.wrapping_add(1);
        let generation = self.generation_next;
        let entry = self.connections.vacant_entry();
        let index = entry.key();
        if index >= LISTENER_TOKEN_BASE - LISTENERS_MAX {
            return Err(io::Error::other("connection table full"));
        }
        let mut connection = Connection::new(stream, peer, generation, connected);
        self.poll.registry().register(
            &mut connection.stream,
            Token(index),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(connection);
        Ok(ConnectionId { index, generation })
    }

    fn mark_closing(&mut self, id: ConnectionId, reason: CloseReason) {
        if let Some(connection) = self.connections.get_mut(id.index) {
            if connection.generation == id.generation && !connection.closing {
                connection.closing = true;
                self.closing.push((id.index, reason));
            }
        }
    }
}

/// Sends messages to a loop from any thread and wakes it.
pub struct Remote<M> {
    sender: Sender<RemoteEvent<M>>,
    waker: Arc<Waker>,
}

impl<M> Clone for Remote<M> {
    fn clone(&self) -> Self {
        Remote {
            sender: self.sender.clone(),
            waker: Arc::clone(&self.waker),
        }
    }
}

enum RemoteEvent<M> {
    Message(M),
    Stop,
}

impl<M> Remote<M> {
    /// Hands `message` to the loop's `on_message`; gives it back if the loop is gone.
    pub fn send(&self, message: M) -> Result<(), M> {
        match self.sender.send(RemoteEvent::Message(message)) {
            Ok(()) => {
                if let Err(error) = self.waker.wake() {
                    log::warn!("cannot wake the event loop: {error}");
                }
                Ok(())
            }
            Err(channel::SendError(RemoteEvent::Message(message))) => Err(message),
            Err(channel::SendError(RemoteEvent::Stop)) => unreachable!("sent a message"),
        }
    }

    /// Makes `run` return after its current iteration.
    pub fn stop(&self) {
        if self.sender.send(RemoteEvent::Stop).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// A loop bound to one handler type.
pub struct EventLoop<H: Handler> {
    core: Core,
    listeners: Vec<TcpListener>,
    /// An accept failed for lack of resources: retry on every tick until it succeeds.
    accept_retry: bool,
    waker: Arc<Waker>,
    sender: Sender<RemoteEvent<H::Message>>,
    receiver: Receiver<RemoteEvent<H::Message>>,
}

impl<H: Handler> EventLoop<H> {
    pub fn new(config: LoopConfig) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER_TOKEN)?);
        let (sender, receiver) = channel::unbounded();
        let decoder = FrameDecoder::new(config.frame_size_max);
        let core = Core {
            poll,
            connections: Slab::new(),
            generation_next: 0,
            dirty: HashSet::new(),
            closing: Vec::new(),
            decoder,
            config,
            scratch: vec![0; READ_CHUNK_SIZE],
            stopping: false,
            drain_progress: None,
        };
        Ok(EventLoop {
            core,
            listeners: Vec::new(),
            accept_retry: false,
            waker,
            sender,
            receiver,
        })
    }

    pub fn remote(&self) -> Remote<H::Message> {
        Remote {
            sender: self.sender.clone(),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Listens on `addr` (port 0 picks one) and returns the bound address.
    pub fn listen(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        if self.listeners.len() >= LISTENERS_MAX {
            return Err(io::Error::other("too many listeners"));
        }
        let mut listener = TcpListener::bind(addr)?;
        let token = Token(LISTENER_TOKEN_BASE - self.listeners.len());
        self.core
            .poll
            .registry()
            .register(&mut listener, token, Interest::READABLE)?;
        let local = listener.local_addr()?;
        self.listeners.push(listener);
        Ok(local)
    }

    /// Runs until a handler or a `Remote` asks it to stop.
    pub fn run(&mut self, handler: &mut H) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut next_tick = Instant::now() + self.core.config.tick_interval;
        while !self.core.stopped(Instant::now()) {
            let now = Instant::now();
            let timeout = if self.core.stopping {
                // Draining: look again soon whether the sockets took the rest.
                Duration::from_millis(5)
            } else if self.has_pending_input() {
                Duration::ZERO
            } else {
                next_tick.saturating_duration_since(now)
            };
            if let Err(error) = self.core.poll.poll(&mut events, Some(timeout)) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            for event in events.iter() {
                self.on_event(handler, event);
            }
            if !self.core.stopping {
                self.on_resumed_reads(handler);
                self.on_pending_input(handler);
            }
            self.on_remote(handler);
            let now = Instant::now();
            // A stopping loop only writes out what is queued: no more ticks.
            if now >= next_tick && !self.core.stopping {
                next_tick = now + self.core.config.tick_interval;
                if std::mem::take(&mut self.accept_retry) {
                    for listener_index in 0..self.listeners.len() {
                        self.on_acceptable(handler, listener_index);
                    }
                }
                self.on_tick(handler, now);
            }
            self.flush_dirty();
            self.free_closed(handler);
        }
        self.close_all(handler);
        Ok(())
    }

    fn has_pending_input(&self) -> bool {
        self.core.dirty.iter().any(|index| {
            self.core.connections.get(*index).is_some_and(|c| {
                (c.input_pending || c.resume_read_wanted) && !c.closing && !c.reading_paused
            })
        })
    }

    fn on_event(&mut self, handler: &mut H, event: &mio::event::Event) {
        let token = event.token();
        if token == WAKER_TOKEN {
            return;
        }
        if token.0 > LISTENER_TOKEN_BASE - LISTENERS_MAX {
            // A stopping loop takes no new connections.
            if !self.core.stopping {
                self.on_acceptable(handler, LISTENER_TOKEN_BASE - token.0);
            }
            return;
        }
        let Some(connection) = self.core.connections.get_mut(token.0) else {
            return; // a sporadic event for a slot already freed
        };
        if connection.closing {
            return;
        }
        let id = ConnectionId {
            index: token.0,
            generation: connection.generation,
        };
        if !connection.connected {
            match connect_result(connection, event) {
                ConnectStep::Pending => return,
                ConnectStep::Failed(kind) => {
                    self.core.mark_closing(id, CloseReason::ConnectFailed(kind));
                    return;
                }
                ConnectStep::Connected => {
                    connection.connected = true;
                    connection.touch(Instant::now());
                    self.core.dirty.insert(id.index);
                    let mut ctx = Context {
                        core: &mut self.core,
                        now: Instant::now(),
                    };
                    handler.on_connected(&mut ctx, id);
                }
            }
        }
        // A stopping loop only writes out what is queued: no new requests are read.
        let readable = event.is_readable() || event.is_read_closed() || event.is_error();
        if readable && !self.core.stopping {
            self.on_readable(handler, id);
        }
        if event.is_writable() {
            self.core.dirty.insert(id.index);
        }
    }

    fn on_acceptable(&mut self, handler: &mut H, listener_index: usize) {
        loop {
            let Some(listener) = self.listeners.get(listener_index) else {
                return;
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(error) = stream.set_nodelay(true) {
                        log::debug!("set_nodelay for {peer}: {error}");
                    }
                    match self.core.insert(stream, peer, true) {
                        Ok(id) => {
                            log::debug!("accepted {peer} as {id}");
                            let mut ctx = Context {
                                core: &mut self.core,
                                now: Instant::now(),
                            };
                            handler.on_accept(&mut ctx, id, peer);
                        }
                        Err(error) => log::warn!("cannot register connection from {peer}: {error}"),
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    // EMFILE and friends: the pending connections stay queued in the kernel
                    // and no new edge may come, so every tick retries until accept drains.
                    if !self.accept_retry {
                        log::warn!("accept failed: {error}; retrying every tick");
                    }
                    self.accept_retry = true;
                    return;
                }
            }
        }
    }

    /// Reads until WouldBlock, then decodes what arrived.
    fn on_readable(&mut self, handler: &mut H, id: ConnectionId) {
        let frame_size_max = self.core.config.frame_size_max;
        let Some(connection) = self.core.connections.get_mut(id.index) else {
            return;
        };
        if connection.reading_paused {
            connection.readable_missed = true;
            return;
        }
        match connection.read_available(frame_size_max, &mut self.core.scratch) {
            ReadStep::Open => {}
            ReadStep::Closed(reason) => {
                // Every whole frame that arrived before the close is still handled (a client
                // that sends a burst of oneway requests and closes loses none), not only the
                // first `frames_per_tick_max`.
                loop {
                    self.decode_frames(handler, id);
                    let more = self
                        .core
                        .connections
                        .get(id.index)
                        .is_some_and(|c| c.input_pending && !c.closing);
                    if !more {
                        break;
                    }
                }
                self.core.mark_closing(id, reason);
                return;
            }
        }
        self.decode_frames(handler, id);
    }

    /// Decodes up to `frames_per_tick_max` frames and hands them to the handler.
    fn decode_frames(&mut self, handler: &mut H, id: ConnectionId) {
        let frames_max = self.core.config.frames_per_tick_max;
        let decoder = self.core.decoder;
        let Some(connection) = self.core.connections.get_mut(id.index) else {
            return;
        };
        let mut frames = Vec::new();
        let result = decoder.decode_many(connection.unread(), frames_max, &mut frames);
        let consumed: usize = match &result {
            Ok(consumed) => *consumed,
            Err(_) => 0,
        };
        connection.consume(consumed);
        connection.input_pending = frames.len() == frames_max && result.is_ok();
        if !connection.input_pending && !connection.reading_paused && connection.readable_missed {
            connection.readable_missed = false;
            connection.resume_read_wanted = true;
        }
        if connection.input_pending || connection.resume_read_wanted {
            self.core.dirty.insert(id.index);
        }
        let now = Instant::now();
        for command in frames {
            let mut ctx = Context {
                core: &mut self.core,
                now,
            };
            handler.on_command(&mut ctx, id, command);
        }
        if let Err(error) = result {
            let peer = self.core.connections.get(id.index).map(|c| c.peer);
            log::warn!("closing {id} ({peer:?}): {error}");
            self.core.mark_closing(id, CloseReason::DecodeFailed(error));
        }
    }

    /// Connections that must read again without a new readiness edge: reading stopped at the
    /// buffer bound, or back-pressure was lifted.
    fn on_resumed_reads(&mut self, handler: &mut H) {
        let resumed: Vec<ConnectionId> = self
            .core
            .connections
            .iter_mut()
            .filter(|(_, c)| !c.closing && !c.reading_paused)
            .filter_map(|(index, c)| {
                std::mem::take(&mut c.resume_read_wanted).then_some(ConnectionId {
                    index,
                    generation: c.generation,
                })
            })
            .collect();
        for id in resumed {
            self.on_readable(handler, id);
        }
    }

    /// Connections whose buffer still holds frames beyond last iteration's quota.
    fn on_pending_input(&mut self, handler: &mut H) {
        let pending: Vec<ConnectionId> = self
            .core
            .dirty
            .iter()
            .filter_map(|index| {
                let c = self.core.connections.get(*index)?;
                (c.input_pending && !c.closing && !c.reading_paused).then_some(ConnectionId {
                    index: *index,
                    generation: c.generation,
                })
            })
            .collect();
        for id in pending {
            self.decode_frames(handler, id);
        }
    }

    fn on_remote(&mut self, handler: &mut H) {
        loop {
            match self.receiver.try_recv() {
                Ok(RemoteEvent::Message(message)) => {
                    let mut ctx = Context {
                        core: &mut self.core,
                        now: Instant::now(),
                    };
                    handler.on_message(&mut ctx, message);
                }
                Ok(RemoteEvent::Stop) => self.core.ask_stop(),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => return,
            }
        }
    }

    fn on_tick(&mut self, handler: &mut H, now: Instant) {
        if let Some(idle_timeout) = self.core.config.idle_timeout {
            let idle: Vec<ConnectionId> = self
                .core
                .connections
                .iter()
                .filter(|(_, c)| {
                    !c.closing && now.saturating_duration_since(c.last_active) > idle_timeout
                })
                .map(|(index, c)| ConnectionId {
                    index,
                    generation: c.generation,
                })
                .collect();
            for id in idle {
                log::info!("closing {id}: idle for more than {idle_timeout:?}");
                self.core.mark_closing(id, CloseReason::IdleTimeout);
            }
        }
        let mut ctx = Context {
            core: &mut self.core,
            now,
        };
        handler.on_tick(&mut ctx, now);
    }

    /// Writes queued output of every dirty connection; applies back-pressure.
    fn flush_dirty(&mut self) {
        let write_queue_size_max = self.core.config.write_queue_size_max;
        let dirty: Vec<usize> = self.core.dirty.iter().copied().collect();
        for index in dirty {
            let Some(connection) = self.core.connections.get_mut(index) else {
                self.core.dirty.remove(&index);
                continue;
            };
            if connection.closing {
                self.core.dirty.remove(&index);
                continue;
            }
            let id = ConnectionId {
                index,
                generation: connection.generation,
            };
            if let Err(reason) = connection.flush() {
                self.core.mark_closing(id, reason);
                continue;
            }
            let Some(connection) = self.core.connections.get_mut(index) else {
                continue;
            };
            let unsent = connection.unsent();
            if unsent > write_queue_size_max && !connection.reading_paused {
                log::info!("{id}: {unsent} bytes unsent; pausing reads until the peer catches up");
                connection.reading_paused = true;
            } else if connection.reading_paused && unsent <= write_queue_size_max / 2 {
                connection.reading_paused = false;
                connection.input_pending = true; // re-examine buffered and missed input
                if std::mem::take(&mut connection.readable_missed) {
                    connection.resume_read_wanted = true;
                }
            }
            if unsent == 0 && !connection.input_pending && !connection.resume_read_wanted {
                self.core.dirty.remove(&index);
            }
        }
    }

    fn free_closed(&mut self, handler: &mut H) {
        while !self.core.closing.is_empty() {
            let closing = std::mem::take(&mut self.core.closing);
            for (index, reason) in closing {
                let Some(mut connection) = self.core.connections.try_remove(index) else {
                    continue;
                };
                self.core.dirty.remove(&index);
                // Best effort: replies queued before a local close still go out.
                let _ = connection.flush();
                let _ = self.core.poll.registry().deregister(&mut connection.stream);
                let id = ConnectionId {
                    index,
                    generation: connection.generation,
                };
                log::debug!("{id} ({}) closed: {reason}", connection.peer);
                let mut ctx = Context {
                    core: &mut self.core,
                    now: Instant::now(),
                };
                handler.on_close(&mut ctx, id, &reason);
            }
        }
    }

    fn close_all(&mut self, handler: &mut H) {
        let ids: Vec<ConnectionId> = self
            .core
            .connections
            .iter()
            .map(|(index, c)| ConnectionId {
                index,
                generation: c.generation,
            })
            .collect();
        for id in ids {
            self.core.mark_closing(id, CloseReason::Local);
        }
        self.flush_dirty();
        self.free_closed(handler);
    }
}

enum ConnectStep {
    Pending,
    Connected,
    Failed(io::ErrorKind),
}

/// Whether an outbound connect finished, the way mio documents it: a writable (or error) event
/// arrives, then `take_error` and `peer_addr` tell success from failure.
fn connect_result(connection: &mut Connection, event: &mio::event::Event) -> ConnectStep {
    if !(event.is_writable() || event.is_error() || event.is_read_closed()) {
        return ConnectStep::Pending;
    }
    match connection.stream.take_error() {
        Ok(Some(error)) | Err(error) => return ConnectStep::Failed(error.kind()),
        Ok(None) => {}
    }
    match connection.stream.peer_addr() {
        Ok(_) => ConnectStep::Connected,
        Err(error) if error.kind() == io::ErrorKind::NotConnected => {
            if event.is_error() || event.is_read_closed() {
                ConnectStep::Failed(io::ErrorKind::ConnectionRefused)
            } else {
                ConnectStep::Pending
            }
        }
        Err(error) => ConnectStep::Failed(error.kind()),
    }
}
