//! The Rust client against our namesrv and brokers: the producer in every mode and the pull
//! consumer reading it all back, offsets, and sends carrying on through a second broker group
//! when one is killed.

mod cluster;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use client::consumer::{PullConsumer, PullStatus};
use client::producer::{Message, Producer, ProducerConfig, SendStatus};
use cluster::Cluster;
use integration::{spawn_broker, wait_until};

fn read_all(
    consumer: &PullConsumer,
    topic: &str,
    expression: &str,
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for queue in consumer.fetch_queues(topic).unwrap() {
        let mut offset = 0;
        loop {
            let result = consumer.pull(&queue, expression, offset, 32, None).unwrap();
            for message in &result.messages {
                let tags = wire::properties::find(&message.properties, "TAGS").map(str::to_string);
                out.push((String::from_utf8_lossy(&message.body).into_owned(), tags));
            }
            if matches!(
                result.status,
                PullStatus::NoNewMessage | PullStatus::OffsetIllegal
            ) {
                break;
            }
            offset = result.next_begin_offset;
        }
    }
    out
}

/// Sync (tags a/b), batch, oneway, async, compressed and queue-selected sends; returns the
/// bodies sent.
fn produce_in_every_mode(producer: &Producer) -> BTreeSet<String> {
    let mut expected = BTreeSet::new();
    for n in 0..100 {
        let tag = if n % 2 == 0 { "a" } else { "b" };
        let message = Message::new("RustTopic", format!("sync-{n}"))
            .with_tags(tag)
            .with_keys(&["k"]);
        let result = producer.send(&message).unwrap();
        assert_eq!(result.status, SendStatus::Ok);
        assert_eq!(
            result.msg_id.len(),
            32,
            "unique key as the Java client makes it"
        );
        expected.insert(format!("sync-{n}"));
    }
    let batch: Vec<Message> = (0..10)
        .map(|n| Message::new("RustTopic", format!("batch-{n}")).with_tags("a"))
        .collect();
    let result = producer.send_batch(&batch).unwrap();
    assert_eq!(result.msg_id.split(',').count(), 10);
    expected.extend((0..10).map(|n| format!("batch-{n}")));
    for n in 0..20 {
        producer
            .send_oneway(&Message::new("RustTopic", format!("oneway-{n}")).with_tags("b"))
            .unwrap();
        expected.insert(format!("oneway-{n}"));
    }
    let done = Arc::new(AtomicUsize::new(0));
    for n in 0..20 {
        let done = done.clone();
        producer.send_async(
            Message::new("RustTopic", format!("async-{n}")).with_tags("b"),
            move |result| {
                assert!(result.is_ok(), "{result:?}");
                done.fetch_add(1, Ordering::SeqCst);
            },
        );
        expected.insert(format!("async-{n}"));
    }
    assert!(wait_until(Duration::from_secs(10), || done
        .load(Ordering::SeqCst)
        == 20));
    let big = "z".repeat(10_000);
    producer
        .send(&Message::new("RustTopic", big.clone()).with_tags("a"))
        .unwrap();
    expected.insert(big.clone());
    let chosen = producer
        .send_to_queue(&Message::new("RustTopic", "ordered").with_tags("a"), |_| 3)
        .unwrap();
    assert_eq!(chosen.queue.queue_id, 3);
    expected.insert("ordered".into());

    expected
}

#[test]
fn the_producer_sends_in_every_mode_and_the_pull_consumer_reads_it_all_back() {
    let cluster = Cluster::start("");
    let namesrv = cluster.namesrv.1.to_string();
    assert!(wait_until(Duration::from_secs(10), || cluster.routed("TBW102")));
    let producer = Producer::start(ProducerConfig::new("rust-producer", &namesrv)).unwrap();
    let expected = produce_in_every_mode(&producer);
    let consumer = PullConsumer::start("rust-consumer", &namesrv).unwrap();
    let settle = || read_all(&consumer, "RustTopic", "*").len() == expected.len();
    assert!(
        wait_until(Duration::from_secs(10), settle),
        "oneway sends never all arrived"
    );
    let all: BTreeSet<String> = read_all(&consumer, "RustTopic", "*")
        .into_iter()
        .map(|(b, _)| b)
        .collect();
    assert_eq!(
        all, expected,
        "every message back, the compressed one decompressed"
    );
    let only_a = read_all(&consumer, "RustTopic", "a");
    assert!(only_a.iter().all(|(_, tags)| tags.as_deref() == Some("a")));
    assert_eq!(only_a.len(), 50 + 10 + 2);

    let queue = consumer.fetch_queues("RustTopic").unwrap()[0].clone();
    assert!(consumer.max_offset(&queue).unwrap() > 0);
    consumer.commit_offset(&queue, 7).unwrap();
    assert_eq!(consumer.query_offset(&queue).unwrap(), Some(7));
    assert_eq!(consumer.search_offset(&queue, 0).unwrap(), 0);
    producer.shutdown();
    consumer.shutdown();
}

