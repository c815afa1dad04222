//! Crash test of the message store: a `store-writer` child appends under SYNC_FLUSH (or
//! ASYNC_FLUSH, where only the crash journal keeps what was not flushed) from several
//! threads and reports every acknowledged record; the test SIGKILLs it at a random
//! moment, reopens the store (crash recovery), and checks that every record ever acked is
//! present, intact and where the ack said, and that the consume queues serve nothing past
//! the recovered end. Repeated 24 times on one store, with small segments so runs cross
//! segment boundaries.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use broker::store::{FlushMode, JournalOutcome, MessageStore, StoreConfig};
use integration::{binary_path, Process, TempDir};
use wire::message::RecordView;

const KILLS: u64 = 24;
const SEGMENT_SIZE: u64 = 256 * 1024;
const BODY_SIZE: usize = 700;
const WRITERS: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Ack {
    run: u64,
    writer: usize,
    n: u64,
    offset: u64,
    size: u64,
    queue_id: i32,
    queue_offset: i64,
}

/// A small xorshift generator: the seed is printed so a failing run can be repeated.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn parse_ack(run: u64, line: &str) -> Option<Ack> {
    let fields: Vec<&str> = line.split(' ').collect();
    if fields.len() != 7 || fields[0] != "acked" {
        return None;
    }
    Some(Ack {
        run,
        writer: fields[1].parse().ok()?,
        n: fields[2].parse().ok()?,
        offset: fields[3].parse().ok()?,
        size: fields[4].parse().ok()?,
        queue_id: fields[5].parse().ok()?,
        queue_offset: fields[6].parse().ok()?,
    })
}

