//! `mqbench`: load generation and latency measurement (see `bench/mod.rs`).
pub fn main() -> i32 { 0 }
