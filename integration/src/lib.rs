//! Test support for end-to-end tests: starting the project's binaries on ephemeral loopback
//! ports in temporary directories, and killing them when dropped.
