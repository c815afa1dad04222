//! Master and slave processes of broker-a with a real namesrv: SYNC_MASTER acks only what the
//! slave holds (checked by killing the master and consuming from the slave), a stopped slave
//! turns acks into FLUSH_SLAVE_TIMEOUT / SLAVE_NOT_AVAILABLE and never a false success, and a
//! slave started late catches up from empty.

mod cluster;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use cluster::*;
use integration::{wait_until, RawClient};
use wire::ResponseCode;

const TOPIC: &str = "Replicated";

/// Waits until a SYNC_MASTER send succeeds: the slave is connected and caught up.
fn wait_for_slave(cluster: &Cluster) {
    let mut client = cluster.client();
    let ready = wait_until(Duration::from_secs(20), || {
        send(&mut client, "Warmup", 0, "w", "x").response_code() == ResponseCode::SUCCESS
    });
    assert!(ready, "the slave never acked");
}

#[derive(Debug, Clone)]
struct Ack {
    queue_id: i32,
    queue_offset: i64,
    body: String,
}

/// Producers send until `total` messages are acked or the master dies; returns the acks.
fn produce(cluster: &Cluster, threads: usize, total: usize, acked: &Arc<AtomicUsize>) -> Vec<Ack> {
    let acks = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let (acks, acked, addr) = (acks.clone(), acked.clone(), cluster.broker_addr());
            std::thread::spawn(move || {
                let Ok(mut client) = RawClient::connect(addr) else {
                    return;
                };
                let queue_id = (thread % 4) as i32;
                for n in 0.. {
                    if acked.load(Ordering::Relaxed) >= total {
                        return;
                    }
                    let body = format!("t{thread}-n{n}");
                    let Ok(response) = try_send(&mut client, TOPIC, queue_id, &body, "x") else {
                        return; // the master is gone
                    };
                    if response.response_code() == ResponseCode::SUCCESS {
                        let queue_offset = ext(&response, "queueOffset").parse().unwrap();
                        acks.lock().unwrap().push(Ack {
                            queue_id,
                            queue_offset,
                            body,
                        });
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
    let acks = acks.lock().unwrap().clone();
    acks
}

#[test]
fn sync_master_acks_survive_the_master_on_its_slave() {
    let mut cluster = Cluster::start("brokerRole=SYNC_MASTER");
    cluster.start_slave("");
    wait_for_slave(&cluster);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let kill_after = 5_000 + (nanos as usize % 40_000);
    eprintln!("killing the master after {kill_after} acks");
    let acked = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (acked, pid) = (acked.clone(), cluster.broker.as_ref().unwrap().0.pid());
        std::thread::spawn(move || {
            while acked.load(Ordering::Relaxed) < kill_after {
                std::thread::sleep(Duration::from_millis(1));
            }
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        })
    };
    let acks = produce(&cluster, 8, 50_000, &acked);
    killer.join().unwrap();
    eprintln!("{} sends acked before the master died", acks.len());
    assert!(acks.len() >= kill_after);
    // The slave dispatches its queues asynchronously: wait until each holds every acked offset.
    let mut top: HashMap<i32, i64> = HashMap::new();
    for ack in &acks {
        let entry = top.entry(ack.queue_id).or_insert(-1);
        *entry = (*entry).max(ack.queue_offset);
    }
    let slave = cluster.slave_addr();
    let dispatched = || top.iter().all(|(q, t)| max_offset(slave, TOPIC, *q) > *t);
    assert!(
        wait_until(Duration::from_secs(30), dispatched),
        "the slave lacks acked offsets"
    );
    let mut on_slave: HashMap<i32, Vec<(i64, String)>> = HashMap::new();
    for queue_id in 0..4 {
        on_slave.insert(queue_id, pull_all(cluster.slave_addr(), TOPIC, queue_id));
    }
    for (queue_id, records) in &on_slave {
        for (index, (queue_offset, _)) in records.iter().enumerate() {
            assert_eq!(
                *queue_offset, index as i64,
                "queue {queue_id} out of order on the slave"
            );
        }
    }
    for ack in &acks {
        let records = &on_slave[&ack.queue_id];
        let stored = records.get(ack.queue_offset as usize);
        assert_eq!(
            stored.map(|(_, body)| body.as_str()),
            Some(ack.body.as_str()),
            "{ack:?} lost"
        );
    }
}

#[test]
fn a_stopped_slave_never_gets_a_false_ack_and_replication_resumes() {
    let mut cluster = Cluster::start("brokerRole=SYNC_MASTER\nslaveTimeout=1000");
    cluster.start_slave("");
    wait_for_slave(&cluster);
    let slave_pid = cluster.slave.as_ref().unwrap().0.pid();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(slave_pid as libc::pid_t, libc::SIGSTOP) };
    let mut client = cluster.client();
    let mut codes = Vec::new();
    for n in 0..5 {
        codes.push(send(&mut client, TOPIC, 0, &format!("p{n}"), "x").response_code());
    }
    // The first may have raced the stop; after a failure no send may claim success.
    let first_failure = codes.iter().position(|c| *c != ResponseCode::SUCCESS);
    let first_failure = first_failure.expect("sends succeeded with the slave stopped");
    for code in &codes[first_failure..] {
        assert!(
            matches!(
                code,
                ResponseCode::FLUSH_SLAVE_TIMEOUT | ResponseCode::SLAVE_NOT_AVAILABLE
            ),
            "{codes:?}"
        );
    }
    // SAFETY: as above.
    unsafe { libc::kill(slave_pid as libc::pid_t, libc::SIGCONT) };
    let resumed = wait_until(Duration::from_secs(20), || {
        send(&mut client, TOPIC, 0, "after", "x").response_code() == ResponseCode::SUCCESS
    });
    assert!(resumed, "replication did not resume");
    // Both sides dispatch their consume queues asynchronously: compare until they agree.
    let synced = wait_until(Duration::from_secs(20), || {
        let master_max = max_offset(cluster.broker_addr(), TOPIC, 0);
        master_max >= 6 && max_offset(cluster.slave_addr(), TOPIC, 0) == master_max
    });
    assert!(synced, "the slave did not catch up after SIGCONT");
    let on_slave = pull_all(cluster.slave_addr(), TOPIC, 0);
    assert!(
        on_slave.iter().any(|(_, body)| body == "p4"),
        "stored-but-unacked sends replicate too"
    );
}

#[test]
fn a_slave_started_late_catches_up_from_empty_and_serves_everything() {
    let mut cluster = Cluster::start("brokerRole=ASYNC_MASTER");
    let mut client = cluster.client();
    for batch in 0..1_000 {
        let bodies: Vec<Vec<u8>> = (0..100)
            .map(|n| format!("c{batch}-{n}").into_bytes())
            .collect();
        let response = send_batch(&mut client, TOPIC, batch % 4, &bodies);
        assert_eq!(response.response_code(), ResponseCode::SUCCESS);
    }
    cluster.start_slave("");
    let caught_up = || (0..4).all(|q| max_offset(cluster.slave_addr(), TOPIC, q) == 25_000);
    assert!(
        wait_until(Duration::from_secs(60), caught_up),
        "the slave did not catch up"
    );
    let total: usize = (0..4)
        .map(|q| pull_all(cluster.slave_addr(), TOPIC, q).len())
        .sum();
    assert_eq!(total, 100_000);
}

#[test]
fn the_java_push_consumer_consumes_from_the_slave_while_the_master_is_down() {
    let mut cluster = Cluster::start("brokerRole=SYNC_MASTER");
    cluster.start_slave("");
    wait_for_slave(&cluster);
    let mut client = cluster.client();
    for n in 0..2_000 {
        let body = format!("msg-{n}");
        let response = send(&mut client, "SlaveRead", n % 4, &body, "x");
        assert_eq!(response.response_code(), ResponseCode::SUCCESS, "{n}");
    }
    let (mut master, _) = cluster.broker.take().unwrap();
    master.signal(libc::SIGKILL);
    master.wait_timeout(Duration::from_secs(10));
    let namesrv = cluster.namesrv.1.to_string();
    let output = integration::run_java_probe(
        "interop.ProduceConsumeProbe",
        &[
            &namesrv,
            "SlaveRead",
            "SlaveReaders",
            "2000",
            "0",
            "consume-only",
        ],
        &[],
        Duration::from_secs(180),
    );
    eprintln!("{output}");
    assert!(!output.contains("MISSING"), "{output}");
    assert!(
        output.lines().any(|l| l.starts_with("CONSUMED 2000 ")),
        "{output}"
    );
}

#[test]
fn a_slave_ahead_of_a_master_that_lost_its_disk_converges_to_it() {
    let mut cluster = Cluster::start("brokerRole=SYNC_MASTER");
    cluster.start_slave("registerNameServerPeriod=1000");
    wait_for_slave(&cluster);
    let mut client = cluster.client();
    for n in 0..20 {
        assert_eq!(
            send(&mut client, TOPIC, 0, &format!("d{n}"), "x").response_code(),
            ResponseCode::SUCCESS
        );
    }
    // The master's disk is lost: it comes back empty, a new store with a history of its own.
    cluster.stop_broker(libc::SIGKILL);
    std::fs::remove_dir_all(cluster.dir.path().join("store")).unwrap();
    cluster.start_broker("brokerRole=SYNC_MASTER");
    // The slave holds nothing the new master shares: it cuts its log and copies the master's
    // (Apache's slave would stop replicating for good). A send is acked once it holds it.
    let mut client = cluster.client();
    let acked = wait_until(Duration::from_secs(30), || {
        send(&mut client, TOPIC, 0, "after-loss", "x").response_code() == ResponseCode::SUCCESS
    });
    assert!(acked, "the slave never converged to the new master");
    let log = std::fs::read_to_string(cluster.dir.path().join("slave/broker.log")).unwrap();
    assert!(log.contains("does not share; cut back to 0"), "{log}");
    let on_master = pull_all(cluster.broker_addr(), TOPIC, 0);
    let on_slave = pull_all(cluster.slave_addr(), TOPIC, 0);
    assert!(!on_master.is_empty());
    assert!(on_master.iter().all(|(_, body)| body == "after-loss"));
    assert!(
        on_slave.len() >= on_master.len() - 1 && on_master.starts_with(&on_slave),
        "slave {on_slave:?}, master {on_master:?}"
    );
}

#[test]
fn a_report_past_what_was_sent_never_acks_a_send() {
    // A free port for the master's HA listener, so a fake slave can reach it.
    let ha_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let cluster = Cluster::start(&format!(
        "brokerRole=SYNC_MASTER\nslaveTimeout=1000\nhaListenPort={ha_port}"
    ));
    let mut fake = std::net::TcpStream::connect(("127.0.0.1", ha_port)).unwrap();
    // An empty slave speaking Apache's protocol (unverified), then a claim to hold
    // everything there will ever be.
    use std::io::Write;
    fake.write_all(&0u64.to_be_bytes()).unwrap();
    fake.write_all(&(i64::MAX as u64).to_be_bytes()).unwrap();
    let mut client = cluster.client();
    let answer = send(&mut client, TOPIC, 0, "never-replicated", "x").response_code();
    // The fake reads nothing, so what it claims beyond what was sent to it counts for nothing.
    assert_ne!(answer, ResponseCode::SUCCESS);
    drop(fake);
}

#[test]
fn a_slave_refuses_a_consumers_send_back() {
    let mut cluster = Cluster::start("brokerRole=ASYNC_MASTER");
    cluster.start_slave("");
    let mut slave = cluster.slave_client();
    // Its log is a byte copy of the master's: a retry copy must never be appended to it.
    let request = wire::RemotingCommand::request(wire::RequestCode::CONSUMER_SEND_MSG_BACK, 0)
        .with_ext("offset", "0")
        .with_ext("group", "G")
        .with_ext("delayLevel", "0");
    let answer = slave.call(request).unwrap();
    assert_eq!(answer.response_code(), ResponseCode::SERVICE_NOT_AVAILABLE);
}
