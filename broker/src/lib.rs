//! `broker`: stores and serves messages (store, processors, HA). Its parts land with issues 4-6;
//! so far it holds its configuration ([`config`]).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
