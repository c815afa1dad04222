//! Store append bench (not a test: it prints figures for BENCHMARKS.md and asserts nothing
//! about speed).
//!
//! `cargo bench -p broker --bench append -- [DIR] [MIB] [async|sync]` measures, on the
//! filesystem of DIR (default: the system temp dir), in one run:
//! 1. `dd if=/dev/zero bs=1M oflag=direct` writing MIB MiB (default 1024): the disk's
//!    sequential direct-write rate;
//! 2. ASYNC_FLUSH appends of 1 KiB-body records from one thread until MIB MiB are durable;
//! 3. the disk's fsync rate: 4 KiB O_DIRECT write + fdatasync in a loop;
//! 4. SYNC_FLUSH acknowledged appends per second with 1, 8 and 64 concurrent writers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker::store::aligned_buffer::AlignedBuffer;
use broker::store::direct_file::{BlockFile, DirectFile};
use broker::store::{FlushMode, MessageStore, StoreConfig};
use wire::message::RecordView;

fn record(body: &[u8]) -> Vec<u8> {
    let host: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 10911));
    let view = RecordView::to_append("BenchTopic", 0, body, "TAGS\u{1}bench\u{2}", host);
    let mut out = Vec::new();
    view.encode(&mut out).expect("encode");
    out
}

fn percentile(sorted: &[u32], fraction: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

fn latency_line(latencies: &mut [u32]) -> String {
    latencies.sort_unstable();
    format!(
        "p50 {} us, p99 {} us, p999 {} us, max {} us",
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        percentile(latencies, 0.999),
        latencies.last().copied().unwrap_or(0)
    )
}

fn dd(dir: &Path, mib: u64) -> f64 {
    let path = dir.join("dd.bin");
    let started = Instant::now();
    let status = Command::new("dd")
        .arg("if=/dev/zero")
        .arg(format!("of={}", path.display()))
        .args([
            "bs=1M",
            &format!("count={mib}"),
            "oflag=direct",
            "status=none",
        ])
        .status()
        .expect("run dd");
    assert!(status.success(), "dd failed");
    let elapsed = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    mib as f64 / elapsed
}

fn store_config(root: PathBuf, mode: FlushMode) -> StoreConfig {
    let mut config = StoreConfig::new(root);
    config.commit_log.segment_size = 256 << 20;
    config.flush_mode = mode;
    config
}

fn async_append(dir: &Path, mib: u64) {
    let root = dir.join("async");
    let store = MessageStore::open(
        store_config(
            root.clone(),
            FlushMode::asynchronous(Duration::from_millis(10)),
        ),
        None,
    )
    .expect("open");
    let template = record(&[b'x'; 1024]);
    let target = mib << 20;
    let mut latencies = Vec::with_capacity((target / template.len() as u64) as usize + 1);
    let started = Instant::now();
    let mut end = 0;
    let mut busy = 0u64;
    // One request buffer reused, as a server reuses its read buffer.
    let mut bytes = template.clone();
    while end < target {
        bytes.copy_from_slice(&template);
        let before = Instant::now();
        match store.append(&mut bytes) {
            Ok(result) => end = result.end_offset,
            Err(_) => {
                busy += 1;
                std::thread::sleep(Duration::from_micros(100));
                continue;
            }
        }
        latencies.push(before.elapsed().as_micros() as u32);
    }
    store
        .commit_log()
        .wait_flushed(end, Duration::from_secs(600))
        .expect("flushed");
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "ASYNC_FLUSH append, 1 KiB bodies ({} B records), 1 thread: {:.0} MiB/s durable, {:.0} \
         appends/s, {busy} refused while flush behind; append {}",
        template.len(),
        end as f64 / (1 << 20) as f64 / elapsed,
        latencies.len() as f64 / elapsed,
        latency_line(&mut latencies)
    );
    drop(store);
    let _ = std::fs::remove_dir_all(root);
}

fn fsync_rate(dir: &Path) -> f64 {
    let path = dir.join("fsync.bin");
    let direct = broker::store::direct_file::supports_direct_io(dir).unwrap_or(false);
    let file = DirectFile::open(&path, 1 << 20, direct).expect("open");
    let block = AlignedBuffer::zeroed(4096);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        file.write_at(block.as_slice(), (count % 256) * 4096)
            .expect("write");
        file.sync_data().expect("sync");
        count += 1;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(path);
    rate
}

fn sync_append(dir: &Path, writers: usize) {
    let root = dir.join(format!("sync-{writers}"));
    let store = Arc::new(
        MessageStore::open(store_config(root.clone(), FlushMode::Sync), None).expect("open"),
    );
    let template = Arc::new(record(&[b'y'; 1024]));
    let duration = Duration::from_secs(4);
    let started = Instant::now();
    let threads: Vec<_> = (0..writers)
        .map(|_| {
            let (store, template) = (store.clone(), template.clone());
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                while started.elapsed() < duration {
                    let mut bytes = template.to_vec();
                    let before = Instant::now();
                    store.append_durable(&mut bytes).expect("durable append");
                    latencies.push(before.elapsed().as_micros() as u32);
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("writer"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "SYNC_FLUSH, 1 KiB bodies, {writers:>2} writer(s): {:.0} acks/s; ack {}",
        latencies.len() as f64 / elapsed,
        latency_line(&mut latencies)
    );
    drop(store);
    let _ = std::fs::remove_dir_all(root);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let base = args
        .first()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let mib: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let only = args.get(2).map(String::as_str).unwrap_or("all");
    let dir = base.join(format!("append-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let direct = broker::store::direct_file::supports_direct_io(&dir).unwrap_or(false);
    let direct = if direct { "on" } else { "refused" };
    println!("store bench in {} (O_DIRECT {direct})", dir.display());
    if only != "sync" {
        println!(
            "dd bs=1M oflag=direct, {mib} MiB: {:.0} MiB/s",
            dd(&dir, mib)
        );
        async_append(&dir, mib);
    }
    if only != "async" {
        let rate = fsync_rate(&dir);
        println!("disk fsync rate (4 KiB O_DIRECT write + fdatasync): {rate:.0}/s");
        for writers in [1, 8, 64] {
            sync_append(&dir, writers);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
