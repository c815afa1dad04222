//! `mqbench`'s command line: the subcommand (`produce`, `consume`, `e2e`) and its flags, parsed
//! with getopts into [`Options`] and checked before anything touches the network. Short letters
//! follow Apache RocketMQ's benchmark tools (`-n -t -s -w -k -q -l -g`); the rest are long flags.
//!
//! Pure: no I/O except reading `NAMESRV_ADDR` when `-n` is absent.

use std::path::PathBuf;
use std::time::Duration;

/// What the run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Produce,
    Consume,
    /// Produce and consume at once; latency is receive time minus born time.
    EndToEnd,
}

impl Command {
    pub fn name(self) -> &'static str {
        match self {
            Command::Produce => "produce",
            Command::Consume => "consume",
            Command::EndToEnd => "e2e",
        }
    }

    pub fn produces(self) -> bool {
        self != Command::Consume
    }

    pub fn consumes(self) -> bool {
        self != Command::Produce
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    Sync,
    Async,
    Oneway,
}

impl SendMode {
    pub fn name(self) -> &'static str {
        match self {
            SendMode::Sync => "sync",
            SendMode::Async => "async",
            SendMode::Oneway => "oneway",
        }
    }
}

/// Where the consumer starts: the group's committed offsets (a new group from the first
/// message), or the end of every queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    First,
    Last,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub command: Command,
    pub namesrv: String,
    pub topic: String,
    pub body_size: usize,
    /// Sending threads (produce, e2e).
    pub threads: usize,
    pub keys: bool,
    /// Messages to send (produce, e2e) or receive (consume); 0 = until the duration ends.
    pub count: u64,
    pub duration: Option<Duration>,
    pub mode: SendMode,
    pub batch: usize,
    /// Target total send rate, messages per second; 0 = as fast as possible.
    pub rate: u64,
    /// Distinct tags (`tag0` ..); 0 = no tags.
    pub tag_count: u64,
    pub group: String,
    /// Producer instances, each with its own connection and reactor thread.
    pub connections: usize,
    /// Async sends in flight per sending thread.
    pub inflight: usize,
    /// Queues of the topic when mqbench has to create it.
    pub queues: i32,
    pub from: StartFrom,
    pub json: Option<PathBuf>,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Options>),
    Help,
}

const DEFAULT_NAMESRV: &str = "127.0.0.1:9876";

/// The options taking a value: short, long, description, value hint.
const VALUE_OPTIONS: &[(&str, &str, &str, &str)] = &[
    (
        "n",
        "namesrv",
        "namesrv list (default $NAMESRV_ADDR, else 127.0.0.1:9876)",
        "ADDRS",
    ),
    ("t", "topic", "topic (default BenchmarkTest)", "TOPIC"),
    (
        "s",
        "size",
        "message body size in bytes (default 128)",
        "BYTES",
    ),
    ("w", "threads", "sending threads (default 64)", "N"),
    (
        "q",
        "count",
        "messages to send or receive; 0 = until --duration",
        "N",
    ),
    (
        "",
        "duration",
        "stop after this many seconds (default: no limit)",
        "SECONDS",
    ),
    (
        "",
        "mode",
        "send mode: sync (default), async or oneway",
        "MODE",
    ),
    (
        "",
        "batch",
        "messages per send call, sync only (default 1)",
        "N",
    ),
    (
        "",
        "rate",
        "target total send rate, paced; 0 = unlimited",
        "MSGS_PER_SEC",
    ),
    (
        "l",
        "tags",
        "tag count: tags tag0..tagN-1 in turn (default 0: none)",
        "N",
    ),
    (
        "g",
        "group",
        "consumer group (default benchmark_consumer / benchmark_e2e)",
        "G",
    ),
    (
        "",
        "connections",
        "producer instances, one connection each (default 1)",
        "N",
    ),
    (
        "",
        "inflight",
        "async sends in flight per thread (default 32)",
        "N",
    ),
    (
        "",
        "queues",
        "queues when mqbench creates the topic (default 8)",
        "N",
    ),
    (
        "",
        "from",
        "first: from the group's offsets, a new group from the start (consume default); \
         last: from the end of every queue (e2e default)",
        "first|last",
    ),
    (
        "",
        "json",
        "write the final summary as JSON to FILE",
        "FILE",
    ),
];

