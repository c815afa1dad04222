//! `mqadmin`.

fn main() {}
