//! `broker`: stores and serves messages (store, processors, HA). Its parts land with issues 4-6;
//! until then the crate holds nothing but this description.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
