//! The disk's space, and a full disk through the fault-injecting twin ([`MemSpace`]): the
//! index keeps the commit log its room, leaves no partial file and backs off; consume queues
//! keep room ahead and fail softly; dispatch stalls without failing and resumes; the store
//! opens on a full disk and sets its queue offsets once through; retention applies
//! upstream's ratios.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use wire::consume_unit::ConsumeUnit;

use super::{is_out_of_space, out_of_space, DiskGuard, DiskSpace, FsSpace};
use crate::store::consume_queue::{ConsumeQueue, AHEAD_UNITS, ALLOCATION_UNITS};
use crate::store::index::{Keyed, MessageIndex, INDEX_ALLOCATION_SIZE};
use crate::store::mem_file::{MemSpace, MemStorage};
use crate::store::tests::{record, TempDir};
use crate::store::*;

const MIB: u64 = 1 << 20;
const SEGMENT: u64 = 64 * 1024;

fn keyed(keys: &str, offset: u64) -> Keyed<'_> {
    Keyed {
        topic: "T",
        keys: Some(keys),
        unique_key: None,
        offset,
        store_timestamp: 1_700_000_000_000,
    }
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_index_leaves_the_commit_log_its_room_backs_off_and_grows_lazily() {
    let dir = TempDir::new("index-space");
    // Upstream's default shape: a 402 MB file, on a disk of 64 MiB.
    let config = IndexConfig::default();
    let index = MessageIndex::open(&dir.0, config, u64::MAX).unwrap();
    let space = MemSpace::new(64 * MIB);
    space.take(54 * MIB).unwrap();
    let reserve = 8 * MIB;
    // 10 MiB free: the first allocation (4 MiB) would leave less than the 8 MiB reserve.
    let keys: Vec<String> = (0..300).map(|n| format!("k{n}")).collect();
    let first: Vec<Keyed<'_>> = (0..100).map(|n| keyed(&keys[n], n as u64)).collect();
    index.add(&first, &space, reserve);
    assert!(
        names(&dir.0).is_empty(),
        "no partial file: {:?}",
        names(&dir.0)
    );
    assert!(index.query("T", "k5", 8, 0, i64::MAX).is_empty());
    // Room again, but within the back-off: not tried record by record.
    space.give(40 * MIB);
    let second: Vec<Keyed<'_>> = (100..200).map(|n| keyed(&keys[n], n as u64)).collect();
    index.add(&second, &space, reserve);
    assert!(names(&dir.0).is_empty());
    assert_eq!(space.counts(), (0, 0), "nothing allocated nor asked for");
    index.retry_now();
    let third: Vec<Keyed<'_>> = (200..300).map(|n| keyed(&keys[n], n as u64)).collect();
    index.add(&third, &space, reserve);
    assert_eq!(index.query("T", "k250", 8, 0, i64::MAX), vec![250]);
    assert!(index.query("T", "k150", 8, 0, i64::MAX).is_empty());
    let files = names(&dir.0);
    assert_eq!(files.len(), 1);
    let length = std::fs::metadata(dir.0.join(&files[0])).unwrap().len();
    assert_eq!(
        length,
        40 + 500_000 * 4 + 20_000_000 * 20,
        "upstream's layout"
    );
    // Only the slot table and the first entries took room.
    assert_eq!(space.counts(), (1, 0));
    assert_eq!(
        space.available_size().unwrap(),
        50 * MIB - INDEX_ALLOCATION_SIZE
    );
}

#[test]
fn index_files_a_failed_creation_left_are_removed_at_open() {
    let dir = TempDir::new("index-remains");
    let config = IndexConfig {
        hash_slots: 11,
        entries: 100,
    };
    {
        let index = MessageIndex::open(&dir.0, config, u64::MAX).unwrap();
        index.add(&[keyed("kept", 10)], &MemSpace::new(1 << 40), 0);
        index.sync().unwrap();
    }
    // What older versions left on a full disk: files cut short or never written.
    std::fs::write(dir.0.join("20300101000000000"), b"").unwrap();
    std::fs::write(dir.0.join("20300101000000001"), vec![0u8; 4096]).unwrap();
    let index = MessageIndex::open(&dir.0, config, u64::MAX).unwrap();
    assert_eq!(names(&dir.0).len(), 1, "{:?}", names(&dir.0));
    assert_eq!(index.query("T", "kept", 8, 0, i64::MAX), vec![10]);
}

fn unit(offset: u64) -> ConsumeUnit {
    ConsumeUnit {
        commit_log_offset: offset as i64 * 100,
        size: 100,
        tags_code: 0,
    }
}

