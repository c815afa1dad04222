//! Store tests over the fault-injecting [`MemStorage`] and over real files in a temp dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use wire::message::{self, RecordKind, RecordView};

use super::disk_space::DiskGuard;
use super::mem_file::MemStorage;
use super::*;

const SEGMENT: u64 = 64 * 1024;

pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("store-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn record(topic: &str, queue_id: i32, body: &[u8], tags: Option<&str>) -> Vec<u8> {
    let properties = match tags {
        Some(tags) => format!("TAGS\u{1}{tags}\u{2}"),
        None => String::new(),
    };
    record_with(topic, queue_id, body, &properties)
}

fn record_with(topic: &str, queue_id: i32, body: &[u8], properties: &str) -> Vec<u8> {
    let host: SocketAddr = "127.0.0.1:10911".parse().unwrap();
    let view = RecordView {
        born_timestamp: 1,
        ..RecordView::to_append(topic, queue_id, body, properties, host)
    };
    let mut out = Vec::new();
    view.encode(&mut out).unwrap();
    out
}

pub(crate) fn config(root: &Path, flush_mode: FlushMode) -> StoreConfig {
    let mut config = StoreConfig::new(root.to_path_buf());
    config.commit_log.segment_size = SEGMENT;
    config.commit_log.chunk_size = 16 * 1024;
    config.commit_log.memory_window_size = 32 * 1024;
    config.consume_queue_file_units = 64;
    config.commit_log.unflushed_size_max = 512 * 1024;
    config.commit_log.append_size_max = 64 * 1024;
    config.flush_mode = flush_mode;
    config.sync_flush_timeout = Duration::from_secs(5);
    config.index = Some(IndexConfig {
        hash_slots: 101,
        entries: 64,
    });
    // Beside the store, so the temp dir takes it along (the default is /dev/shm).
    config.journal.dir = Some(root.join("journal-files"));
    config
}

/// A power loss after [`MessageStore::abandon`]: the journal (tmpfs in production) is gone
/// too; add `storage.crash()` to lose the segments' unsynced writes.
pub(crate) fn lose_journal(root: &Path) {
    std::fs::remove_dir_all(root.join("journal-files")).unwrap();
}

fn mem_store(root: &Path, storage: &Arc<MemStorage>, mode: FlushMode) -> MessageStore {
    MessageStore::open_with_storage(config(root, mode), storage.clone(), None).unwrap()
}

pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub(crate) fn body(n: usize, size: usize) -> Vec<u8> {
    format!("message-{n}-").bytes().cycle().take(size).collect()
}

/// Appends `count` messages of `size` bytes round-robin over `queues` queues of "T".
fn fill(store: &MessageStore, count: usize, size: usize, queues: i32) -> Vec<AppendedRecord> {
    (0..count)
        .map(|n| {
            let mut bytes = record("T", n as i32 % queues, &body(n, size), Some("a"));
            store.append_durable(&mut bytes).unwrap().records[0]
        })
        .collect()
}

fn check_readable(store: &MessageStore, appended: &[AppendedRecord]) {
    for (n, placed) in appended.iter().enumerate() {
        let bytes = store
            .commit_log()
            .read(placed.commit_log_offset, placed.size as usize)
            .unwrap();
        let (view, _) = RecordView::decode(&bytes, true).unwrap();
        assert_eq!(view.body, &body(n, view.body.len())[..], "record {n}");
        assert_eq!(view.commit_log_offset as u64, placed.commit_log_offset);
        assert_eq!(view.queue_offset, placed.queue_offset);
    }
}

