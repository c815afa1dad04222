//! Replication through the fault-injecting storage: a master and a slave in this process,
//! each on its own `MemStorage`, talking over loopback. One test per way a slave's log can
//! differ from its master's after a master crash: ahead with bytes the master lost and takes
//! back; ahead with bytes the master never kept and does not wait for; diverged from inside a
//! record; behind on an older epoch. Every case ends with the slave's log byte-identical to
//! the master's and both consume queues agreeing.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::master::HaMaster;
use super::slave::HaSlave;
use crate::store::mem_file::MemStorage;
use crate::store::tests::{body, config, lose_journal, record, wait_until, TempDir};
use crate::store::{FlushMode, MessageStore};

struct Node {
    root: std::path::PathBuf,
    storage: Arc<MemStorage>,
    store: Arc<MessageStore>,
}

fn asleep() -> FlushMode {
    FlushMode::asynchronous(Duration::from_secs(3600))
}

/// Never flushes on its own: what is unflushed is what a power loss takes (a master's new
/// epoch still flushes what it took back).
fn open(root: &Path, storage: Arc<MemStorage>) -> Node {
    let store = MessageStore::open_with_storage(config(root, asleep()), storage.clone(), None)
        .expect("open");
    store.commit_log().hold_flushes();
    Node {
        root: root.to_path_buf(),
        storage,
        store: Arc::new(store),
    }
}

fn node(dir: &TempDir, name: &str) -> Node {
    open(&dir.0.join(name), Arc::new(MemStorage::new(true)))
}

/// Appends records `from..to` (bodies numbered `tag * 1000 + n`), three queues.
fn append(node: &Node, tag: usize, from: usize, to: usize) {
    for n in from..to {
        let mut bytes = record("H", (n % 3) as i32, &body(tag * 1000 + n, 300), None);
        node.store.append(&mut bytes).expect("append");
    }
}

fn log_bytes(node: &Node) -> Vec<u8> {
    let log = node.store.commit_log();
    let mut out = Vec::new();
    let mut at = log.min_offset();
    while at < log.written_offset() {
        let read = log.read_into(at, 1 << 20, &mut out).expect("read");
        at += read as u64;
    }
    out
}

/// Copies `[0, end)` of `from`'s log and its epochs to `to`, as replication would have.
fn copy_log(from: &Node, to: &Node, end: u64) {
    let bytes = log_bytes(from);
    let segment = from.store.commit_log().config().segment_size;
    let mut at = 0u64;
    while at < end {
        let stop = end.min(at - at % segment + segment);
        to.store
            .append_replica(at, &bytes[at as usize..stop as usize])
            .expect("replica");
        at = stop;
    }
    to.store.adopt_epochs(from.store.epochs()).expect("epochs");
}

