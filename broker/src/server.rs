//! The broker process around its store: binds `listenPort` and `listenPort - 2` (the Java
//! client's VIP channel) on one `client::net` event loop, routes each request to its
//! processor, parks SYNC_FLUSH answers until the flush watermark passes them and pulls until a
//! message arrives, registers with the name servers, and persists its state off the loop.
//!
//! ```text
//!  event loop thread: sockets, processors, long polls, flush waiters, namesrv registration
//!  store threads:     flush ──Flushed(offset)──▶ loop     dispatch ──Arrived──▶ loop
//!  persister thread:  state files (topics, offsets, groups, config), write + fsync + rename
//!                     ──Persisted(ticket)──▶ loop: releases admin answers parked for them
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::net::{CloseReason, ConnectionId, Context, EventLoop, Handler, LoopConfig, Remote};
use wire::{RemotingCommand, RequestCode};

use crate::client_manager::{ConsumerManager, ProducerManager};
use crate::config::{BrokerConfig, BrokerRole};
use crate::consumer_offset::ConsumerOffsetManager;
use crate::durability::Waiters;
use crate::durable_state::DurableState;
use crate::ha::master::HaMaster;
use crate::ha::slave::HaSlave;
use crate::ha::sync::{SlaveSync, Table};
use crate::persister::Persister;
use crate::persister::StateTable;
use crate::processor::long_poll::{HeldQueues, LongPolls};
use crate::registration::{self, Identity, Registration};
use crate::state_commit::Ticket;
use crate::store::{Arrival, MessageStore, StoreError};
use crate::subscription_group::SubscriptionGroupManager;
use crate::topic_config::TopicConfigManager;

/// What other threads tell the event loop.
pub enum Message {
    /// A pull worker read the store for a pull.
    PullDone(Box<crate::processor::consume::PullDone>),
    /// A worker's answer to a request, to send as it is.
    Answer(ConnectionId, Box<RemotingCommand>),
    /// The commit log is durable up to here.
    Flushed(u64),
    /// A slave holds the commit log up to here.
    SlaveAcked(u64),
    /// A slave cut its log back to here (what its master did not share).
    LogTruncated(u64),
    /// The persister wrote a state file carrying this change (or failed to).
    Persisted(Ticket, Result<(), String>),
    /// A message was dispatched to a queue that has held pulls.
    Arrived {
        topic: String,
        queue_id: i32,
        queue_offset: u64,
        tags_code: i64,
    },
}

/// How often state files are written when changed (`flushConsumerOffsetInterval`); admin
/// changes do not wait for it (see `durable_state`).
const PERSIST_INTERVAL: Duration = Duration::from_secs(5);
/// How often held pulls are checked for timeouts and missed arrivals.
const LONG_POLL_SWEEP: Duration = Duration::from_secs(1);
/// How long a client may stay silent before its registration is dropped.
const CLIENT_EXPIRY: Duration = Duration::from_secs(120);

pub struct Server {
    event_loop: EventLoop<Broker>,
    handler: Broker,
    local_addr: SocketAddr,
}

pub struct Broker {
    pub(crate) config: BrokerConfig,
    pub(crate) store: Arc<MessageStore>,
    /// STOREHOST of every record: `brokerIP1:listenPort`.
    pub(crate) store_host: SocketAddr,
    pub(crate) topics: TopicConfigManager,
    pub(crate) offsets: ConsumerOffsetManager,
    pub(crate) groups: SubscriptionGroupManager,
    pub(crate) consumers: ConsumerManager<ConnectionId>,
    pub(crate) producers: ProducerManager<ConnectionId>,
    pub(crate) long_polls: LongPolls<ConnectionId>,
    /// Shared with the arrival listener: loop messages only for queues with held pulls.
    pub(crate) held: Arc<HeldQueues>,
    pub(crate) waiters: Waiters<ConnectionId>,
    /// Sends waiting for the flush to make room in the commit log.
    pub(crate) parked_sends: crate::processor::parked_sends::ParkedSends<ConnectionId>,
    pub(crate) ha_master: Option<HaMaster>,
    pub(crate) ha_slave: Option<HaSlave>,
    slave_sync: SlaveSync,
    pub(crate) registration: Registration,
    pub(crate) topics_changed: bool,
    /// Bumped by every UPDATE_BROKER_CONFIG; GET_BROKER_CONFIG's `version`.
    pub(crate) config_version: wire::body::DataVersion,
    /// What UPDATE_BROKER_CONFIG changed, this run and before (its file's content).
    pub(crate) config_updates: std::collections::BTreeMap<String, String>,
    pub(crate) stats: crate::processor::admin::BrokerStats,
    pub(crate) locks: crate::processor::lock::QueueLocks,
    pub(crate) relays: crate::processor::relay::Relays,
    pub(crate) pull_workers: Option<crate::processor::pull_workers::PullWorkers>,
    pub(crate) persister: Persister,
    pub(crate) durable_state: DurableState,
    last_persist: Instant,
    last_sweep: Instant,
    stop: Option<&'static AtomicBool>,
}

