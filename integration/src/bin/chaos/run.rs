//! One chaos run: the cluster, the senders and the ledger, and the round loop: send, inject
//! the round's fault, restart what was killed, wait until the master accepts sends again,
//! pause the senders, wait until the slave has caught up, verify, print the round's line.
//! At the end: everything verified again, the logs scanned, the summary printed.
//!
//! Owned by the main thread (it alone starts processes, see [`crate::cluster`]). Every wait is
//! bounded by `--wait-s`; a wait that expires is a failure that ends the rounds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cluster::{log_tail, Cluster};
use crate::fault::{Fault, Plan};
use crate::options::{Options, Role};
use crate::requests::{self, runtime_number};
use crate::sender::{RoundStats, Senders};
use crate::verify::{Brokers, Findings, Ledger};

/// Lines in broker logs that fail a run wherever they appear.
const LOG_ALARMS: &[&str] = &["unknown record magic", "panicked", "diverged"];

#[derive(Debug, Default)]
struct Totals {
    rounds: u32,
    kills: u64,
    stops: u64,
    diverged: u64,
    gaps: u64,
    duplicates: u64,
    corrupt: u64,
    inconsistent: u64,
    bad_acks: u64,
    records_checked: u64,
    failures: Vec<String>,
}

/// Where the slave stands after the catch-up wait.
struct CatchUp {
    master_end: Option<u64>,
    slave_end: Option<u64>,
    /// Bytes written but not yet dispatched to the consume queues.
    master_behind: Option<u64>,
    slave_behind: Option<u64>,
    complete: bool,
}

pub struct Run {
    options: Options,
    cluster: Cluster,
    senders: Option<Senders>,
    ledger: Ledger,
    totals: Totals,
    /// Queue max offsets after the last two verifications (the oldest first).
    window_ends: Vec<Vec<i64>>,
    /// The master came back without the topic: its queues cannot be read any more.
    topic_lost: bool,
    /// Whether the brokers had caught up when the last round was verified; nothing is sent
    /// after that, so the final check needs no new wait.
    caught_up: Option<bool>,
    started: Instant,
}

impl Run {
    /// Starts the cluster, creates the topic and waits for the first ack.
    pub fn start(options: Options, dir: &Path) -> Result<Run, String> {
        let cluster = Cluster::start(&options, dir)?;
        requests::create_topic(cluster.master_addr, options.queues)?;
        if options.await_topic_file {
            await_topic_file(&cluster, options.wait)?;
        }
        let senders = Senders::start(
            options.seed,
            options.connections,
            options.queues,
            cluster.master_addr,
        );
        let queues = options.queues as usize;
        let run = Run {
            ledger: Ledger::new(options.seed, options.queues),
            senders: Some(senders),
            cluster,
            totals: Totals::default(),
            window_ends: vec![vec![0; queues], vec![0; queues]],
            topic_lost: false,
            caught_up: None,
            started: Instant::now(),
            options,
        };
        let first = run.options.from_round;
        run.senders()?.fault_over();
        run.senders()?.resume(first);
        if run.senders()?.wait_recovered(run.options.wait).is_none() {
            return Err(format!(
                "no send was acked within {:?} of the start",
                run.options.wait
            ));
        }
        Ok(run)
    }

    fn senders(&self) -> Result<&Senders, String> {
        self.senders
            .as_ref()
            .ok_or_else(|| "the senders are stopped".to_string())
    }

    /// Runs every round; stops early when one ends in a failure the next cannot pass.
    pub fn rounds(&mut self) {
        let first = self.options.from_round;
        for round in first..first + self.options.rounds {
            let carry_on = match self.round(round) {
                Ok(carry_on) => carry_on,
                Err(error) => {
                    println!("round {round}: FAILED: {error}");
                    self.totals.failures.push(format!("round {round}: {error}"));
                    false
                }
            };
            self.totals.rounds += 1;
            if !carry_on {
                println!("stopping after round {round}");
                break;
            }
        }
    }

