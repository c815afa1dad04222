//! Request handling: one function per request code, each mapping a request to its response
//! against the route table, the KV config and the settings. Pure state transitions, no I/O:
//! the server decides what to send and when (KV changes are answered once durable).
//!
//! Failures a peer causes (missing or malformed header fields, undecodable bodies, bad CRC)
//! become SYSTEM_ERROR with a remark naming the problem, as the Java namesrv answers them;
//! unknown codes become REQUEST_CODE_NOT_SUPPORTED naming the code.

use std::time::Instant;

use client::net::ConnectionId;
use wire::body::{
    properties_text, BrokerData, ClusterInfo, DataVersion as BodyDataVersion, KvTable, QueueData,
    RegisterBrokerBody, TopicConfigSerializeWrapper, TopicList, TopicRouteData,
};
use wire::headers::namesrv as h;
use wire::headers::CommandHeader;
use wire::{DecodeError, RemotingCommand, RequestCode, ResponseCode};

use crate::config::{NamesrvConfig, UPDATE_BLACKLIST};
use crate::kv_config::KvConfig;
use crate::route_table::{
    DataVersion, QueueData as RouteQueueData, Registration, RouteTable, TopicRegistration,
    TopicRoute,
};

/// The KV namespace whose entries describe ordered topics (`brokerName:queueCount;...`).
const ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";
/// First broker version (V3_0_11) whose REGISTER_BROKER body is a RegisterBrokerBody.
const VERSION_REGISTER_BODY: i32 = 37;
/// First request version whose route answers use quoted `brokerAddrs` keys (V4_9_4).
const VERSION_STANDARD_JSON: i32 = 401;
/// TopicSysFlag bits.
const FLAG_UNIT: i32 = 1;
const FLAG_UNIT_SUB: i32 = 2;

/// What the server does with a request.
pub enum Outcome {
    /// Send this (unless the request was oneway).
    Reply(RemotingCommand),
    /// Persist `snapshot` as KV config file, then send `response`.
    Persist {
        snapshot: Vec<u8>,
        ticket: u64,
        response: RemotingCommand,
    },
}

pub struct Processor {
    config: NamesrvConfig,
    routes: RouteTable<ConnectionId>,
    kv: KvConfig,
    next_ticket: u64,
}

fn reply(request: &RemotingCommand, code: ResponseCode) -> RemotingCommand {
    RemotingCommand::response_to(request, code)
}

fn system_error(request: &RemotingCommand, remark: impl Into<String>) -> RemotingCommand {
    reply(request, ResponseCode::SYSTEM_ERROR).with_remark(remark)
}

impl Processor {
    pub fn new(config: NamesrvConfig, kv: KvConfig) -> Processor {
        Processor {
            config,
            routes: RouteTable::new(),
            kv,
            next_ticket: 0,
        }
    }

    pub fn config(&self) -> &NamesrvConfig {
        &self.config
    }

    pub fn on_connection_closed(&mut self, id: ConnectionId) -> Option<String> {
        self.routes.on_connection_closed(id)
    }

    pub fn expire(&mut self, now: Instant) -> Vec<(String, Option<ConnectionId>)> {
        self.routes.expire(now, self.config.broker_expiry)
    }

    pub fn process(
        &mut self,
        id: ConnectionId,
        request: &RemotingCommand,
        now: Instant,
    ) -> Outcome {
        match self.dispatch(id, request, now) {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Reply(system_error(request, error.to_string())),
        }
    }

