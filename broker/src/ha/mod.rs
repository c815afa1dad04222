//! Master-slave replication (Apache RocketMQ 4.9's HA, non-DLedger): the master streams its
//! commit log to its slaves ([`master`], one [`session`] per slave), a slave appends it byte
//! for byte and builds its own consume queues ([`slave`]), on the framing of [`protocol`].
//! SYNC_MASTER sends wait for the slaves' acked offset in the broker's event loop (like
//! SYNC_FLUSH ones wait for the flush).
//!
//! Our rule on top of Apache's framing (the protocol docs say it in full): every master start
//! begins an epoch; before streaming, master and slave compare epoch histories and the slave
//! cuts whatever its master does not share, so a replica never keeps a byte that is not its
//! master's at the same offset, and only a slave verified this way counts for SYNC_MASTER. A
//! master that may have lost its unflushed tail first takes back what its slave holds of its
//! last epoch, so an acknowledged message survives while either copy does.

pub mod master;
pub mod protocol;
pub mod session;
pub mod slave;
pub mod sync;

#[cfg(test)]
mod tests;
