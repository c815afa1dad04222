//! `client`: the one event loop every networked part of the project runs on ([`net`]), the
//! crash-safe state-file writes every server shares ([`durable`]), and the Rust RocketMQ client
//! built on them.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod admin;
pub mod consumer;
pub mod durable;
pub mod error;
pub mod net;
pub mod process;
pub mod producer;
pub mod push_consumer;
pub mod remoting;
pub mod route;

pub use error::ClientError;
