//! `mqbench`: load generation and latency measurement against a RocketMQ cluster, after
//! Apache RocketMQ's benchmark Producer and Consumer. `produce` sends (sync, async, oneway,
//! batches; paced or flat out), `consume` receives with a push consumer, `e2e` does both and
//! measures receive time minus born time. It prints the configuration with what the brokers
//! report of their role and flush mode, a line per second, and a summary whose totals sit next
//! to the masters' own counters (GET_BROKER_RUNTIME_INFO before and after): a run checks
//! itself. `--json FILE` writes the summary for BENCHMARKS.md.
//!
//! This module owns the run's life: setup (cluster probe, topic), the sides, the reporting
//! loop on the main thread, stopping (count, duration, SIGINT/SIGTERM: the summary is still
//! printed), and exit codes: 0 done, 1 runtime failure (one line on stderr), 2 bad flags.

pub mod cluster;
pub mod consume;
pub mod options;
pub mod produce;
pub mod report;
pub mod stats;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use client::admin::AdminClient;
use client::process::STOP_REQUESTED;

use cluster::{ClusterView, CounterDelta, CounterReading};
use consume::ReceiveSide;
use options::{Command, Options, Parsed, SendMode};
use produce::SendSide;
use report::{interval_line, Measured, Meter, Summary};
use stats::Recorder;

/// How long an e2e run waits, after the last send, for the messages still on their way.
const DRAIN_WAIT: Duration = Duration::from_secs(10);
/// How long oneway sends may take to show in the broker's counter after the run.
const ONEWAY_SETTLE: Duration = Duration::from_secs(5);

/// When the measured part began and whether it must stop. Shared by every thread of a run.
pub struct Run {
    base: Instant,
    begun_ns: AtomicU64,
    duration: Option<Duration>,
    stop: AtomicBool,
}

impl Run {
    pub fn new(duration: Option<Duration>) -> Run {
        Run {
            base: Instant::now(),
            begun_ns: AtomicU64::new(0),
            duration,
            stop: AtomicBool::new(false),
        }
    }

    /// Starts the clock (and the duration) now.
    pub fn begin(&self) -> Instant {
        let now = Instant::now();
        let since_base = now.duration_since(self.base).as_nanos() as u64;
        self.begun_ns.store(since_base, Ordering::Release);
        now
    }

    pub fn started(&self) -> Instant {
        self.base + Duration::from_nanos(self.begun_ns.load(Ordering::Acquire))
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// SIGINT or SIGTERM arrived.
    pub fn interrupted(&self) -> bool {
        STOP_REQUESTED.load(Ordering::Acquire)
    }

    /// Stopped, interrupted, or past the duration.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
            || self.interrupted()
            || self.duration.is_some_and(|d| self.started().elapsed() >= d)
    }
}

/// The entry point of the binary; returns the exit code.
pub fn main() -> i32 {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match options::parse(&args, std::env::var("NAMESRV_ADDR").ok()) {
        Ok(Parsed::Help) => {
            println!("{}", options::usage());
            0
        }
        Err(error) => {
            eprintln!("mqbench: {error}");
            eprintln!("{}", options::usage());
            2
        }
        Ok(Parsed::Run(options)) => match run(&options) {
            Ok(code) => code,
            Err(error) => {
                eprintln!("mqbench: {error}");
                1
            }
        },
    }
}

/// What the run needs from the cluster, learned before it starts.
struct Setup {
    admin: AdminClient,
    view: ClusterView,
    before: CounterReading,
}

impl Setup {
    fn shutdown(&self) {
        self.admin.shutdown();
    }
}

fn config_line(options: &Options, view: &ClusterView) -> String {
    let limit = |value: u64, none: &str| {
        if value == 0 {
            none.to_string()
        } else {
            value.to_string()
        }
    };
    let duration = options
        .duration
        .map_or("none".to_string(), |d| format!("{} s", d.as_secs_f64()));
    let mut line = format!(
        "mqbench {}: namesrv {} topic {} count {} duration {}",
        options.command.name(),
        options.namesrv,
        options.topic,
        limit(options.count, "unlimited"),
        duration
    );
    if options.command.produces() {
        line.push_str(&format!(
            " body {} B threads {} connections {} mode {} batch {} rate {} tags {} keys {}",
            options.body_size,
            options.threads,
            options.connections,
            options.mode.name(),
            options.batch,
            limit(options.rate, "unlimited"),
            options.tag_count,
            options.keys
        ));
    }
    if options.command.consumes() {
        line.push_str(&format!(" group {} from {:?}", options.group, options.from).to_lowercase());
    }
    format!("{line} | {}", view.describe())
}

