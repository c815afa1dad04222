//! Interop: the official Apache RocketMQ 4.9.8 Java client (Maven Central) reads a topic route
//! and the cluster info from our namesrv, through its own request and JSON parsing code, in both
//! header serialisations and with both brokerAddrs key formats.

use std::time::Duration;

use integration::{run_java_probe, spawn_namesrv, RawClient, TempDir};
use wire::{RemotingCommand, RequestCode, ResponseCode};

fn register(client: &mut RawClient, name: &str, id: i64, addr: &str, topics: &str) {
    let body = format!(
        r#"{{"filterServerList":[],"topicConfigSerializeWrapper":{{"dataVersion":{{"counter":1,"timestamp":1700000000000}},"topicConfigTable":{{{topics}}}}}}}"#
    );
    let request = RemotingCommand::request(RequestCode::REGISTER_BROKER, 0)
        .with_ext("brokerName", name)
        .with_ext("brokerAddr", addr)
        .with_ext("clusterName", "InteropCluster")
        .with_ext("haServerAddr", addr)
        .with_ext("brokerId", id.to_string())
        .with_ext("compressed", "false")
        .with_ext("bodyCrc32", "0")
        .with_body(body.into_bytes());
    let response = client.call(request).unwrap();
    assert_eq!(
        response.response_code(),
        ResponseCode::SUCCESS,
        "{:?}",
        response.remark
    );
}

#[test]
fn java_client_reads_route_and_cluster_info() {
    let dir = TempDir::new("namesrv-java");
    let (_namesrv, addr) = spawn_namesrv(dir.path(), "");
    let mut broker = RawClient::connect(addr).unwrap();
    let topic = r#""JavaTopic":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"JavaTopic","topicSysFlag":0,"writeQueueNums":4}"#;
    register(&mut broker, "broker-a", 0, "127.0.0.1:10911", topic);
    register(&mut broker, "broker-a", 1, "127.0.0.1:10921", "");
    let namesrv = addr.to_string();
    let runs: [&[&str]; 3] = [
        &[],                                     // JSON headers, version 409: quoted keys
        &["-Drocketmq.serialize.type=ROCKETMQ"], // binary headers
        &["-Drocketmq.remoting.version=317"],    // legacy unquoted brokerAddrs keys
    ];
    for properties in runs {
        let out = run_java_probe(
            "interop.RouteProbe",
            &[&namesrv, "JavaTopic", "NoSuchTopic"],
            properties,
            Duration::from_secs(60),
        );
        let lines: Vec<&str> = out.lines().collect();
        for expected in [
            "BROKER InteropCluster broker-a 0 127.0.0.1:10911",
            "BROKER InteropCluster broker-a 1 127.0.0.1:10921",
            "QUEUE broker-a read=4 write=4 perm=6",
            "CLUSTER InteropCluster broker-a",
            "CLUSTER_BROKER broker-a master=127.0.0.1:10911",
            "MISSING_TOPIC code=17",
            "DONE",
        ] {
            assert!(
                lines.contains(&expected),
                "{properties:?}: missing {expected:?} in\n{out}"
            );
        }
    }
}
