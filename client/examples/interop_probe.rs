//! Produces and consumes through any RocketMQ cluster with this crate's client, printing one
//! fact per line for a test to check: `SENT n`, `CONSUMED distinct duplicates`, `MISSING body`.
//! The integration tests run it against Apache RocketMQ's own namesrv and broker.
//!
//! `cargo run -p client --example interop_probe -- NAMESRV TOPIC COUNT`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::producer::{Message, Producer, ProducerConfig};
use client::push_consumer::{ConsumeFrom, ConsumeResult, PushConsumer, PushConsumerConfig};

fn produce(namesrv: &str, topic: &str, count: usize) -> Result<usize, Box<dyn std::error::Error>> {
    let producer = Producer::start(ProducerConfig::new("interop-producer", namesrv))?;
    let mut sent = 0;
    let mut batch = Vec::new();
    for n in 0..count {
        let message = Message::new(topic, format!("rust-{n}"))
            .with_tags("T")
            .with_keys(&[&n.to_string()]);
        match n % 3 {
            0 => {
                producer.send(&message)?;
            }
            1 => producer.send_oneway(&message)?,
            _ => {
                batch.push(message);
                if batch.len() == 10 {
                    producer.send_batch(&batch)?;
                    batch.clear();
                }
            }
        }
        sent += 1;
    }
    if !batch.is_empty() {
        producer.send_batch(&batch)?;
    }
    producer.shutdown();
    Ok(sent)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (namesrv, topic) = (args[0].clone(), args[1].clone());
    let count: usize = args[2].parse()?;
    println!("SENT {}", produce(&namesrv, &topic, count)?);
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let recorder = seen.clone();
    let mut config = PushConsumerConfig::new("interop-consumer", &namesrv).subscribe(&topic, "*");
    config.consume_from = ConsumeFrom::FirstOffset;
    config.rebalance_interval = Duration::from_secs(1);
    let consumer = PushConsumer::start(
        config,
        Arc::new(move |_, messages| {
            let mut seen = recorder.lock().unwrap_or_else(|p| p.into_inner());
            for message in messages {
                *seen
                    .entry(String::from_utf8_lossy(&message.body).into_owned())
                    .or_default() += 1;
            }
            ConsumeResult::Success
        }),
    )?;
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline && seen.lock().unwrap_or_else(|p| p.into_inner()).len() < count
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    consumer.shutdown();
    let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    let duplicates: u32 = seen.values().map(|times| times - 1).sum();
    println!("CONSUMED {} {duplicates}", seen.len());
    for n in 0..count {
        if !seen.contains_key(&format!("rust-{n}")) {
            println!("MISSING rust-{n}");
        }
    }
    Ok(())
}
