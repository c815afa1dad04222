//! The broker on a full disk (issue 13): fill, free, restart, with every acknowledged message
//! readable at each step.
//!
//! Where the test runs as root and a loop mount works, a real broker runs on a 300 MB ext4
//! filesystem with the default index settings (a 420 MB index file would not fit at all):
//! sends until refused (no room for the next commit-log segment), then a filler takes the
//! disk to 100%, then the fillers go and sends must resume without a restart, then the disk
//! is filled again, the broker is stopped (SIGTERM) and must start on the nearly full disk,
//! serve every acknowledged message and refuse sends until the space comes back.
//! `cleanFileForciblyEnable=false`: with upstream's forced cleaning a disk at 100% has its
//! oldest segments removed by design, which this test would read as lost messages.
//!
//! Elsewhere the same sequence runs on the store with its fault-injecting twin
//! (`MemSpace`): the test says which one ran.

mod cluster;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cluster::*;
use integration::{RawClient, TempDir};
use wire::message::RecordView;
use wire::{RemotingCommand, ResponseCode};

const TOPIC: &str = "DiskFull";
const QUEUES: i32 = 4;
const BODY_SIZE: usize = 32 << 10;
const SEGMENT_SIZE: u64 = 32 << 20;
const MIB: u64 = 1 << 20;

/// A loop-mounted ext4 image, unmounted and deleted on drop (also when the test panics).
struct LoopMount {
    image: PathBuf,
    dir: PathBuf,
}

impl LoopMount {
    /// `None` (with the reason printed) where the machine does not allow it.
    fn new(base: &Path, size_mb: u64) -> Option<LoopMount> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("disk-full: not root, no loop mount");
            return None;
        }
        let image = base.join("disk.img");
        let dir = base.join("mnt");
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::File::create(&image)
            .and_then(|file| file.set_len(size_mb * MIB))
            .ok()?;
        let steps: [&[&str]; 2] = [
            &["mkfs.ext4", "-q", "-F", &image.display().to_string()],
            &[
                "mount",
                "-o",
                "loop",
                &image.display().to_string(),
                &dir.display().to_string(),
            ],
        ];
        for step in steps {
            let status = Command::new(step[0]).args(&step[1..]).status();
            if !status.as_ref().is_ok_and(|s| s.success()) {
                eprintln!("disk-full: `{}` failed ({status:?})", step.join(" "));
                let _ = std::fs::remove_file(&image);
                return None;
            }
        }
        Some(LoopMount { image, dir })
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        let dir = self.dir.display().to_string();
        let unmounted = Command::new("umount").arg(&dir).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            // Still busy (a process not reaped yet): detach now, freed when it lets go.
            let _ = Command::new("umount").args(["-l", &dir]).status();
        }
        let _ = std::fs::remove_file(&self.image);
    }
}

/// Prints the end of the broker's log when the test fails, before the directory goes.
struct LogOnPanic(PathBuf);

impl Drop for LogOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.0).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            eprintln!("--- {} (end) ---\n{tail}", self.0.display());
        }
    }
}

fn available_size(path: &Path) -> u64 {
    let c_path = std::ffi::CString::new(path.display().to_string()).unwrap();
    // SAFETY: statvfs is plain old data; all-zero is valid and the call overwrites it.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: the path is NUL-terminated and alive for the call; `stats` is a valid pointer.
    let result = unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) };
    assert_eq!(result, 0, "statvfs {}", path.display());
    stats.f_bavail * stats.f_frsize
}

/// Writes zeros to `path` until `size` bytes or the disk is full (ENOSPC); returns how much.
fn write_filler(path: &Path, size: u64) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; MIB as usize];
    let mut written = 0;
    while written < size {
        let chunk = (size - written).min(MIB) as usize;
        match file.write(&block[..chunk]) {
            Ok(n) => written += n as u64,
            Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(error) => panic!("filler: {error}"),
        }
    }
    // Full-disk errors show at the latest here: what did not land does not count.
    let _ = file.sync_all();
    std::fs::metadata(path)
        .map(|m| m.len())
        .unwrap_or(0)
        .min(written)
}

/// One acknowledged message: where the broker put it and what it holds.
#[derive(Debug, Clone)]
struct Ack {
    key: String,
    queue_id: i32,
    queue_offset: i64,
}

fn body_of(key: &str) -> Vec<u8> {
    format!("{key}|").bytes().cycle().take(BODY_SIZE).collect()
}

