//! Crash tests of the commit log's journal through the fault-injecting storage: a process
//! crash (the journal stays, unsynced segment writes are lost) keeps every appended record in
//! either flush mode; a power loss (the journal goes too) keeps what was flushed; damage and
//! partial records in the journal stop the replay where they start; the unflushed tail is
//! bounded.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wire::message::RecordView;

use super::mem_file::MemStorage;
use super::tests::{body, config, lose_journal, record, TempDir};
use super::*;

fn asleep() -> FlushMode {
    FlushMode::asynchronous(Duration::from_secs(3600))
}

/// The flush thread never flushes on its own here: what is unflushed is exactly what was
/// appended since the open (a clean shutdown still flushes).
fn open(root: &Path, storage: &Arc<MemStorage>, mode: FlushMode) -> MessageStore {
    let store = MessageStore::open_with_storage(config(root, mode), storage.clone(), None).unwrap();
    store.commit_log().hold_flushes();
    store
}

fn append_many(store: &MessageStore, from: usize, count: usize) -> Vec<AppendedRecord> {
    (from..from + count)
        .map(|n| {
            let mut bytes = record("J", (n % 3) as i32, &body(n, 700), Some("t"));
            store.append(&mut bytes).unwrap().records[0]
        })
        .collect()
}

/// Every record is intact at its offset with its body, and the queues hold exactly them.
fn check(store: &MessageStore, records: &[AppendedRecord], first_body: usize) {
    for (n, placed) in records.iter().enumerate() {
        let bytes = store
            .commit_log()
            .read(placed.commit_log_offset, placed.size as usize)
            .unwrap();
        let (view, _) = RecordView::decode(&bytes, true)
            .unwrap_or_else(|e| panic!("record {n} at {}: {e}", placed.commit_log_offset));
        assert_eq!(view.body, &body(first_body + n, 700)[..], "record {n}");
        assert_eq!(view.queue_offset, placed.queue_offset);
    }
    let per_queue = |queue: i32| records.iter().filter(|r| r.queue_id == queue).count() as u64;
    for queue in 0..3 {
        assert_eq!(store.queue_offsets("J", queue), (0, per_queue(queue)));
    }
}

#[test]
fn a_process_crash_keeps_every_appended_record_under_async_flush() {
    let dir = TempDir::new("journal-crash");
    let storage = Arc::new(MemStorage::new(true));
    let store = open(&dir.0, &storage, asleep());
    // Several segments' worth, none of it flushed.
    let appended = append_many(&store, 0, 300);
    let written = store.commit_log().written_offset();
    assert_eq!(store.commit_log().flushed_offset(), 0);
    store.abandon();
    storage.crash();
    let store = open(&dir.0, &storage, asleep());
    let report = store.recovery_report().clone();
    assert!(!report.clean);
    assert_eq!(report.valid_end, written, "{report:?}");
    assert_eq!(
        report.journal,
        recovery::JournalOutcome::Replayed {
            from: 0,
            to: written,
            records: 300 + written / store.commit_log().config().segment_size,
            missing: 0,
        },
        "300 records and a BLANK at each segment end"
    );
    assert!(!report.journal.may_have_lost_data(report.clean));
    check(&store, &appended, 0);
    // The replay went to the segments: a second crash right away needs no journal.
    let next = append_many(&store, 300, 1)[0];
    assert_eq!(next.queue_offset, 100);
    store.abandon();
    storage.crash();
    lose_journal(&dir.0);
    let store = open(&dir.0, &storage, asleep());
    assert_eq!(store.recovery_report().valid_end, written);
    check(&store, &appended, 0);
}

#[test]
fn a_power_loss_keeps_what_was_flushed_and_says_the_rest_may_be_gone() {
    let dir = TempDir::new("journal-power");
    let storage = Arc::new(MemStorage::new(true));
    let store = open(&dir.0, &storage, asleep());
    let kept = append_many(&store, 0, 100);
    store.shutdown().unwrap();
    drop(store);
    let store = open(&dir.0, &storage, asleep());
    let clean_end = store.commit_log().written_offset();
    let tail = append_many(&store, 100, 50);
    store.abandon();
    storage.crash();
    lose_journal(&dir.0);
    let store = open(&dir.0, &storage, asleep());
    let report = store.recovery_report().clone();
    assert_eq!(report.journal, recovery::JournalOutcome::Missing);
    assert!(report.journal.may_have_lost_data(report.clean));
    // What the clean stop flushed stays; what was appended after it, never flushed, is gone.
    assert_eq!(report.valid_end, clean_end, "{report:?}");
    check(&store, &kept, 0);
    for lost in &tail {
        assert!(store.record_at(lost.commit_log_offset).unwrap().is_none());
    }
}

