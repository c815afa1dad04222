//! The push consumer: subscribes a group to topics and calls the listener with the messages
//! of the queues it owns. Clustering: the group's queues are shared out by average
//! allocation (sorted queues, sorted client ids), again every 20 s and at once when a broker
//! sends NOTIFY_CONSUMER_IDS_CHANGED; offsets are committed to the broker every 5 s and when
//! a queue is given up or the consumer stops. Broadcasting: every consumer takes every queue
//! and keeps its offsets in a local file. Heartbeats go to every master of the subscribed
//! topics every 30 s. Messages a listener fails are sent back to the broker
//! (CONSUMER_SEND_MSG_BACK) and come again through `%RETRY%<group>`, their topic restored;
//! orderly and broadcasting consumers retry them in place after 1 s.
//! Orderly: a queue is consumed only while this client holds its broker lock (refreshed
//! every 20 s, released when the queue is given up), so one queue is never read by two
//! consumers at once, and its messages reach the listener in queue order.
//!
//! Threads: a rebalance thread, a heartbeat-and-commit thread, and a puller thread per owned
//! queue (long polling, 5 s). The listener runs on the puller threads (one queue at a time
//! per thread, so per-queue order is kept) and back-pressures its queue's pulls.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};
use wire::body::{
    ConsumerData, ConsumerListBody, HeartbeatData, LockBatchRequestBody, LockBatchResponseBody,
    MessageQueue, SubscriptionData,
};
use wire::headers::send::ConsumerSendMsgBackRequestHeader;
use wire::headers::CommandHeader;
use wire::message::MessageRecord;
use wire::{RemotingCommand, RequestCode, ResponseCode};

use crate::consumer::{PullConsumer, PullStatus};
use crate::error::ClientError;
use crate::remoting::RemotingClient;

