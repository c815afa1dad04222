//! `tools`: the operator commands. [`admin`] is `mqadmin` (one-shot commands, the console on
//! a terminal or a pipe, and the console served over TCP); [`bench`] is `mqbench`.

pub mod admin;
pub mod bench;