impl Server {
    /// Opens the store (recovering it), loads the state files, binds the ports.
    pub fn bind(config: BrokerConfig) -> io::Result<Server> {
        let loop_config = LoopConfig::default();
        let mut event_loop = EventLoop::<Broker>::new(loop_config)?;
        let remote = event_loop.remote();
        let held = Arc::new(HeldQueues::default());
        let store = open_store(&config, &remote, &held)?;
        let address = SocketAddr::new(config.broker_ip1, config.listen_port);
        let bind_address = SocketAddr::new([0, 0, 0, 0].into(), config.listen_port);
        let bind_address = if config.broker_ip1.is_loopback() {
            address
        } else {
            bind_address
        };
        let local_addr = event_loop.listen(bind_address)?;
        if config.listen_port >= 3 {
            let vip = SocketAddr::new(bind_address.ip(), config.listen_port - 2);
            if let Err(error) = event_loop.listen(vip) {
                log::warn!("cannot listen on the VIP port {vip}: {error}");
            }
        }
        let store_host = SocketAddr::new(config.broker_ip1, local_addr.port());
        let workers = crate::processor::pull_workers::PullWorkers::spawn(
            config.worker_threads,
            store.clone(),
            event_loop.remote(),
        )?;
        let (ha_master, ha_slave, ha_port) = start_ha(&config, &store, &event_loop, bind_address)?;
        let persisted = event_loop.remote();
        let on_written: crate::persister::WrittenListener =
            std::sync::Arc::new(move |ticket, result| {
                let _ = persisted.send(Message::Persisted(ticket, result));
            });
        let persister = Persister::spawn(on_written)?;
        let mut handler = Broker::new(config, store, store_host, held, ha_port, persister)?;
        handler.pull_workers = Some(workers);
        handler.ha_master = ha_master;
        handler.ha_slave = ha_slave;
        Ok(Server {
            event_loop,
            handler,
            local_addr,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `stop` becomes true, then stops cleanly: unregister, flush, persist.
    pub fn run(mut self, stop: &'static AtomicBool) -> io::Result<()> {
        log::info!("broker serving on {}", self.local_addr);
        self.handler.stop = Some(stop);
        let result = self.event_loop.run(&mut self.handler);
        self.handler.shutdown();
        result
    }
}

/// A master serves its slaves on `haListenPort`; a slave starts replicating from its master.
/// Returns them and the HA port to advertise.
fn start_ha(
    config: &BrokerConfig,
    store: &Arc<MessageStore>,
    event_loop: &EventLoop<Broker>,
    bind_address: SocketAddr,
) -> io::Result<(Option<HaMaster>, Option<HaSlave>, u16)> {
    let remote = event_loop.remote();
    if config.broker_role == BrokerRole::Slave {
        let master = config
            .ha_master_address
            .as_deref()
            .and_then(|a| a.parse().ok());
        let on_truncate: crate::ha::slave::TruncateListener = Arc::new(move |end| {
            let _ = remote.send(Message::LogTruncated(end));
        });
        let slave = HaSlave::start(
            store.clone(),
            &config.broker_name,
            master,
            Some(on_truncate),
        )?;
        return Ok((None, Some(slave), config.ha_listen_port));
    }
    let on_ack: crate::ha::master::AckListener = Arc::new(move |offset| {
        let _ = remote.send(Message::SlaveAcked(offset));
    });
    let address = SocketAddr::new(bind_address.ip(), config.ha_listen_port);
    let wait = recovery_wait(config, store);
    let master = HaMaster::start(address, store.clone(), &config.broker_name, on_ack, wait)?;
    let port = master.local_addr().port();
    Ok((Some(master), None, port))
}

/// How long a master waits for its slave before accepting sends: only when its store may
/// have lost what it had appended (a crash without the journal) and a slave replicated the
/// last epoch, so the slave may hold acknowledged messages this store lacks; or when an
/// earlier start decided so and was stopped before its slave came back.
fn recovery_wait(config: &BrokerConfig, store: &MessageStore) -> Option<Duration> {
    let report = store.recovery_report();
    let lost = report.journal.may_have_lost_data(report.clean);
    let last = store.epochs().last().copied();
    let replicated = last.is_some_and(|epoch| epoch.replicated);
    let pending = last.is_some_and(|epoch| epoch.recovering);
    let wanted = (lost && replicated) || pending;
    (wanted && !config.ha_recovery_wait.is_zero()).then_some(config.ha_recovery_wait)
}

fn open_store(
    config: &BrokerConfig,
    remote: &Remote<Message>,
    held: &Arc<HeldQueues>,
) -> io::Result<Arc<MessageStore>> {
    let arrivals = remote.clone();
    let held = held.clone();
    let listener: crate::store::ArrivalListener = Arc::new(move |arrival: &Arrival<'_>| {
        if !held.contains(arrival.topic, arrival.queue_id) {
            return;
        }
        let _ = arrivals.send(Message::Arrived {
            topic: arrival.topic.to_string(),
            queue_id: arrival.queue_id,
            queue_offset: arrival.queue_offset,
            tags_code: arrival.tags_code,
        });
    });
    let store = MessageStore::open(config.store_config(), Some(listener)).map_err(store_io)?;
    // SYNC_FLUSH answers wait for the flush; under either mode, sends parked for room in the
    // commit log do.
    let flushed = remote.clone();
    store
        .commit_log()
        .set_flush_listener(Some(Arc::new(move |offset| {
            let _ = flushed.send(Message::Flushed(offset));
        })));
    Ok(Arc::new(store))
}

/// Rule 2 of `consumer_offset`: offsets past the recovered end of their queue are clamped to
/// it and written before the broker serves. A failed write leaves the table dirty for the
/// periodic persist.
fn clamp_offsets_to_store(offsets: &mut ConsumerOffsetManager, store: &MessageStore) {
    let clamped =
        offsets.clamp_to_queue_ends(|topic, queue_id| store.queue_offsets(topic, queue_id).1);
    if clamped.is_empty() {
        return;
    }
    log_clamped(&clamped);
    if let Err(error) = offsets.persist() {
        log::error!("cannot write the clamped consumer offsets now: {error}; retrying later");
    }
}

fn log_clamped(clamped: &std::collections::BTreeMap<String, usize>) {
    for (group, count) in clamped {
        log::warn!(
            "consumer group {group}: {count} committed offset(s) past the end of their queue \
             (recovered or cut), clamped to it"
        );
    }
}

pub(crate) fn store_io(error: StoreError) -> io::Error {
    match error {
        StoreError::Io(error) => error,
        other => io::Error::other(other.to_string()),
    }
}

impl Broker {
    fn new(
        config: BrokerConfig,
        store: Arc<MessageStore>,
        store_host: SocketAddr,
        held: Arc<HeldQueues>,
        ha_port: u16,
        persister: Persister,
    ) -> io::Result<Broker> {
        let topics = TopicConfigManager::load(&config)?;
        let mut offsets = ConsumerOffsetManager::load(&config.store_path_root_dir)?;
        clamp_offsets_to_store(&mut offsets, &store);
        let groups = SubscriptionGroupManager::load(&config)?;
        let durable_state = DurableState::new(topics.data_version(), groups.data_version());
        let namesrvs = registration::resolve(&config.namesrv_addrs).map_err(io::Error::other)?;
        let identity = Identity {
            cluster_name: config.broker_cluster_name.clone(),
            broker_name: config.broker_name.clone(),
            broker_id: config.broker_id,
            broker_addr: store_host.to_string(),
            ha_server_addr: SocketAddr::new(config.broker_ip2, ha_port).to_string(),
        };
        let period = config.register_name_server_period;
        let config_updates = crate::processor::broker_config::load_updates(&config.updates_path());
        Ok(Broker {
            registration: Registration::new(identity, namesrvs, period),
            persister,
            durable_state,
            config,
            store,
            store_host,
            topics,
            offsets,
            groups,
            consumers: ConsumerManager::new(),
            producers: ProducerManager::new(),
            long_polls: LongPolls::default(),
            held,
            waiters: Waiters::default(),
            parked_sends: Default::default(),
            ha_master: None,
            ha_slave: None,
            slave_sync: SlaveSync::default(),
            topics_changed: false,
            config_updates,
            config_version: wire::body::DataVersion {
                counter: 0,
                timestamp: crate::topic_config::now_ms(),
            },
            stats: crate::processor::admin::BrokerStats::new(),
            locks: crate::processor::lock::QueueLocks::default(),
            relays: crate::processor::relay::Relays::default(),
            pull_workers: None,
            last_persist: Instant::now(),
            last_sweep: Instant::now(),
            stop: None,
        })
    }

    /// Registers with the namesrvs when a round is due or the topics changed.
    pub(crate) fn register(&mut self, ctx: &mut Context<'_>, now: Instant) {
        let force = std::mem::take(&mut self.topics_changed);
        let (topics, permission) = (&self.topics, self.config.broker_permission);
        self.registration
            .tick(ctx, now, force, || topics.registration_wrapper(permission));
    }

    /// Hands the state files that changed to the persister thread.
    fn persist(&mut self) {
        if let Some(bytes) = self.offsets.take_snapshot() {
            self.persister
                .submit(self.offsets.path().to_path_buf(), bytes);
        }
        if let Some(bytes) = self.topics.take_snapshot() {
            self.persister
                .submit(self.topics.path().to_path_buf(), bytes);
        }
        if let Some(bytes) = self.groups.take_snapshot() {
            self.persister
                .submit(self.groups.path().to_path_buf(), bytes);
        }
    }

    fn shutdown(&mut self) {
        self.pull_workers = None;
        if let Some(ha) = self.ha_master.take() {
            ha.stop();
        }
        if let Some(ha) = self.ha_slave.take() {
            ha.stop();
        }
        self.persist();
        self.persister.finish();
        if let Err(error) = self.store.shutdown() {
            log::error!("store shutdown: {error}");
        }
        log::info!("broker stopped");
    }

    pub(crate) fn reply(
        &self,
        ctx: &mut Context<'_>,
        id: ConnectionId,
        request: &RemotingCommand,
        response: &RemotingCommand,
    ) {
        if !request.is_oneway() {
            ctx.send(id, response);
        }
    }

    fn on_request(&mut self, ctx: &mut Context<'_>, id: ConnectionId, request: RemotingCommand) {
        use RequestCode as C;
        let code = request.request_code();
        match code {
            C::SEND_MESSAGE | C::SEND_MESSAGE_V2 | C::SEND_BATCH_MESSAGE => {
                self.on_send_request(ctx, id, request)
            }
            C::PULL_MESSAGE => self.on_pull(ctx, id, request, true),
            C::QUERY_MESSAGE => self.on_query(ctx, id, request),
            C::GET_CONSUMER_RUNNING_INFO => self.on_consumer_running_info(ctx, id, request),
            C::CONSUMER_SEND_MSG_BACK => self.on_send_back_request(ctx, id, &request),
            _ => {
                if let Some(response) = self.on_management(ctx, id, &request) {
                    self.reply(ctx, id, &request, &response);
                }
            }
        }
        // Whatever the request changed (a pull creating its group) is written at once.
        self.note_state_changes();
    }

    /// QUERY_MESSAGE reads records from disk: on a pull worker when one has room.
    fn on_query(&mut self, ctx: &mut Context<'_>, id: ConnectionId, request: RemotingCommand) {
        let request = match &self.pull_workers {
            Some(workers) => match workers.submit_query(id, Box::new(request)) {
                Ok(()) => return,
                Err(request) => *request,
            },
            None => request,
        };
        let response = crate::processor::query::answer(&self.store, &request);
        self.reply(ctx, id, &request, &response);
    }

    /// A slave: points replication at the master the namesrv names (unless configured) and
    /// copies the master's tables.
    fn follow_master(&mut self, ctx: &mut Context<'_>, now: Instant) {
        let master = &self.registration.master;
        let ha_address = match &self.config.ha_master_address {
            Some(address) => address.parse().ok(),
            None => master
                .ha_server_addr
                .as_deref()
                .and_then(|a| a.parse().ok()),
        };
        if let (Some(slave), Some(address)) = (&self.ha_slave, ha_address) {
            slave.set_master(address);
        }
        let master_addr = master.master_addr.as_deref().and_then(|a| a.parse().ok());
        self.slave_sync.tick(ctx, now, master_addr);
    }

    /// A table from the master (slave sync).
    fn on_master_table(&mut self, response: &RemotingCommand) {
        let Some(table) = self.slave_sync.on_response(response) else {
            return;
        };
        let result =
            match table {
                Table::Topics => wire::fastjson::from_fastjson::<
                    wire::body::TopicConfigSerializeWrapper,
                >(&response.body, "TopicConfigSerializeWrapper")
                .map(|w| self.topics.replace_all(w)),
                Table::Offsets => wire::body::ConsumerOffsetWrapper::decode(&response.body)
                    .map(|w| self.offsets.replace_all(w)),
                Table::Groups => {
                    crate::subscription_group::SubscriptionGroupWrapper::decode(&response.body)
                        .map(|w| self.groups.replace_all(w))
                }
            };
        if let Err(error) = result {
            log::warn!("slave sync: unreadable {table:?} from the master: {error}");
        }
    }

    /// Answers parked sends the watermarks have passed.
    fn on_durability(&mut self, ctx: &mut Context<'_>) {
        if self.waiters.is_empty() {
            return;
        }
        let flushed = self.store.commit_log().flushed_offset();
        let acked = self
            .ha_master
            .as_ref()
            .map_or(0, |ha| ha.slave_acked_offset());
        for (connection, response) in self.waiters.ready(flushed, acked) {
            ctx.send(connection, &response);
        }
    }

    /// At a clean stop: waits (bounded) for the flush of what was appended, so every parked
    /// send gets its real answer before the sockets close.
    fn finish_parked_sends(&mut self, ctx: &mut Context<'_>) {
        if self.waiters.is_empty() {
            return;
        }
        let log = self.store.commit_log().clone();
        if let Err(error) = log.wait_flushed(log.written_offset(), self.config.sync_flush_timeout) {
            log::warn!("stopping with sends not yet durable: {error}");
        }
        self.on_durability(ctx);
        let all_late = Instant::now() + self.config.sync_flush_timeout + self.config.slave_timeout;
        for (connection, response) in self.waiters.expire(all_late, log.flushed_offset()) {
            ctx.send(connection, &response);
        }
    }

    /// Parked sends past their deadline: FLUSH_DISK_TIMEOUT or FLUSH_SLAVE_TIMEOUT.
    fn expire_waiters(&mut self, ctx: &mut Context<'_>, now: Instant) {
        let flushed = self.store.commit_log().flushed_offset();
        for (connection, response) in self.waiters.expire(now, flushed) {
            ctx.send(connection, &response);
        }
    }

    fn sweep(&mut self, ctx: &mut Context<'_>, now: Instant) {
        let store = self.store.clone();
        let due = self.long_polls.on_tick(now, |topic, queue_id| {
            store.queue_offsets(topic, queue_id).1
        });
        self.held.update(&mut self.long_polls);
        for held in due {
            self.on_pull(ctx, held.connection, held.request, false);
        }
        let expired = self.consumers.expire(now, CLIENT_EXPIRY);
        for connection in expired
            .connections
            .iter()
            .chain(&self.producers.expire(now, CLIENT_EXPIRY).connections)
        {
            log::info!("closing client connection {connection:?}: silent past the expiry");
            ctx.close(*connection);
        }
        for group in expired.groups {
            self.notify_consumer_ids_changed(ctx, &group);
        }
    }
}

impl Handler for Broker {
    type Message = Message;

    fn on_command(&mut self, ctx: &mut Context<'_>, id: ConnectionId, command: RemotingCommand) {
        if command.is_response() {
            if self.registration.is_namesrv_connection(id) {
                self.registration.on_response(&command);
            } else if self.slave_sync.is_master_connection(id) {
                self.on_master_table(&command);
            } else {
                self.on_relayed_response(ctx, id, &command);
            }
            return;
        }
        self.on_request(ctx, id, command);
    }

    fn on_close(&mut self, ctx: &mut Context<'_>, id: ConnectionId, _reason: &CloseReason) {
        self.on_relay_connection_closed(ctx, id);
        self.long_polls.on_connection_closed(id);
        self.parked_sends.on_connection_closed(id);
        self.held.update(&mut self.long_polls);
        for group in self.consumers.on_connection_closed(id) {
            self.notify_consumer_ids_changed(ctx, &group);
        }
        self.producers.on_connection_closed(id);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: Message) {
        match message {
            Message::Flushed(_) => {
                self.on_durability(ctx);
                self.on_room_for_sends(ctx);
            }
            Message::SlaveAcked(_) => self.on_durability(ctx),
            Message::LogTruncated(_) => {
                // Left dirty for the periodic persist: no fsync on the loop, and one writer.
                log_clamped(&self.offsets.clamp_to_queue_ends(|topic, queue_id| {
                    self.store.queue_offsets(topic, queue_id).1
                }));
            }
            Message::Persisted(ticket, result) => self.on_state_persisted(ctx, ticket, result),
            Message::PullDone(done) => self.on_pull_done(ctx, *done),
            Message::Answer(connection, response) => {
                ctx.send(connection, &response);
            }
            Message::Arrived {
                topic,
                queue_id,
                queue_offset,
                tags_code,
            } => {
                let woken =
                    self.long_polls
                        .on_arrival(&topic, queue_id, queue_offset + 1, tags_code);
                self.held.update(&mut self.long_polls);
                for held in woken {
                    self.on_pull(ctx, held.connection, held.request, false);
                }
            }
        }
    }

    fn on_tick(&mut self, ctx: &mut Context<'_>, now: Instant) {
        if self.stop.is_some_and(|stop| stop.load(Ordering::SeqCst)) {
            log::info!("stop requested");
            // Before the sends: a send parked on its topic's config moves on to the flush.
            self.finish_parked_state(ctx);
            self.finish_parked_sends(ctx);
            self.registration.unregister(ctx);
            ctx.stop();
            return;
        }
        self.register(ctx, now);
        // Changes made outside a management request (a pull creating its group) are written
        // from here at the latest; nobody collects them.
        self.begin_state_changes();
        self.stats.sample(now, std::time::SystemTime::now());
        if !self.waiters.is_empty() {
            self.on_durability(ctx);
            self.expire_waiters(ctx, now);
        }
        if !self.parked_sends.is_empty() {
            self.on_room_for_sends(ctx);
            self.expire_parked_sends(ctx, now);
        }
        if self.config.broker_role == BrokerRole::Slave {
            self.follow_master(ctx, now);
        }
        if now.duration_since(self.last_sweep) >= LONG_POLL_SWEEP {
            self.last_sweep = now;
            self.sweep(ctx, now);
            self.expire_relays(ctx, now);
        }
        if now.duration_since(self.last_persist) >= PERSIST_INTERVAL {
            self.last_persist = now;
            self.persist();
        }
    }
}
