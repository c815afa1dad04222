//! The chaos tool's command line, parsed by hand (the integration crate has no argument
//! parser and adds none): `--flag value` or `--flag=value`, every value checked, an unknown
//! flag an error naming it.
//!
//! Used once, on the main thread, before anything starts.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

pub const USAGE: &str = "\
usage: chaos [options]
  --rounds N            rounds of one fault each (default 10)
  --seed S              seed of every random choice (default: from the clock; printed first)
  --from-round K        number of the first round: replays round K of a seed (default 1)
  --topology T          replicated (master + slave) or single (master only; default replicated)
  --flush F             sync or async: flushDiskType of every broker (default async)
  --role R              SYNC_MASTER or ASYNC_MASTER (replicated; default SYNC_MASTER)
  --connections N       sender connections (default 4)
  --queues N            queues of the chaos topic (default 4)
  --round-ms MS         sending time of a round; the fault falls inside it (default 2000)
  --segment-size BYTES  mappedFileSizeCommitLog (default 2097152)
  --wait-s S            bound of every wait: restart, recovery, catch-up (default 60)
  --time-limit-s S      the whole run ends (failed) after this long (default: from the rounds)
  --keep DIR            keep stores and logs in DIR, empty or new (default: a temp dir,
                        removed unless the run failed)
  --await-topic-file    before round 1, wait until the master's config/topics.json names the
                        topic: tests message durability apart from topic-config durability
  --bin-dir DIR         where the broker and namesrv binaries are (default: beside chaos)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Replicated,
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    Sync,
    Async,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    SyncMaster,
    AsyncMaster,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub rounds: u32,
    pub seed: u64,
    pub from_round: u32,
    pub topology: Topology,
    pub flush: Flush,
    pub role: Role,
    pub connections: usize,
    pub queues: i32,
    pub round: Duration,
    pub segment_size: u64,
    pub wait: Duration,
    pub time_limit: Duration,
    pub keep: Option<PathBuf>,
    pub bin_dir: PathBuf,
    pub await_topic_file: bool,
}

impl Options {
    /// Parses `args` (without the program name); `Ok(None)` when help was asked for.
    pub fn parse(args: &[String]) -> Result<Option<Options>, String> {
        let mut options = Options::defaults()?;
        let mut time_limit = None;
        let mut index = 0;
        while index < args.len() {
            let arg = &args[index];
            if arg == "-h" || arg == "--help" {
                return Ok(None);
            }
            if arg == "--await-topic-file" {
                options.await_topic_file = true;
                index += 1;
                continue;
            }
            let (flag, value) = match arg.split_once('=') {
                Some((flag, value)) => (flag, value.to_string()),
                None => {
                    index += 1;
                    let value = args.get(index).ok_or(format!("{arg} needs a value"))?;
                    (arg.as_str(), value.clone())
                }
            };
            if flag == "--time-limit-s" {
                time_limit = Some(Duration::from_secs(number(flag, &value, 1, 86_400)?));
            } else {
                options.apply(flag, &value)?;
            }
            index += 1;
        }
        options.time_limit = time_limit.unwrap_or_else(|| options.default_time_limit());
        Ok(Some(options))
    }

