//! `broker`: stores and serves messages. So far it holds its configuration ([`config`]) and
//! the message store ([`store`]); the server, processors and HA land with issues 5 and 6.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod client_manager;
pub mod config;
pub mod consumer_offset;
pub mod processor;
pub mod store;
pub mod subscription_group;
pub mod topic_config;
