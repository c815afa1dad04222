//! The Rust push consumer against our namesrv and broker: two producers and three consumers
//! of one group over 8 queues, consumers joining and leaving while 100,000 messages flow;
//! and broadcasting.

mod cluster;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::producer::{Message, Producer, ProducerConfig};
use client::push_consumer::{
    ConsumeFrom, ConsumeResult, Listener, MessageModel, PushConsumer, PushConsumerConfig,
};
use cluster::Cluster;
use integration::wait_until;

fn create_topic(cluster: &Cluster, topic: &str, queues: i32) {
    cluster::create_topic_on(cluster.broker_addr(), topic, queues);
    assert!(wait_until(Duration::from_secs(10), || cluster.routed(topic)));
}

type Seen = Arc<Mutex<HashMap<String, u32>>>;

fn counting_listener(seen: &Seen) -> Listener {
    let seen = seen.clone();
    Arc::new(move |_queue, messages| {
        let mut seen = seen.lock().unwrap();
        for message in messages {
            *seen
                .entry(String::from_utf8_lossy(&message.body).into_owned())
                .or_default() += 1;
        }
        ConsumeResult::Success
    })
}

fn consumer(
    namesrv: &str,
    topic: &str,
    group: &str,
    name: &str,
    model: MessageModel,
    seen: &Seen,
) -> PushConsumer {
    let mut config = PushConsumerConfig::new(group, namesrv).subscribe(topic, "*");
    config.model = model;
    config.consume_from = ConsumeFrom::FirstOffset;
    config.instance_name = name.to_string();
    PushConsumer::start(config, counting_listener(seen)).unwrap()
}

fn produce(namesrv: &str, topic: &str, producer_index: usize, batches: usize) {
    let producer = Producer::start(ProducerConfig::new("push-test-producer", namesrv)).unwrap();
    for batch in 0..batches {
        let messages: Vec<Message> = (0..100)
            .map(|n| Message::new(topic, format!("p{producer_index}-b{batch}-{n}")))
            .collect();
        producer.send_batch(&messages).unwrap();
    }
    producer.shutdown();
}

#[test]
fn three_consumers_share_100000_messages_while_joining_and_leaving() {
    let cluster = Cluster::start("");
    create_topic(&cluster, "PushTopic", 8);
    let namesrv = cluster.namesrv.1.to_string();
    let seen: Seen = Arc::new(Mutex::new(HashMap::new()));
    let first = consumer(
        &namesrv,
        "PushTopic",
        "PushGroup",
        "one",
        MessageModel::Clustering,
        &seen,
    );
    let producers: Vec<_> = (0..2)
        .map(|index| {
            let namesrv = namesrv.clone();
            std::thread::spawn(move || produce(&namesrv, "PushTopic", index, 500))
        })
        .collect();
    let count = |seen: &Seen| seen.lock().unwrap().len();
    assert!(wait_until(Duration::from_secs(60), || count(&seen) >= 20_000));
    let second = consumer(
        &namesrv,
        "PushTopic",
        "PushGroup",
        "two",
        MessageModel::Clustering,
        &seen,
    );
    assert!(wait_until(Duration::from_secs(60), || count(&seen) >= 40_000));
    let third = consumer(
        &namesrv,
        "PushTopic",
        "PushGroup",
        "three",
        MessageModel::Clustering,
        &seen,
    );
    let shared = wait_until(Duration::from_secs(30), || !third.owned_queues().is_empty());
    assert!(shared, "the third consumer never got a queue");
    assert!(wait_until(Duration::from_secs(60), || count(&seen) >= 60_000));
    second.shutdown();
    for producer in producers {
        producer.join().unwrap();
    }
    let all = wait_until(Duration::from_secs(120), || count(&seen) == 100_000);
    let seen_now = seen.lock().unwrap().clone();
    let duplicates: u32 = seen_now.values().map(|times| times - 1).sum();
    eprintln!(
        "{} distinct messages consumed, {duplicates} duplicates",
        seen_now.len()
    );
    assert!(all, "only {} of 100000 consumed", seen_now.len());
    first.shutdown();
    third.shutdown();
}

#[test]
fn broadcasting_consumers_each_get_every_message() {
    let cluster = Cluster::start("");
    create_topic(&cluster, "BroadcastTopic", 4);
    let namesrv = cluster.namesrv.1.to_string();
    let (seen_a, seen_b): (Seen, Seen) = Default::default();
    let dir = cluster.dir.path().to_path_buf();
    let start = |name: &str, seen: &Seen| {
        let mut config =
            PushConsumerConfig::new("BroadcastGroup", &namesrv).subscribe("BroadcastTopic", "*");
        config.model = MessageModel::Broadcasting;
        config.consume_from = ConsumeFrom::FirstOffset;
        config.instance_name = name.to_string();
        config.offset_dir = dir.join("offsets");
        PushConsumer::start(config, counting_listener(seen)).unwrap()
    };
    let a = start("a", &seen_a);
    let b = start("b", &seen_b);
    produce(&namesrv, "BroadcastTopic", 0, 5);
    let both = || seen_a.lock().unwrap().len() == 500 && seen_b.lock().unwrap().len() == 500;
    assert!(
        wait_until(Duration::from_secs(60), both),
        "a broadcasting consumer missed messages"
    );
    a.shutdown();
    b.shutdown();
}