fn spec() -> getopts::Options {
    let mut spec = getopts::Options::new();
    for (short, long, description, hint) in VALUE_OPTIONS {
        spec.optopt(short, long, description, hint);
    }
    spec.optflagopt(
        "k",
        "keys",
        "set a KEYS value on every message",
        "true|false",
    );
    spec.optflag("h", "help", "print this help");
    spec
}

pub fn usage() -> String {
    let brief = "Usage: mqbench produce|consume|e2e [options]\n\n\
        produce: send messages and measure the send latency (sync, async; oneway counts only)\n\
        consume: receive messages with a push consumer (clustering) and count them\n\
        e2e:     both at once; latency = receive time - the message's born timestamp";
    spec().usage(brief)
}

fn number<T: std::str::FromStr>(
    matches: &getopts::Matches,
    name: &str,
    default: T,
) -> Result<T, String> {
    match matches.opt_str(name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("bad value for --{name}: {text:?} is not a number")),
    }
}

fn positive(value: usize, name: &str) -> Result<usize, String> {
    if value == 0 {
        return Err(format!("--{name} must be at least 1"));
    }
    Ok(value)
}

fn command_of(free: &[String]) -> Result<Command, String> {
    match free {
        [] => Err("no command: give produce, consume or e2e".into()),
        [one] => match one.as_str() {
            "produce" => Ok(Command::Produce),
            "consume" => Ok(Command::Consume),
            "e2e" => Ok(Command::EndToEnd),
            other => Err(format!(
                "unknown command {other:?}: give produce, consume or e2e"
            )),
        },
        [_, extra, ..] => Err(format!("unexpected argument {extra:?}")),
    }
}

fn keys_of(matches: &getopts::Matches) -> Result<bool, String> {
    if !matches.opt_present("keys") {
        return Ok(false);
    }
    match matches.opt_str("keys").as_deref() {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!("bad value for -k: {other:?} (true or false)")),
    }
}

fn mode_of(matches: &getopts::Matches) -> Result<SendMode, String> {
    match matches.opt_str("mode").as_deref() {
        None | Some("sync") => Ok(SendMode::Sync),
        Some("async") => Ok(SendMode::Async),
        Some("oneway") => Ok(SendMode::Oneway),
        Some(other) => Err(format!(
            "bad value for --mode: {other:?} (sync, async or oneway)"
        )),
    }
}

fn from_of(matches: &getopts::Matches, command: Command) -> Result<StartFrom, String> {
    match matches.opt_str("from").as_deref() {
        // A consume run reads what is there; an e2e run only what it sends.
        None if command == Command::Consume => Ok(StartFrom::First),
        None => Ok(StartFrom::Last),
        Some("first") => Ok(StartFrom::First),
        Some("last") => Ok(StartFrom::Last),
        Some(other) => Err(format!("bad value for --from: {other:?} (first or last)")),
    }
}

fn duration_of(matches: &getopts::Matches) -> Result<Option<Duration>, String> {
    let seconds: f64 = number(matches, "duration", 0.0)?;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err("--duration must be a positive number of seconds".into());
    }
    Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
}