#[test]
fn a_consume_queue_keeps_room_ahead_and_fails_softly_without_a_partial_file() {
    let dir = TempDir::new("cq-space");
    // A file is one allocation step: keeping units ahead past it means the next file.
    let units_per_file = ALLOCATION_UNITS;
    let mut queue = ConsumeQueue::load(&dir.0, units_per_file).unwrap();
    let unit_size = 20;
    // Room for the first step (which holds AHEAD_UNITS past the first unit), no more.
    let space = MemSpace::new(ALLOCATION_UNITS * unit_size);
    queue.put(0, &unit(0), &space).unwrap();
    assert!(!queue.is_short());
    assert_eq!(space.available_size().unwrap(), 0);
    // The disk is full, yet the units allocated ahead are still there to be written; the
    // queue says when it can no longer keep AHEAD_UNITS ahead.
    let units: Vec<(u64, ConsumeUnit)> = (1..=AHEAD_UNITS).map(|q| (q, unit(q))).collect();
    queue.put_all(&units, &space).unwrap();
    assert!(queue.is_short(), "no room ahead any more");
    let past = ALLOCATION_UNITS;
    let units: Vec<(u64, ConsumeUnit)> = (AHEAD_UNITS + 1..past).map(|q| (q, unit(q))).collect();
    queue.put_all(&units, &space).unwrap();
    assert_eq!(queue.max_offset(), past);
    // Past them: refused before anything is written.
    let refused = queue.put(past, &unit(past), &space).unwrap_err();
    assert!(is_out_of_space(&refused), "{refused}");
    let batch = [(past, unit(past)), (past + 1, unit(past + 1))];
    assert!(is_out_of_space(&queue.put_all(&batch, &space).unwrap_err()));
    assert_eq!(queue.max_offset(), past);
    assert_eq!(queue.unit(past - 1).unwrap(), Some(unit(past - 1)));
    assert_eq!(
        names(&dir.0),
        vec!["00000000000000000000"],
        "no partial file"
    );
    // Room again: the same unit goes in, in the next file.
    space.give(2 * units_per_file * unit_size);
    queue.put(past, &unit(past), &space).unwrap();
    assert!(!queue.is_short());
    assert_eq!(names(&dir.0).len(), 2, "{:?}", names(&dir.0));
    // A reload is not fooled by the empty file made ahead.
    let reloaded = ConsumeQueue::load(&dir.0, units_per_file).unwrap();
    assert_eq!(reloaded.max_offset(), past + 1);
}

fn twin_config(root: &std::path::Path) -> StoreConfig {
    let mut config = StoreConfig::new(root.to_path_buf());
    config.commit_log.segment_size = SEGMENT;
    config.commit_log.chunk_size = 16 * 1024;
    config.commit_log.memory_window_size = 32 * 1024;
    config.index = Some(IndexConfig {
        hash_slots: 101,
        entries: 1000,
    });
    config.retention.clean_forcibly = false;
    // Passes run when a test says so.
    config.retention.interval = Duration::from_secs(3600);
    config
}

fn append(store: &MessageStore, queue_id: i32, body: &[u8]) -> Result<i64, StoreError> {
    let mut bytes = record("T", queue_id, body, Some("a"));
    Ok(store.append(&mut bytes)?.records[0].queue_offset)
}

