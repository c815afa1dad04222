//! `mqbench` against a real namesrv and broker: a run's totals (summary and `--json`) agree
//! with the broker's own counters (GET_BROKER_RUNTIME_INFO put and get deltas) for produce in
//! every send mode, consume and e2e; SIGTERM still prints the summary; a bad flag exits 2 and
//! an unreachable namesrv exits 1, each with a one-line error. No test asserts a timing: the
//! timeouts only bound a hung run.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use integration::{
    binary_path, spawn_broker, spawn_namesrv, wait_until, Process, RawClient, TempDir,
};
use serde_json::Value;
use wire::{RemotingCommand, RequestCode};

/// A run that takes longer than this is hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `mqbench args`, killing it if it is still running after `timeout`.
fn mqbench(args: &[&str], timeout: Duration) -> Outcome {
    let child = Command::new(binary_path("mqbench"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mqbench");
    let pid = child.id();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let Ok(output) = receiver.recv_timeout(timeout) else {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
        panic!("mqbench {args:?} still running after {timeout:?}");
    };
    let output = output.expect("mqbench output");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `mqbench args --json <dir>/<name>.json`, expects exit 0 and returns the JSON summary.
fn run_json(dir: &Path, name: &str, args: &[&str]) -> (Value, String) {
    let json_path = dir.join(format!("{name}.json"));
    let json_arg = json_path.display().to_string();
    let mut all = args.to_vec();
    all.extend(["--json", json_arg.as_str()]);
    let outcome = mqbench(&all, RUN_TIMEOUT);
    assert_eq!(
        outcome.code,
        Some(0),
        "mqbench {all:?}\nstdout:\n{}\nstderr:\n{}",
        outcome.stdout,
        outcome.stderr
    );
    let text = std::fs::read_to_string(&json_path).expect("the --json file");
    (
        serde_json::from_str(&text).expect("JSON summary"),
        outcome.stdout,
    )
}

struct Cluster {
    _namesrv: Process,
    _broker: Process,
    namesrv: SocketAddr,
    dir: TempDir,
}

fn cluster(label: &str) -> Cluster {
    let dir = TempDir::new(label);
    let namesrv_dir = dir.path().join("namesrv");
    std::fs::create_dir_all(&namesrv_dir).unwrap();
    let (namesrv_process, namesrv) = spawn_namesrv(&namesrv_dir, "");
    let (broker, broker_addr) = spawn_broker(dir.path(), namesrv, "brokerRole=ASYNC_MASTER");
    // The broker says it listens before it has registered: mqbench refuses a cluster without
    // a master, so wait for the registration.
    let registered = wait_until(Duration::from_secs(20), || {
        let Ok(mut client) = RawClient::connect(namesrv) else {
            return false;
        };
        let request = RemotingCommand::request(RequestCode::GET_BROKER_CLUSTER_INFO, 0);
        client.call(request).is_ok_and(|answer| {
            String::from_utf8_lossy(&answer.body).contains(&broker_addr.to_string())
        })
    });
    assert!(registered, "the broker did not register with the namesrv");
    Cluster {
        _namesrv: namesrv_process,
        _broker: broker,
        namesrv,
        dir,
    }
}

fn number(json: &Value, field: &str) -> u64 {
    json[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {json}"))
}

fn broker_counter(json: &Value, field: &str) -> u64 {
    json["broker_counters"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("broker_counters.{field} in {json}"))
}

/// Percentiles come from one histogram: they are ordered.
fn assert_latency_sane(latency: &Value, samples: u64) {
    assert_eq!(latency["count"].as_u64(), Some(samples), "{latency}");
    let at = |name: &str| latency[name].as_u64().unwrap_or_else(|| panic!("{name}"));
    assert!(at("p50") <= at("p99") && at("p99") <= at("p999") && at("p999") <= at("max"));
}

#[test]
fn produce_consume_and_e2e_totals_match_the_broker_counters() {
    let cluster = cluster("mqbench");
    let namesrv = cluster.namesrv.to_string();
    let dir = cluster.dir.path();
    let base = ["-n", namesrv.as_str(), "-t", "BenchTopic"];

    let produce = [
        &["produce"],
        &base[..],
        &["-q", "2000", "-w", "8", "-s", "256"],
    ]
    .concat();
    let (json, stdout) = run_json(dir, "produce", &produce);
    let first_line = stdout.lines().next().unwrap_or("");
    assert!(
        first_line.starts_with("mqbench produce: namesrv"),
        "{stdout}"
    );
    assert!(
        first_line.contains("role ASYNC_MASTER flush ASYNC_FLUSH"),
        "{stdout}"
    );
    assert!(stdout.contains("sent: ok 2000 failed 0"), "{stdout}");
    assert!(
        stdout.contains("put delta 2000 (tool sent ok 2000) matches"),
        "{stdout}"
    );
    assert!(stdout.contains("rss: "), "{stdout}");
    assert_eq!(number(&json, "messages_ok"), 2000);
    assert_eq!(number(&json, "messages_failed"), 0);
    assert_eq!(broker_counter(&json, "put"), number(&json, "messages_ok"));
    assert_eq!(broker_counter(&json, "masters_answered"), 1);
    assert_latency_sane(&json["latency_us"], 2000);
    assert!(number(&json, "rss_kib") > 0);

    let consume = [&["consume"], &base[..], &["-q", "2000", "-g", "bench_it"]].concat();
    let (json, stdout) = run_json(dir, "consume", &consume);
    assert_eq!(number(&json, "received"), 2000, "{stdout}");
    assert_eq!(number(&json, "duplicates"), 0);
    assert!(broker_counter(&json, "get") >= number(&json, "received"));
    assert!(stdout.contains("received: 2000 duplicates 0"), "{stdout}");

    let e2e = [&["e2e"], &base[..], &["-q", "2000", "-w", "4"]].concat();
    let (json, stdout) = run_json(dir, "e2e", &e2e);
    assert_eq!(number(&json, "messages_ok"), 2000, "{stdout}");
    assert_eq!(number(&json, "messages_failed"), 0);
    assert_eq!(number(&json, "received"), 2000, "{stdout}");
    assert_eq!(
        number(&json, "skipped"),
        0,
        "the backlog is not read: {stdout}"
    );
    assert_eq!(broker_counter(&json, "put"), 2000);
    assert!(broker_counter(&json, "get") >= 2000);
    assert_latency_sane(&json["e2e_latency_us"], 2000);
}

#[test]
fn every_send_mode_is_counted_as_the_broker_counts() {
    let cluster = cluster("mqbench-modes");
    let namesrv = cluster.namesrv.to_string();
    let dir = cluster.dir.path();
    let base = [
        "produce",
        "-n",
        namesrv.as_str(),
        "-t",
        "ModesTopic",
        "-w",
        "4",
    ];
    let cases: [(&str, &[&str], u64); 4] = [
        (
            "async",
            &["-q", "1000", "--mode", "async", "--connections", "2"],
            1000,
        ),
        (
            "batch",
            &["-q", "1000", "--batch", "16", "-l", "4", "-k"],
            1000 / 16 + 1,
        ),
        ("oneway", &["-q", "3000", "--mode", "oneway"], 0),
        ("paced", &["-q", "200", "--rate", "400"], 200),
    ];
    for (name, extra, latency_samples) in cases {
        let args = [&base[..], extra].concat();
        let (json, stdout) = run_json(dir, name, &args);
        let sent = number(&json, "messages_ok");
        assert!(
            sent > 0 && number(&json, "messages_failed") == 0,
            "{name}: {stdout}"
        );
        assert_eq!(sent, extra[1].parse::<u64>().unwrap(), "{name}: {stdout}");
        assert_eq!(broker_counter(&json, "put"), sent, "{name}: {stdout}");
        if latency_samples == 0 {
            assert!(
                json["latency_us"].is_null(),
                "{name}: oneway has no latency"
            );
        } else {
            assert_latency_sane(&json["latency_us"], latency_samples);
        }
    }
}

#[test]
fn sigterm_stops_the_run_and_still_prints_the_summary() {
    let cluster = cluster("mqbench-signal");
    let namesrv = cluster.namesrv.to_string();
    let json_path = cluster.dir.path().join("signal.json");
    let json_arg = json_path.display().to_string();
    let args = [
        "produce",
        "-n",
        &namesrv,
        "-t",
        "SignalTopic",
        "-w",
        "2",
        "--duration",
        "600",
        "--json",
        &json_arg,
    ];
    let child = Command::new(binary_path("mqbench"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn mqbench");
    let mut process = Process::new(child);
    let stdout = process.take_stdout().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.starts_with('[')) {
        let line = receiver
            .recv_timeout(RUN_TIMEOUT)
            .expect("an interval line");
        lines.push(line);
    }
    process.signal(libc::SIGTERM);
    let status = process
        .wait_timeout(RUN_TIMEOUT)
        .expect("mqbench stops on SIGTERM");
    assert_eq!(status.code(), Some(0));
    lines.extend(receiver.try_iter());
    let text = lines.join("\n");
    assert!(
        text.contains("(interrupted)") && text.contains("put delta"),
        "{text}"
    );
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["interrupted"], true);
    assert!(number(&json, "messages_ok") > 0);
    assert_eq!(
        broker_counter(&json, "put"),
        number(&json, "messages_ok"),
        "{text}"
    );
}

#[test]
fn a_bad_flag_exits_2_with_one_error_line_and_the_usage() {
    for args in [
        &["produce", "--size", "big"][..],
        &["produce", "--bogus"],
        &["fly"],
        &[],
        &["produce", "--batch", "8", "--mode", "oneway"],
    ] {
        let outcome = mqbench(args, RUN_TIMEOUT);
        assert_eq!(outcome.code, Some(2), "{args:?}: {}", outcome.stderr);
        let mut lines = outcome.stderr.lines();
        let error = lines.next().unwrap_or("");
        assert!(
            error.starts_with("mqbench: "),
            "{args:?}: {}",
            outcome.stderr
        );
        assert!(
            lines.next().unwrap_or("").starts_with("Usage: mqbench"),
            "{}",
            outcome.stderr
        );
        assert!(outcome.stdout.is_empty(), "{args:?}: {}", outcome.stdout);
    }
    let help = mqbench(&["--help"], RUN_TIMEOUT);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("--connections"), "{}", help.stdout);
}

#[test]
fn an_unreachable_namesrv_exits_1_with_one_error_line() {
    // A port nobody listens on: bound, then released.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let namesrv = format!("127.0.0.1:{port}");
    for command in ["produce", "consume", "e2e"] {
        let outcome = mqbench(
            &[command, "-n", &namesrv, "-q", "10"],
            Duration::from_secs(30),
        );
        assert_eq!(outcome.code, Some(1), "{command}: {}", outcome.stderr);
        let errors: Vec<&str> = outcome.stderr.lines().collect();
        assert_eq!(errors.len(), 1, "{command}: {}", outcome.stderr);
        assert!(
            errors[0].starts_with("mqbench: cannot reach the namesrv"),
            "{}",
            errors[0]
        );
    }
}