fn prepare(options: &Options) -> Result<Setup, String> {
    let admin = AdminClient::start(&options.namesrv).map_err(|e| format!("namesrv: {e}"))?;
    let view = cluster::probe(&admin)
        .map_err(|e| format!("cannot reach the namesrv at {}: {e}", options.namesrv))?;
    println!("{}", config_line(options, &view));
    let masters = view.masters();
    if masters.is_empty() {
        return Err("no master broker is registered with the namesrv".into());
    }
    let created = cluster::ensure_topic(&admin, &view, &options.topic, options.queues)
        .map_err(|e| format!("topic {}: {e}", options.topic))?;
    if created {
        println!(
            "created topic {} with {} queues on every master",
            options.topic, options.queues
        );
    }
    let before = cluster::read_counters(&admin, &masters);
    Ok(Setup {
        admin,
        view,
        before,
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The sides of a run and their meters.
struct Sides {
    send: Option<(SendSide, Meter)>,
    receive: Option<(ReceiveSide, Meter)>,
    /// When the last interval line was printed.
    last_tick: Option<Instant>,
}

fn start_receive(options: &Options, run: &Arc<Run>, setup: &Setup) -> Result<Sides, String> {
    if !options.command.consumes() {
        return Ok(Sides {
            send: None,
            receive: None,
            last_tick: None,
        });
    }
    let recorder = Arc::new(Recorder::new(64));
    // e2e counts only what this run sends: messages born before it began are skipped.
    let born_floor_ms = if options.command.produces() {
        now_ms()
    } else {
        0
    };
    let side = ReceiveSide::start(options, run, &recorder, born_floor_ms)
        .map_err(|e| format!("consumer: {e}"))?;
    let total = cluster::readable_queue_count(&setup.admin, &options.topic)
        .map_err(|e| format!("topic {}: {e}", options.topic))?;
    // A consume run measures from the consumer's start; an e2e run sends once the consumer
    // owns the queues (a group starting at the last offset would miss earlier messages).
    let owned = if options.command.produces() {
        side.wait_for_queues(&options.topic, total, run)
    } else {
        total
    };
    if owned < total {
        println!("note: the consumer owns {owned} of the topic's {total} queues");
    }
    Ok(Sides {
        send: None,
        receive: Some((side, Meter::new(recorder))),
        last_tick: None,
    })
}

fn run(options: &Options) -> Result<i32, String> {
    client::process::install_signal_handlers();
    let setup = prepare(options)?;
    let measured = measure(options, &setup);
    setup.shutdown();
    let (measured, receive) = measured?;
    let summary = Summary::new(options, measured);
    print!("{}", summary.text());
    let written = match &options.json {
        Some(path) => std::fs::write(path, summary.json() + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => Ok(()),
    };
    // Last: the consumer ends its long polls (up to 5 s) and commits its offsets.
    if let Some(receive) = receive {
        receive.finish();
    }
    written?;
    let nothing_sent = options.command.produces() && summary.messages_ok == 0;
    Ok(if nothing_sent && summary.messages_failed > 0 {
        1
    } else {
        0
    })
}

/// Runs the sides until the run is over; the consumer, if any, is still running.
fn measure(options: &Options, setup: &Setup) -> Result<(Measured, Option<ReceiveSide>), String> {
    let run = Arc::new(Run::new(options.duration));
    let mut started = run.begin();
    let mut sides = start_receive(options, &run, setup)?;
    if options.command.produces() {
        started = run.begin();
        let recorder = Arc::new(Recorder::new(options.threads));
        match SendSide::start(options, &run, &recorder) {
            Ok(side) => sides.send = Some((side, Meter::new(recorder))),
            Err(error) => {
                if let Some((receive, _)) = sides.receive.take() {
                    receive.finish();
                }
                return Err(format!("producer: {error}"));
            }
        }
    }
    let send_elapsed = report_loop(options, &run, &mut sides, started);
    let measured = finish(options, &run, &mut sides, setup, started, send_elapsed);
    Ok((measured, sides.receive.map(|(side, _)| side)))
}

/// Prints the interval line.
fn tick(options: &Options, sides: &mut Sides, elapsed: Duration, length: Duration) {
    let send = sides
        .send
        .as_mut()
        .map(|(_, meter)| (meter.tick(), options.mode));
    let receive = sides
        .receive
        .as_mut()
        .map(|(side, meter)| (meter.tick(), side.duplicates()));
    println!("{}", interval_line(elapsed, length, send, receive));
}

/// Whether the run is over: interrupted, or every side is done. An e2e run waits for its
/// messages to arrive, up to [`DRAIN_WAIT`] after the last send.
fn done(sides: &Sides, run: &Run, sending_done: &mut Option<Instant>) -> bool {
    if run.interrupted() {
        return true;
    }
    let sent_ok = match &sides.send {
        Some((side, meter)) => {
            if !side.finished() {
                return false;
            }
            sending_done.get_or_insert_with(Instant::now);
            meter.counts().ok
        }
        None => return run.stopping(),
    };
    match &sides.receive {
        None => true,
        Some((_, meter)) => {
            meter.counts().ok >= sent_ok
                || sending_done.is_some_and(|at| at.elapsed() >= DRAIN_WAIT)
        }
    }
}

/// Prints a line per second until the run is over; returns how long the sending lasted.
fn report_loop(options: &Options, run: &Run, sides: &mut Sides, started: Instant) -> Duration {
    let second = Duration::from_secs(1);
    let mut next = started + second;
    let mut sending_done = None;
    sides.last_tick = Some(started);
    while !done(sides, run, &mut sending_done) {
        let now = Instant::now();
        if now >= next {
            let last = sides.last_tick.unwrap_or(started);
            tick(options, sides, next - started, now - last);
            sides.last_tick = Some(now);
            next += second;
        }
        std::thread::sleep(
            next.saturating_duration_since(Instant::now())
                .min(Duration::from_millis(20)),
        );
    }
    run.stop();
    sending_done.map_or_else(|| started.elapsed(), |at| at - started)
}

/// Stops the sides, prints the last partial interval and reads the broker counters again.
fn finish(
    options: &Options,
    run: &Run,
    sides: &mut Sides,
    setup: &Setup,
    started: Instant,
    send_elapsed: Duration,
) -> Measured {
    let first_error = sides
        .send
        .as_mut()
        .and_then(|(side, _)| side.finish_threads());
    let elapsed = started.elapsed();
    let partial = sides.last_tick.map_or(elapsed, |at| at.elapsed());
    if partial >= Duration::from_millis(50) {
        tick(options, sides, elapsed, partial);
    }
    let send = sides.send.as_mut().map(|(_, meter)| {
        meter.tick();
        (meter.counts(), meter.total_latency())
    });
    let receive = sides.receive.as_mut().map(|(side, meter)| {
        meter.tick();
        let skipped = meter.recorder().skipped_count.load(Ordering::Relaxed);
        (
            meter.counts(),
            meter.total_latency(),
            side.duplicates(),
            skipped,
        )
    });
    let masters = setup.view.masters();
    let mut broker_counters = counters_after(setup, &masters);
    if options.mode == SendMode::Oneway && options.command.produces() {
        let sent = send.map_or(0, |s| s.0.ok);
        let settle_by = Instant::now() + ONEWAY_SETTLE;
        while broker_counters.put < sent && Instant::now() < settle_by {
            std::thread::sleep(Duration::from_millis(100));
            broker_counters = counters_after(setup, &masters);
        }
    }
    if let Some((side, _)) = &sides.send {
        side.shutdown();
    }
    let (send_elapsed, elapsed) = match options.command {
        Command::Consume => (elapsed, elapsed),
        _ => (send_elapsed.min(elapsed), elapsed),
    };
    Measured {
        elapsed,
        send_elapsed,
        interrupted: run.interrupted(),
        send,
        receive,
        broker_counters,
        brokers: setup.view.brokers.clone(),
        first_error,
    }
}

fn counters_after(setup: &Setup, masters: &[std::net::SocketAddr]) -> CounterDelta {
    cluster::read_counters(&setup.admin, masters).delta_since(&setup.before, masters.len())
}