/// Parses `args` (without the program name). `env_namesrv` is `$NAMESRV_ADDR`.
pub fn parse(args: &[String], env_namesrv: Option<String>) -> Result<Parsed, String> {
    let matches = spec().parse(args).map_err(|e| e.to_string())?;
    if matches.opt_present("help") {
        return Ok(Parsed::Help);
    }
    let command = command_of(&matches.free)?;
    let default_group = match command {
        Command::EndToEnd => "benchmark_e2e",
        _ => "benchmark_consumer",
    };
    let options = Options {
        command,
        namesrv: matches
            .opt_str("namesrv")
            .or(env_namesrv.filter(|a| !a.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_NAMESRV.to_string()),
        topic: matches
            .opt_str("topic")
            .unwrap_or_else(|| "BenchmarkTest".into()),
        body_size: positive(number(&matches, "size", 128)?, "size")?,
        threads: positive(number(&matches, "threads", 64)?, "threads")?,
        keys: keys_of(&matches)?,
        count: number(&matches, "count", 0)?,
        duration: duration_of(&matches)?,
        mode: mode_of(&matches)?,
        batch: positive(number(&matches, "batch", 1)?, "batch")?,
        rate: number(&matches, "rate", 0)?,
        tag_count: number(&matches, "tags", 0)?,
        group: matches
            .opt_str("group")
            .unwrap_or_else(|| default_group.into()),
        connections: positive(number(&matches, "connections", 1)?, "connections")?,
        inflight: positive(number(&matches, "inflight", 32)?, "inflight")?,
        queues: positive(number(&matches, "queues", 8)?, "queues")? as i32,
        from: from_of(&matches, command)?,
        json: matches.opt_str("json").map(PathBuf::from),
    };
    check(&options)?;
    Ok(Parsed::Run(Box::new(options)))
}

fn check(options: &Options) -> Result<(), String> {
    if options.topic.is_empty() || options.group.is_empty() {
        return Err("topic and group must not be empty".into());
    }
    if options.batch > 1 && options.mode != SendMode::Sync {
        return Err("--batch needs --mode sync (the client sends batches synchronously)".into());
    }
    if options.body_size > 4 << 20 {
        return Err("--size is over the 4 MiB message limit".into());
    }
    if options.queues > 1024 {
        return Err("--queues is over 1024".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        match parse(&args, None)? {
            Parsed::Run(options) => Ok(*options),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn defaults_follow_apache() {
        let options = run(&["produce"]).unwrap();
        assert_eq!(options.topic, "BenchmarkTest");
        assert_eq!(options.body_size, 128);
        assert_eq!(options.threads, 64);
        assert_eq!(options.namesrv, DEFAULT_NAMESRV);
        assert_eq!(options.mode, SendMode::Sync);
        assert_eq!((options.count, options.duration), (0, None));
        assert!(!options.keys);
    }

    #[test]
    fn flags_are_read() {
        let options = run(&[
            "e2e",
            "-n",
            "h:1",
            "-t",
            "T",
            "-s",
            "1024",
            "-w",
            "16",
            "-k",
            "-q",
            "5",
            "--mode",
            "async",
            "--rate",
            "100",
            "-l",
            "3",
            "--connections",
            "2",
            "--duration",
            "1.5",
            "--json",
            "out.json",
        ])
        .unwrap();
        assert_eq!(options.command, Command::EndToEnd);
        assert_eq!(
            (options.namesrv.as_str(), options.topic.as_str()),
            ("h:1", "T")
        );
        assert_eq!(
            (options.body_size, options.threads, options.count),
            (1024, 16, 5)
        );
        assert!(options.keys);
        assert_eq!(options.mode, SendMode::Async);
        assert_eq!(
            (options.rate, options.tag_count, options.connections),
            (100, 3, 2)
        );
        assert_eq!(options.duration, Some(Duration::from_millis(1500)));
        assert_eq!(options.from, StartFrom::Last);
        assert_eq!(options.group, "benchmark_e2e");
        assert_eq!(options.json, Some(PathBuf::from("out.json")));
        assert!(run(&["consume", "-k", "false"]).map(|o| !o.keys).unwrap());
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for args in [
            &[][..],
            &["fly"],
            &["produce", "extra"],
            &["produce", "-s", "x"],
            &["produce", "-w", "0"],
            &["produce", "--mode", "fast"],
            &["produce", "--batch", "4", "--mode", "async"],
            &["produce", "--bogus"],
            &["produce", "--duration", "-1"],
            &["consume", "--from", "middle"],
        ] {
            assert!(run(args).is_err(), "{args:?} accepted");
        }
        assert_eq!(run(&["--help"]).unwrap_err(), "help");
    }

    #[test]
    fn namesrv_falls_back_to_the_environment() {
        let args = vec!["consume".to_string()];
        let Ok(Parsed::Run(options)) = parse(&args, Some("env:9".into())) else {
            panic!("not parsed");
        };
        assert_eq!(options.namesrv, "env:9");
    }
}
