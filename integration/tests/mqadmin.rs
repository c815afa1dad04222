//! `mqadmin` against a real namesrv and broker: one-shot commands (output content, `--json`,
//! exit codes), their errors (no namesrv, unreachable namesrv, unknown command, bad flag,
//! missing topic), the console through a pipe and the console served over TCP.

mod cluster;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use client::producer::{Message, Producer, ProducerConfig};
use client::push_consumer::{
    ConsumeFrom, ConsumeResult, Listener, PushConsumer, PushConsumerConfig,
};
use cluster::Cluster;
use integration::{binary_path, spawn_server, wait_until};
use serde_json::Value;

/// A namesrv and broker-a, once the broker's registration is in.
fn start() -> Cluster {
    let cluster = Cluster::start("");
    assert!(wait_until(Duration::from_secs(10), || cluster.routed("TBW102")));
    cluster
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn mqadmin(args: &[&str]) -> Run {
    let output = Command::new(binary_path("mqadmin"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("run mqadmin");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a command that must succeed; its stdout.
fn ok(namesrv: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["-n", namesrv]);
    let run = mqadmin(&all);
    assert_eq!(run.code, 0, "{args:?}\n{}\n{}", run.stdout, run.stderr);
    run.stdout
}

fn json(namesrv: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ok(namesrv, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"))
}

/// Creates AdminT (4 queues) and sends 5 keyed messages; their offset ids and send answers.
fn create_and_send(ns: &str, broker: &str) -> Vec<(String, Value)> {
    let words = |line: &str| -> Vec<String> { line.split_whitespace().map(String::from).collect() };
    let created = ok_words(ns, &words("updateTopic -c TestCluster -t AdminT -r 4 -w 4"));
    assert!(
        created.contains(&format!("create topic to {broker} success.")),
        "{created}"
    );
    assert!(
        created.contains("readQueueNums=4, writeQueueNums=4, perm=RW-"),
        "{created}"
    );
    route_when(ns, "AdminT", |queue| queue["readQueueNums"] == 4);
    assert!(ok(ns, &["topicList"]).lines().any(|l| l == "AdminT"));
    let mut sent_all = Vec::new();
    for n in 0..5 {
        let line = format!("sendMessage -t AdminT -p body-{n} -k order-{n} -c TagA --json");
        let mut args = words(&line);
        // Two keys: the value holds a space.
        args[6] = format!("order-{n} batch");
        let sent: Value = serde_json::from_str(&ok_words(ns, &args)).unwrap();
        assert_eq!(sent["sendStatus"], "SEND_OK", "{sent}");
        sent_all.push((sent["offsetMsgId"].as_str().unwrap().to_string(), sent));
    }
    sent_all
}

/// Waits (bounded) until `topicRoute` shows the topic's first queue data as `wanted` says: the
/// broker registers before it answers, but the namesrv is another process and connection.
fn route_when(ns: &str, topic: &str, wanted: impl Fn(&Value) -> bool) {
    let args = ["topicRoute", "-t", topic, "--json", "-n", ns];
    let shows = || {
        let run = mqadmin(&args);
        let route: Value = serde_json::from_str(&run.stdout).unwrap_or(Value::Null);
        run.code == 0 && wanted(&route["queueDatas"][0])
    };
    assert!(
        wait_until(Duration::from_secs(10), shows),
        "{:?}",
        mqadmin(&args).stdout
    );
}

/// Runs a command line (words split on spaces) that must succeed; its stdout.
fn ok_line(ns: &str, line: &str) -> String {
    ok(ns, &line.split_whitespace().collect::<Vec<_>>())
}

fn ok_words(ns: &str, args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(ns, &args)
}

#[test]
fn one_shot_commands_administer_topics_groups_offsets_and_messages() {
    let cluster = start();
    let namesrv = cluster.namesrv.1.to_string();
    let ns = namesrv.as_str();
    let broker = cluster.broker_addr().to_string();
    let list = ok(ns, &["clusterList"]);
    assert!(
        list.contains("#Cluster Name") && list.contains("TestCluster"),
        "{list}"
    );
    assert!(
        list.contains("broker-a") && list.contains(&broker),
        "{list}"
    );
    let offset_ids = create_and_send(ns, &broker);
    let status = json(ns, &["topicStatus", "-t", "AdminT"]);
    let stored: i64 = status["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["maxOffset"].as_i64().unwrap())
        .sum();
    assert_eq!(stored, 5, "{status}");
    check_queries(ns, &offset_ids);
    check_offsets(ns);
    check_broker_config(ns, &broker);
    let rt = ok(ns, &["clusterRT", "-a", "5", "-s", "64"]);
    let row = rt
        .lines()
        .find(|l| l.starts_with("TestCluster"))
        .unwrap_or_else(|| panic!("{rt}"));
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((fields[3], fields[4]), ("5", "0"), "{rt}");
    let deleted = ok(ns, &["deleteTopic", "-t", "AdminT", "-c", "TestCluster"]);
    assert!(
        deleted.contains("delete topic [AdminT] from NameServer success."),
        "{deleted}"
    );
    let gone = mqadmin(&["topicStatus", "-t", "AdminT", "-n", ns]);
    assert_eq!(gone.code, 1, "{}{}", gone.stdout, gone.stderr);
}

fn check_queries(ns: &str, sent: &[(String, Value)]) {
    let by_key = ok(ns, &["queryMsgByKey", "-t", "AdminT", "-k", "batch"]);
    assert!(by_key.starts_with("#Message ID"), "{by_key}");
    assert_eq!(by_key.lines().count(), 6, "{by_key}");
    for (_, message) in sent {
        assert!(
            by_key.contains(message["msgId"].as_str().unwrap()),
            "{by_key}"
        );
    }
    let one = json(ns, &["queryMsgByKey", "-t", "AdminT", "-k", "order-3"]);
    assert_eq!(one["messages"][0]["body"], "body-3", "{one}");
    let (offset_id, message) = &sent[2];
    let detail = ok(ns, &["queryMsgById", "-i", offset_id]);
    assert!(detail.contains("Topic:               AdminT"), "{detail}");
    assert!(detail.contains("Tags:                [TagA]"), "{detail}");
    assert!(detail.contains("Message Body:        body-2"), "{detail}");
    let unique = message["msgId"].as_str().unwrap();
    let by_unique = json(ns, &["queryMsgByUniqueKey", "-i", unique, "-t", "AdminT"]);
    assert_eq!(by_unique["messages"][0]["body"], "body-2", "{by_unique}");
    let queue_id = message["queueId"].to_string();
    let queue_offset = message["queueOffset"].to_string();
    let args = [
        "queryMsgByOffset",
        "-t",
        "AdminT",
        "-b",
        "broker-a",
        "-i",
        &queue_id,
        "-o",
        &queue_offset,
    ];
    let by_offset = json(ns, &args);
    assert_eq!(by_offset["messages"][0]["body"], "body-2", "{by_offset}");
    let consumed = json(ns, &["consumeMessage", "-t", "AdminT", "-c", "3"]);
    assert_eq!(
        consumed["messages"].as_array().unwrap().len(),
        3,
        "{consumed}"
    );
    let missing = mqadmin(&["queryMsgByKey", "-t", "AdminT", "-k", "nothing", "-n", ns]);
    assert_eq!(missing.code, 1, "{}", missing.stdout);
    assert!(missing.stderr.contains("no message"), "{}", missing.stderr);
}

fn check_offsets(ns: &str) {
    let group = ok(ns, &["updateSubGroup", "-c", "TestCluster", "-g", "AdminG"]);
    assert!(group.contains("create subscription group to"), "{group}");
    assert!(
        group.contains("groupName=AdminG, consumeEnable=true"),
        "{group}"
    );
    let reset = json(
        ns,
        &[
            "resetOffsetByTime",
            "-g",
            "AdminG",
            "-t",
            "AdminT",
            "-s",
            "now",
        ],
    );
    assert_eq!(reset["offsets"].as_array().unwrap().len(), 4, "{reset}");
    let progress = ok(ns, &["consumerProgress", "-g", "AdminG"]);
    assert!(progress.contains("Diff Total: 0"), "{progress}");
    let reset = ok(
        ns,
        &[
            "resetOffsetByTime",
            "-g",
            "AdminG",
            "-t",
            "AdminT",
            "-s",
            "0",
        ],
    );
    assert!(
        reset.contains("rollback consumer offset by specified group[AdminG]"),
        "{reset}"
    );
    let progress = json(ns, &["consumerProgress", "-g", "AdminG"]);
    assert_eq!(progress["diffTotal"], 5, "{progress}");
    // A live producer shows up in producerConnection.
    let producer = Producer::start(ProducerConfig::new("AdminPG", ns)).unwrap();
    producer
        .send(&Message::new("AdminT", "from a live producer"))
        .unwrap();
    let connections = ok(ns, &["producerConnection", "-g", "AdminPG", "-t", "AdminT"]);
    assert!(connections.starts_with("0001  "), "{connections}");
    producer.shutdown();
    let removed = ok(ns, &["deleteSubGroup", "-c", "TestCluster", "-g", "AdminG"]);
    assert!(
        removed.contains("delete subscription group [AdminG]"),
        "{removed}"
    );
}

fn check_broker_config(ns: &str, broker: &str) {
    let status = ok(ns, &["brokerStatus", "-b", broker]);
    let put = status
        .lines()
        .find(|l| l.starts_with("msgPutTotalTodayNow"))
        .unwrap();
    assert!(put.ends_with(": 6"), "{status}");
    let config = json(ns, &["getBrokerConfig", "-b", broker]);
    assert_eq!(
        config[broker]["config"]["brokerName"], "broker-a",
        "{config}"
    );
    ok(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            broker,
            "-k",
            "slaveReadEnable",
            "-v",
            "true",
        ],
    );
    let config = ok(ns, &["getBrokerConfig", "-c", "TestCluster"]);
    assert!(config
        .lines()
        .any(|l| l.starts_with("slaveReadEnable") && l.ends_with("=  true")));
    let refused = mqadmin(&[
        "updateBrokerConfig",
        "-b",
        broker,
        "-k",
        "brokerName",
        "-v",
        "x",
        "-n",
        ns,
    ]);
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("NO_PERMISSION"),
        "{}",
        refused.stderr
    );
}

/// consumerStatus and consumerProgress -s: the broker relays GET_CONSUMER_RUNNING_INFO to the
/// live consumer of ResetG, which reports the queues it holds.
fn check_running_info(ns: &str) {
    let status = json(ns, &["consumerStatus", "-g", "ResetG"]);
    let consumers = status["consumers"].as_object().unwrap();
    assert_eq!(consumers.len(), 1, "{status}");
    let (_, report) = consumers.iter().next().unwrap();
    let queues = report["queues"].as_array().unwrap();
    let topic_queues = queues.iter().filter(|q| q["topic"] == "ResetT").count();
    assert_eq!(topic_queues, 2, "{status}");
    assert_eq!(
        report["properties"]["PROP_CONSUME_TYPE"],
        "CONSUME_PASSIVELY"
    );
    // Offsets reach the broker with the consumer's commits (every 5 s), queue by queue.
    let args = ["consumerProgress", "-g", "ResetG", "-s", "true", "-n", ns];
    let topic_rows = |text: &str| text.lines().filter(|l| l.starts_with("ResetT ")).count();
    let committed = || topic_rows(&mqadmin(&args).stdout) == 2;
    assert!(wait_until(Duration::from_secs(20), committed));
    let progress = mqadmin(&args).stdout;
    // The broker measures what the group pulled over the last minute.
    let tps: f64 = progress
        .lines()
        .find_map(|l| l.strip_prefix("Consume TPS: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(tps > 0.0, "{progress}");
    assert!(progress.contains("#Client IP"), "{progress}");
    let rows: Vec<&str> = progress
        .lines()
        .filter(|l| l.starts_with("ResetT "))
        .collect();
    assert_eq!(rows.len(), 2, "{progress}");
    assert!(
        rows.iter().all(|row| row.contains("127.0.0.1")),
        "{progress}"
    );
}

#[test]
fn reset_offset_by_time_rewinds_a_live_push_consumer() {
    let cluster = start();
    let ns = cluster.namesrv.1.to_string();
    ok_line(&ns, "updateTopic -c TestCluster -t ResetT -r 2 -w 2");
    route_when(&ns, "ResetT", |queue| queue["writeQueueNums"] == 2);
    let producer = Producer::start(ProducerConfig::new("ResetPG", &ns)).unwrap();
    for n in 0..20 {
        producer
            .send(&Message::new("ResetT", format!("m{n}")))
            .unwrap();
    }
    producer.shutdown();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let listener: Listener = Arc::new(move |_queue, messages| {
        counter.fetch_add(messages.len(), Ordering::SeqCst);
        ConsumeResult::Success
    });
    let mut config = PushConsumerConfig::new("ResetG", &ns).subscribe("ResetT", "*");
    config.consume_from = ConsumeFrom::FirstOffset;
    let consumer = PushConsumer::start(config, listener).unwrap();
    let all = |n: usize| {
        wait_until(Duration::from_secs(30), || {
            received.load(Ordering::SeqCst) >= n
        })
    };
    assert!(all(20), "first pass: {}", received.load(Ordering::SeqCst));
    check_running_info(&ns);
    let connection = ok(&ns, &["consumerConnection", "-g", "ResetG"]);
    assert!(
        connection.contains("ConsumeFromWhere: CONSUME_FROM_FIRST_OFFSET"),
        "{connection}"
    );
    let reset: Value = serde_json::from_str(&ok_line(
        &ns,
        "resetOffsetByTime -g ResetG -t ResetT -s 0 --json",
    ))
    .unwrap();
    let offsets: Vec<i64> = reset["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 0], "{reset}");
    assert!(
        all(40),
        "after the reset: {}",
        received.load(Ordering::SeqCst)
    );
    consumer.shutdown();
}

#[test]
fn errors_are_one_line_with_an_exit_code() {
    let cluster = start();
    let ns = cluster.namesrv.1.to_string();
    let cases: [(&[&str], i32, &str); 9] = [
        (&["topicList"], 2, "no namesrv"),
        (&["topicList", "-n", "127.0.0.1:1"], 1, "connection"),
        (&["noSuchCommand", "-n", &ns], 2, "does not exist"),
        (
            &["topicStatus", "-t", "X", "--bogus", "-n", &ns],
            2,
            "Unrecognized option",
        ),
        (
            &["topicStatus", "-t", "NoSuchTopic", "-n", &ns],
            1,
            "NoSuchTopic",
        ),
        (&["topicRoute", "-n", &ns], 2, "missing required flag -t"),
        (
            &["consumerStatus", "-g", "NoSuchGroup", "-n", &ns],
            1,
            "NoSuchGroup",
        ),
        (
            &[
                "updateTopic",
                "-c",
                "TestCluster",
                "-t",
                "SELF_TEST_TOPIC",
                "-n",
                &ns,
            ],
            1,
            "system topic",
        ),
        (
            &[
                "updateTopic",
                "-c",
                "TestCluster",
                "-t",
                "Huge",
                "-r",
                "100000",
                "-n",
                &ns,
            ],
            1,
            "1..=",
        ),
    ];
    for (args, code, needle) in cases {
        let run = mqadmin(args);
        assert_eq!(run.code, code, "{args:?}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    let help = mqadmin(&["help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("clusterList") && help.stdout.contains("resetOffsetByTime"));
}

#[test]
fn the_console_reads_a_pipe_and_serves_tcp_sessions() {
    let cluster = start();
    let ns = cluster.namesrv.1.to_string();
    let mut child = Command::new(binary_path("mqadmin"))
        .args(["-n", &ns])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let script = "clusterList\nnoSuchCommand\ntopicRoute -t TBW102 --json\nquit\nclusterList\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert_eq!(
        text.matches("#Cluster Name").count(),
        1,
        "quit stops the console: {text}"
    );
    assert!(
        text.contains("error: the sub command noSuchCommand does not exist"),
        "{text}"
    );
    assert!(text.contains("\"queueDatas\""), "{text}");

    let (_server, addr) = spawn_server(
        "mqadmin",
        &["serve", "--port", "0", "-n", &ns, "--idle-timeout", "2"],
        cluster.dir.path(),
        &[],
    );
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let long = "x".repeat(5000);
    let script = format!("clusterList\r\n{long}\r\ntopicList\r\nquit\r\n");
    stream.write_all(script.as_bytes()).unwrap();
    let mut session = String::new();
    stream.read_to_string(&mut session).unwrap();
    assert!(session.contains("broker-a"), "{session}");
    assert!(
        session.contains("error: line longer than 4096 bytes"),
        "{session}"
    );
    assert!(session.contains("TBW102"), "{session}");
    assert!(session.trim_end().ends_with("bye"), "{session}");
    // A second session that says nothing is closed after the idle timeout.
    let idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let lines: Vec<String> = BufReader::new(idle).lines().map_while(Result::ok).collect();
    assert!(
        lines.iter().any(|l| l.contains("idle for 2 s, closing")),
        "{lines:?}"
    );
}

#[test]
fn a_read_only_broker_permission_takes_effect_at_once() {
    let cluster = start();
    let ns = cluster.namesrv.1.to_string();
    let broker = cluster.broker_addr().to_string();
    ok(
        &ns,
        &[
            "updateTopic",
            "-b",
            &broker,
            "-t",
            "PermT",
            "-r",
            "2",
            "-w",
            "2",
        ],
    );
    let set = |perm: &str| {
        let args = [
            "updateBrokerConfig",
            "-b",
            &broker,
            "-k",
            "brokerPermission",
            "-v",
            perm,
        ];
        ok(&ns, &args)
    };
    set("4");
    // The broker re-registered with the read-only permission on every topic.
    route_when(&ns, "PermT", |queue| queue["perm"] == 4);
    let refused = mqadmin(&["sendMessage", "-t", "PermT", "-p", "x", "-n", &ns]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    set("6");
    route_when(&ns, "PermT", |queue| queue["perm"] == 6);
    let sent = json(&ns, &["sendMessage", "-t", "PermT", "-p", "x"]);
    assert_eq!(sent["sendStatus"], "SEND_OK", "{sent}");
}
