//! Request processors of the broker, one request family per module; each turns a decoded
//! request into a response (or a parked request) on the event-loop thread.

pub mod admin;
pub mod broker_config;
pub mod consume;
pub mod lock;
pub mod long_poll;
pub mod manage;
pub mod parked_sends;
pub mod produce;
pub mod pull;
pub mod pull_workers;
pub mod query;
pub mod relay;
pub mod reset_offset;
pub mod send;
pub mod send_back;
pub mod stats;
pub mod stats_items;
