//! The event loop every networked process of the project runs on (namesrv, broker, client,
//! tools): mio readiness, a slab of connections, frames decoded by [`wire::FrameDecoder`], a
//! waker for other threads. It lives in `client` because every networked crate already
//! depends on it, and `wire` stays free of I/O.
//!
//! See [`event_loop`] for the loop and `client/LIFECYCLE.md` for the connection states.

mod connection;
pub mod event_loop;

pub use event_loop::{CloseReason, ConnectionId, Context, EventLoop, Handler, LoopConfig, Remote};
