//! Master-slave replication (Apache RocketMQ 4.9's HA, non-DLedger): the master streams its
//! commit log to its slaves ([`master`]), a slave appends it byte for byte and builds its own
//! consume queues ([`slave`]), on the framing of [`protocol`]. SYNC_MASTER sends wait for the
//! slaves' acked offset in the broker's event loop (like SYNC_FLUSH ones wait for the flush).

pub mod master;
pub mod protocol;
pub mod slave;
pub mod sync;