    /// One round; `Ok(false)` when the cluster is in no state to go on.
    fn round(&mut self, round: u32) -> Result<bool, String> {
        let options = &self.options;
        let plan = Plan::choose(
            options.seed,
            round,
            (options.topology, options.role),
            options.round,
        );
        self.caught_up = None;
        let (recovery, mut problems) = self.fault_phase(round, &plan)?;
        let catch_up = self.wait_caught_up();
        self.caught_up = Some(catch_up.complete);
        if !catch_up.complete {
            problems.push(self.catch_up_failure(&catch_up));
        }
        let (acks, stats) = self.senders()?.take_round();
        let mut findings = Findings::default();
        self.ledger.add(acks, &mut findings);
        if self.topic_lost {
            findings.note("verification skipped: the master lacks the topic".to_string());
        } else {
            let from = self.window_start(round);
            let brokers = self.brokers(catch_up.complete);
            self.ledger.verify(&brokers, &from, &mut findings)?;
            let ends = self.queue_ends()?;
            self.window_ends.remove(0);
            self.window_ends.push(ends);
        }
        self.report_round(round, &plan, &stats, &findings, &catch_up, recovery);
        self.account(&plan, &stats, &findings);
        let carry_on = problems.is_empty();
        for problem in problems {
            println!("  FAILED: {problem}");
            self.totals
                .failures
                .push(format!("round {round}: {problem}"));
        }
        Ok(carry_on)
    }

    /// Sends through the round with its fault, then waits until the master accepts sends
    /// again and pauses the senders. Returns how long recovery took and what went wrong.
    fn fault_phase(
        &mut self,
        round: u32,
        plan: &Plan,
    ) -> Result<(Option<Duration>, Vec<String>), String> {
        let wait = self.options.wait;
        self.senders()?.resume(round);
        let started = Instant::now();
        std::thread::sleep(plan.moment);
        let fault_at = Instant::now();
        self.inject(plan)?;
        self.senders()?.fault_over();
        let mut problems = Vec::new();
        if plan.restarts_master() {
            problems.extend(self.check_topic());
        }
        std::thread::sleep(self.options.round.saturating_sub(started.elapsed()));
        let recovered = match self.topic_lost {
            true => None,
            false => self.wait_recovered()?,
        };
        if recovered.is_none() && !self.topic_lost {
            let mut problem = format!("the master accepted no send within {wait:?} of the fault");
            if self.cluster.slave_gave_up() {
                problem.push_str(" (the slave stopped replicating)");
            }
            problems.push(problem);
        }
        if !self.senders()?.pause(wait + Duration::from_secs(15)) {
            problems.push("a sender did not pause in time".to_string());
        }
        problems.extend(self.check_processes());
        let recovery = recovered.map(|at| at.saturating_duration_since(fault_at));
        Ok((recovery, problems))
    }

