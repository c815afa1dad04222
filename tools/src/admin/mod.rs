//! `mqadmin`.
