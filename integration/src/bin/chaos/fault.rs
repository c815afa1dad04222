//! The faults of a round, drawn from the run's seed and the round number alone (so any
//! round can be replayed with `--seed S --from-round K`): which process, when within the
//! round, how long it stays down or stopped, and whether the master's kill is a power loss
//! (its crash journal on tmpfs goes too, as a machine crash would take it). Power losses are
//! drawn only where the cluster promises to survive them: a SYNC_MASTER and its slave.
//!
//! Pure: no processes here; the round loop carries the plan out.

use std::time::Duration;

use crate::options::{Role, Topology};
use crate::random::Random;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    KillMaster {
        power_loss: bool,
    },
    KillSlave,
    /// Both killed, in the plan's order, then both restarted, the master first.
    KillBoth {
        master_first: bool,
        power_loss: bool,
    },
    /// SIGSTOP of the slave, SIGCONT after `pause`.
    StopSlave {
        pause: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub fault: Fault,
    /// From the start of the round's sending.
    pub moment: Duration,
    /// Between the kill and the restart.
    pub downtime: Duration,
}

impl Plan {
    pub fn choose(
        seed: u64,
        round: u32,
        (topology, role): (Topology, Role),
        round_length: Duration,
    ) -> Plan {
        let mut random = Random::new(seed, u64::from(round));
        let length_ms = round_length.as_millis() as u64;
        let moment = Duration::from_millis(random.range(length_ms / 10, length_ms * 9 / 10));
        let downtime = Duration::from_millis(random.range(0, 500));
        let power_allowed = topology == Topology::Replicated && role == Role::SyncMaster;
        let power_loss = power_allowed && random.next().is_multiple_of(2);
        let fault = match topology {
            Topology::Single => Fault::KillMaster { power_loss: false },
            Topology::Replicated => match random.range(0, 100) {
                0..=29 => Fault::KillMaster { power_loss },
                30..=54 => Fault::KillSlave,
                55..=74 => Fault::KillBoth {
                    master_first: random.next().is_multiple_of(2),
                    power_loss,
                },
                _ => Fault::StopSlave {
                    pause: Duration::from_millis(random.range(200, 4_000)),
                },
            },
        };
        Plan {
            fault,
            moment,
            downtime,
        }
    }

    /// Processes killed by this plan.
    pub fn kills(&self) -> u64 {
        match self.fault {
            Fault::KillMaster { .. } | Fault::KillSlave => 1,
            Fault::KillBoth { .. } => 2,
            Fault::StopSlave { .. } => 0,
        }
    }

    pub fn restarts_master(&self) -> bool {
        matches!(
            self.fault,
            Fault::KillMaster { .. } | Fault::KillBoth { .. }
        )
    }

    /// Whether the master's journal goes with its kill.
    pub fn power_loss(&self) -> bool {
        matches!(
            self.fault,
            Fault::KillMaster { power_loss: true }
                | Fault::KillBoth {
                    power_loss: true,
                    ..
                }
        )
    }

    pub fn describe(&self) -> String {
        let at = self.moment.as_secs_f64();
        let master = if self.power_loss() {
            "power-off-master"
        } else {
            "kill-master"
        };
        match self.fault {
            Fault::KillMaster { .. } => format!("{master}@{at:.2}s"),
            Fault::KillSlave => format!("kill-slave@{at:.2}s"),
            Fault::KillBoth {
                master_first: true, ..
            } => format!("{master}+kill-slave@{at:.2}s"),
            Fault::KillBoth {
                master_first: false,
                ..
            } => format!("kill-slave+{master}@{at:.2}s"),
            Fault::StopSlave { pause } => {
                format!("stop-slave@{at:.2}s for {:.2}s", pause.as_secs_f64())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_s_plan_follows_from_the_seed_and_round_alone() {
        let length = Duration::from_millis(2000);
        let sync = (Topology::Replicated, Role::SyncMaster);
        let first = Plan::choose(7, 12, sync, length);
        let again = Plan::choose(7, 12, sync, length);
        assert_eq!(first.fault, again.fault);
        assert_eq!(first.moment, again.moment);
        assert!(first.moment >= length / 10 && first.moment < length * 9 / 10);
        let faults: Vec<Fault> = (1..200)
            .map(|round| Plan::choose(7, round, sync, length).fault)
            .collect();
        assert!(faults.contains(&Fault::KillMaster { power_loss: true }));
        assert!(faults.contains(&Fault::KillMaster { power_loss: false }));
        assert!(faults.contains(&Fault::KillSlave));
        assert!(faults.iter().any(|f| matches!(f, Fault::KillBoth { .. })));
        assert!(faults.iter().any(|f| matches!(f, Fault::StopSlave { .. })));
        let single = Plan::choose(7, 12, (Topology::Single, Role::SyncMaster), length);
        assert_eq!(single.fault, Fault::KillMaster { power_loss: false });
        // An ASYNC_MASTER promises nothing after a power loss: none is drawn.
        let asynchronous = (Topology::Replicated, Role::AsyncMaster);
        assert!((1..200).all(|round| !Plan::choose(7, round, asynchronous, length).power_loss()));
    }
}
