//! `broker`: stores and serves messages. The message store ([`store`]), the server around it
//! ([`server`]: one event loop, [`processor`]s per request family, long polling, namesrv
//! [`registration`]), its persisted state ([`topic_config`], [`consumer_offset`],
//! [`subscription_group`]), written by the persister thread ([`persister`]) before admin
//! answers go out ([`durable_state`], [`state_commit`]), and client registries
//! ([`client_manager`]). HA lands with issue 6.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod client_manager;
pub mod config;
pub mod consumer_offset;
pub mod durability;
pub mod durable_state;
pub mod ha;
pub mod persister;
pub mod processor;
pub mod registration;
pub mod server;
pub mod state_commit;
pub mod store;
pub mod subscription_group;
pub mod topic_config;
