//! The shared mio event loop.
