//! `chaos`: a seeded, bounded chaos run against real processes on loopback. It starts a
//! namesrv and a master (and, replicated, its slave), sends from several connections while
//! killing the master, the slave or both with SIGKILL (or stopping the slave) at random
//! moments, restarts them on their stores, and after every round checks byte for byte that
//! every message answered SEND_OK is where its ack said, on the master and on the slave, with
//! no gap, duplicate or divergence in any consume queue. One line per round, then the summary
//! `acked N, lost L, diverged D (seed S)`; the exit status is non-zero on any failure.
//!
//! Threads: main (rounds, faults, verification; the only one to start processes), one per
//! sender connection, and a watchdog that ends the run at its time limit.
//!
//! See `chaos --help` for the flags, and `make chaos` for the usual ways to run it.

mod cluster;
mod cursor;
mod fault;
mod options;
mod random;
mod requests;
mod run;
mod sender;
mod verify;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use options::{Options, USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match Options::parse(&args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("chaos: {error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    println!(
        "chaos seed {} (replay: chaos {})",
        options.seed,
        options.replay_flags()
    );
    let (dir, temporary) = match run_dir(&options) {
        Ok(dir) => dir,
        Err(error) => {
            println!("FAILED: {error}");
            return ExitCode::from(2);
        }
    };
    println!("stores and logs in {}", dir.display());
    start_watchdog(options.time_limit, dir.clone());
    let seed = options.seed;
    let passed = match run::Run::start(options, &dir) {
        Ok(mut run) => {
            run.rounds();
            run.finish()
        }
        Err(error) => {
            println!("FAILED: setup: {error}");
            println!("acked 0, lost 0, diverged 0 (seed {seed})");
            false
        }
    };
    if passed && temporary {
        let _ = std::fs::remove_dir_all(&dir);
    } else if !passed {
        println!("stores and logs kept in {}", dir.display());
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--keep DIR` (which must be empty: stores of another run would mix in), else a new
/// directory under the system temp dir; true when it is temporary.
fn run_dir(options: &Options) -> Result<(PathBuf, bool), String> {
    let (dir, temporary) = match &options.keep {
        Some(dir) => (dir.clone(), false),
        None => {
            let name = format!("rmq-chaos-{}-{}", options.seed, std::process::id());
            (std::env::temp_dir().join(name), true)
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let empty = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .next()
        .is_none();
    if !empty {
        return Err(format!("{} is not empty", dir.display()));
    }
    Ok((dir.canonicalize().unwrap_or(dir), temporary))
}

/// Ends the whole run (failed) at its time limit, whatever it is waiting for. The brokers die
/// with it: they asked for SIGKILL at their parent's death.
fn start_watchdog(limit: Duration, dir: PathBuf) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        println!("FAILED: the run exceeded its time limit of {limit:?}");
        println!("stores and logs kept in {}", Path::new(&dir).display());
        std::process::exit(3);
    });
}