#[test]
fn sends_carry_on_through_the_other_broker_group_when_one_is_killed() {
    let cluster = Cluster::start("");
    let namesrv = cluster.namesrv.1;
    let b_dir = cluster.dir.path().join("broker-b");
    std::fs::create_dir_all(&b_dir).unwrap();
    let (mut broker_b, addr_b) = spawn_broker(&b_dir, namesrv, "brokerName=broker-b");
    let producer =
        Producer::start(ProducerConfig::new("rust-fault", &namesrv.to_string())).unwrap();
    create_on(&[cluster.broker_addr(), addr_b], "FaultTopic", 4);
    let both = || {
        let consumer = PullConsumer::start("probe", &namesrv.to_string()).unwrap();
        let brokers: BTreeSet<String> = consumer
            .fetch_queues("FaultTopic")
            .map(|queues| queues.into_iter().map(|q| q.broker_name).collect())
            .unwrap_or_default();
        consumer.shutdown();
        brokers.len() == 2
    };
    assert!(
        wait_until(Duration::from_secs(20), both),
        "the route never named both groups"
    );
    for n in 0..20 {
        producer
            .send(&Message::new("FaultTopic", format!("before-{n}")))
            .unwrap();
    }
    broker_b.signal(libc::SIGKILL);
    broker_b.wait_timeout(Duration::from_secs(10));
    let mut failures = 0;
    for n in 0..200 {
        match producer.send(&Message::new("FaultTopic", format!("f{n}"))) {
            Ok(result) => assert_eq!(result.queue.broker_name, "broker-a"),
            Err(error) => {
                failures += 1;
                eprintln!("send {n} failed after retries: {error}");
            }
        }
    }
    assert_eq!(
        failures, 0,
        "every send went through broker-a after retrying"
    );
    producer.shutdown();
}

#[test]
fn the_admin_client_lists_creates_inspects_and_deletes() {
    use client::admin::AdminClient;
    let cluster = Cluster::start("");
    let namesrv = cluster.namesrv.1.to_string();
    assert!(wait_until(Duration::from_secs(10), || cluster.routed("TBW102")));
    let admin = AdminClient::start(&namesrv).unwrap();
    let info = admin.cluster_info().unwrap();
    assert!(info.cluster_addr_table["TestCluster"].contains("broker-a"));
    let config = wire::body::TopicConfig {
        topic_name: "AdminMade".into(),
        read_queue_nums: 3,
        write_queue_nums: 3,
        ..wire::body::TopicConfig::default()
    };
    admin.create_topic("TestCluster", &config).unwrap();
    assert!(wait_until(Duration::from_secs(10), || admin
        .topic_list()
        .is_ok_and(|topics| topics.contains(&"AdminMade".to_string()))));
    let route = admin.topic_route("AdminMade").unwrap();
    assert_eq!(route.queue_datas[0].write_queue_nums, 3);
    let producer = Producer::start(ProducerConfig::new("admin-producer", &namesrv)).unwrap();
    let sent = producer
        .send(&Message::new("AdminMade", "look at me"))
        .unwrap();
    let viewed = admin.view_message(&sent.offset_msg_id).unwrap();
    assert_eq!(viewed.body, b"look at me");
    let consumer = PullConsumer::start("admin-group", &namesrv).unwrap();
    consumer.commit_offset(&sent.queue, 1).unwrap();
    let dispatched = || consumer.max_offset(&sent.queue).is_ok_and(|max| max == 1);
    assert!(wait_until(Duration::from_secs(10), dispatched));
    let stats = admin.topic_stats("AdminMade").unwrap();
    assert_eq!(stats.offset_table.len(), 3);
    assert_eq!(stats.offset_table[&sent.queue].max_offset, 1);
    let progress = admin.consume_stats("admin-group", "AdminMade").unwrap();
    assert_eq!(progress.offset_table[&sent.queue].consumer_offset, 1);
    let runtime = admin.broker_runtime_info(cluster.broker_addr()).unwrap();
    assert_eq!(runtime["msgPutTotalTodayNow"], "1");
    let group = wire::body::SubscriptionGroupConfig {
        group_name: "admin-made-group".into(),
        ..wire::body::SubscriptionGroupConfig::default()
    };
    admin.create_group("TestCluster", &group).unwrap();
    admin
        .delete_group("TestCluster", "admin-made-group")
        .unwrap();
    admin.delete_topic("TestCluster", "AdminMade").unwrap();
    assert!(!admin
        .topic_list()
        .unwrap()
        .contains(&"AdminMade".to_string()));
    producer.shutdown();
    consumer.shutdown();
    admin.shutdown();
}

/// UPDATE_AND_CREATE_TOPIC on each broker.
fn create_on(brokers: &[std::net::SocketAddr], topic: &str, queues: i32) {
    for broker in brokers {
        cluster::create_topic_on(*broker, topic, queues);
    }
}

