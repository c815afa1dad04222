//! Sends a few messages synchronously, one batch and one oneway message.
//!
//! `cargo run -p client --example producer -- [NAMESRV] [TOPIC]` (defaults 127.0.0.1:9876,
//! TopicTest; `make run-cluster` starts a cluster to try it on).

use client::producer::{Message, Producer, ProducerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let producer = Producer::start(ProducerConfig::new("example-producer", &namesrv))?;
    for n in 0..10 {
        let message = Message::new(&topic, format!("Hello RocketMQ {n}"))
            .with_tags("TagA")
            .with_keys(&[&format!("key-{n}")]);
        let result = producer.send(&message)?;
        println!(
            "sent {n}: {:?} msgId {} queue {} offset {}",
            result.status, result.msg_id, result.queue.queue_id, result.queue_offset
        );
    }
    let batch: Vec<Message> = (0..5)
        .map(|n| Message::new(&topic, format!("batch {n}")))
        .collect();
    let result = producer.send_batch(&batch)?;
    println!(
        "batch: {:?}, first offset {}",
        result.status, result.queue_offset
    );
    producer.send_oneway(&Message::new(&topic, "oneway"))?;
    producer.shutdown();
    Ok(())
}