fn send_keyed(client: &mut RawClient, queue_id: i32, key: &str) -> RemotingCommand {
    let properties = format!("KEYS\u{1}{key}\u{2}WAIT\u{1}true\u{2}UNIQ_KEY\u{1}U{key}");
    let request = send_request(TOPIC, QUEUES, queue_id, &properties, &body_of(key));
    client.call(request).unwrap()
}

/// Sends until the broker refuses (or `count_max` are acked); returns the refusal, if any.
fn send_until_refused(
    addr: SocketAddr,
    acked: &mut Vec<Ack>,
    label: &str,
    count_max: usize,
) -> Option<RemotingCommand> {
    let mut client = RawClient::connect(addr).unwrap();
    for n in 0..count_max {
        let queue_id = n as i32 % QUEUES;
        let key = format!("{label}-{n}");
        let response = send_keyed(&mut client, queue_id, &key);
        if response.response_code() != ResponseCode::SUCCESS {
            return Some(response);
        }
        let queue_offset = ext(&response, "queueOffset").parse().unwrap();
        acked.push(Ack {
            key,
            queue_id,
            queue_offset,
        });
    }
    None
}

fn assert_refused_for_the_disk(refusal: &RemotingCommand) {
    assert_eq!(
        refusal.response_code(),
        ResponseCode::SERVICE_NOT_AVAILABLE,
        "{:?}",
        refusal.remark
    );
    let remark = refusal.remark.clone().unwrap_or_default();
    assert!(remark.contains("disk full"), "{remark}");
}

/// Pulls every queue from 0 and checks each acked message at its queue offset, body intact
/// (CRC checked by the decoder); returns how many were found.
fn check_all_readable(addr: SocketAddr, acked: &[Ack], step: &str) -> usize {
    // Dispatch is asynchronous: first, bounded, until every queue holds its last ack.
    let mut last: HashMap<i32, i64> = HashMap::new();
    for ack in acked {
        let top = last.entry(ack.queue_id).or_insert(-1);
        *top = (*top).max(ack.queue_offset);
    }
    let dispatched = integration::wait_until(Duration::from_secs(30), || {
        last.iter()
            .all(|(queue_id, top)| max_offset(addr, TOPIC, *queue_id) > *top)
    });
    assert!(
        dispatched,
        "{step}: acked messages never reached their queues"
    );
    let mut by_queue: HashMap<i32, HashMap<i64, Vec<u8>>> = HashMap::new();
    let mut client = RawClient::connect(addr).unwrap();
    for queue_id in 0..QUEUES {
        let found = by_queue.entry(queue_id).or_default();
        let mut offset = 0;
        loop {
            let pull = pull_request(TOPIC, queue_id, offset, "*", 0);
            let response = client.call(pull).unwrap();
            if response.response_code() != ResponseCode::SUCCESS {
                break;
            }
            let mut position = 0;
            while position < response.body.len() {
                let (view, size) = RecordView::decode(&response.body[position..], true).unwrap();
                found.insert(view.queue_offset, view.body.to_vec());
                position += size;
            }
            offset = ext(&response, "nextBeginOffset").parse().unwrap();
        }
    }
    let readable = acked
        .iter()
        .filter(|ack| by_queue[&ack.queue_id].get(&ack.queue_offset) == Some(&body_of(&ack.key)))
        .count();
    eprintln!(
        "disk-full [{step}]: {} acked, {readable} readable",
        acked.len()
    );
    assert_eq!(readable, acked.len(), "{step}: acked messages unreadable");
    readable
}