/// A push consumer (rebalancing every second) recording every body it gets into `seen`.
fn recording_consumer(
    namesrv: &str,
    topic: &str,
    seen: &Arc<std::sync::Mutex<BTreeSet<String>>>,
) -> client::push_consumer::PushConsumer {
    use client::push_consumer::{ConsumeFrom, ConsumeResult, PushConsumer, PushConsumerConfig};
    let recorder = seen.clone();
    let mut config = PushConsumerConfig::new("ComeBackGroup", namesrv).subscribe(topic, "*");
    config.consume_from = ConsumeFrom::FirstOffset;
    config.rebalance_interval = Duration::from_secs(1);
    let listener: client::push_consumer::Listener = Arc::new(move |_, messages| {
        let mut seen = recorder.lock().unwrap();
        seen.extend(
            messages
                .iter()
                .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
        );
        ConsumeResult::Success
    });
    PushConsumer::start(config, listener).unwrap()
}

/// A send to a queue of `broker` on topic ComeBack.
fn send_to_broker(producer: &Producer, broker: &str, body: String) -> client::producer::SendResult {
    producer
        .send_to_queue(&Message::new("ComeBack", body), |queues| {
            queues
                .iter()
                .position(|q| q.broker_name == broker)
                .unwrap_or(0)
        })
        .unwrap()
}

#[test]
fn the_push_consumer_resumes_a_broker_group_that_comes_back() {
    use std::sync::Mutex;
    let cluster = Cluster::start("");
    let namesrv = cluster.namesrv.1;
    let b_dir = cluster.dir.path().join("broker-b");
    std::fs::create_dir_all(&b_dir).unwrap();
    let (mut broker_b, addr_b) = spawn_broker(&b_dir, namesrv, "brokerName=broker-b");
    create_on(&[cluster.broker_addr(), addr_b], "ComeBack", 2);
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let consumer = recording_consumer(&namesrv.to_string(), "ComeBack", &seen);
    let producer = Producer::start(ProducerConfig::new("comeback", &namesrv.to_string())).unwrap();
    let both =
        || producer.send(&Message::new("ComeBack", "x")).is_ok() && cluster.routed("ComeBack");
    assert!(wait_until(Duration::from_secs(20), both));
    for n in 0..20 {
        assert_eq!(
            send_to_broker(&producer, "broker-b", format!("before-{n}"))
                .queue
                .broker_name,
            "broker-b"
        );
    }
    let before = || (0..20).all(|n| seen.lock().unwrap().contains(&format!("before-{n}")));
    assert!(
        wait_until(Duration::from_secs(60), before),
        "broker-b's messages never consumed"
    );
    broker_b.signal(libc::SIGTERM);
    broker_b.wait_timeout(Duration::from_secs(20));
    let (_broker_b, addr_b) = spawn_broker(&b_dir, namesrv, "brokerName=broker-b");
    let routed_b = || {
        let request = wire::RemotingCommand::request(wire::RequestCode::GET_ROUTEINFO_BY_TOPIC, 0)
            .with_ext("topic", "ComeBack");
        let answer = integration::RawClient::connect(namesrv)
            .unwrap()
            .call(request)
            .unwrap();
        String::from_utf8_lossy(&answer.body).contains(&addr_b.to_string())
    };
    assert!(
        wait_until(Duration::from_secs(20), routed_b),
        "broker-b never re-registered"
    );
    // A fresh producer: the first one's route (refreshed every 30 s) still lacks broker-b.
    let producer =
        Producer::start(ProducerConfig::new("comeback-2", &namesrv.to_string())).unwrap();
    for n in 0..20 {
        let sent = send_to_broker(&producer, "broker-b", format!("after-{n}"));
        assert_eq!(sent.queue.broker_name, "broker-b");
    }
    let after = || (0..20).all(|n| seen.lock().unwrap().contains(&format!("after-{n}")));
    assert!(
        wait_until(Duration::from_secs(90), after),
        "the consumer did not resume broker-b"
    );
    consumer.shutdown();
    producer.shutdown();
}

#[test]
fn oneway_sends_queued_before_shutdown_all_reach_the_broker() {
    let cluster = Cluster::start("");
    let namesrv = cluster.namesrv.1.to_string();
    assert!(wait_until(Duration::from_secs(10), || cluster.routed("TBW102")));
    cluster::create_topic_on(cluster.broker_addr(), "OnewayT", 4);
    assert!(wait_until(Duration::from_secs(10), || cluster.routed("OnewayT")));
    let producer = Producer::start(ProducerConfig::new("OnewayPG", &namesrv)).unwrap();
    let body = vec![b'o'; 1024];
    let count = 20_000;
    for _ in 0..count {
        producer
            .send_oneway(&Message::new("OnewayT", body.clone()))
            .unwrap();
    }
    // Shutting down at once: what the reactor still holds must be written, not dropped.
    producer.shutdown();
    let stored = || -> i64 {
        (0..4)
            .map(|q| cluster::max_offset(cluster.broker_addr(), "OnewayT", q))
            .sum()
    };
    assert!(
        wait_until(Duration::from_secs(20), || stored() == count),
        "{} of {count} stored",
        stored()
    );
}
