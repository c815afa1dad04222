//! rocketmq-client-go v2 (Go module proxy) against our namesrv and broker: its producer sends
//! single messages with the long SEND_MESSAGE header, its push consumer receives every one.

mod cluster;

use std::process::Command;
use std::time::Duration;

use cluster::Cluster;
use integration::{go_probe_path, wait_until};

#[test]
fn go_producer_and_push_consumer_round_trip() {
    let cluster = Cluster::start("");
    assert!(
        wait_until(Duration::from_secs(10), || cluster.routed("TBW102")),
        "not registered"
    );
    let probe = go_probe_path();
    let output = Command::new(&probe)
        .args([&cluster.namesrv.1.to_string(), "GoTopic", "GoGroup", "2000"])
        .env("HOME", cluster.dir.path())
        .output()
        .expect("run the Go probe");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "Go probe failed");
    assert!(stdout.lines().any(|l| l == "SENT 2000"), "{stdout}");
    assert!(!stdout.contains("MISSING"), "{stdout}");
    let consumed = stdout
        .lines()
        .find(|l| l.starts_with("CONSUMED "))
        .expect("CONSUMED line");
    assert!(consumed.starts_with("CONSUMED 2000 "), "{consumed}");
}
