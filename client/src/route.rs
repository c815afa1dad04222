//! Name servers and topic routes as the client sees them: the `;`-separated namesrv list (one
//! picked at random, the next tried when it fails), GET_ROUTEINFO_BY_TOPIC, and the queues a
//! route offers for writing (to masters) and reading.
//!
//! Used from any caller thread; the cache is behind a mutex held only to copy a route out.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wire::body::{MessageQueue, TopicRouteData};
use wire::{RemotingCommand, RequestCode, ResponseCode};

use crate::error::ClientError;
use crate::remoting::RemotingClient;

/// Routes older than this are asked for again (upstream polls every 30 s).
pub const ROUTE_REFRESH: Duration = Duration::from_secs(30);
pub const PERM_READ: i32 = 4;
pub const PERM_WRITE: i32 = 2;

pub struct NameServers {
    addrs: Vec<SocketAddr>,
    start: AtomicUsize,
}

impl NameServers {
    /// Parses `host:port;host:port`.
    pub fn parse(list: &str) -> Result<NameServers, ClientError> {
        let mut addrs = Vec::new();
        for entry in list.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let addr = entry
                .to_socket_addrs()
                .ok()
                .and_then(|mut found| found.next())
                .ok_or_else(|| ClientError::Invalid(format!("bad namesrv address {entry:?}")))?;
            addrs.push(addr);
        }
        if addrs.is_empty() {
            return Err(ClientError::Invalid("no namesrv address".into()));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seed = std::process::id() as usize ^ now as usize;
        Ok(NameServers {
            start: AtomicUsize::new(seed % addrs.len()),
            addrs,
        })
    }

    /// This host's address on the way to the first namesrv (the interface the kernel would
    /// route through; no packet is sent), for client ids and message ids that differ between
    /// hosts. Loopback when it cannot tell.
    pub fn local_ip(&self) -> std::net::IpAddr {
        let target = self.addrs[0];
        let bind: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        std::net::UdpSocket::bind(bind)
            .and_then(|socket| {
                socket.connect(target)?;
                socket.local_addr()
            })
            .map(|local| local.ip())
            .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
    }

    /// Asks the namesrvs in turn, from the last one that answered, until one does.
    pub fn invoke(
        &self,
        client: &RemotingClient,
        request: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, ClientError> {
        let start = self.start.load(Ordering::Relaxed);
        let mut last_error = ClientError::Invalid("no namesrv".into());
        for step in 0..self.addrs.len() {
            let index = (start + step) % self.addrs.len();
            match client.invoke(self.addrs[index], request.clone(), timeout) {
                Ok(answer) => {
                    self.start.store(index, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }
}

/// A route reduced to what producers and consumers need.
#[derive(Debug, Clone)]
pub struct Route {
    pub data: TopicRouteData,
    pub fetched: Instant,
}

impl Route {
    /// The master's address of `broker_name`.
    pub fn master(&self, broker_name: &str) -> Option<SocketAddr> {
        self.address(broker_name, Some(0))
    }

    /// The address of `broker_id` in the set (`None`: any, master first).
    pub fn address(&self, broker_name: &str, broker_id: Option<i64>) -> Option<SocketAddr> {
        let broker = self
            .data
            .broker_datas
            .iter()
            .find(|b| b.broker_name == broker_name)?;
        let addr = match broker_id {
            Some(id) => broker.broker_addrs.get(&id)?,
            None => broker.broker_addrs.values().next()?,
        };
        addr.parse().ok()
    }

    /// Writable queues on brokers whose master is in the route, in route order.
    pub fn write_queues(&self, topic: &str) -> Vec<MessageQueue> {
        let mut queues = Vec::new();
        for queue in &self.data.queue_datas {
            if queue.perm & PERM_WRITE == 0 || self.master(&queue.broker_name).is_none() {
                continue;
            }
            for queue_id in 0..queue.write_queue_nums {
                queues.push(MessageQueue {
                    broker_name: queue.broker_name.clone(),
                    queue_id,
                    topic: topic.to_string(),
                });
            }
        }
        queues
    }

    /// Readable queues of every broker set in the route.
    pub fn read_queues(&self, topic: &str) -> Vec<MessageQueue> {
        let mut queues = Vec::new();
        for queue in &self.data.queue_datas {
            if queue.perm & PERM_READ == 0 {
                continue;
            }
            for queue_id in 0..queue.read_queue_nums {
                queues.push(MessageQueue {
                    broker_name: queue.broker_name.clone(),
                    queue_id,
                    topic: topic.to_string(),
                });
            }
        }
        queues.sort();
        queues
    }
}

/// Routes by topic, refreshed when older than [`ROUTE_REFRESH`] or on demand.
#[derive(Default)]
pub struct RouteCache {
    routes: Mutex<HashMap<String, Route>>,
}

impl RouteCache {
    pub fn get(
        &self,
        client: &RemotingClient,
        namesrvs: &NameServers,
        topic: &str,
        timeout: Duration,
    ) -> Result<Route, ClientError> {
        let cached = self.lock().get(topic).cloned();
        if let Some(route) = cached.filter(|r| r.fetched.elapsed() < ROUTE_REFRESH) {
            return Ok(route);
        }
        self.refresh(client, namesrvs, topic, timeout)
    }

    /// Asks the namesrvs now.
    pub fn refresh(
        &self,
        client: &RemotingClient,
        namesrvs: &NameServers,
        topic: &str,
        timeout: Duration,
    ) -> Result<Route, ClientError> {
        let request = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 0)
            .with_ext("topic", topic);
        let answer = namesrvs.invoke(client, request, timeout)?;
        match answer.response_code() {
            ResponseCode::SUCCESS => {}
            ResponseCode::TOPIC_NOT_EXIST => {
                return Err(ClientError::NoRoute {
                    topic: topic.to_string(),
                })
            }
            code => return Err(ClientError::server(code, answer.remark.as_deref())),
        }
        let route = Route {
            data: TopicRouteData::decode(&answer.body)?,
            fetched: Instant::now(),
        };
        self.lock().insert(topic.to_string(), route.clone());
        Ok(route)
    }

    pub fn forget(&self, topic: &str) {
        self.lock().remove(topic);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Route>> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }
}