/// Sends every 100 ms until one is accepted (at most `timeout`); returns how long it took.
fn wait_until_sends_resume(addr: SocketAddr, acked: &mut Vec<Ack>, label: &str) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    let mut attempt = 0;
    loop {
        let refusal = send_until_refused(addr, acked, &format!("{label}{attempt}"), 1);
        if refusal.is_none() {
            return started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "sends did not resume: {refusal:?}"
        );
        attempt += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn broker_config(store: &Path) -> String {
    // Later keys win over spawn_broker's small test index: these are the defaults.
    format!(
        "storePathRootDir={}\nmappedFileSizeCommitLog={SEGMENT_SIZE}\n\
         maxHashSlotNum=500000\nmaxIndexNum=20000000\n\
         cleanFileForciblyEnable=false\ncleanResourceInterval=1000\n",
        store.display()
    )
}

#[test]
fn fill_free_restart_keeps_every_acknowledged_message_readable() {
    let base = TempDir::new("disk-full");
    match LoopMount::new(base.path(), 300) {
        Some(mount) => {
            eprintln!("disk-full: running on a loop-mounted 300 MB ext4 filesystem");
            on_a_real_filesystem(&mount.dir);
        }
        None => {
            eprintln!("disk-full: running on the store's fault-injecting twin (MemSpace)");
            twin::fill_free_restart(base.path());
        }
    }
}

/// The twin's run everywhere, so that it is known to work where it is the only one.
#[test]
fn fill_free_restart_on_the_twin() {
    let base = TempDir::new("disk-full-twin");
    twin::fill_free_restart(base.path());
}

fn on_a_real_filesystem(mount: &Path) {
    let store = mount.join("store");
    let filler = mount.join("filler");
    // Room for two segments, the index's first allocation (4 MiB, made while a segment's
    // room is left after it), the queues' (160 KiB each) and about 29 MiB more: the third
    // segment finds no room while the used ratio stays under 90% (of 252 MiB available).
    let room = 2 * SEGMENT_SIZE + 34 * MIB;
    let available = available_size(mount);
    assert!(
        available > room,
        "a 300 MB filesystem with {available} bytes free"
    );
    write_filler(&filler, available - room);
    let mut cluster = Cluster::start(&broker_config(&store));
    let _log = LogOnPanic(cluster.dir.path().join("broker.log"));
    create_topic_on(cluster.broker_addr(), TOPIC, QUEUES);
    let mut acked = Vec::new();
    let started = Instant::now();
    let refusal = send_until_refused(cluster.broker_addr(), &mut acked, "fill", 100_000)
        .expect("sends refused once the disk is full");
    assert_refused_for_the_disk(&refusal);
    eprintln!(
        "disk-full [fill]: refused after {} sends ({:?}): {:?}",
        acked.len(),
        started.elapsed(),
        refusal.remark
    );
    // Refused once the second segment (made when the first is half full) took the used
    // ratio past 90%, or when the third found no room.
    assert!(
        acked.len() * BODY_SIZE >= SEGMENT_SIZE as usize / 2,
        "refused early"
    );
    check_all_readable(cluster.broker_addr(), &acked, "fill: refused");
    // Another writer takes the rest: the disk is at 100% and stays there.
    let topped = write_filler(&mount.join("filler-2"), u64::MAX);
    eprintln!(
        "disk-full [full]: filler took the last {} MiB",
        topped / MIB
    );
    let refusal = send_until_refused(cluster.broker_addr(), &mut acked, "full", 1);
    assert_refused_for_the_disk(&refusal.expect("refused on a full disk"));
    check_all_readable(cluster.broker_addr(), &acked, "disk at 100%");
    free_then_restart_nearly_full(&mut cluster, mount, &store, &mut acked);
}

fn free_then_restart_nearly_full(
    cluster: &mut Cluster,
    mount: &Path,
    store: &Path,
    acked: &mut Vec<Ack>,
) {
    std::fs::remove_file(mount.join("filler")).unwrap();
    std::fs::remove_file(mount.join("filler-2")).unwrap();
    let waited = wait_until_sends_resume(cluster.broker_addr(), acked, "freed");
    eprintln!("disk-full [free]: sends resumed {waited:?} after the fillers went");
    let refusal = send_until_refused(cluster.broker_addr(), acked, "after-free", 500);
    assert!(refusal.is_none(), "refused with room: {refusal:?}");
    check_all_readable(cluster.broker_addr(), acked, "freed");
    // Nearly full again: 1 MiB left.
    let filler = mount.join("filler-3");
    write_filler(&filler, u64::MAX);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .unwrap();
    let length = file.metadata().unwrap().len();
    file.set_len(length.saturating_sub(MIB)).unwrap();
    file.sync_all().unwrap();
    // An open handle would keep the blocks after the file is removed.
    drop(file);
    cluster.stop_broker(libc::SIGTERM);
    cluster.start_broker(&broker_config(store));
    eprintln!(
        "disk-full [restart]: broker started with {} KiB free",
        available_size(mount) >> 10
    );
    check_all_readable(cluster.broker_addr(), acked, "restarted nearly full");
    let refusal = send_until_refused(cluster.broker_addr(), acked, "nearly-full", 1);
    assert_refused_for_the_disk(&refusal.expect("refused on a nearly full disk"));
    std::fs::remove_file(&filler).unwrap();
    let waited = wait_until_sends_resume(cluster.broker_addr(), acked, "freed-again");
    eprintln!("disk-full [free again]: sends resumed {waited:?} after the filler went");
    check_all_readable(cluster.broker_addr(), acked, "end");
}

/// The same sequence on the store, with a `MemSpace` as the disk.
mod twin {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, Instant, SystemTime};

    use broker::store::mem_file::{MemSpace, MemStorage};
    use broker::store::{MessageStore, StoreConfig, StoreError};
    use wire::message::RecordView;

    const SEGMENT: u64 = 4 << 20;
    const CAPACITY: u64 = 64 << 20;
    const BODY: usize = 4 << 10;

    fn open(root: &Path, storage: &Arc<MemStorage>) -> MessageStore {
        let mut config = StoreConfig::new(root.to_path_buf());
        config.commit_log.segment_size = SEGMENT;
        config.commit_log.chunk_size = 1 << 20;
        config.retention.clean_forcibly = false;
        MessageStore::open_with_storage(config, storage.clone(), None).expect("store opens")
    }

    fn append(store: &MessageStore, n: usize) -> Result<(i32, u64), StoreError> {
        let host = "127.0.0.1:10911".parse().unwrap();
        let body = super::body_of(&format!("twin-{n}"));
        let queue_id = n as i32 % super::QUEUES;
        let properties = format!("KEYS\u{1}twin-{n}\u{2}");
        let view = RecordView::to_append(super::TOPIC, queue_id, &body[..BODY], &properties, host);
        let mut bytes = Vec::new();
        view.encode(&mut bytes).unwrap();
        let placed = store.append(&mut bytes)?.records[0];
        Ok((queue_id, placed.queue_offset as u64))
    }

    fn fill(store: &MessageStore, acked: &mut Vec<(usize, i32, u64)>) -> StoreError {
        loop {
            let n = acked.len();
            match append(store, n) {
                Ok((queue_id, offset)) => acked.push((n, queue_id, offset)),
                Err(error) => return error,
            }
        }
    }

    fn check(store: &MessageStore, acked: &[(usize, i32, u64)], step: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut readable = 0;
        for (n, queue_id, offset) in acked {
            loop {
                let got = store
                    .get_messages(super::TOPIC, *queue_id, *offset, 1, 1 << 20, &|_| true)
                    .unwrap();
                if got.record_count == 1 {
                    let (view, _) = RecordView::decode(&got.records, true).unwrap();
                    assert_eq!(view.body, &super::body_of(&format!("twin-{n}"))[..BODY]);
                    readable += 1;
                    break;
                }
                // Dispatch may still be on its way to the newest ones.
                assert!(Instant::now() < deadline, "{step}: message {n} unreadable");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        eprintln!(
            "disk-full twin [{step}]: {} acked, {readable} readable",
            acked.len()
        );
    }

    fn resume(store: &MessageStore, acked: &mut Vec<(usize, i32, u64)>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            store.run_retention_once(SystemTime::now()).unwrap();
            if let Ok((queue_id, offset)) = append(store, acked.len()) {
                acked.push((acked.len(), queue_id, offset));
                return;
            }
            assert!(Instant::now() < deadline, "appends did not resume");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn fill_free_restart(root: &Path) {
        let space = Arc::new(MemSpace::new(CAPACITY));
        let storage = Arc::new(MemStorage::on(true, space.clone()));
        let filler = CAPACITY - 3 * SEGMENT - (12 << 20);
        space.take(filler).unwrap();
        let mut store = open(&root.join("store"), &storage);
        let mut acked = Vec::new();
        let refusal = fill(&store, &mut acked);
        assert!(acked.len() * BODY > 2 * SEGMENT as usize, "{refusal}");
        check(&store, &acked, "fill: refused");
        let rest = space.fill();
        assert!(
            append(&store, acked.len()).is_err(),
            "accepted on a full disk"
        );
        check(&store, &acked, "disk at 100%");
        space.give(filler + rest);
        resume(&store, &mut acked);
        check(&store, &acked, "freed");
        let rest = space.fill() - (1 << 20);
        space.give(1 << 20);
        store.shutdown().unwrap();
        drop(store);
        store = open(&root.join("store"), &storage);
        check(&store, &acked, "restarted nearly full");
        assert!(
            append(&store, acked.len()).is_err(),
            "accepted on a nearly full disk"
        );
        space.give(rest);
        resume(&store, &mut acked);
        check(&store, &acked, "end");
    }
}