/// Runs one writer (`flush`: sync or async) until killed after `kill_after`; returns the
/// acks it completed.
fn run_writer(root: &std::path::Path, run: u64, kill_after: Duration, flush: &str) -> Vec<Ack> {
    let child = Command::new(binary_path("store-writer"))
        .args(["--root", &root.display().to_string()])
        .args(["--flush", flush])
        .args(["--journal-dir", &journal_dir(root).display().to_string()])
        .args(["--segment-size", &SEGMENT_SIZE.to_string()])
        .args(["--writers", &WRITERS.to_string()])
        .args(["--body-size", &BODY_SIZE.to_string()])
        .args(["--run", &run.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn store-writer");
    let mut process = Process::new(child);
    let stdout = process_stdout(&mut process);
    let (lines, received) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let ready = received
        .recv_timeout(Duration::from_secs(30))
        .expect("writer ready");
    assert!(ready.starts_with("ready "), "{ready}");
    std::thread::sleep(kill_after);
    process.signal(libc::SIGKILL);
    assert!(
        process.wait_timeout(Duration::from_secs(10)).is_some(),
        "writer survived SIGKILL"
    );
    reader.join().expect("reader thread");
    // Only whole lines count: a line cut by the kill has no newline and is never yielded.
    received
        .try_iter()
        .filter_map(|line| parse_ack(run, &line))
        .collect()
}

fn process_stdout(process: &mut Process) -> std::process::ChildStdout {
    process.take_stdout().expect("piped stdout")
}

/// Beside the store (the default, /dev/shm, would outlive a failed test's temp dir).
fn journal_dir(root: &std::path::Path) -> std::path::PathBuf {
    root.with_file_name("journal")
}

fn open_store(root: &std::path::Path) -> MessageStore {
    let mut config = StoreConfig::new(root.to_path_buf());
    config.journal.dir = Some(journal_dir(root));
    config.commit_log.segment_size = SEGMENT_SIZE;
    config.commit_log.chunk_size = (SEGMENT_SIZE as usize / 4).clamp(4096, 4 << 20);
    config.consume_queue_file_units = 1000;
    config.flush_mode = FlushMode::Sync;
    MessageStore::open(config, None).expect("reopen after crash")
}

fn expected_body(ack: &Ack) -> Vec<u8> {
    format!("run{}-w{}-n{}|", ack.run, ack.writer, ack.n)
        .bytes()
        .cycle()
        .take(BODY_SIZE)
        .collect()
}

fn check_acked(store: &MessageStore, acked: &[Ack]) {
    for ack in acked {
        let bytes = store
            .commit_log()
            .read(ack.offset, ack.size as usize)
            .expect("read");
        let (view, _) = RecordView::decode(&bytes, true)
            .unwrap_or_else(|e| panic!("acked record {ack:?} is damaged: {e}"));
        assert_eq!(view.body, &expected_body(ack)[..], "{ack:?}");
        assert_eq!(view.queue_id, ack.queue_id, "{ack:?}");
        assert_eq!(view.queue_offset, ack.queue_offset, "{ack:?}");
        assert_eq!(view.commit_log_offset as u64, ack.offset, "{ack:?}");
    }
}

/// Every unit of every queue from `start` on points at an intact record below the recovered
/// end whose queue offset is the unit's own; nothing is served past the end.
fn check_queues(store: &MessageStore, acked: &[Ack], start: &HashMap<i32, u64>) {
    let valid_end = store.recovery_report().valid_end;
    let mut acked_per_queue: HashMap<i32, i64> = HashMap::new();
    for ack in acked {
        let top = acked_per_queue.entry(ack.queue_id).or_insert(-1);
        *top = (*top).max(ack.queue_offset);
    }
    for queue_id in 0..4 {
        let (min, max) = store.queue_offsets("crash", queue_id);
        let top = acked_per_queue.get(&queue_id).copied().unwrap_or(-1);
        assert!(
            max as i64 > top,
            "queue {queue_id}: max {max} but offset {top} was acked"
        );
        let mut offset = min.max(start.get(&queue_id).copied().unwrap_or(0));
        while offset < max {
            let got = store
                .get_messages("crash", queue_id, offset, 32, 1 << 20, &|_| true)
                .expect("get");
            let mut position = 0;
            let mut expected = offset as i64;
            while position < got.records.len() {
                let (view, size) = RecordView::decode(&got.records[position..], true)
                    .unwrap_or_else(|e| panic!("queue {queue_id} at {expected}: {e}"));
                assert_eq!(view.queue_offset, expected);
                assert!(view.commit_log_offset as u64 + (size as u64) <= valid_end);
                position += size;
                expected += 1;
            }
            assert!(got.next_offset > offset);
            offset = got.next_offset;
        }
    }
    assert!(
        store.record_at(valid_end).expect("read").is_none(),
        "a record past the end"
    );
}

/// Writes the start of a record that never finished at the recovered end (what a write torn
/// by a power cut leaves), then recovers again: the cut must land exactly there.
fn tear_tail(root: &std::path::Path, store: MessageStore, random: &mut Random) -> MessageStore {
    use std::os::unix::fs::FileExt;
    let valid_end = store.recovery_report().valid_end;
    let sample = store.commit_log().read(0, 4096).expect("read");
    store.abandon();
    let base = valid_end - valid_end % SEGMENT_SIZE;
    if valid_end - base + 4096 > SEGMENT_SIZE {
        return open_store(root);
    }
    let mut torn = sample[..2048.min(sample.len())].to_vec();
    for byte in torn.iter_mut().skip(200) {
        *byte = random.next() as u8;
    }
    let path = root.join("commitlog").join(format!("{base:020}"));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("segment");
    file.write_all_at(&torn, valid_end - base).expect("tear");
    let store = open_store(root);
    let cut = store
        .recovery_report()
        .cut
        .clone()
        .expect("the torn record is cut");
    assert_eq!(cut.offset, valid_end, "{cut:?}");
    store
}

/// After run `run`'s kill: recovered as a crash, nothing acked cut, this run's and the
/// previous run's acks intact (all of them again at the end), the queues consistent.
fn check_run(store: &MessageStore, run: u64, acked: &[Ack]) {
    let report = store.recovery_report().clone();
    assert!(
        !report.clean,
        "run {run}: a SIGKILLed store recovered as clean"
    );
    let acked_end = acked.iter().map(|a| a.offset + a.size).max().unwrap_or(0);
    assert!(
        report.valid_end >= acked_end,
        "run {run}: {report:?} cuts acked data"
    );
    let recent: Vec<Ack> = acked.iter().filter(|a| a.run + 1 >= run).copied().collect();
    let mut start: HashMap<i32, u64> = HashMap::new();
    for ack in &recent {
        let entry = start.entry(ack.queue_id).or_insert(u64::MAX);
        *entry = (*entry).min(ack.queue_offset as u64);
    }
    check_acked(store, &recent);
    check_queues(store, acked, &start);
}

#[test]
fn acked_records_survive_repeated_sigkill() {
    sigkill_rounds("sync");
}

/// Under ASYNC_FLUSH an ack means "appended": the crash journal must give back everything
/// the killed writer had appended but not flushed.
#[test]
fn acked_records_survive_repeated_sigkill_under_async_flush() {
    sigkill_rounds("async");
}

fn sigkill_rounds(flush: &str) {
    let dir = TempDir::new(&format!("store-crash-{flush}"));
    let root = dir.path().join("store");
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 | 1)
        .unwrap_or(0x9E37_79B9_7F4A_7C15);
    eprintln!("store crash test ({flush} flush) seed {seed}");
    let mut random = Random(seed);
    let mut acked: Vec<Ack> = Vec::new();
    let mut cuts = 0;
    let mut replayed = 0;
    let started = Instant::now();
    // Unsynced acks come fast: fewer, shorter async runs verify as many records.
    let (kills, window) = if flush == "async" {
        (16, 150)
    } else {
        (KILLS, 300)
    };
    for run in 0..kills {
        let kill_after = Duration::from_millis(20 + random.next() % window);
        acked.extend(run_writer(&root, run, kill_after, flush));
        let mut store = open_store(&root);
        if matches!(
            store.recovery_report().journal,
            JournalOutcome::Replayed { .. }
        ) {
            replayed += 1;
        }
        if run % 4 == 3 {
            store = tear_tail(&root, store, &mut random);
            cuts += 1;
        }
        check_run(&store, run, &acked);
        if run % 2 == 0 {
            store.abandon();
        } else {
            store.shutdown().expect("clean shutdown");
        }
    }
    let store = open_store(&root);
    check_acked(&store, &acked);
    check_queues(&store, &acked, &HashMap::new());
    eprintln!(
        "{kills} kills ({flush} flush), {} acked records verified, {cuts} torn tails cut, \
         {replayed} journal replays, {:?}",
        acked.len(),
        started.elapsed()
    );
    assert!(
        acked.len() as u64 > kills,
        "the writer acked almost nothing"
    );
    if flush == "async" {
        assert!(
            replayed > 0,
            "no run needed the journal: the test proves nothing"
        );
    }
}