#[test]
fn replay_stops_at_damage_in_the_journal_and_keeps_what_is_before() {
    let dir = TempDir::new("journal-damage");
    let storage = Arc::new(MemStorage::new(true));
    let store = open(&dir.0, &storage, asleep());
    let appended = append_many(&store, 0, 40);
    let journal_path = store.commit_log().journal().unwrap().path().to_path_buf();
    store.abandon();
    storage.crash();
    // Flip a byte inside record 30's body, wherever its slot put it.
    let mut bytes = std::fs::read(&journal_path).unwrap();
    let needle = body(30, 700);
    let at = bytes
        .windows(needle.len())
        .position(|window| window == &needle[..])
        .expect("record 30 in the journal");
    bytes[at + 10] ^= 0x40;
    std::fs::write(&journal_path, bytes).unwrap();
    let store = open(&dir.0, &storage, asleep());
    let report = store.recovery_report().clone();
    assert_eq!(
        report.valid_end, appended[30].commit_log_offset,
        "{report:?}"
    );
    check(&store, &appended[..30], 0);
    assert!(store
        .record_at(appended[30].commit_log_offset)
        .unwrap()
        .is_none());
}

#[test]
fn a_replica_s_partial_record_is_not_replayed() {
    let dir = TempDir::new("journal-replica");
    let master_storage = Arc::new(MemStorage::new(true));
    let master = open(&dir.0.join("master"), &master_storage, asleep());
    let appended = append_many(&master, 0, 10);
    let bytes = master.commit_log().read(0, 1 << 20).unwrap();
    let storage = Arc::new(MemStorage::new(true));
    let slave = open(&dir.0.join("slave"), &storage, asleep());
    // Everything up to the middle of record 7.
    let cut = appended[7].commit_log_offset as usize + 100;
    slave.append_replica(0, &bytes[..cut]).unwrap();
    slave.abandon();
    storage.crash();
    let slave = open(&dir.0.join("slave"), &storage, asleep());
    assert_eq!(
        slave.recovery_report().valid_end,
        appended[7].commit_log_offset
    );
    let written = slave.commit_log().written_offset();
    assert_eq!(
        slave.commit_log().read(0, written as usize).unwrap(),
        bytes[..written as usize]
    );
}

#[test]
fn the_unflushed_tail_is_bounded_and_appends_resume_once_it_is_flushed() {
    let dir = TempDir::new("journal-bound");
    let storage = Arc::new(MemStorage::new(true));
    let mut config = config(&dir.0, FlushMode::Sync);
    config.commit_log.unflushed_size_max = 64 * 1024;
    let store = MessageStore::open_with_storage(config, storage.clone(), None).unwrap();
    append_many(&store, 0, 1);
    let log = store.commit_log();
    log.wait_flushed(log.written_offset(), Duration::from_secs(10))
        .unwrap();
    for name in storage.names() {
        storage
            .file(&name)
            .unwrap()
            .delay_syncs(Duration::from_millis(300));
    }
    let mut refused = None;
    for n in 1..1000 {
        let mut bytes = record("J", 0, &body(n, 700), None);
        match store.append(&mut bytes) {
            Ok(_) => {}
            Err(StoreError::FlushBehind {
                unflushed_size,
                unflushed_size_max,
            }) => {
                refused = Some((n, unflushed_size, unflushed_size_max));
                break;
            }
            Err(other) => panic!("{other}"),
        }
    }
    let (n, unflushed, bound) = refused.expect("appends refused past the bound");
    assert!(
        unflushed <= bound && bound == 64 * 1024,
        "{unflushed} of {bound}"
    );
    assert!(n > 10, "refused too early: {n}");
    log.wait_flushed(log.written_offset(), Duration::from_secs(10))
        .unwrap();
    store.append(&mut record("J", 0, b"again", None)).unwrap();
}

#[test]
fn a_replica_killed_inside_a_blank_s_padding_replays_up_to_the_blank() {
    let dir = TempDir::new("journal-blank");
    let master = open(
        &dir.0.join("master"),
        &Arc::new(MemStorage::new(true)),
        asleep(),
    );
    let segment = master.commit_log().config().segment_size;
    // Records until one no longer fits the first segment: it goes to the next, after a BLANK.
    let mut n = 0;
    while master.commit_log().written_offset() < segment {
        append_many(&master, n, 1);
        n += 1;
    }
    let bytes = master.commit_log().read(0, segment as usize).unwrap();
    let blank_at = {
        let mut at = 0usize;
        loop {
            let header = wire::message::peek(&bytes[at..]).unwrap();
            if header.kind == wire::message::RecordKind::Blank {
                break at;
            }
            at += header.size();
        }
    };
    let storage = Arc::new(MemStorage::new(true));
    let slave = open(&dir.0.join("slave"), &storage, asleep());
    // The BLANK's header and half its padding arrived, not the rest.
    let padding = segment as usize - blank_at - 8;
    assert!(padding >= 2, "a BLANK with padding to cut: {padding}");
    slave
        .append_replica(0, &bytes[..blank_at + 8 + padding / 2])
        .unwrap();
    slave.abandon();
    storage.crash();
    let slave = open(&dir.0.join("slave"), &storage, asleep());
    assert_eq!(slave.recovery_report().valid_end, blank_at as u64);
    let kept = slave.commit_log().read(0, blank_at).unwrap();
    assert_eq!(kept, bytes[..blank_at]);
}