    fn defaults() -> Result<Options, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let bin_dir = exe.parent().map(PathBuf::from).unwrap_or_default();
        Ok(Options {
            rounds: 10,
            seed: clock_seed(),
            from_round: 1,
            topology: Topology::Replicated,
            flush: Flush::Async,
            role: Role::SyncMaster,
            connections: 4,
            queues: 4,
            round: Duration::from_millis(2000),
            segment_size: 2 << 20,
            wait: Duration::from_secs(60),
            time_limit: Duration::ZERO,
            keep: None,
            bin_dir,
            await_topic_file: false,
        })
    }

    fn apply(&mut self, flag: &str, value: &str) -> Result<(), String> {
        match flag {
            "--rounds" => self.rounds = number(flag, value, 1, 1_000_000)? as u32,
            "--seed" => self.seed = number(flag, value, 0, u64::MAX)?,
            "--from-round" => self.from_round = number(flag, value, 1, 1_000_000)? as u32,
            "--topology" => {
                self.topology = match value {
                    "replicated" => Topology::Replicated,
                    "single" => Topology::Single,
                    _ => return Err(format!("{flag}: expected replicated or single")),
                }
            }
            "--flush" => {
                self.flush = match value.to_ascii_lowercase().as_str() {
                    "sync" | "sync_flush" => Flush::Sync,
                    "async" | "async_flush" => Flush::Async,
                    _ => return Err(format!("{flag}: expected sync or async")),
                }
            }
            "--role" => {
                self.role = match value {
                    "SYNC_MASTER" => Role::SyncMaster,
                    "ASYNC_MASTER" => Role::AsyncMaster,
                    _ => return Err(format!("{flag}: expected SYNC_MASTER or ASYNC_MASTER")),
                }
            }
            "--connections" => self.connections = number(flag, value, 1, 256)? as usize,
            "--queues" => self.queues = number(flag, value, 1, 64)? as i32,
            "--round-ms" => self.round = Duration::from_millis(number(flag, value, 200, 600_000)?),
            "--segment-size" => {
                self.segment_size = number(flag, value, 64 << 10, 1 << 30)?;
            }
            "--wait-s" => self.wait = Duration::from_secs(number(flag, value, 5, 3600)?),
            "--keep" => self.keep = Some(PathBuf::from(value)),
            "--bin-dir" => self.bin_dir = PathBuf::from(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
        Ok(())
    }

    /// Generous: every round may use each of its bounded waits in full.
    fn default_time_limit(&self) -> Duration {
        let per_round = self.round + self.wait * 4 + Duration::from_secs(10);
        per_round * self.rounds + self.wait * 4
    }

    /// The flags that replay this run.
    pub fn replay_flags(&self) -> String {
        let mut flags = format!(
            "--seed {} --rounds {} --topology {} --flush {} --connections {} --queues {} \
             --round-ms {} --segment-size {}",
            self.seed,
            self.rounds,
            self.topology.name(),
            self.flush.name(),
            self.connections,
            self.queues,
            self.round.as_millis(),
            self.segment_size
        );
        if self.topology == Topology::Replicated {
            flags.push_str(&format!(" --role {}", self.role.name()));
        }
        if self.await_topic_file {
            flags.push_str(" --await-topic-file");
        }
        if self.from_round != 1 {
            flags.push_str(&format!(" --from-round {}", self.from_round));
        }
        flags
    }
}

impl Topology {
    pub fn name(self) -> &'static str {
        match self {
            Topology::Replicated => "replicated",
            Topology::Single => "single",
        }
    }
}

impl Flush {
    pub fn name(self) -> &'static str {
        match self {
            Flush::Sync => "sync",
            Flush::Async => "async",
        }
    }

    /// The `flushDiskType` value.
    pub fn config_value(self) -> &'static str {
        match self {
            Flush::Sync => "SYNC_FLUSH",
            Flush::Async => "ASYNC_FLUSH",
        }
    }
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::SyncMaster => "SYNC_MASTER",
            Role::AsyncMaster => "ASYNC_MASTER",
        }
    }
}

fn number(flag: &str, value: &str, low: u64, high: u64) -> Result<u64, String> {
    match value.trim().parse::<u64>() {
        Ok(n) if (low..=high).contains(&n) => Ok(n),
        _ => Err(format!(
            "{flag}: expected a number from {low} to {high}, got {value:?}"
        )),
    }
}

fn clock_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    // Seeds stay short enough to retype.
    (nanos ^ u64::from(std::process::id()).rotate_left(32)) % 1_000_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        Options::parse(&args)
    }

    #[test]
    fn flags_parse_in_both_forms_and_replay_the_run() {
        let options = parse(&["--seed=42", "--topology", "single", "--flush", "sync"])
            .unwrap()
            .unwrap();
        assert_eq!(options.seed, 42);
        assert_eq!(options.topology, Topology::Single);
        assert_eq!(options.flush, Flush::Sync);
        assert!(options
            .replay_flags()
            .starts_with("--seed 42 --rounds 10 --topology single"));
        assert!(parse(&["--help"]).unwrap().is_none());
    }

    #[test]
    fn bad_flags_are_errors_naming_them() {
        assert!(parse(&["--bogus", "1"]).unwrap_err().contains("--bogus"));
        assert!(parse(&["--rounds", "0"]).unwrap_err().contains("--rounds"));
        assert!(parse(&["--rounds"]).unwrap_err().contains("needs a value"));
        assert!(parse(&["--role", "SLAVE"]).unwrap_err().contains("--role"));
    }
}