const REBALANCE_INTERVAL: Duration = Duration::from_secs(20);
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
const COMMIT_INTERVAL: Duration = Duration::from_secs(5);
/// Shorter than Java's 15 s so that giving a queue up (rebalance, shutdown) is quick.
const LONG_POLL: Duration = Duration::from_secs(5);
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Orderly consumers refresh their queue locks this often (upstream: 20 s; locks live 60 s).
const LOCK_REFRESH_INTERVAL: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageModel {
    Clustering,
    Broadcasting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeFrom {
    LastOffset,
    FirstOffset,
    /// Milliseconds since the epoch.
    Timestamp(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeResult {
    Success,
    /// Deliver the same messages again later.
    Retry,
}

pub type Listener = Arc<dyn Fn(&MessageQueue, &[MessageRecord]) -> ConsumeResult + Send + Sync>;

#[derive(Debug, Clone)]
pub struct PushConsumerConfig {
    pub group: String,
    pub namesrv_addr: String,
    pub model: MessageModel,
    pub consume_from: ConsumeFrom,
    /// topic → tag expression (`*`, `a || b`).
    pub subscriptions: BTreeMap<String, String>,
    pub pull_batch_size: i32,
    /// Distinguishes several consumers of one group in one process.
    pub instance_name: String,
    /// Where broadcasting offsets are kept.
    pub offset_dir: PathBuf,
    /// Orderly: a queue is consumed only while this client holds its broker lock
    /// (LOCK_BATCH_MQ), so no two consumers of the group ever read it at once.
    pub orderly: bool,
    /// How often queues are shared out again without a membership notice (upstream: 20 s).
    pub rebalance_interval: Duration,
}

impl PushConsumerConfig {
    pub fn new(group: &str, namesrv_addr: &str) -> PushConsumerConfig {
        PushConsumerConfig {
            group: group.to_string(),
            namesrv_addr: namesrv_addr.to_string(),
            model: MessageModel::Clustering,
            consume_from: ConsumeFrom::LastOffset,
            subscriptions: BTreeMap::new(),
            pull_batch_size: 32,
            instance_name: "DEFAULT".into(),
            offset_dir: std::env::temp_dir().join("rocketmq-offsets"),
            orderly: false,
            rebalance_interval: REBALANCE_INTERVAL,
        }
    }

    pub fn subscribe(mut self, topic: &str, expression: &str) -> PushConsumerConfig {
        self.subscriptions
            .insert(topic.to_string(), expression.to_string());
        self
    }
}

/// One owned queue: its puller thread and the offset it reached.
struct Owned {
    stop: Arc<AtomicBool>,
    offset: Arc<AtomicI64>,
    activity: Arc<Activity>,
    thread: Option<JoinHandle<()>>,
}

/// When a queue's puller last had an answer and last delivered messages (ms since the
/// epoch, 0 = never), for GET_CONSUMER_RUNNING_INFO.
#[derive(Default)]
struct Activity {
    last_pull_ms: AtomicI64,
    last_consume_ms: AtomicI64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Inner {
    config: PushConsumerConfig,
    client_id: String,
    pull: PullConsumer,
    listener: Listener,
    owned: Mutex<HashMap<MessageQueue, Owned>>,
    stop: AtomicBool,
    wake: Sender<()>,
    last_commit: Mutex<Option<Instant>>,
    /// Offsets the broker told us to move to (RESET_CONSUMER_CLIENT_OFFSET, from `mqadmin
    /// resetOffsetByTime`), applied by the rebalance thread.
    resets: Arc<Mutex<Vec<(MessageQueue, i64)>>>,
    /// When this consumer started, ms since the epoch (GET_CONSUMER_RUNNING_INFO).
    started_ms: i64,
}

pub struct PushConsumer {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

impl PushConsumer {
    pub fn start(
        config: PushConsumerConfig,
        listener: Listener,
    ) -> Result<PushConsumer, ClientError> {
        if config.subscriptions.is_empty() {
            return Err(ClientError::Invalid("no subscription".into()));
        }
        let (wake, woken) = bounded::<()>(1);
        let resets: Arc<Mutex<Vec<(MessageQueue, i64)>>> = Arc::default();
        let this: Arc<OnceLock<Weak<Inner>>> = Arc::default();
        let on_request = requests::handler(&config.group, wake.clone(), resets.clone(), &this);
        let client = RemotingClient::start(Some(on_request))?;
        let pull = PullConsumer::with_client(&config.group, &config.namesrv_addr, client)?;
        let client_ip = crate::route::NameServers::parse(&config.namesrv_addr)?.local_ip();
        let client_id = format!(
            "{client_ip}@{}#{}",
            std::process::id(),
            config.instance_name
        );
        let inner = Arc::new(Inner {
            config,
            client_id,
            pull,
            listener,
            owned: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
            wake,
            last_commit: Mutex::new(None),
            resets,
            started_ms: now_ms(),
        });
        let _ = this.set(Arc::downgrade(&inner));
        inner.heartbeat();
        let mut threads = Vec::new();
        let rebalancer = inner.clone();
        threads.push(spawn("push-rebalance", move || {
            rebalancer.run_rebalance(woken)
        })?);
        let beater = inner.clone();
        threads.push(spawn("push-heartbeat", move || beater.run_heartbeat())?);
        Ok(PushConsumer { inner, threads })
    }

    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The queues this consumer owns now.
    pub fn owned_queues(&self) -> Vec<MessageQueue> {
        let mut queues: Vec<MessageQueue> = self.inner.owned().keys().cloned().collect();
        queues.sort();
        queues
    }

    /// Stops pulling, commits offsets, leaves the group.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        self.inner.stop.store(true, Ordering::Release);
        let _ = self.inner.wake.try_send(());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        let owned: Vec<MessageQueue> = self.inner.owned().keys().cloned().collect();
        self.inner.give_up(&owned);
        self.inner.unregister();
        self.inner.pull.shutdown();
    }
}

impl Drop for PushConsumer {
    fn drop(&mut self) {
        if !self.inner.stop.load(Ordering::Acquire) {
            self.stop_all();
        }
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, ClientError> {
    Ok(std::thread::Builder::new().name(name.into()).spawn(body)?)
}

/// Messages redelivered through `%RETRY%<group>` carry their original topic in RETRY_TOPIC:
/// the listener sees that topic, as with the Java client.
fn restore_retry_topics(messages: &mut [MessageRecord]) {
    for message in messages {
        if message.topic.starts_with("%RETRY%") {
            let original =
                wire::properties::find(&message.properties, wire::properties::RETRY_TOPIC);
            if let Some(original) = original.map(str::to_string) {
                message.topic = original;
            }
        }
    }
}

/// Average allocation: `queues` (sorted) cut into consecutive runs, one per client id (sorted).
pub fn allocate_average(
    queues: &[MessageQueue],
    client_ids: &[String],
    me: &str,
) -> Vec<MessageQueue> {
    let Some(index) = client_ids.iter().position(|id| id == me) else {
        return Vec::new();
    };
    let (count, clients) = (queues.len(), client_ids.len());
    let modulo = count % clients;
    let size = if count <= clients {
        1
    } else if modulo > 0 && index < modulo {
        count / clients + 1
    } else {
        count / clients
    };
    let start = if modulo > 0 && index < modulo {
        index * size
    } else {
        index * size + modulo
    };
    let range = size.min(count.saturating_sub(start));
    (0..range)
        .map(|i| queues[(start + i) % count].clone())
        .collect()
}

impl Inner {
    fn owned(&self) -> std::sync::MutexGuard<'_, HashMap<MessageQueue, Owned>> {
        self.owned.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn run_rebalance(self: Arc<Self>, woken: Receiver<()>) {
        while !self.stopping() {
            self.apply_resets();
            if let Err(error) = self.rebalance() {
                log::warn!("rebalance of {}: {error}", self.config.group);
            }
            match woken.recv_timeout(self.config.rebalance_interval) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn run_heartbeat(self: Arc<Self>) {
        let mut last_beat = Instant::now();
        let mut last_lock = Instant::now();
        while !self.stopping() {
            std::thread::sleep(Duration::from_millis(200));
            if last_beat.elapsed() >= HEARTBEAT_INTERVAL {
                self.heartbeat();
                last_beat = Instant::now();
            }
            if self.config.model == MessageModel::Clustering {
                self.commit_all_every(COMMIT_INTERVAL);
            }
            if self.config.orderly && last_lock.elapsed() >= LOCK_REFRESH_INTERVAL {
                self.refresh_locks();
                last_lock = Instant::now();
            }
        }
    }

    /// The queues this client should own now.
    fn assignment(&self) -> Result<Vec<MessageQueue>, ClientError> {
        let mut mine = Vec::new();
        for topic in self.topics() {
            let queues = self.pull.refresh_queues(&topic)?;
            if self.config.model == MessageModel::Broadcasting {
                mine.extend(queues);
                continue;
            }
            let Some(first) = queues.first() else {
                continue;
            };
            let mut ids = self.client_ids(&topic, &first.broker_name)?;
            if !ids.contains(&self.client_id) {
                // Our heartbeat has not reached that broker yet: send one and ask again.
                self.heartbeat();
                ids = self.client_ids(&topic, &first.broker_name)?;
                if !ids.contains(&self.client_id) {
                    continue;
                }
            }
            ids.sort();
            mine.extend(allocate_average(&queues, &ids, &self.client_id));
        }
        Ok(mine)
    }

    fn rebalance(self: &Arc<Self>) -> Result<(), ClientError> {
        let mine = self.assignment()?;
        let current: Vec<MessageQueue> = self.owned().keys().cloned().collect();
        let leaving: Vec<MessageQueue> = current
            .iter()
            .filter(|q| !mine.contains(q))
            .cloned()
            .collect();
        self.give_up(&leaving);
        for queue in mine.iter().filter(|q| !current.contains(q)) {
            self.take(queue.clone())?;
        }
        Ok(())
    }

    /// Topics pulled: the subscriptions and, clustering, the group's retry topic.
    fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.config.subscriptions.keys().cloned().collect();
        if self.config.model == MessageModel::Clustering {
            topics.push(format!("%RETRY%{}", self.config.group));
        }
        topics
    }

    fn client_ids(&self, topic: &str, broker_name: &str) -> Result<Vec<String>, ClientError> {
        let route = self.pull.route(topic)?;
        let addr = route
            .address(broker_name, Some(0))
            .or_else(|| route.address(broker_name, None))
            .ok_or_else(|| ClientError::NoRoute {
                topic: topic.into(),
            })?;
        let request = RemotingCommand::request(RequestCode::GET_CONSUMER_LIST_BY_GROUP, 0)
            .with_ext("consumerGroup", self.config.group.clone());
        let answer = self
            .pull
            .client()
            .invoke(addr, request, Duration::from_secs(3))?;
        if answer.response_code() != ResponseCode::SUCCESS {
            return Err(ClientError::server(
                answer.response_code(),
                answer.remark.as_deref(),
            ));
        }
        Ok(ConsumerListBody::decode(&answer.body)?.consumer_id_list)
    }

    fn start_offset(&self, queue: &MessageQueue) -> Result<i64, ClientError> {
        let stored = match self.config.model {
            MessageModel::Clustering => self.pull.query_offset(queue)?,
            MessageModel::Broadcasting => self.local_offset(queue),
        };
        if let Some(offset) = stored.filter(|o| *o >= 0) {
            return Ok(offset);
        }
        if queue.topic.starts_with("%RETRY%") {
            return Ok(0);
        }
        match self.config.consume_from {
            ConsumeFrom::FirstOffset => Ok(0),
            ConsumeFrom::LastOffset => self.pull.max_offset(queue),
            ConsumeFrom::Timestamp(at) => self.pull.search_offset(queue, at),
        }
    }

    fn take(self: &Arc<Self>, queue: MessageQueue) -> Result<(), ClientError> {
        if self.config.orderly
            && !self
                .lock_queues(std::slice::from_ref(&queue), true)?
                .contains(&queue)
        {
            // Another client still holds it (it has not seen the rebalance yet): next round.
            return Ok(());
        }
        let offset = Arc::new(AtomicI64::new(self.start_offset(&queue)?));
        let stop = Arc::new(AtomicBool::new(false));
        let activity = Arc::new(Activity::default());
        let (inner, queue_copy, offset_copy, stop_copy, activity_copy) = (
            self.clone(),
            queue.clone(),
            offset.clone(),
            stop.clone(),
            activity.clone(),
        );
        let thread = spawn("push-pull", move || {
            inner.run_queue(&queue_copy, &offset_copy, &stop_copy, &activity_copy)
        })?;
        self.owned().insert(
            queue,
            Owned {
                stop,
                offset,
                activity,
                thread: Some(thread),
            },
        );
        Ok(())
    }

    /// Stops pulling `queues` and commits where each got to.
    fn give_up(&self, queues: &[MessageQueue]) {
        // Held across stop and commit: a periodic commit of these queues from before cannot
        // land after ours.
        let _commits = self.commits();
        for (queue, offset) in self.stop_pullers(queues) {
            self.commit(&queue, offset);
            if self.config.orderly {
                let _ = self.lock_queues(std::slice::from_ref(&queue), false);
            }
        }
    }

    /// Stops the pullers of `queues` (every one told first, then each waited for: one long
    /// poll of delay, not one per queue) and hands back where each got to.
    fn stop_pullers(&self, queues: &[MessageQueue]) -> Vec<(MessageQueue, i64)> {
        let mut stopped = Vec::new();
        {
            let mut owned = self.owned();
            for queue in queues {
                if let Some(state) = owned.remove(queue) {
                    state.stop.store(true, Ordering::Release);
                    stopped.push((queue.clone(), state));
                }
            }
        }
        stopped
            .into_iter()
            .map(|(queue, mut state)| {
                if let Some(thread) = state.thread.take() {
                    let _ = thread.join();
                }
                (queue, state.offset.load(Ordering::Acquire))
            })
            .collect()
    }

    /// The commit lock (it also holds when the last periodic commit ran).
    fn commits(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.last_commit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// LOCK_BATCH_MQ (or UNLOCK) for `queues` on their broker; returns the queues held.
    fn lock_queues(
        &self,
        queues: &[MessageQueue],
        lock: bool,
    ) -> Result<Vec<MessageQueue>, ClientError> {
        let Some(first) = queues.first() else {
            return Ok(Vec::new());
        };
        let route = self.pull.route(&first.topic)?;
        let addr = route
            .master(&first.broker_name)
            .ok_or_else(|| ClientError::NoRoute {
                topic: first.topic.clone(),
            })?;
        let body = LockBatchRequestBody {
            client_id: self.client_id.clone(),
            consumer_group: self.config.group.clone(),
            mq_set: queues.iter().cloned().collect(),
        };
        let code = if lock {
            RequestCode::LOCK_BATCH_MQ
        } else {
            RequestCode::UNLOCK_BATCH_MQ
        };
        let body = serde_json::to_vec(&body).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let request = RemotingCommand::request(code, 0).with_body(body);
        let answer = self
            .pull
            .client()
            .invoke(addr, request, Duration::from_secs(3))?;
        if answer.response_code() != ResponseCode::SUCCESS {
            return Err(ClientError::server(
                answer.response_code(),
                answer.remark.as_deref(),
            ));
        }
        if !lock {
            return Ok(Vec::new());
        }
        let held: LockBatchResponseBody =
            serde_json::from_slice(&answer.body).map_err(|e| ClientError::Decode(e.to_string()))?;
        Ok(held.lock_ok_mq_set.into_iter().collect())
    }

    /// Orderly: refreshes the locks of owned queues; a queue whose lock was lost is given up.
    fn refresh_locks(&self) {
        let owned: Vec<MessageQueue> = self.owned().keys().cloned().collect();
        for queue in owned {
            match self.lock_queues(std::slice::from_ref(&queue), true) {
                Ok(held) if held.contains(&queue) => {}
                Ok(_) => self.give_up(std::slice::from_ref(&queue)),
                Err(error) => log::warn!("lock refresh of {queue:?}: {error}"),
            }
        }
    }

    fn run_queue(
        &self,
        queue: &MessageQueue,
        offset: &AtomicI64,
        stop: &AtomicBool,
        activity: &Activity,
    ) {
        let expression = self.expression(&queue.topic);
        while !stop.load(Ordering::Acquire) && !self.stopping() {
            let from = offset.load(Ordering::Acquire);
            let result = match self.pull.pull(
                queue,
                &expression,
                from,
                self.config.pull_batch_size,
                Some(LONG_POLL),
            ) {
                Ok(result) => {
                    activity.last_pull_ms.store(now_ms(), Ordering::Relaxed);
                    result
                }
                Err(error) => {
                    log::debug!("pull {queue:?}: {error}");
                    std::thread::sleep(RETRY_PAUSE);
                    continue;
                }
            };
            match result.status {
                PullStatus::Found if !result.messages.is_empty() => {
                    let mut messages = result.messages;
                    restore_retry_topics(&mut messages);
                    if !self.deliver(queue, &messages, stop) {
                        return;
                    }
                    activity.last_consume_ms.store(now_ms(), Ordering::Relaxed);
                    offset.store(result.next_begin_offset, Ordering::Release);
                }
                PullStatus::OffsetIllegal => {
                    offset.store(result.next_begin_offset, Ordering::Release)
                }
                _ => offset.store(result.next_begin_offset.max(from), Ordering::Release),
            }
        }
    }

    /// Hands `messages` to the listener until it succeeds; a clustering, non-orderly consumer
    /// sends failed messages back to the broker for a later retry instead of waiting here.
    /// False when the consumer stopped meanwhile.
    fn deliver(&self, queue: &MessageQueue, messages: &[MessageRecord], stop: &AtomicBool) -> bool {
        loop {
            if (self.listener)(queue, messages) == ConsumeResult::Success {
                return true;
            }
            let sends_back = self.config.model == MessageModel::Clustering && !self.config.orderly;
            if sends_back && messages.iter().all(|m| self.send_back(queue, m).is_ok()) {
                return true;
            }
            if stop.load(Ordering::Acquire) || self.stopping() {
                return false;
            }
            std::thread::sleep(RETRY_PAUSE);
        }
    }

    /// CONSUMER_SEND_MSG_BACK: the broker stores the message again for a later retry.
    fn send_back(&self, queue: &MessageQueue, message: &MessageRecord) -> Result<(), ClientError> {
        let route = self.pull.route(&queue.topic)?;
        let addr = route
            .master(&queue.broker_name)
            .ok_or_else(|| ClientError::NoRoute {
                topic: queue.topic.clone(),
            })?;
        let origin = wire::properties::find(&message.properties, wire::properties::UNIQ_KEY)
            .unwrap_or("")
            .to_string();
        let header = ConsumerSendMsgBackRequestHeader {
            offset: message.commit_log_offset,
            group: self.config.group.clone(),
            delay_level: 0,
            origin_msg_id: Some(origin),
            origin_topic: Some(message.topic.clone()),
            unit_mode: false,
            max_reconsume_times: Some(16),
        };
        let mut request = RemotingCommand::request(RequestCode::CONSUMER_SEND_MSG_BACK, 0);
        header.write_to(&mut request.ext_fields);
        let answer = self
            .pull
            .client()
            .invoke(addr, request, Duration::from_secs(3))?;
        match answer.response_code() {
            ResponseCode::SUCCESS => Ok(()),
            code => Err(ClientError::server(code, answer.remark.as_deref())),
        }
    }

    fn expression(&self, topic: &str) -> String {
        self.config
            .subscriptions
            .get(topic)
            .cloned()
            .unwrap_or_else(|| "*".into())
    }

    fn commit_all_every(&self, interval: Duration) {
        // Held until the commits are done: a reset or a give-up waits for them.
        let mut last = self.commits();
        if last.is_some_and(|at| at.elapsed() < interval) {
            return;
        }
        *last = Some(Instant::now());
        let offsets: Vec<(MessageQueue, i64)> = self
            .owned()
            .iter()
            .map(|(q, o)| (q.clone(), o.offset.load(Ordering::Acquire)))
            .collect();
        for (queue, offset) in offsets {
            self.commit(&queue, offset);
        }
    }

    fn commit(&self, queue: &MessageQueue, offset: i64) {
        let result = match self.config.model {
            MessageModel::Clustering => self.pull.commit_offset(queue, offset),
            MessageModel::Broadcasting => self.store_local_offset(queue, offset),
        };
        if let Err(error) = result {
            log::warn!("commit of {queue:?} at {offset}: {error}");
        }
    }

    fn offset_file(&self, queue: &MessageQueue) -> PathBuf {
        let name = format!(
            "{}@{}@{}@{}",
            queue.topic, queue.broker_name, queue.queue_id, self.config.group
        );
        self.config
            .offset_dir
            .join(&self.config.instance_name)
            .join(name)
    }

    fn local_offset(&self, queue: &MessageQueue) -> Option<i64> {
        std::fs::read_to_string(self.offset_file(queue))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn store_local_offset(&self, queue: &MessageQueue, offset: i64) -> Result<(), ClientError> {
        let path = self.offset_file(queue);
        crate::durable::write_atomically(&path, offset.to_string().as_bytes())?;
        Ok(())
    }

    fn heartbeat_body(&self) -> Vec<u8> {
        let subscriptions = self
            .topics()
            .into_iter()
            .map(|topic| {
                let expression = self.expression(&topic);
                SubscriptionData::tags(&topic, &expression, 0)
            })
            .collect();
        let model = match self.config.model {
            MessageModel::Clustering => "CLUSTERING",
            MessageModel::Broadcasting => "BROADCASTING",
        };
        HeartbeatData {
            client_id: self.client_id.clone(),
            consumer_data_set: vec![ConsumerData {
                consume_from_where: match self.config.consume_from {
                    ConsumeFrom::LastOffset => "CONSUME_FROM_LAST_OFFSET",
                    ConsumeFrom::FirstOffset => "CONSUME_FROM_FIRST_OFFSET",
                    ConsumeFrom::Timestamp(_) => "CONSUME_FROM_TIMESTAMP",
                }
                .into(),
                consume_type: "CONSUME_PASSIVELY".into(),
                group_name: self.config.group.clone(),
                message_model: model.into(),
                subscription_data_set: subscriptions,
                unit_mode: false,
            }],
            producer_data_set: Vec::new(),
        }
        .encode()
    }

    /// Every master of every subscribed topic.
    fn brokers(&self) -> Vec<std::net::SocketAddr> {
        let mut addrs = Vec::new();
        for topic in self.config.subscriptions.keys() {
            if let Ok(route) = self.pull.route(topic) {
                for broker in &route.data.broker_datas {
                    if let Some(addr) = route.master(&broker.broker_name) {
                        if !addrs.contains(&addr) {
                            addrs.push(addr);
                        }
                    }
                }
            }
        }
        addrs
    }

    fn heartbeat(&self) {
        let body = self.heartbeat_body();
        for addr in self.brokers() {
            let request =
                RemotingCommand::request(RequestCode::HEART_BEAT, 0).with_body(body.clone());
            if let Err(error) = self
                .pull
                .client()
                .invoke(addr, request, Duration::from_secs(3))
            {
                log::warn!("heartbeat to {addr}: {error}");
            }
        }
    }

    fn unregister(&self) {
        for addr in self.brokers() {
            let request = RemotingCommand::request(RequestCode::UNREGISTER_CLIENT, 0)
                .with_ext("clientID", self.client_id.clone())
                .with_ext("consumerGroup", self.config.group.clone());
            let _ = self
                .pull
                .client()
                .invoke(addr, request, Duration::from_secs(3));
        }
    }
}

mod requests;
#[cfg(test)]
mod tests;
