//! The official Java client 4.9.8 (Maven Central) against our namesrv and broker: a
//! DefaultMQProducer sends 10,000 messages (sync, async, oneway and batches, with tags and
//! keys) and two DefaultMQPushConsumer instances of one group receive every one, each a
//! share; consumers started again resume from the committed offsets without a gap.

mod cluster;

use std::collections::HashMap;
use std::time::Duration;

use cluster::Cluster;
use integration::{run_java_probe, wait_until};

/// The probe's `KEY value...` lines.
fn facts(output: &str) -> HashMap<String, Vec<String>> {
    let mut facts: HashMap<String, Vec<String>> = HashMap::new();
    for line in output.lines() {
        let mut words = line.split_whitespace();
        if let Some(key) = words.next() {
            facts
                .entry(key.to_string())
                .or_default()
                .push(words.collect::<Vec<_>>().join(" "));
        }
    }
    facts
}

fn run_round(cluster: &Cluster, count: usize, first: usize) -> HashMap<String, Vec<String>> {
    let namesrv = cluster.namesrv.1.to_string();
    let (count, first) = (count.to_string(), first.to_string());
    let output = run_java_probe(
        "interop.ProduceConsumeProbe",
        &[&namesrv, "JavaTopic", "JavaGroup", &count, &first],
        &[],
        Duration::from_secs(300),
    );
    eprintln!("{output}");
    facts(&output)
}

#[test]
fn java_producer_and_push_consumers_round_trip_and_resume() {
    let cluster = Cluster::start("");
    assert!(
        wait_until(Duration::from_secs(10), || cluster.routed("TBW102")),
        "not registered"
    );
    let first = run_round(&cluster, 10_000, 0);
    assert_eq!(first["SENT"], vec!["10000"]);
    assert!(
        !first.contains_key("MISSING"),
        "missing: {:?}",
        first.get("MISSING")
    );
    let consumed: Vec<u64> = first["CONSUMED"][0]
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(consumed[0], 10_000);
    eprintln!("first round: {} duplicates", consumed[1]);
    for instance in &first["INSTANCE"] {
        let received: u64 = instance.split(' ').nth(1).unwrap().parse().unwrap();
        assert!(received > 0, "an instance got no share: {instance}");
    }
    assert_eq!(first["UNEXPECTED"], vec!["0"]);
    let second = run_round(&cluster, 1_000, 10_000);
    assert!(
        !second.contains_key("MISSING"),
        "gap after restart: {:?}",
        second.get("MISSING")
    );
    let replayed: u64 = second["UNEXPECTED"][0].parse().unwrap();
    eprintln!("second round: {replayed} messages of the first round delivered again");
    assert!(
        replayed < 1_000,
        "the group did not resume from its committed offsets"
    );
}
