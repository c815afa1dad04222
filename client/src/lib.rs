//! `client`: the one event loop every networked part of the project runs on ([`net`]), and the
//! Rust RocketMQ client built on it.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod net;