#[test]
fn orderly_consumption_keeps_queue_order_across_a_restart() {
    let cluster = Cluster::start("");
    create_topic(&cluster, "OrderTopic", 4);
    let namesrv = cluster.namesrv.1.to_string();
    let producer = Producer::start(ProducerConfig::new("order-producer", &namesrv)).unwrap();
    for seq in 0..2_000 {
        let queue = seq % 4;
        let message = Message::new("OrderTopic", format!("{queue}:{}", seq / 4));
        producer.send_to_queue(&message, |_| queue).unwrap();
    }
    producer.shutdown();
    let delivered: Arc<Mutex<HashMap<i32, Vec<u32>>>> = Arc::default();
    let start = || {
        let delivered = delivered.clone();
        let mut config =
            PushConsumerConfig::new("OrderGroup", &namesrv).subscribe("OrderTopic", "*");
        config.orderly = true;
        config.consume_from = ConsumeFrom::FirstOffset;
        config.pull_batch_size = 8;
        let listener: Listener = Arc::new(move |queue, messages| {
            let mut delivered = delivered.lock().unwrap();
            for message in messages {
                let body = String::from_utf8_lossy(&message.body).into_owned();
                let seq = body.split(':').nth(1).unwrap().parse().unwrap();
                delivered.entry(queue.queue_id).or_default().push(seq);
            }
            ConsumeResult::Success
        });
        PushConsumer::start(config, listener).unwrap()
    };
    let total = || {
        delivered
            .lock()
            .unwrap()
            .values()
            .map(Vec::len)
            .sum::<usize>()
    };
    let first = start();
    assert!(wait_until(Duration::from_secs(60), || total() >= 800));
    first.shutdown();
    let second = start();
    let done = || {
        delivered
            .lock()
            .unwrap()
            .values()
            .all(|seqs| seqs.last() == Some(&499))
            && delivered.lock().unwrap().len() == 4
    };
    assert!(
        wait_until(Duration::from_secs(60), done),
        "not everything delivered after the restart"
    );
    second.shutdown();
    for (queue, seqs) in delivered.lock().unwrap().iter() {
        // In order: each message follows the previous one, or (after the restart) goes back
        // to the committed offset and runs on from there. Never a skip.
        assert_eq!(seqs[0], 0, "queue {queue}");
        for pair in seqs.windows(2) {
            assert!(
                pair[1] <= pair[0] + 1,
                "queue {queue}: {} after {}",
                pair[1],
                pair[0]
            );
        }
    }
}

#[test]
fn a_failed_message_is_sent_back_and_comes_again_through_the_retry_topic() {
    let cluster = Cluster::start("");
    create_topic(&cluster, "RetryTopic", 2);
    let namesrv = cluster.namesrv.1.to_string();
    let deliveries: Arc<Mutex<Vec<(String, String, i32)>>> = Arc::default();
    let recorder = deliveries.clone();
    let mut config = PushConsumerConfig::new("RetryGroup", &namesrv).subscribe("RetryTopic", "*");
    config.consume_from = ConsumeFrom::FirstOffset;
    config.rebalance_interval = Duration::from_secs(1);
    let listener: Listener = Arc::new(move |_queue, messages| {
        let mut deliveries = recorder.lock().unwrap();
        let mut result = ConsumeResult::Success;
        for message in messages {
            let body = String::from_utf8_lossy(&message.body).into_owned();
            if body == "fail-once" && message.reconsume_times == 0 {
                result = ConsumeResult::Retry;
            }
            deliveries.push((body, message.topic.clone(), message.reconsume_times));
        }
        result
    });
    let consumer = PushConsumer::start(config, listener).unwrap();
    let producer = Producer::start(ProducerConfig::new("retry-producer", &namesrv)).unwrap();
    producer
        .send(&Message::new("RetryTopic", "fail-once"))
        .unwrap();
    let again = || {
        let deliveries = deliveries.lock().unwrap();
        deliveries
            .iter()
            .any(|(body, _, times)| body == "fail-once" && *times == 1)
    };
    assert!(
        wait_until(Duration::from_secs(60), again),
        "the failed message never came back"
    );
    let deliveries = deliveries.lock().unwrap().clone();
    let retried = deliveries.iter().find(|(_, _, times)| *times == 1).unwrap();
    assert_eq!(retried.1, "RetryTopic", "the original topic is restored");
    producer.shutdown();
    consumer.shutdown();
}