#[test]
fn segments_roll_over_with_blank_padding() {
    let dir = TempDir::new("roll");
    let storage = Arc::new(MemStorage::new(true));
    let store = mem_store(&dir.0, &storage, FlushMode::Sync);
    let appended = fill(&store, 200, 1000, 4);
    check_readable(&store, &appended);
    let names = storage.names();
    assert!(names.len() >= 3, "{names:?}");
    assert_eq!(names[1], format!("{:020}", SEGMENT));
    for placed in &appended {
        let end = placed.commit_log_offset + u64::from(placed.size);
        assert_eq!(
            placed.commit_log_offset / SEGMENT,
            (end - 1) / SEGMENT,
            "spans segments"
        );
    }
    for name in &names[..names.len() - 1] {
        let durable = storage.file(name).unwrap().durable_bytes();
        let mut position = 0;
        loop {
            let header = message::peek(&durable[position..]).unwrap();
            if header.kind == RecordKind::Blank {
                assert_eq!(position + header.size(), SEGMENT as usize, "{name}");
                assert!(durable[position + 8..].iter().all(|b| *b == 0));
                break;
            }
            position += header.size();
        }
    }
}

#[test]
fn every_direct_write_is_aligned_in_offset_length_and_memory() {
    let dir = TempDir::new("aligned");
    let storage = Arc::new(MemStorage::new(true));
    let store = mem_store(&dir.0, &storage, FlushMode::Sync);
    let appended = fill(&store, 150, 333, 3);
    check_readable(&store, &appended);
    let mut writes = 0;
    for name in storage.names() {
        for write in storage.file(&name).unwrap().writes() {
            assert!(write.is_aligned(), "{name}: {write:?}");
            writes += 1;
        }
    }
    assert!(writes > 0);
    drop(store);
    // The same through real O_DIRECT files, whose every write asserts its alignment.
    let real = TempDir::new("aligned-real");
    let store = MessageStore::open(config(&real.0, FlushMode::Sync), None).unwrap();
    if direct_file::supports_direct_io(&real.0).unwrap() {
        assert!(store.commit_log().is_direct());
    }
    let appended = fill(&store, 150, 333, 3);
    check_readable(&store, &appended);
}

#[test]
fn buffered_fallback_keeps_data_across_restarts() {
    let dir = TempDir::new("fallback");
    let mut config = config(&dir.0, FlushMode::Sync);
    config.direct_io = false;
    let store = MessageStore::open(config.clone(), None).unwrap();
    assert!(!store.commit_log().is_direct());
    let appended = fill(&store, 120, 700, 2);
    store.shutdown().unwrap();
    drop(store);
    let store = MessageStore::open(config, None).unwrap();
    assert!(store.recovery_report().clean);
    check_readable(&store, &appended);
    assert_eq!(store.queue_offsets("T", 0), (0, 60));
}

