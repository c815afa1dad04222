//! Replication bench (prints figures for BENCHMARKS.md; asserts nothing about speed).
//!
//! `cargo build --release --bins && cargo bench -p integration --bench replication -- [SECONDS]
//! [THREADS]` starts a namesrv, broker-a master and its slave (release binaries, ASYNC_FLUSH)
//! on loopback for each of ASYNC_MASTER and SYNC_MASTER, sends 1 KiB messages from THREADS
//! (default 16) connections for SECONDS (default 5) with SEND_MESSAGE_V2, one request in
//! flight per connection, and prints acks/s and the send round-trip percentiles.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration::{spawn_broker, spawn_namesrv, wait_until, RawClient, TempDir};
use wire::{RemotingCommand, RequestCode, ResponseCode};

fn send(client: &mut RawClient, queue_id: usize, body: &[u8]) -> std::io::Result<RemotingCommand> {
    let request = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, 0)
        .with_ext("a", "bench")
        .with_ext("b", "BenchReplication")
        .with_ext("c", "TBW102")
        .with_ext("d", "8")
        .with_ext("e", (queue_id % 8).to_string())
        .with_ext("f", "0")
        .with_ext("g", "1700000000000")
        .with_ext("h", "0")
        .with_ext("i", "WAIT\u{1}true")
        .with_body(body.to_vec());
    client.call(request)
}

fn percentile(sorted: &[u32], fraction: f64) -> u32 {
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * fraction).round() as usize)
        .copied()
        .unwrap_or(0)
}

fn run(role: &str, seconds: u64, threads: usize) {
    let dir = TempDir::new("bench-replication");
    let namesrv_dir = dir.path().join("namesrv");
    let slave_dir = dir.path().join("slave");
    std::fs::create_dir_all(&namesrv_dir).expect("dir");
    std::fs::create_dir_all(&slave_dir).expect("dir");
    let (_namesrv, namesrv) = spawn_namesrv(&namesrv_dir, "");
    // The crash journal where production keeps it (tmpfs), not the test default beside the
    // store; removed below, since the brokers are killed rather than stopped.
    let journal = shm_dir(role);
    let journal_key = format!("journalDir={}", journal.display());
    let extra = format!("brokerRole={role}\nmappedFileSizeCommitLog=1073741824\n{journal_key}");
    let (master_process, master) = spawn_broker(dir.path(), namesrv, &extra);
    let slave_extra =
        format!("brokerId=1\nbrokerRole=SLAVE\nmappedFileSizeCommitLog=1073741824\n{journal_key}");
    let (slave_process, _) = spawn_broker(&slave_dir, namesrv, &slave_extra);
    let _processes = (master_process, slave_process, JournalDir(journal));
    let body = Arc::new(vec![b'r'; 1024]);
    let mut probe = RawClient::connect(master).expect("connect");
    let ready = wait_until(Duration::from_secs(30), || {
        send(&mut probe, 0, &body).is_ok_and(|r| r.response_code() == ResponseCode::SUCCESS)
    });
    assert!(ready, "{role}: the slave never acked");
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|thread| {
            let body = body.clone();
            std::thread::spawn(move || bench_thread(master, thread, &body, seconds))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for worker in workers {
        let (mine, failed) = worker.join().expect("worker");
        latencies.extend(mine);
        failures += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!(
        "{role:<12} {threads} connections: {:>7.0} acks/s, {failures} not SEND_OK; \
         latency us p50 {} p99 {} p999 {} max {}",
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies.last().copied().unwrap_or(0)
    );
}

/// A directory on /dev/shm (when it is there) for the brokers' journals.
fn shm_dir(role: &str) -> std::path::PathBuf {
    let base = std::path::Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("rmq-bench-{role}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("journal dir");
    dir
}

/// Removed after the brokers (declared after them in the tuple, so dropped after them).
struct JournalDir(std::path::PathBuf);

impl Drop for JournalDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bench_thread(master: SocketAddr, thread: usize, body: &[u8], seconds: u64) -> (Vec<u32>, u64) {
    let mut client = RawClient::connect(master).expect("connect");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut latencies, mut failures) = (Vec::new(), 0);
    while Instant::now() < deadline {
        let before = Instant::now();
        match send(&mut client, thread, body) {
            Ok(response) if response.response_code() == ResponseCode::SUCCESS => {
                latencies.push(before.elapsed().as_micros() as u32)
            }
            _ => failures += 1,
        }
    }
    (latencies, failures)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let seconds = args.first().and_then(|a| a.parse().ok()).unwrap_or(5);
    let threads = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    for role in ["ASYNC_MASTER", "SYNC_MASTER"] {
        run(role, seconds, threads);
    }
}
