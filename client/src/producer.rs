//! The producer: routes from the namesrvs (cached, refreshed every 30 s and after errors),
//! round-robin over writable queues, brokers that failed recently avoided for a while, retries
//! on another broker for the codes Apache RocketMQ retries, and sync, async, oneway, batch and
//! queue-selected sends. Messages carry tags, keys, user properties, a delay level and the
//! client unique key (UNIQ_KEY) the Java client makes; bodies past a threshold are compressed.
//!
//! Thread-safe: share one `Producer` between threads (it is a handle on shared state).

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wire::body::{HeartbeatData, MessageQueue, ProducerData};
use wire::headers::client::UnregisterClientRequestHeader;
use wire::headers::send::{SendMessageRequestHeaderV2, SendMessageResponseHeader};
use wire::headers::CommandHeader;
use wire::message::batch::{encode_batch, BatchItem};
use wire::message::sys_flag;
use wire::message_id::{time_since_month_start_ms, UniqueKeyParts};
use wire::properties::{self, Properties};
use wire::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::ClientError;
use crate::remoting::RemotingClient;
use crate::route::{NameServers, Route, RouteCache};

/// Response codes after which a send is tried again on another broker (Java's defaults).
const RETRY_CODES: [ResponseCode; 4] = [
    ResponseCode::TOPIC_NOT_EXIST,
    ResponseCode::SERVICE_NOT_AVAILABLE,
    ResponseCode::SYSTEM_ERROR,
    ResponseCode::NO_PERMISSION,
];
/// How long a broker that failed a send is avoided.
const BROKER_AVOID: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub group: String,
    /// `host:port;host:port`.
    pub namesrv_addr: String,
    pub send_timeout: Duration,
    /// Extra attempts on another broker after a retryable failure.
    pub retries: u32,
    /// Single-message bodies at least this long are zlib-compressed.
    pub compress_over: usize,
    pub message_size_max: usize,
    /// Queues a topic auto-created through TBW102 gets.
    pub default_topic_queue_nums: i32,
}