#[test]
fn group_commit_acknowledges_concurrent_writers_with_fewer_syncs() {
    let dir = TempDir::new("group");
    let storage = Arc::new(MemStorage::new(true));
    let store = Arc::new(mem_store(&dir.0, &storage, FlushMode::Sync));
    fill(&store, 1, 10, 1);
    for name in storage.names() {
        storage
            .file(&name)
            .unwrap()
            .delay_syncs(Duration::from_millis(1));
    }
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in 0..100 {
                    let mut bytes = record("G", t, &body(n, 200), None);
                    let result = store.append_durable(&mut bytes).unwrap();
                    assert!(store.commit_log().flushed_offset() >= result.end_offset);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let syncs: u64 = storage
        .names()
        .iter()
        .map(|n| storage.file(n).unwrap().sync_count())
        .sum();
    // A 1 ms sync can carry every append that landed meanwhile: fewer syncs than acks. Idle,
    // it is about a quarter; on a loaded 2-core machine writers get descheduled between
    // appends and it can reach 60 %, so the bound only asks that grouping happened.
    assert!(syncs < 720, "{syncs} syncs for 800 acknowledged appends");
}

#[test]
fn a_failing_disk_times_out_waiters_refuses_writes_then_recovers() {
    let dir = TempDir::new("eio");
    let storage = Arc::new(MemStorage::new(true));
    let mut config = config(&dir.0, FlushMode::Sync);
    config.sync_flush_timeout = Duration::from_millis(200);
    let store = MessageStore::open_with_storage(config, storage.clone(), None).unwrap();
    fill(&store, 1, 100, 1);
    let file = storage.file(&format!("{:020}", 0)).unwrap();
    file.fail_syncs(true);
    let mut bytes = record("T", 0, b"lost?", None);
    match store.append_durable(&mut bytes) {
        Err(StoreError::FlushTimeout { .. }) => {}
        other => panic!("expected FlushTimeout, got {other:?}"),
    }
    wait_until("writes refused", || {
        matches!(
            store.append(&mut record("T", 0, b"x", None)),
            Err(StoreError::NotWritable { .. })
        )
    });
    file.fail_syncs(false);
    wait_until("writes accepted", || {
        store.append(&mut record("T", 0, b"y", None)).is_ok()
    });
    // Faults must hit the next append's flush, not one still pending.
    let log = store.commit_log();
    wait_until("all flushed", || {
        log.flushed_offset() == log.written_offset()
    });
    // EIO on a write, and a short write: the flush retries and nothing acked is lost.
    file.fail_writes(1);
    file.short_write_next(100);
    let mut bytes = record("T", 0, &body(0, 300), None);
    let result = store.append(&mut bytes).unwrap();
    store
        .commit_log()
        .wait_flushed(result.end_offset, Duration::from_secs(10))
        .unwrap();
    check_readable(&store, &result.records);
    let durable = file.durable_bytes();
    let start = result.records[0].commit_log_offset as usize;
    assert_eq!(&durable[start..start + bytes.len()], &bytes[..]);
}

#[test]
fn consume_queues_serve_by_offset_with_tag_filter_and_statuses() {
    let dir = TempDir::new("get");
    let store = MessageStore::open(
        config(&dir.0, FlushMode::asynchronous(Duration::from_millis(20))),
        None,
    )
    .unwrap();
    for n in 0..10 {
        let tags = if n % 2 == 0 { "even" } else { "odd" };
        store
            .append(&mut record("Q", 1, &body(n, 50), Some(tags)))
            .unwrap();
    }
    wait_until("dispatch", || store.queue_offsets("Q", 1) == (0, 10));
    let all = |_: i64| true;
    let found = store.get_messages("Q", 1, 2, 3, 1 << 20, &all).unwrap();
    assert_eq!(
        (found.status, found.record_count, found.next_offset),
        (GetStatus::Found, 3, 5)
    );
    let even = i64::from(wire::java_string_hash("even"));
    let only_even = move |code: i64| code == even;
    let filtered = store
        .get_messages("Q", 1, 0, 32, 1 << 20, &only_even)
        .unwrap();
    assert_eq!((filtered.record_count, filtered.next_offset), (5, 10));
    let mut position = 0;
    while position < filtered.records.len() {
        let (view, size) = RecordView::decode(&filtered.records[position..], true).unwrap();
        assert_eq!(view.tags(), Some("even"));
        position += size;
    }
    let status = |offset| {
        store
            .get_messages("Q", 1, offset, 32, 1 << 20, &all)
            .unwrap()
    };
    assert_eq!(
        (status(10).status, status(10).next_offset),
        (GetStatus::OffsetOverflowOne, 10)
    );
    assert_eq!(
        (status(99).status, status(99).next_offset),
        (GetStatus::OffsetOverflowBadly, 10)
    );
    let missing = store.get_messages("nope", 0, 0, 32, 1 << 20, &all).unwrap();
    assert_eq!(missing.status, GetStatus::NoMatchedLogicQueue);
    let none = store
        .get_messages("Q", 1, 0, 32, 1 << 20, &|_| false)
        .unwrap();
    assert_eq!(
        (none.status, none.next_offset),
        (GetStatus::NoMatchedMessage, 10)
    );
}

#[test]
fn search_by_store_timestamp() {
    let dir = TempDir::new("time");
    let store = MessageStore::open(config(&dir.0, FlushMode::Sync), None).unwrap();
    let mut stamps = Vec::new();
    for n in 0..12 {
        let placed = store
            .append_durable(&mut record("S", 0, &body(n, 40), None))
            .unwrap();
        stamps.push(placed.records[0].store_timestamp);
        if n % 3 == 2 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    wait_until("dispatch", || store.queue_offsets("S", 0).1 == 12);
    for (n, stamp) in stamps.iter().enumerate() {
        let first = stamps.iter().position(|s| s >= stamp).unwrap() as u64;
        assert_eq!(
            store.offset_by_timestamp("S", 0, *stamp).unwrap(),
            first,
            "message {n}"
        );
    }
    assert_eq!(store.offset_by_timestamp("S", 0, 0).unwrap(), 0);
    assert_eq!(store.offset_by_timestamp("S", 0, i64::MAX).unwrap(), 12);
    assert_eq!(
        store.earliest_store_timestamp("S", 0).unwrap(),
        Some(stamps[0])
    );
}

#[test]
fn clean_restart_trusts_the_checkpoint_and_continues_queue_offsets() {
    let dir = TempDir::new("clean");
    let store = MessageStore::open(config(&dir.0, FlushMode::Sync), None).unwrap();
    let appended = fill(&store, 90, 500, 3);
    let written = store.commit_log().written_offset();
    drop(store);
    assert!(!dir.0.join("abort").exists());
    let store = MessageStore::open(config(&dir.0, FlushMode::Sync), None).unwrap();
    let report = store.recovery_report().clone();
    assert!(report.clean && report.cut.is_none(), "{report:?}");
    assert_eq!(report.valid_end, written);
    check_readable(&store, &appended);
    let next = store
        .append_durable(&mut record("T", 0, b"next", None))
        .unwrap();
    assert_eq!(next.records[0].queue_offset, 30);
}

#[test]
fn a_crash_loses_only_unsynced_writes_and_recovery_cuts_the_torn_record() {
    let dir = TempDir::new("torn");
    let storage = Arc::new(MemStorage::new(true));
    let store = mem_store(&dir.0, &storage, FlushMode::Sync);
    let appended = fill(&store, 100, 400, 2);
    let written = store.commit_log().written_offset();
    let last_segment = format!("{:020}", store.commit_log().segment_base(written));
    storage
        .file(&last_segment)
        .unwrap()
        .tear_write_next(4096 + 10);
    let torn = fill(&store, 1, 9000, 2)[0];
    store.abandon();
    storage.crash();
    // With the journal, the torn record would be replayed from memory (see the journal
    // tests); here the machine went down with it.
    lose_journal(&dir.0);
    let store = mem_store(&dir.0, &storage, FlushMode::Sync);
    let report = store.recovery_report().clone();
    assert!(!report.clean);
    let cut = report.cut.clone().expect("a cut");
    assert_eq!(cut.offset, torn.commit_log_offset, "{report:?}");
    assert!(cut.bytes_cut > 0, "{cut:?}");
    check_readable(&store, &appended);
    assert_eq!(store.queue_offsets("T", 0), (0, 50));
    assert_eq!(store.queue_offsets("T", 1), (0, 50));
    assert!(store.record_at(torn.commit_log_offset).unwrap().is_none());
}

fn corrupt_and_recover(damage: impl FnOnce(&Path, u64)) -> (Vec<AppendedRecord>, MessageStore) {
    let dir = TempDir::new("corrupt");
    let root = dir.0.clone();
    std::mem::forget(dir);
    let store = MessageStore::open(config(&root, FlushMode::Sync), None).unwrap();
    let appended = fill(&store, 100, 400, 1);
    store.abandon();
    // Damage on disk and no journal to heal it from (a machine crash).
    lose_journal(&root);
    let victim = appended[95];
    let base = victim.commit_log_offset - victim.commit_log_offset % SEGMENT;
    let path = root.join("commitlog").join(format!("{base:020}"));
    damage(&path, victim.commit_log_offset - base);
    let store = MessageStore::open(config(&root, FlushMode::Sync), None).unwrap();
    (appended, store)
}

#[test]
fn stale_data_beyond_a_zero_block_after_the_cut_is_zeroed_too() {
    let (appended, store) = corrupt_and_recover(|path, position| {
        // A torn record, then a hole, then a block of old bytes (an unsynced flush whose
        // blocks reached the disk out of order).
        let mut bytes = std::fs::read(path).unwrap();
        let hole = (position as usize / 4096 + 2) * 4096;
        bytes[position as usize..].fill(0);
        bytes[position as usize] = 1;
        bytes[hole + 4096..hole + 8192].fill(0xAB);
        std::fs::write(path, bytes).unwrap();
    });
    let cut = store.recovery_report().cut.clone().expect("a cut");
    assert_eq!(cut.offset, appended[95].commit_log_offset);
    let root = store.config().root.clone();
    let base = cut.offset - cut.offset % SEGMENT;
    drop(store);
    let bytes = std::fs::read(root.join("commitlog").join(format!("{base:020}"))).unwrap();
    let from = (cut.offset - base) as usize;
    assert!(
        bytes[from..].iter().all(|b| *b == 0),
        "stale bytes survived the cut"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_flipped_bit_cuts_from_the_damaged_record_and_keeps_all_before() {
    let (appended, store) = corrupt_and_recover(|path, position| {
        let mut bytes = std::fs::read(path).unwrap();
        bytes[position as usize + 200] ^= 0x10;
        std::fs::write(path, bytes).unwrap();
    });
    let cut = store.recovery_report().cut.clone().expect("a cut");
    assert_eq!(cut.offset, appended[95].commit_log_offset);
    assert!(cut.reason.contains("CRC"), "{cut:?}");
    assert!(cut.bytes_cut >= 5 * 400, "{cut:?}");
    check_readable(&store, &appended[..95]);
    assert_eq!(store.queue_offsets("T", 0), (0, 95));
    let again = store
        .append_durable(&mut record("T", 0, b"after", None))
        .unwrap();
    assert_eq!(again.records[0].queue_offset, 95);
    assert_eq!(
        again.records[0].commit_log_offset,
        appended[95].commit_log_offset
    );
    let root = store.config().root.clone();
    drop(store);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_truncated_last_segment_is_restored_and_cut_at_the_damage() {
    let (appended, store) = corrupt_and_recover(|path, position| {
        let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        file.set_len(position + 30).unwrap();
    });
    let cut = store.recovery_report().cut.clone().expect("a cut");
    assert_eq!(cut.offset, appended[95].commit_log_offset);
    check_readable(&store, &appended[..95]);
    assert_eq!(store.queue_offsets("T", 0), (0, 95));
    let root = store.config().root.clone();
    drop(store);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn retention_removes_expired_segments_then_queue_files_and_refuses_a_full_disk() {
    let dir = TempDir::new("retention");
    let storage = Arc::new(MemStorage::new(true));
    let store = mem_store(&dir.0, &storage, FlushMode::Sync);
    let appended = fill(&store, 300, 900, 1);
    wait_until("dispatch", || {
        store.dispatched_offset() == store.commit_log().written_offset()
    });
    let names = storage.names();
    let old = SystemTime::now() - Duration::from_secs(100 * 3600);
    for name in &names[..3] {
        storage.file(name).unwrap().set_modified(old);
    }
    let hour = 7;
    let mut config = store.config().retention.clone();
    config.delete_hours = vec![hour];
    let pass = retention::run_once(
        store.commit_log(),
        &store.queues,
        &DiskGuard::new(store.commit_log().clone()),
        &config,
        u64::MAX,
        SystemTime::now(),
        hour,
    )
    .unwrap();
    assert_eq!(pass.removed, vec![0, SEGMENT, 2 * SEGMENT]);
    assert!(pass.queue_files_removed >= 1);
    let (min, max) = store.queue_offsets("T", 0);
    assert_eq!(max, 300);
    let first_kept = appended
        .iter()
        .position(|p| p.commit_log_offset >= 3 * SEGMENT)
        .unwrap();
    assert_eq!(min, first_kept as u64);
    let too_small = store
        .get_messages("T", 0, 0, 1, 1 << 20, &|_| true)
        .unwrap();
    assert_eq!(
        (too_small.status, too_small.next_offset),
        (GetStatus::OffsetTooSmall, min)
    );
    storage.set_used_ratio(0.95);
    let written = store.commit_log().written_offset();
    store.run_retention_once(SystemTime::now()).unwrap();
    assert!(matches!(
        store.append(&mut record("T", 0, b"no", None)),
        Err(StoreError::DiskFull { .. })
    ));
    assert_eq!(
        store.commit_log().written_offset(),
        written,
        "nothing written"
    );
    storage.set_used_ratio(0.5);
    store.run_retention_once(SystemTime::now()).unwrap();
    store
        .append_durable(&mut record("T", 0, b"yes", None))
        .unwrap();
}

#[test]
fn a_replica_copies_the_log_byte_for_byte_and_builds_its_own_queues() {
    let master_dir = TempDir::new("master");
    let slave_dir = TempDir::new("slave");
    let master = MessageStore::open(config(&master_dir.0, FlushMode::Sync), None).unwrap();
    let slave = MessageStore::open(config(&slave_dir.0, FlushMode::Sync), None).unwrap();
    let appended = fill(&master, 300, 700, 3);
    let end = master.commit_log().written_offset();
    let mut offset = 0;
    let mut step = 1;
    while offset < end {
        // Frames of odd sizes: whole, partial and several records, never past a segment end.
        let bytes = master
            .commit_log()
            .read(offset, step * 97 % 5000 + 1)
            .unwrap();
        offset = slave.append_replica(offset, &bytes).unwrap();
        step += 1;
    }
    let mismatch = slave.append_replica(offset + 8, b"x");
    assert!(matches!(
        mismatch,
        Err(StoreError::ReplicaOffsetMismatch { .. })
    ));
    assert_eq!(slave.commit_log().written_offset(), end);
    wait_until("slave dispatch", || slave.dispatched_offset() == end);
    check_readable(&slave, &appended);
    for queue_id in 0..3 {
        assert_eq!(
            slave.queue_offsets("T", queue_id),
            master.queue_offsets("T", queue_id)
        );
    }
    let mut position = 0;
    while position < end {
        let theirs = master.commit_log().read(position, 4096).unwrap();
        let ours = slave.commit_log().read(position, 4096).unwrap();
        assert_eq!(theirs, ours, "at {position}");
        position += theirs.len() as u64;
    }
}

#[test]
fn a_replica_with_another_segment_size_refuses_with_the_reason() {
    let master_dir = TempDir::new("master-size");
    let slave_dir = TempDir::new("slave-size");
    let master = MessageStore::open(config(&master_dir.0, FlushMode::Sync), None).unwrap();
    let mut small = config(&slave_dir.0, FlushMode::Sync);
    small.commit_log.segment_size = SEGMENT / 2;
    let slave = MessageStore::open(small, None).unwrap();
    fill(&master, 60, 700, 1);
    let bytes = master.commit_log().read(0, SEGMENT as usize).unwrap();
    match slave.append_replica(0, &bytes) {
        Err(StoreError::Config(reason)) => {
            assert!(reason.contains("mappedFileSizeCommitLog"), "{reason}")
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn record_at_refuses_an_offset_inside_a_record() {
    let dir = TempDir::new("record-at");
    let store = MessageStore::open(config(&dir.0, FlushMode::Sync), None).unwrap();
    let appended = fill(&store, 3, 500, 1);
    let first = appended[0].commit_log_offset;
    assert!(store.record_at(first).unwrap().is_some());
    for inside in [first + 4, first + 100, first + 300] {
        assert!(
            store.record_at(inside).unwrap().is_none(),
            "offset {inside} is mid-record"
        );
    }
}

#[test]
fn messages_are_found_by_key_and_unique_key_also_after_a_crash() {
    let dir = TempDir::new("query-key");
    let storage = Arc::new(MemStorage::new(true));
    let store = mem_store(&dir.0, &storage, FlushMode::Sync);
    let append = |topic: &str, keys: &str, unique: &str| {
        let properties = format!("KEYS\u{1}{keys}\u{2}UNIQ_KEY\u{1}{unique}\u{2}");
        let mut bytes = record_with(topic, 0, b"body", &properties);
        store.append_durable(&mut bytes).unwrap().records[0].commit_log_offset
    };
    let offsets: Vec<u64> = (0..30)
        .map(|n| append("T", &format!("order-{n} batch-{}", n % 3), &format!("U{n}")))
        .collect();
    for _ in 0..5 {
        append("Other", "order-1", "");
    }
    let check = |store: &MessageStore| {
        wait_until("indexed", || {
            store.dispatched_offset() == store.commit_log().written_offset()
        });
        let found = |topic: &str, key: &str, max: usize| {
            let (records, _) = store.query_by_key(topic, key, max, 0, i64::MAX).unwrap();
            records
                .iter()
                .map(|r| RecordView::decode(r, true).unwrap().0.commit_log_offset as u64)
                .collect::<Vec<u64>>()
        };
        assert_eq!(found("T", "order-1", 32), vec![offsets[1]]);
        assert_eq!(found("T", "U7", 32), vec![offsets[7]]);
        let batch: Vec<u64> = (0..30)
            .rev()
            .filter(|n| n % 3 == 0)
            .map(|n| offsets[n])
            .collect();
        assert_eq!(found("T", "batch-0", 32), batch);
        assert_eq!(found("T", "batch-0", 4), batch[..4].to_vec());
        assert_eq!(found("Other", "order-1", 32).len(), 5);
        assert!(found("T", "order-99", 32).is_empty());
    };
    check(&store);
    store.abandon();
    storage.crash();
    let store = mem_store(&dir.0, &storage, FlushMode::Sync);
    assert!(!store.recovery_report().clean);
    check(&store);
}

#[test]
fn a_read_from_below_the_memory_window_takes_the_unflushed_rest_from_memory() {
    let dir = TempDir::new("cold-warm");
    let storage = Arc::new(MemStorage::new(true));
    // No waiting for the asynchronous flusher (that made this test flaky: a tick landing
    // during the fill left a residue under flushCommitLogLeastPages, which only the thorough
    // flush 10 s later wrote, right at the test's deadline): a clean stop flushes, and after
    // the reopen the flush thread is held.
    let mode = FlushMode::asynchronous(Duration::from_secs(3600));
    let store = mem_store(&dir.0, &storage, mode);
    // Enough that the last segment holds more than the memory window.
    fill(&store, 240, 400, 1);
    // A clean stop flushes everything; reopened, only the tail block is in memory.
    store.shutdown().unwrap();
    drop(store);
    let store = mem_store(&dir.0, &storage, mode);
    let log = store.commit_log();
    log.hold_flushes();
    assert_eq!(log.flushed_offset(), log.written_offset());
    // Written but not flushed: only in memory.
    let mut bytes = record("T", 0, &body(240, 400), Some("a"));
    let last = store.append(&mut bytes).unwrap().records[0];
    assert!(log.flushed_offset() < log.written_offset());
    // From the start of the segment, below the memory window, across the flushed offset.
    let base = log.segment_base(last.commit_log_offset);
    assert!(
        base < log.memory_start(),
        "the read must start below the window"
    );
    let read = log
        .read(base, (log.written_offset() - base) as usize)
        .unwrap();
    assert_eq!(read.len() as u64, log.written_offset() - base);
    let at = (last.commit_log_offset - base) as usize;
    let (view, _) = RecordView::decode(&read[at..at + last.size as usize], true).unwrap();
    assert_eq!(view.body, &body(240, 400)[..]);
}