/// A power loss: the process goes without a flush, unsynced writes and the journal with it.
fn power_loss(node: Node) -> Node {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut store = node.store;
    let owned = loop {
        match Arc::try_unwrap(store) {
            Ok(owned) => break owned,
            Err(shared) => {
                assert!(Instant::now() < deadline, "the store is still in use");
                store = shared;
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    owned.abandon();
    node.storage.crash();
    lose_journal(&node.root);
    open(&node.root, node.storage)
}

fn master(node: &Node, wait: Option<Duration>) -> HaMaster {
    let address: SocketAddr = "127.0.0.1:0".parse().expect("address");
    HaMaster::start(
        address,
        node.store.clone(),
        "broker-h",
        Arc::new(|_| {}),
        wait,
    )
    .expect("master")
}

fn slave(node: &Node, master: &HaMaster) -> HaSlave {
    HaSlave::start(
        node.store.clone(),
        "broker-h",
        Some(master.local_addr()),
        None,
    )
    .expect("slave")
}

/// Waits until the slave's log is the master's, byte for byte, and both are dispatched.
fn converged(master: &Node, slave: &Node) {
    wait_until("the slave holds the master's log", || {
        slave.store.commit_log().written_offset() == master.store.commit_log().written_offset()
            && log_bytes(slave) == log_bytes(master)
    });
    for node in [master, slave] {
        wait_until("dispatched", || {
            node.store.dispatched_offset() == node.store.commit_log().written_offset()
        });
    }
    for queue in 0..3 {
        assert_eq!(
            slave.store.queue_offsets("H", queue),
            master.store.queue_offsets("H", queue),
            "queue {queue}"
        );
    }
}

/// A master and its slave that replicated records 0..10 of epoch 1, none of it flushed.
fn replicated_pair(dir: &TempDir) -> (Node, Node) {
    let (a, b) = (node(dir, "master"), node(dir, "slave"));
    let ha = master(&a, None);
    let replica = slave(&b, &ha);
    append(&a, 1, 0, 10);
    converged(&a, &b);
    assert!(a.store.epochs().last().expect("epoch").replicated);
    drop((ha, replica));
    (a, b)
}

#[test]
fn a_master_that_lost_its_tail_takes_it_back_from_its_slave() {
    let dir = TempDir::new("ha-take-back");
    let (a, b) = replicated_pair(&dir);
    let lost_end = a.store.commit_log().written_offset();
    let a = power_loss(a);
    assert!(
        a.store.commit_log().written_offset() < lost_end,
        "the power loss took nothing"
    );
    let ha = master(&a, Some(Duration::from_secs(30)));
    assert!(!ha.is_serving(), "sends must wait for the slave");
    // Written down: a restart during the wait would wait again.
    assert!(a.store.epochs().last().expect("epoch").recovering);
    let _replica = slave(&b, &ha);
    wait_until("serving", || ha.is_serving());
    assert!(!a.store.epochs().last().expect("epoch").recovering);
    assert_eq!(a.store.commit_log().written_offset(), lost_end);
    converged(&a, &b);
    assert_eq!(a.store.epochs().entries().len(), 2);
    // Every queue continues where the taken-back records left it.
    append(&a, 2, 10, 13);
    converged(&a, &b);
    assert_eq!(a.store.queue_offsets("H", 0), (0, 5));
}

#[test]
fn a_master_that_does_not_wait_makes_its_slave_cut_what_it_lost() {
    let dir = TempDir::new("ha-no-wait");
    let (a, b) = replicated_pair(&dir);
    let a = power_loss(a);
    let kept = a.store.commit_log().written_offset();
    let ha = master(&a, None);
    append(&a, 3, 0, 4);
    let _replica = slave(&b, &ha);
    converged(&a, &b);
    assert!(b.store.commit_log().written_offset() > kept);
}

#[test]
fn a_slave_diverged_inside_a_record_cuts_it_and_copies_the_master() {
    let dir = TempDir::new("ha-mid-record");
    let (a, b) = (node(&dir, "master"), node(&dir, "slave"));
    drop(master(&a, None));
    append(&a, 4, 0, 8);
    let full = a.store.commit_log().written_offset();
    // The slave got all of it and half of a ninth record, which the master then lost.
    append(&a, 4, 8, 9);
    let half = full + (a.store.commit_log().written_offset() - full) / 2;
    copy_log(&a, &b, half);
    let a = power_loss(a);
    // What the master had flushed: the first eight records (put back as it had them).
    copy_log(&b, &a, full);
    a.store
        .adopt_appended(Duration::from_secs(10))
        .expect("adopt");
    // It restarts without waiting and writes other records where the ninth was.
    let ha = master(&a, None);
    append(&a, 5, 8, 12);
    let _replica = slave(&b, &ha);
    converged(&a, &b);
}

#[test]
fn a_slave_behind_on_an_older_epoch_keeps_what_it_has_and_catches_up() {
    let dir = TempDir::new("ha-behind");
    let (a, b) = (node(&dir, "master"), node(&dir, "slave"));
    drop(master(&a, None));
    append(&a, 6, 0, 6);
    let behind = a.store.commit_log().written_offset();
    append(&a, 6, 6, 9);
    copy_log(&a, &b, behind);
    // The master restarts (a new epoch) and writes more; the slave comes back.
    let ha = master(&a, None);
    assert_eq!(a.store.epochs().entries().len(), 2);
    append(&a, 7, 9, 12);
    let _replica = slave(&b, &ha);
    converged(&a, &b);
    wait_until("acked by the slave", || {
        ha.slave_acked_offset() == a.store.commit_log().written_offset()
    });
}

#[test]
fn a_slave_of_another_broker_group_is_refused() {
    use std::io::{Read, Write};
    let dir = TempDir::new("ha-foreign");
    let a = node(&dir, "master");
    let ha = master(&a, None);
    append(&a, 8, 0, 3);
    let hello = super::protocol::Control::Hello {
        log_start: 0,
        log_end: 0,
        broker_name: "broker-other".into(),
        epochs: crate::store::EpochHistory::default(),
    };
    let mut stream = std::net::TcpStream::connect(ha.local_addr()).expect("connect");
    stream.write_all(&hello.encode()).expect("hello");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // No ACCEPT, no byte of the log: the master closes the connection.
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("closed, not timed out");
    assert!(
        answer.is_empty(),
        "{} bytes sent to a foreign slave",
        answer.len()
    );
    assert_eq!(ha.slave_count(), 0);
}