fn readable(store: &MessageStore, queue_id: i32, offset: i64, body: &[u8]) -> bool {
    let got = store
        .get_messages("T", queue_id, offset as u64, 1, 1 << 20, &|_| true)
        .unwrap();
    if got.record_count != 1 {
        return false;
    }
    let (view, _) = wire::message::RecordView::decode(&got.records, true).unwrap();
    view.body == body
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Appends one record to each of `queues` in one batch (one refusal check for all).
fn append_each(store: &MessageStore, queues: &[(i32, &[u8])]) -> Vec<i64> {
    let mut bytes = Vec::new();
    for (queue_id, body) in queues {
        bytes.extend(record("T", *queue_id, body, Some("a")));
    }
    let result = store.append(&mut bytes).unwrap();
    result.records.iter().map(|r| r.queue_offset).collect()
}

#[test]
fn acked_messages_stay_readable_on_a_full_disk_and_appends_resume_when_it_frees() {
    let dir = TempDir::new("full-dispatch");
    let space = Arc::new(MemSpace::new(64 * MIB));
    let storage = Arc::new(MemStorage::on(true, space.clone()));
    let store = MessageStore::open_with_storage(twin_config(&dir.0), storage, None).unwrap();
    let before = append(&store, 0, b"before").unwrap();
    wait_until("dispatch", || readable(&store, 0, before, b"before"));
    // The disk fills between the last check of the free space and what follows: acked
    // then, a message of a known queue finds its unit's room kept ahead; a queue never
    // seen has none, and dispatch stops there, softly.
    space.refuse_allocations(true);
    let placed = append_each(&store, &[(0, b"after"), (5, b"new queue")]);
    let (after, stuck) = (placed[0], placed[1]);
    wait_until("dispatch", || readable(&store, 0, after, b"after"));
    wait_until("the refusal", || {
        matches!(append(&store, 0, b"x"), Err(StoreError::DiskFull { .. }))
    });
    assert!(!readable(&store, 5, stuck, b"new queue"));
    assert!(readable(&store, 0, before, b"before") && readable(&store, 0, after, b"after"));
    space.refuse_allocations(false);
    wait_until("dispatch resumed", || {
        readable(&store, 5, stuck, b"new queue")
    });
    wait_until("appends accepted", || append(&store, 5, b"next").is_ok());
    wait_until("dispatch", || readable(&store, 5, stuck + 1, b"next"));
}

#[test]
fn the_store_opens_on_a_full_disk_and_sets_queue_offsets_once_through() {
    let dir = TempDir::new("full-open");
    let space = Arc::new(MemSpace::new(64 * MIB));
    let storage = Arc::new(MemStorage::on(true, space.clone()));
    let store =
        MessageStore::open_with_storage(twin_config(&dir.0), storage.clone(), None).unwrap();
    space.refuse_allocations(true);
    let first = append(&store, 3, b"first").unwrap();
    wait_until("the stall", || {
        matches!(append(&store, 0, b"x"), Err(StoreError::DiskFull { .. }))
    });
    store.shutdown().unwrap();
    drop(store);
    // Restart with the disk still full: it opens, serves, refuses appends.
    let store =
        MessageStore::open_with_storage(twin_config(&dir.0), storage.clone(), None).unwrap();
    assert!(matches!(
        append(&store, 3, b"refused"),
        Err(StoreError::DiskFull { .. })
    ));
    assert!(!readable(&store, 3, first, b"first"));
    space.refuse_allocations(false);
    wait_until("dispatch resumed", || readable(&store, 3, first, b"first"));
    let mut second = Err(StoreError::ShuttingDown);
    wait_until("appends accepted", || {
        second = append(&store, 3, b"second");
        second.is_ok()
    });
    // Counted on from the record the open could not dispatch, not from the queue it saw.
    assert_eq!(second.unwrap(), first + 1);
    wait_until("dispatch", || readable(&store, 3, first + 1, b"second"));
}

fn retention_pass(
    store: &MessageStore,
    guard: &DiskGuard,
    config: &RetentionConfig,
    hour: u8,
) -> RetentionPass {
    let now = SystemTime::now();
    let log = store.commit_log();
    retention::run_once(log, &store.queues, guard, config, u64::MAX, now, hour).unwrap()
}

#[test]
fn retention_follows_upstream_ratios_forced_cleaning_and_batch_limit() {
    let dir = TempDir::new("ratios");
    let storage = Arc::new(MemStorage::new(true));
    let store =
        MessageStore::open_with_storage(twin_config(&dir.0), storage.clone(), None).unwrap();
    let body = vec![7u8; 30_000];
    for n in 0..28 {
        append(&store, n % 4, &body).unwrap();
    }
    let log = store.commit_log();
    log.wait_flushed(log.written_offset(), Duration::from_secs(5))
        .unwrap();
    wait_until("dispatch", || {
        store.dispatched_offset() == store.commit_log().written_offset()
    });
    assert!(storage.names().len() >= 13, "{:?}", storage.names());
    let guard = DiskGuard::new(store.commit_log().clone());
    let mut config = store.config().retention.clone();
    config.delete_hours = vec![4];
    // Above diskMaxUsedSpaceRatio only: nothing has expired, nothing goes.
    storage.set_used_ratio(0.80);
    let pass = retention_pass(&store, &guard, &config, 7);
    assert!(pass.removed.is_empty() && !pass.refusing_writes);
    // Past the forcible ratio, unexpired segments go, ten a pass at most; not refusing.
    config.clean_forcibly = true;
    storage.set_used_ratio(0.87);
    let pass = retention_pass(&store, &guard, &config, 7);
    assert_eq!(pass.removed.len(), retention::DELETE_FILES_BATCH_MAX);
    assert!(!guard.is_refusing());
    // Past the forcible ratio but under diskMaxUsedSpaceRatio, off the hour: upstream
    // cleans nothing (it needs the hour or the max ratio first).
    config.disk_max_used_ratio = 0.90;
    let pass = retention_pass(&store, &guard, &config, 7);
    assert!(pass.removed.is_empty());
    // Past the warning ratio: refused (strictly above it); forced cleaning off keeps all.
    config.clean_forcibly = false;
    storage.set_used_ratio(0.95);
    let pass = retention_pass(&store, &guard, &config, 7);
    assert!(pass.removed.is_empty() && pass.refusing_writes && guard.is_refusing());
    storage.set_used_ratio(0.90);
    let pass = retention_pass(&store, &guard, &config, 7);
    assert!(!pass.refusing_writes && !guard.is_refusing());
}

#[test]
fn out_of_space_errors_are_recognised_by_kind() {
    assert!(is_out_of_space(&out_of_space()));
    assert!(is_out_of_space(&io::Error::from_raw_os_error(28)));
    assert!(!is_out_of_space(&io::Error::from_raw_os_error(5)));
}

#[test]
fn the_real_disk_refuses_an_allocation_larger_than_what_is_free() {
    let dir = TempDir::new("fs-space");
    let space = FsSpace::new(&dir.0);
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.0.join("f"))
        .unwrap();
    file.set_len(1 << 20).unwrap();
    space.allocate(&file, 0, 64 << 10).unwrap();
    let too_much = space.available_size().unwrap() + (1 << 30);
    let error = space.allocate(&file, 0, too_much).unwrap_err();
    assert!(is_out_of_space(&error), "{error}");
}