impl ProducerConfig {
    pub fn new(group: &str, namesrv_addr: &str) -> ProducerConfig {
        ProducerConfig {
            group: group.to_string(),
            namesrv_addr: namesrv_addr.to_string(),
            send_timeout: Duration::from_secs(3),
            retries: 2,
            compress_over: 4096,
            message_size_max: 4 << 20,
            default_topic_queue_nums: 4,
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub body: Vec<u8>,
    pub tags: Option<String>,
    pub keys: Vec<String>,
    /// User properties (names must not clash with the system ones).
    pub properties: Vec<(String, String)>,
    /// 1..18 for the broker's delay levels; 0 sends at once.
    pub delay_level: i32,
    pub flag: i32,
}

impl Message {
    pub fn new(topic: &str, body: impl Into<Vec<u8>>) -> Message {
        Message {
            topic: topic.to_string(),
            body: body.into(),
            ..Message::default()
        }
    }

    pub fn with_tags(mut self, tags: &str) -> Message {
        self.tags = Some(tags.to_string());
        self
    }

    pub fn with_keys(mut self, keys: &[&str]) -> Message {
        self.keys = keys.iter().map(|k| k.to_string()).collect();
        self
    }

    pub fn with_property(mut self, name: &str, value: &str) -> Message {
        self.properties.push((name.to_string(), value.to_string()));
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    Ok,
    FlushDiskTimeout,
    FlushSlaveTimeout,
    SlaveNotAvailable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    pub status: SendStatus,
    /// The client unique key(s), comma-joined for a batch.
    pub msg_id: String,
    /// The broker's offset message id(s).
    pub offset_msg_id: String,
    pub queue: MessageQueue,
    pub queue_offset: i64,
}

struct Inner {
    config: ProducerConfig,
    client: RemotingClient,
    namesrvs: NameServers,
    routes: RouteCache,
    next_queue: AtomicUsize,
    avoid: Mutex<HashMap<String, Instant>>,
    counter: AtomicU16,
    client_ip: IpAddr,
    client_id: String,
    /// Async send callbacks run on one thread of the producer, fed through this.
    callbacks: crossbeam::channel::Sender<Callback>,
    /// When each broker last had our heartbeat: it lists the producer group's connections
    /// (`mqadmin producerConnection`) and forgets them after 120 s of silence.
    beats: Mutex<HashMap<SocketAddr, Instant>>,
}

type Callback = Box<dyn FnOnce() + Send>;

/// The thread that runs async send callbacks, until every sender of `jobs` is gone.
fn spawn_callback_thread(jobs: crossbeam::channel::Receiver<Callback>) -> Result<(), ClientError> {
    std::thread::Builder::new()
        .name("producer-callback".into())
        .spawn(move || {
            for job in jobs {
                job();
            }
        })
        .map(|_| ())
        .map_err(|e| ClientError::Invalid(format!("cannot start the callback thread: {e}")))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A broker hears again from a producer that sends to it this often.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl Producer {
    pub fn start(config: ProducerConfig) -> Result<Producer, ClientError> {
        if config.group.is_empty() {
            return Err(ClientError::Invalid("producer group is empty".into()));
        }
        let namesrvs = NameServers::parse(&config.namesrv_addr)?;
        let client = RemotingClient::start(None)?;
        static INSTANCES: AtomicUsize = AtomicUsize::new(0);
        let instance = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let client_ip = namesrvs.local_ip();
        let client_id = format!("{client_ip}@{}#producer-{instance}", std::process::id());
        let (callbacks, jobs) = crossbeam::channel::unbounded();
        spawn_callback_thread(jobs)?;
        Ok(Producer {
            inner: Arc::new(Inner {
                config,
                client,
                namesrvs,
                routes: RouteCache::default(),
                next_queue: AtomicUsize::new(0),
                avoid: Mutex::new(HashMap::new()),
                counter: AtomicU16::new(0),
                client_ip,
                client_id,
                callbacks,
                beats: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Leaves the producer group on every broker it sent to, then closes the connections.
    pub fn shutdown(&self) {
        let brokers: Vec<SocketAddr> = lock(&self.inner.beats).drain().map(|(a, _)| a).collect();
        for addr in brokers {
            let header = UnregisterClientRequestHeader {
                client_id: self.inner.client_id.clone(),
                producer_group: Some(self.inner.config.group.clone()),
                consumer_group: None,
            };
            let mut request = RemotingCommand::request(RequestCode::UNREGISTER_CLIENT, 0);
            header.write_to(&mut request.ext_fields);
            let _ = self
                .inner
                .client
                .invoke(addr, request, Duration::from_secs(1));
        }
        self.inner.client.shutdown();
    }

    /// HEART_BEAT to `addr` when it has not had one for [`HEARTBEAT_INTERVAL`].
    fn heartbeat(&self, addr: SocketAddr) {
        let due = lock(&self.inner.beats)
            .get(&addr)
            .is_none_or(|last| last.elapsed() >= HEARTBEAT_INTERVAL);
        if !due {
            return;
        }
        let producers = [self.inner.config.group.as_str(), "CLIENT_INNER_PRODUCER"];
        let body = HeartbeatData {
            client_id: self.inner.client_id.clone(),
            consumer_data_set: Vec::new(),
            producer_data_set: producers
                .iter()
                .map(|group| ProducerData {
                    group_name: group.to_string(),
                })
                .collect(),
        }
        .encode();
        let request = RemotingCommand::request(RequestCode::HEART_BEAT, 0).with_body(body);
        match self
            .inner
            .client
            .invoke(addr, request, Duration::from_secs(3))
        {
            Ok(_) => {
                lock(&self.inner.beats).insert(addr, Instant::now());
            }
            Err(error) => log::debug!("heartbeat to {addr}: {error}"),
        }
    }

    /// Sends and waits; retries on another broker after a retryable failure.
    pub fn send(&self, message: &Message) -> Result<SendResult, ClientError> {
        let one = std::slice::from_ref(message);
        self.send_batch_with(one, &self.unique_keys(one))
    }

    /// Sends to the queue `selector` picks from the topic's writable queues (ordered sends:
    /// pick by a key so one key's messages share a queue). No retry elsewhere.
    pub fn send_to_queue(
        &self,
        message: &Message,
        selector: impl Fn(&[MessageQueue]) -> usize,
    ) -> Result<SendResult, ClientError> {
        let route = self.route(&message.topic)?;
        let queues = route.write_queues(&message.topic);
        if queues.is_empty() {
            return Err(ClientError::NoRoute {
                topic: message.topic.clone(),
            });
        }
        let queue = queues[selector(&queues) % queues.len()].clone();
        let one = std::slice::from_ref(message);
        let (request, msg_id) = self.request(one, &self.unique_keys(one), &queue)?;
        self.send_once(&route, &queue, request, msg_id)
            .inspect_err(|error| {
                if retryable(error) {
                    self.inner.routes.forget(&message.topic);
                }
            })
    }

    /// Sends without waiting; `callback` gets the result on the producer's callback thread
    /// (never on the caller's, never on the network thread). A send that fails for a reason
    /// worth retrying is retried there synchronously, on another broker, like `send`.
    pub fn send_async(
        &self,
        message: Message,
        callback: impl FnOnce(Result<SendResult, ClientError>) + Send + 'static,
    ) {
        let keys = self.unique_keys(std::slice::from_ref(&message));
        let prepared = self.route(&message.topic).and_then(|route| {
            let queue = self.pick_queue(&route, &message.topic, None)?;
            let (request, msg_id) = self.request(std::slice::from_ref(&message), &keys, &queue)?;
            Ok((master_of(&route, &queue)?, queue, request, msg_id))
        });
        let callbacks = self.inner.callbacks.clone();
        let (addr, queue, request, msg_id) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                let _ = callbacks.send(Box::new(move || callback(Err(error))));
                return;
            }
        };
        self.heartbeat(addr);
        let producer = self.clone();
        let reply: crate::remoting::Reply = Box::new(move |answer| {
            let job: Callback = Box::new(move || {
                let result = answer.and_then(|answer| send_result(answer, msg_id, &queue));
                match result {
                    Err(error) if retryable(&error) => {
                        producer.failed(&queue.broker_name, &queue.topic);
                        let one = std::slice::from_ref(&message);
                        callback(producer.send_batch_with(one, &keys))
                    }
                    result => callback(result),
                }
            });
            // The callback thread lives as long as the producer's handle to this channel.
            let _ = callbacks.send(job);
        });
        let timeout = self.inner.config.send_timeout;
        self.inner
            .client
            .invoke_async(addr, request, timeout, reply);
    }

    /// Sends flagged oneway: no answer, no retry.
    pub fn send_oneway(&self, message: &Message) -> Result<(), ClientError> {
        let route = self.route(&message.topic)?;
        let queue = self.pick_queue(&route, &message.topic, None)?;
        let one = std::slice::from_ref(message);
        let (request, _) = self.request(one, &self.unique_keys(one), &queue)?;
        let addr = route
            .master(&queue.broker_name)
            .ok_or_else(|| ClientError::NoRoute {
                topic: message.topic.clone(),
            })?;
        self.heartbeat(addr);
        self.inner.client.invoke_oneway(addr, request)
    }

    /// Sends messages of one topic as one SEND_BATCH_MESSAGE (one append on the broker).
    pub fn send_batch(&self, messages: &[Message]) -> Result<SendResult, ClientError> {
        let Some(first) = messages.first() else {
            return Err(ClientError::Invalid("empty batch".into()));
        };
        if messages
            .iter()
            .any(|m| m.topic != first.topic || m.delay_level > 0)
        {
            return Err(ClientError::Invalid(
                "a batch needs one topic and no delay".into(),
            ));
        }
        self.send_batch_with(messages, &self.unique_keys(messages))
    }

    /// Sends, retrying on another broker, with the same message ids every attempt.
    fn send_batch_with(
        &self,
        messages: &[Message],
        keys: &[String],
    ) -> Result<SendResult, ClientError> {
        let topic = &messages[0].topic;
        let mut last_error = None;
        let mut last_broker = None;
        for _ in 0..=self.inner.config.retries {
            let route = self.route(topic)?;
            let queue = self.pick_queue(&route, topic, last_broker.as_deref())?;
            let (request, msg_id) = self.request(messages, keys, &queue)?;
            match self.send_once(&route, &queue, request, msg_id) {
                Ok(result) => return Ok(result),
                Err(error) if retryable(&error) => {
                    self.failed(&queue.broker_name, topic);
                    last_broker = Some(queue.broker_name.clone());
                    last_error = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last_error.unwrap_or(ClientError::NoRoute {
            topic: topic.clone(),
        }))
    }

    fn failed(&self, broker_name: &str, topic: &str) {
        let mut avoid = self.inner.avoid.lock().unwrap_or_else(|p| p.into_inner());
        avoid.insert(broker_name.to_string(), Instant::now() + BROKER_AVOID);
        self.inner.routes.forget(topic);
    }

    /// The topic's route, or TBW102's for a topic the broker will create on first send.
    fn route(&self, topic: &str) -> Result<Route, ClientError> {
        let inner = &self.inner;
        let timeout = inner.config.send_timeout;
        match inner
            .routes
            .get(&inner.client, &inner.namesrvs, topic, timeout)
        {
            Err(ClientError::NoRoute { .. }) => {
                let mut route =
                    inner
                        .routes
                        .get(&inner.client, &inner.namesrvs, "TBW102", timeout)?;
                let nums = inner.config.default_topic_queue_nums;
                for queue in &mut route.data.queue_datas {
                    queue.write_queue_nums = queue.write_queue_nums.min(nums);
                    queue.read_queue_nums = queue.read_queue_nums.min(nums);
                }
                Ok(route)
            }
            other => other,
        }
    }

    /// Round-robin over writable queues, skipping brokers avoided after failures (and the
    /// last one tried) while others remain.
    fn pick_queue(
        &self,
        route: &Route,
        topic: &str,
        last_broker: Option<&str>,
    ) -> Result<MessageQueue, ClientError> {
        let queues = route.write_queues(topic);
        if queues.is_empty() {
            return Err(ClientError::NoRoute {
                topic: topic.to_string(),
            });
        }
        let now = Instant::now();
        let avoid = self.inner.avoid.lock().unwrap_or_else(|p| p.into_inner());
        let start = self.inner.next_queue.fetch_add(1, Ordering::Relaxed);
        for step in 0..queues.len() {
            let queue = &queues[(start + step) % queues.len()];
            let avoided = avoid
                .get(&queue.broker_name)
                .is_some_and(|until| now < *until);
            if !avoided && Some(queue.broker_name.as_str()) != last_broker {
                return Ok(queue.clone());
            }
        }
        Ok(queues[start % queues.len()].clone())
    }

    fn unique_key(&self) -> String {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        UniqueKeyParts {
            ip: self.inner.client_ip,
            pid: std::process::id() as i16,
            class_loader_hash: 0,
            time_since_month_start_ms: time_since_month_start_ms(now_ms),
            counter: self.inner.counter.fetch_add(1, Ordering::Relaxed) as i16,
        }
        .encode()
    }

    /// The message's property string with its unique key.
    fn properties(&self, message: &Message, key: &str) -> String {
        let mut map = Properties::new();
        for (name, value) in &message.properties {
            map.insert(name.clone(), value.clone());
        }
        if let Some(tags) = &message.tags {
            map.insert(properties::TAGS, tags.clone());
        }
        if !message.keys.is_empty() {
            map.insert(properties::KEYS, message.keys.join(" "));
        }
        if message.delay_level > 0 {
            map.insert(properties::DELAY, message.delay_level.to_string());
        }
        map.insert(properties::UNIQ_KEY, key);
        map.insert(properties::WAIT, "true");
        properties::encode(&map)
    }

    /// One id per message, made once per send: a retry carries the same ids, so a message
    /// stored twice (an answer lost, then the retry) is recognisable as one.
    fn unique_keys(&self, messages: &[Message]) -> Vec<String> {
        messages.iter().map(|_| self.unique_key()).collect()
    }

    /// The send request for `messages` to `queue`, and the unique key(s).
    fn request(
        &self,
        messages: &[Message],
        keys: &[String],
        queue: &MessageQueue,
    ) -> Result<(RemotingCommand, String), ClientError> {
        let config = &self.inner.config;
        let first = &messages[0];
        let batch = messages.len() > 1;
        let (mut body, mut sys_flag, props, msg_id) = if batch {
            let mut items = Vec::new();
            for (message, key) in messages.iter().zip(keys) {
                items.push(BatchItem {
                    flag: message.flag,
                    body: message.body.clone(),
                    properties: self.properties(message, key),
                });
            }
            let mut body = Vec::new();
            encode_batch(&items, &mut body)?;
            (body, 0, "WAIT\u{1}true".to_string(), keys.join(","))
        } else {
            let key = keys.first().cloned().unwrap_or_default();
            (first.body.clone(), 0, self.properties(first, &key), key)
        };
        if !batch && body.len() >= config.compress_over {
            let mut encoder =
                flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(5));
            encoder.write_all(&body)?;
            body = encoder.finish()?;
            sys_flag |= sys_flag::COMPRESSED;
        }
        if body.len() > config.message_size_max {
            return Err(ClientError::Invalid(format!(
                "message of {} bytes exceeds {}",
                body.len(),
                config.message_size_max
            )));
        }
        let header = SendMessageRequestHeaderV2 {
            a: config.group.clone(),
            b: first.topic.clone(),
            c: "TBW102".into(),
            d: config.default_topic_queue_nums,
            e: queue.queue_id,
            f: sys_flag,
            g: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            h: first.flag,
            i: Some(props),
            j: Some(0),
            k: false,
            l: None,
            m: batch,
        };
        let code = if batch {
            RequestCode::SEND_BATCH_MESSAGE
        } else {
            RequestCode::SEND_MESSAGE_V2
        };
        let mut request = RemotingCommand::request(code, 0);
        header.write_to(&mut request.ext_fields);
        request.body = body;
        Ok((request, msg_id))
    }

    fn send_once(
        &self,
        route: &Route,
        queue: &MessageQueue,
        request: RemotingCommand,
        msg_id: String,
    ) -> Result<SendResult, ClientError> {
        let addr = master_of(route, queue)?;
        self.heartbeat(addr);
        let answer = self
            .inner
            .client
            .invoke(addr, request, self.inner.config.send_timeout)?;
        send_result(answer, msg_id, queue)
    }
}

fn master_of(route: &Route, queue: &MessageQueue) -> Result<SocketAddr, ClientError> {
    route
        .master(&queue.broker_name)
        .ok_or_else(|| ClientError::NoRoute {
            topic: queue.topic.clone(),
        })
}

/// The send's outcome from the broker's answer.
fn send_result(
    answer: RemotingCommand,
    msg_id: String,
    queue: &MessageQueue,
) -> Result<SendResult, ClientError> {
    let status = match answer.response_code() {
        ResponseCode::SUCCESS => SendStatus::Ok,
        ResponseCode::FLUSH_DISK_TIMEOUT => SendStatus::FlushDiskTimeout,
        ResponseCode::FLUSH_SLAVE_TIMEOUT => SendStatus::FlushSlaveTimeout,
        ResponseCode::SLAVE_NOT_AVAILABLE => SendStatus::SlaveNotAvailable,
        code => return Err(ClientError::server(code, answer.remark.as_deref())),
    };
    let header = SendMessageResponseHeader::read_from(&answer.ext_fields)?;
    Ok(SendResult {
        status,
        msg_id,
        offset_msg_id: header.msg_id,
        queue: MessageQueue {
            queue_id: header.queue_id,
            ..queue.clone()
        },
        queue_offset: header.queue_offset,
    })
}

fn retryable(error: &ClientError) -> bool {
    match error {
        ClientError::Server { code, .. } => RETRY_CODES.contains(code),
        ClientError::Connection { .. } | ClientError::Timeout { .. } => true,
        _ => false,
    }
}