    fn dispatch(
        &mut self,
        id: ConnectionId,
        request: &RemotingCommand,
        now: Instant,
    ) -> Result<Outcome, DecodeError> {
        use RequestCode as C;
        let response = match request.request_code() {
            C::REGISTER_BROKER => self.on_register_broker(id, request, now)?,
            C::UNREGISTER_BROKER => self.on_unregister_broker(request)?,
            C::QUERY_DATA_VERSION => self.on_query_data_version(request, now)?,
            C::GET_ROUTEINFO_BY_TOPIC => self.on_get_route(request)?,
            C::GET_BROKER_CLUSTER_INFO => self.on_get_cluster_info(request),
            C::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
                topic_list(request, self.routes.topics(), None)
            }
            C::GET_TOPICS_BY_CLUSTER => {
                let header = h::GetTopicsByClusterRequestHeader::read_from(&request.ext_fields)?;
                topic_list(
                    request,
                    self.routes.topics_of_cluster(&header.cluster),
                    None,
                )
            }
            C::GET_SYSTEM_TOPIC_LIST_FROM_NS => self.on_get_system_topics(request),
            C::GET_UNIT_TOPIC_LIST => topic_list(
                request,
                self.routes.topics_by_sys_flag(|f| f & FLAG_UNIT != 0),
                None,
            ),
            C::GET_HAS_UNIT_SUB_TOPIC_LIST => {
                let topics = self.routes.topics_by_sys_flag(|f| f & FLAG_UNIT_SUB != 0);
                topic_list(request, topics, None)
            }
            C::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST => {
                let topics = self
                    .routes
                    .topics_by_sys_flag(|f| f & FLAG_UNIT == 0 && f & FLAG_UNIT_SUB != 0);
                topic_list(request, topics, None)
            }
            C::DELETE_TOPIC_IN_NAMESRV => {
                let header =
                    h::DeleteTopicFromNamesrvRequestHeader::read_from(&request.ext_fields)?;
                self.routes
                    .delete_topic(&header.topic, header.cluster_name.as_deref());
                reply(request, ResponseCode::SUCCESS)
            }
            C::WIPE_WRITE_PERM_OF_BROKER | C::ADD_WRITE_PERM_OF_BROKER => {
                self.on_write_perm(request)?
            }
            C::PUT_KV_CONFIG | C::DELETE_KV_CONFIG => return self.on_kv_change(request),
            C::GET_KV_CONFIG => self.on_get_kv(request)?,
            C::GET_KVLIST_BY_NAMESPACE => self.on_get_kv_list(request)?,
            C::GET_NAMESRV_CONFIG => self.on_get_config(request),
            C::UPDATE_NAMESRV_CONFIG => self.on_update_config(request),
            other => reply(request, ResponseCode::REQUEST_CODE_NOT_SUPPORTED)
                .with_remark(format!(" request type {} not supported", other.as_i32())),
        };
        Ok(Outcome::Reply(response))
    }

    fn on_register_broker(
        &mut self,
        id: ConnectionId,
        request: &RemotingCommand,
        now: Instant,
    ) -> Result<RemotingCommand, DecodeError> {
        let header = h::RegisterBrokerRequestHeader::read_from(&request.ext_fields)?;
        if header.body_crc32 != 0 && header.body_crc32 as u32 != wire::crc32_masked(&request.body) {
            return Ok(system_error(request, "crc32 not match"));
        }
        let body = if request.body.is_empty() {
            RegisterBrokerBody::default()
        } else if header.compressed {
            RegisterBrokerBody::decode_compressed(&request.body)?
        } else if request.version < VERSION_REGISTER_BODY {
            // Brokers older than V3_0_11 send the bare topic-config wrapper.
            let wrapper: TopicConfigSerializeWrapper =
                wire::fastjson::from_fastjson(&request.body, "TopicConfigSerializeWrapper")?;
            RegisterBrokerBody {
                filter_server_list: Vec::new(),
                topic_config_serialize_wrapper: wrapper,
            }
        } else {
            RegisterBrokerBody::decode(&request.body)?
        };
        let wrapper = &body.topic_config_serialize_wrapper;
        let registration = Registration {
            cluster_name: header.cluster_name,
            broker_name: header.broker_name,
            broker_addr: header.broker_addr,
            broker_id: header.broker_id,
            ha_server_addr: header.ha_server_addr,
            data_version: route_version(&wrapper.data_version),
            topics: wrapper
                .topic_config_table
                .values()
                .map(|topic| TopicRegistration {
                    topic: topic.topic_name.clone(),
                    queue_data: RouteQueueData {
                        read_queue_count: topic.read_queue_nums,
                        write_queue_count: topic.write_queue_nums,
                        perm: topic.perm,
                        topic_sys_flag: topic.topic_sys_flag,
                    },
                })
                .collect(),
            filter_servers: body.filter_server_list.clone(),
        };
        let result = self.routes.register(registration, Some(id), now);
        let mut response = reply(request, ResponseCode::SUCCESS);
        let response_header = h::RegisterBrokerResponseHeader {
            ha_server_addr: result.ha_server_addr,
            master_addr: result.master_addr,
        };
        response_header.write_to(&mut response.ext_fields);
        if let Some(table) = self.kv.namespace(ORDER_TOPIC_CONFIG) {
            response.body = KvTable {
                table: table.clone().into_iter().collect(),
            }
            .encode();
        }
        Ok(response)
    }

    fn on_unregister_broker(
        &mut self,
        request: &RemotingCommand,
    ) -> Result<RemotingCommand, DecodeError> {
        let header = h::UnregisterBrokerRequestHeader::read_from(&request.ext_fields)?;
        self.routes
            .unregister(&header.broker_addr, &header.broker_name, header.broker_id);
        log::info!(
            "broker {} ({}) unregistered",
            header.broker_addr,
            header.broker_name
        );
        Ok(reply(request, ResponseCode::SUCCESS))
    }

    fn on_query_data_version(
        &mut self,
        request: &RemotingCommand,
        now: Instant,
    ) -> Result<RemotingCommand, DecodeError> {
        let header = h::QueryDataVersionRequestHeader::read_from(&request.ext_fields)?;
        let version = BodyDataVersion::decode(&request.body)?;
        let (changed, stored) =
            self.routes
                .query_data_version(&header.broker_addr, route_version(&version), now);
        let mut response = reply(request, ResponseCode::SUCCESS);
        h::QueryDataVersionResponseHeader { changed }.write_to(&mut response.ext_fields);
        if let Some(stored) = stored {
            let stored = BodyDataVersion {
                counter: stored.counter,
                timestamp: stored.timestamp,
            };
            response.body = stored.encode();
        }
        Ok(response)
    }

    fn on_get_route(&self, request: &RemotingCommand) -> Result<RemotingCommand, DecodeError> {
        let header = h::GetRouteInfoRequestHeader::read_from(&request.ext_fields)?;
        let Some(route) = self.routes.route(&header.topic) else {
            return Ok(
                reply(request, ResponseCode::TOPIC_NOT_EXIST).with_remark(format!(
                    "No topic route info in name server for the topic: {}",
                    header.topic
                )),
            );
        };
        let order_topic_conf = if self.config.order_message_enable {
            self.kv
                .get(ORDER_TOPIC_CONFIG, &header.topic)
                .map(str::to_string)
        } else {
            None
        };
        let standard_json = request.version >= VERSION_STANDARD_JSON
            || header.accept_standard_json_only.unwrap_or(false);
        let body = route_data(route, order_topic_conf).encode(standard_json);
        Ok(reply(request, ResponseCode::SUCCESS).with_body(body))
    }

    fn on_get_cluster_info(&self, request: &RemotingCommand) -> RemotingCommand {
        let info = ClusterInfo {
            broker_addr_table: self
                .routes
                .brokers()
                .iter()
                .map(|(name, entry)| (name.clone(), broker_data(name, entry)))
                .collect(),
            cluster_addr_table: self
                .routes
                .clusters()
                .iter()
                .map(|(cluster, names)| (cluster.clone(), names.iter().cloned().collect()))
                .collect(),
        };
        let standard_json = request.version >= VERSION_STANDARD_JSON;
        reply(request, ResponseCode::SUCCESS).with_body(info.encode(standard_json))
    }

    fn on_get_system_topics(&self, request: &RemotingCommand) -> RemotingCommand {
        let mut topics: Vec<String> = self.routes.clusters().keys().cloned().collect();
        topics.extend(self.routes.brokers().keys().cloned());
        let broker_addr = self.routes.any_broker_addr().map(str::to_string);
        topic_list(request, topics, broker_addr)
    }

    fn on_write_perm(&mut self, request: &RemotingCommand) -> Result<RemotingCommand, DecodeError> {
        let mut response = reply(request, ResponseCode::SUCCESS);
        if request.request_code() == RequestCode::WIPE_WRITE_PERM_OF_BROKER {
            let header = h::WipeWritePermOfBrokerRequestHeader::read_from(&request.ext_fields)?;
            let count = self.routes.set_write_perm(&header.broker_name, false) as i32;
            log::info!(
                "write permission of broker {} wiped on {count} topics",
                header.broker_name
            );
            h::WipeWritePermOfBrokerResponseHeader {
                wipe_topic_count: count,
            }
            .write_to(&mut response.ext_fields);
        } else {
            let header = h::AddWritePermOfBrokerRequestHeader::read_from(&request.ext_fields)?;
            let count = self.routes.set_write_perm(&header.broker_name, true) as i32;
            log::info!(
                "write permission of broker {} added on {count} topics",
                header.broker_name
            );
            h::AddWritePermOfBrokerResponseHeader {
                add_topic_count: count,
            }
            .write_to(&mut response.ext_fields);
        }
        Ok(response)
    }

    fn on_kv_change(&mut self, request: &RemotingCommand) -> Result<Outcome, DecodeError> {
        if request.request_code() == RequestCode::PUT_KV_CONFIG {
            let header = h::PutKvConfigRequestHeader::read_from(&request.ext_fields)?;
            self.kv.put(&header.namespace, &header.key, &header.value);
        } else {
            let header = h::DeleteKvConfigRequestHeader::read_from(&request.ext_fields)?;
            self.kv.delete(&header.namespace, &header.key);
        }
        self.next_ticket += 1;
        Ok(Outcome::Persist {
            snapshot: self.kv.to_json(),
            ticket: self.next_ticket,
            response: reply(request, ResponseCode::SUCCESS),
        })
    }

    fn on_get_kv(&self, request: &RemotingCommand) -> Result<RemotingCommand, DecodeError> {
        let header = h::GetKvConfigRequestHeader::read_from(&request.ext_fields)?;
        Ok(match self.kv.get(&header.namespace, &header.key) {
            Some(value) => {
                let mut response = reply(request, ResponseCode::SUCCESS);
                h::GetKvConfigResponseHeader {
                    value: Some(value.to_string()),
                }
                .write_to(&mut response.ext_fields);
                response
            }
            None => reply(request, ResponseCode::QUERY_NOT_FOUND).with_remark(format!(
                "No config item, Namespace: {} Key: {}",
                header.namespace, header.key
            )),
        })
    }

    fn on_get_kv_list(&self, request: &RemotingCommand) -> Result<RemotingCommand, DecodeError> {
        let header = h::GetKvListByNamespaceRequestHeader::read_from(&request.ext_fields)?;
        Ok(match self.kv.namespace(&header.namespace) {
            Some(table) => {
                let body = KvTable {
                    table: table.clone().into_iter().collect(),
                }
                .encode();
                reply(request, ResponseCode::SUCCESS).with_body(body)
            }
            None => reply(request, ResponseCode::QUERY_NOT_FOUND)
                .with_remark(format!("No config item, Namespace: {}", header.namespace)),
        })
    }

    fn on_get_config(&self, request: &RemotingCommand) -> RemotingCommand {
        let body = properties_text::encode(&self.config.to_pairs());
        reply(request, ResponseCode::SUCCESS).with_body(body.into_bytes())
    }

    fn on_update_config(&mut self, request: &RemotingCommand) -> RemotingCommand {
        let Ok(text) = std::str::from_utf8(&request.body) else {
            return system_error(request, "config body is not UTF-8");
        };
        let pairs = properties_text::parse(text);
        if let Some((key, _)) = pairs
            .iter()
            .find(|(key, _)| UPDATE_BLACKLIST.contains(&key.as_str()))
        {
            return reply(request, ResponseCode::NO_PERMISSION)
                .with_remark(format!("Can not update config in black list: {key}"));
        }
        // Validate everything before changing anything: an update applies whole or not at all.
        let mut updated = self.config.clone();
        if let Err(error) = updated.apply_all(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return system_error(request, error.to_string());
        }
        log::info!("namesrv config updated: {pairs:?}");
        self.config = updated;
        reply(request, ResponseCode::SUCCESS)
    }
}

