//! `namesrv`: the routing centre. Brokers register and heartbeat; clients ask for topic routes
//! and cluster info. Several namesrvs run side by side and know nothing of each other.
//!
//! Threads: one event loop ([`client::net`]) owns the route table and answers every request;
//! a persister thread writes the KV config file so that no fsync runs on the loop.
//!
//! Modules: [`config`] (settings), [`route_table`] (routing state and broker liveness),
//! [`kv_config`] (KV store and its persister), [`processor`] (one handler per request code),
//! [`server`] (the event-loop handler tying them together).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod kv_config;
pub mod processor;
pub mod route_table;
pub mod server;
