//! Consumes a topic in order: each queue is read by one consumer of the group at a time (it
//! holds the queue's broker lock) and its messages arrive in queue order. Pair it with the
//! producer example's queue-selected sends. Runs for 60 s.
//!
//! `cargo run -p client --example orderly_consumer -- [NAMESRV] [TOPIC] [GROUP]`.

use std::sync::Arc;
use std::time::Duration;

use client::push_consumer::{ConsumeFrom, ConsumeResult, PushConsumer, PushConsumerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let group = args
        .next()
        .unwrap_or_else(|| "example-orderly-consumer".into());
    let mut config = PushConsumerConfig::new(&group, &namesrv).subscribe(&topic, "*");
    config.consume_from = ConsumeFrom::FirstOffset;
    config.orderly = true;
    let consumer = PushConsumer::start(
        config,
        Arc::new(|queue, messages| {
            for message in messages {
                let body = String::from_utf8_lossy(&message.body);
                println!(
                    "q{} @{} (in order): {body}",
                    queue.queue_id, message.queue_offset
                );
            }
            ConsumeResult::Success
        }),
    )?;
    std::thread::sleep(Duration::from_secs(60));
    consumer.shutdown();
    Ok(())
}