    /// Waits (bounded) for an ack of a send begun after the fault; gives up early when a
    /// SYNC_MASTER's slave has stopped replicating, as no send can be acked then.
    fn wait_recovered(&self) -> Result<Option<Instant>, String> {
        let deadline = Instant::now() + self.options.wait;
        let slave_needed = self.cluster.slave.is_some() && self.options.role == Role::SyncMaster;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(Duration::from_secs(1));
            if let Some(at) = self.senders()?.wait_recovered(slice) {
                return Ok(Some(at));
            }
            if left.is_zero() || (slave_needed && self.cluster.slave_gave_up()) {
                return Ok(None);
            }
        }
    }

    fn inject(&mut self, plan: &Plan) -> Result<(), String> {
        let wait = self.options.wait;
        let cluster = &mut self.cluster;
        match plan.fault {
            Fault::KillMaster { power_loss } => {
                cluster.master.kill()?;
                if power_loss {
                    cluster.lose_master_journal()?;
                }
                std::thread::sleep(plan.downtime);
                cluster.master.start(wait)?;
            }
            Fault::KillSlave => {
                let slave = cluster.slave.as_mut().ok_or("no slave to kill")?;
                slave.kill()?;
                std::thread::sleep(plan.downtime);
                slave.start(wait)?;
            }
            Fault::KillBoth {
                master_first,
                power_loss,
            } => {
                let slave = cluster.slave.as_mut().ok_or("no slave to kill")?;
                if master_first {
                    cluster.master.kill()?;
                    slave.kill()?;
                } else {
                    slave.kill()?;
                    cluster.master.kill()?;
                }
                if power_loss {
                    cluster.lose_master_journal()?;
                }
                let slave = cluster.slave.as_mut().ok_or("no slave to restart")?;
                std::thread::sleep(plan.downtime);
                cluster.master.start(wait)?;
                slave.start(wait)?;
            }
            Fault::StopSlave { pause } => {
                let slave = cluster.slave.as_mut().ok_or("no slave to stop")?;
                slave.signal(libc::SIGSTOP);
                std::thread::sleep(pause);
                slave.signal(libc::SIGCONT);
            }
        }
        Ok(())
    }

    /// A broker that exited by itself crashed.
    fn check_processes(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let cluster = &mut self.cluster;
        let mut servers = vec![&mut cluster.master];
        servers.extend(cluster.slave.as_mut());
        for server in servers {
            if !server.is_running() {
                let tail = log_tail(&server.log, 5);
                problems.push(format!(
                    "the {} exited by itself; log tail:\n{tail}",
                    server.name
                ));
            }
        }
        problems
    }

    /// A restarted master must still have the topic as it was created.
    fn check_topic(&mut self) -> Option<String> {
        let queues = self.options.queues as usize;
        let problem = match requests::topic_queue_count(self.cluster.master_addr) {
            Ok(Some(count)) if count == queues => return None,
            Ok(Some(count)) => format!(
                "after its restart the master has {} with {count} queues, not {queues}",
                requests::TOPIC
            ),
            Ok(None) => format!(
                "after its restart the master lacks {}: its creation was answered SUCCESS \
                 but not kept",
                requests::TOPIC
            ),
            Err(error) => return Some(error),
        };
        self.topic_lost = true;
        Some(problem)
    }

    /// Polls until the master has dispatched all it wrote and the slave holds the same log
    /// and queues, or the wait bound passes.
    fn wait_caught_up(&self) -> CatchUp {
        let deadline = Instant::now() + self.options.wait;
        loop {
            let master = requests::runtime_info(self.cluster.master_addr).ok();
            let slave = self
                .cluster
                .slave_addr()
                .and_then(|addr| requests::runtime_info(addr).ok());
            let number = |table: &Option<BTreeMap<String, String>>, key: &str| {
                table.as_ref().and_then(|t| runtime_number(t, key))
            };
            let catch_up = CatchUp {
                master_end: number(&master, "commitLogMaxOffset"),
                slave_end: number(&slave, "commitLogMaxOffset"),
                master_behind: number(&master, "dispatchBehindBytes"),
                slave_behind: number(&slave, "dispatchBehindBytes"),
                complete: false,
            };
            let complete = catch_up.master_behind == Some(0)
                && catch_up.master_end.is_some()
                && (self.cluster.slave.is_none()
                    || (catch_up.slave_behind == Some(0)
                        && catch_up.slave_end == catch_up.master_end
                        && self.same_queue_ends()));
            if complete || Instant::now() >= deadline || self.cluster.slave_gave_up() {
                return CatchUp {
                    complete,
                    ..catch_up
                };
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn same_queue_ends(&self) -> bool {
        let Some(slave) = self.cluster.slave_addr() else {
            return true;
        };
        (0..self.options.queues).all(|queue_id| {
            let master = requests::queue_offsets(self.cluster.master_addr, queue_id);
            let slave = requests::queue_offsets(slave, queue_id);
            matches!((master, slave), (Ok(m), Ok(s)) if m.1 == s.1)
        })
    }

    fn catch_up_failure(&self, catch_up: &CatchUp) -> String {
        let what = match self.cluster.slave_gave_up() {
            true => "the slave stopped replicating".to_string(),
            false => format!(
                "the brokers did not catch up within {:?}",
                self.options.wait
            ),
        };
        let mut text = format!(
            "{what} (commit log: master ends at {}, slave at {}; not dispatched: master {}, \
             slave {})",
            show(catch_up.master_end),
            show(catch_up.slave_end),
            show(catch_up.master_behind),
            show(catch_up.slave_behind)
        );
        if let Some(slave) = &self.cluster.slave {
            let log = std::fs::read_to_string(&slave.log).unwrap_or_default();
            if let Some(line) = log.lines().rev().find(|l| l.contains("HA replication")) {
                text.push_str(&format!("; slave log: {line}"));
            }
        }
        text
    }
}

impl Run {
    /// Where this round's verification starts in each queue: the end of the range verified
    /// two rounds ago (what the previous round appended may be lost by this round's fault),
    /// or lower where the last two rounds acked lower (a queue cut back by a crash).
    fn window_start(&self, round: u32) -> Vec<i64> {
        let lowest = self.ledger.lowest_acked_since(round.saturating_sub(1));
        self.window_ends[0]
            .iter()
            .zip(lowest)
            .map(|(end, low)| (*end).min(low))
            .collect()
    }

    fn brokers(&self, slave_complete: bool) -> Brokers {
        Brokers {
            master: self.cluster.master_addr,
            slave: self.cluster.slave_addr(),
            slave_complete,
        }
    }

    fn queue_ends(&self) -> Result<Vec<i64>, String> {
        (0..self.options.queues)
            .map(|queue_id| requests::queue_offsets(self.cluster.master_addr, queue_id))
            .map(|range| range.map(|(_, max)| max))
            .collect()
    }

    fn report_round(
        &self,
        round: u32,
        plan: &Plan,
        stats: &RoundStats,
        findings: &Findings,
        catch_up: &CatchUp,
        recovery: Option<Duration>,
    ) {
        let last = self.options.from_round + self.options.rounds - 1;
        let not_ok: u64 = stats.not_ok.values().sum();
        let codes: Vec<String> = stats
            .not_ok
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let mut line = format!(
            "round {round}/{last} {}: acks {} (total {}), not-ok {not_ok}",
            plan.describe(),
            stats.acked,
            self.ledger.acked()
        );
        if !codes.is_empty() {
            line.push_str(&format!(" [{}]", codes.join(", ")));
        }
        line.push_str(&format!(
            ", errors {}, lost {}, diverged {}, master end {}",
            stats.errors,
            findings.lost,
            findings.diverged,
            show(catch_up.master_end)
        ));
        if self.cluster.slave.is_some() {
            line.push_str(&format!(", slave end {}", show(catch_up.slave_end)));
        }
        match recovery {
            Some(recovery) => line.push_str(&format!(", recovery {:.2}s", recovery.as_secs_f64())),
            None => line.push_str(", recovery: none in time"),
        }
        for (name, count) in [
            ("gaps", findings.gaps),
            ("duplicates", findings.duplicates),
            ("corrupt", findings.corrupt),
            ("inconsistent reads", findings.inconsistent),
        ] {
            if count > 0 {
                line.push_str(&format!(", {name} {count}"));
            }
        }
        println!("{line}");
        print_details(findings, stats);
    }

    fn account(&mut self, plan: &Plan, stats: &RoundStats, findings: &Findings) {
        let totals = &mut self.totals;
        totals.kills += plan.kills();
        totals.stops += u64::from(matches!(plan.fault, Fault::StopSlave { .. }));
        self.add_findings(findings);
        self.totals.bad_acks += stats.bad_acks.len() as u64;
    }

    fn add_findings(&mut self, findings: &Findings) {
        let totals = &mut self.totals;
        totals.diverged += findings.diverged;
        totals.gaps += findings.gaps;
        totals.duplicates += findings.duplicates;
        totals.corrupt += findings.corrupt;
        totals.inconsistent += findings.inconsistent;
        totals.records_checked += findings.records_checked;
    }

    /// Stops the senders, verifies every queue from its start, scans the logs and prints the
    /// summary; true when the run passed.
    pub fn finish(mut self) -> bool {
        if let Some(senders) = self.senders.take() {
            senders.stop();
        }
        let complete = match self.caught_up {
            Some(complete) => complete,
            None => self.wait_caught_up().complete,
        };
        let mut findings = Findings::default();
        let brokers = self.brokers(complete);
        let from = vec![0; self.options.queues as usize];
        let verified = match self.topic_lost {
            true => Err("skipped: the master lacks the topic".to_string()),
            false => self.ledger.verify(&brokers, &from, &mut findings),
        };
        let final_checked = verified.is_ok();
        match verified {
            Ok(()) => println!(
                "final check of every queue from its start: {} queue offsets, lost {}, \
                 diverged {}",
                findings.records_checked, findings.lost, findings.diverged
            ),
            Err(error) => self.totals.failures.push(format!("final check: {error}")),
        }
        print_details(&findings, &RoundStats::default());
        self.add_findings(&findings);
        let alarms = scan_logs(&self.cluster.logs());
        for alarm in &alarms {
            println!("  LOG: {alarm}");
        }
        if !alarms.is_empty() {
            let what = LOG_ALARMS.join("`, `");
            self.totals
                .failures
                .push(format!("{} broker log lines with `{what}`", alarms.len()));
        }
        self.summary(final_checked)
    }

    /// Prints the summary; its counts are complete only when the final check ran, and the
    /// line says so otherwise.
    fn summary(&self, final_checked: bool) -> bool {
        let totals = &self.totals;
        let lost = self.ledger.lost_total;
        println!(
            "checked in {:.0}s: {} rounds, {} kills, {} stops; {} queue offsets read; gaps {}, \
             duplicates {}, corrupt {}, inconsistent reads {}, unreadable acks {}",
            self.started.elapsed().as_secs_f64(),
            totals.rounds,
            totals.kills,
            totals.stops,
            totals.records_checked,
            totals.gaps,
            totals.duplicates,
            totals.corrupt,
            totals.inconsistent,
            totals.bad_acks
        );
        let passed = final_checked
            && totals.failures.is_empty()
            && lost == 0
            && totals.diverged + totals.gaps + totals.duplicates + totals.corrupt == 0
            && totals.inconsistent + totals.bad_acks == 0;
        for failure in &totals.failures {
            println!("FAILED: {failure}");
        }
        let unchecked = match final_checked {
            true => "",
            false => "; the final check did not run, so acks may be lost unseen",
        };
        println!(
            "acked {}, lost {lost}, diverged {} (seed {}{unchecked})",
            self.ledger.acked(),
            totals.diverged,
            self.options.seed
        );
        passed
    }
}

fn print_details(findings: &Findings, stats: &RoundStats) {
    for line in findings
        .details
        .iter()
        .chain(&findings.unnoted())
        .chain(&stats.bad_acks)
    {
        println!("  {line}");
    }
}

/// Lines of the logs that contain an alarm, with their file names.
fn scan_logs(logs: &[&Path]) -> Vec<String> {
    let mut found = Vec::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let name = log.display();
        for line in text.lines() {
            if LOG_ALARMS.iter().any(|alarm| line.contains(alarm)) {
                found.push(format!("{name}: {line}"));
            }
        }
    }
    found
}

/// Waits (bounded) until the master's topic file names the topic.
fn await_topic_file(cluster: &Cluster, wait: Duration) -> Result<(), String> {
    let path = cluster.master_store.join("config").join("topics.json");
    let needle = format!("\"{}\"", requests::TOPIC);
    let deadline = Instant::now() + wait;
    while !std::fs::read_to_string(&path).is_ok_and(|text| text.contains(&needle)) {
        if Instant::now() >= deadline {
            return Err(format!(
                "{} did not name {} within {wait:?}",
                path.display(),
                requests::TOPIC
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

fn show(offset: Option<u64>) -> String {
    offset.map_or_else(|| "?".to_string(), |o| o.to_string())
}