fn route_version(version: &BodyDataVersion) -> DataVersion {
    DataVersion {
        counter: version.counter,
        timestamp: version.timestamp,
    }
}

fn broker_data(name: &str, entry: &crate::route_table::BrokerEntry) -> BrokerData {
    BrokerData {
        broker_addrs: entry.addrs.clone(),
        broker_name: name.to_string(),
        cluster: entry.cluster_name.clone(),
    }
}

fn route_data(route: TopicRoute, order_topic_conf: Option<String>) -> TopicRouteData {
    TopicRouteData {
        broker_datas: route
            .brokers
            .iter()
            .map(|(name, entry)| broker_data(name, entry))
            .collect(),
        filter_server_table: route.filter_servers.into_iter().collect(),
        order_topic_conf,
        queue_datas: route
            .queues
            .into_iter()
            .map(|(broker_name, data)| QueueData {
                broker_name,
                perm: data.perm,
                read_queue_nums: data.read_queue_count,
                topic_sys_flag: data.topic_sys_flag,
                write_queue_nums: data.write_queue_count,
            })
            .collect(),
    }
}

fn topic_list(
    request: &RemotingCommand,
    topics: Vec<String>,
    broker_addr: Option<String>,
) -> RemotingCommand {
    let body = TopicList {
        topic_list: topics,
        broker_addr,
    }
    .encode();
    reply(request, ResponseCode::SUCCESS).with_body(body)
}
