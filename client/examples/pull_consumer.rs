//! Reads every queue of a topic from the group's committed offset (or the start) and commits
//! what it read.
//!
//! `cargo run -p client --example pull_consumer -- [NAMESRV] [TOPIC] [GROUP]`.

use client::consumer::{PullConsumer, PullStatus};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let namesrv = args.next().unwrap_or_else(|| "127.0.0.1:9876".into());
    let topic = args.next().unwrap_or_else(|| "TopicTest".into());
    let group = args
        .next()
        .unwrap_or_else(|| "example-pull-consumer".into());
    let consumer = PullConsumer::start(&group, &namesrv)?;
    for queue in consumer.fetch_queues(&topic)? {
        let mut offset = consumer.query_offset(&queue)?.unwrap_or(0);
        loop {
            let result = consumer.pull(&queue, "*", offset, 32, None)?;
            for message in &result.messages {
                println!(
                    "{} q{} @{}: {}",
                    queue.broker_name,
                    queue.queue_id,
                    message.queue_offset,
                    String::from_utf8_lossy(&message.body)
                );
            }
            if result.status != PullStatus::Found && result.status != PullStatus::NoMatchedMessage {
                break;
            }
            offset = result.next_begin_offset;
        }
        consumer.commit_offset(&queue, offset)?;
    }
    consumer.shutdown();
    Ok(())
}
