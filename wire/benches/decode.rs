//! Codec throughput: frames (JSON and ROCKETMQ headers) and stored-message records.
//!
//! `cargo bench -p wire --bench decode`. Prints MB/s and per-operation latency percentiles for
//! decoding (and re-encoding) a typical SEND_MESSAGE_V2 request and a pull-response body.

use std::net::SocketAddr;
use std::time::Instant;

use wire::message::{MagicVersion, MessageRecord};
use wire::{FrameDecoder, RemotingCommand, RequestCode, SerializeType};

fn send_request(serialize_type: SerializeType) -> Vec<u8> {
    let fields = [
        ("a", "ProducerGroupName"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "2"),
        ("f", "0"),
        ("g", "1700000000123"),
        ("h", "0"),
        (
            "i",
            "TAGS\u{1}TagA\u{2}KEYS\u{1}k1\u{2}WAIT\u{1}true\u{2}UNIQ_KEY\u{1}0A0000051092",
        ),
        ("j", "0"),
        ("k", "false"),
        ("m", "false"),
    ];
    let mut command = RemotingCommand::request(RequestCode::SEND_MESSAGE_V2, 1)
        .with_serialize_type(serialize_type)
        .with_body(vec![b'x'; 1024]);
    for (key, value) in fields {
        command.ext_fields.insert(key, value);
    }
    command.to_frame().expect("encodable")
}

fn record(queue_offset: i64) -> Vec<u8> {
    let host: SocketAddr = "127.0.0.1:10911".parse().expect("address");
    let record = MessageRecord {
        version: MagicVersion::V1,
        body_crc: 0,
        queue_id: 1,
        flag: 0,
        sys_flag: 0,
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        queue_offset,
        commit_log_offset: queue_offset * 1200,
        born_timestamp: 1_700_000_000_000,
        born_host: host,
        store_timestamp: 1_700_000_000_001,
        store_host: host,
        body: vec![b'y'; 1024],
        topic: "TopicTest".into(),
        properties: "TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}0A0000051092".into(),
    };
    let mut out = Vec::new();
    record.encode(&mut out).expect("encodable");
    out
}

fn report(name: &str, bytes_per_op: usize, mut latencies_ns: Vec<u64>, elapsed_s: f64) {
    latencies_ns.sort_unstable();
    let at = |p: f64| {
        latencies_ns[((latencies_ns.len() as f64 * p) as usize).min(latencies_ns.len() - 1)]
    };
    let ops = latencies_ns.len() as f64;
    println!(
        "{name:<28} {:>9.0} MB/s {:>10.0} ops/s  p50 {:>6} ns  p99 {:>6} ns  p999 {:>6} ns",
        ops * bytes_per_op as f64 / elapsed_s / 1e6,
        ops / elapsed_s,
        at(0.50),
        at(0.99),
        at(0.999)
    );
}

fn bench(name: &str, bytes_per_op: usize, iterations: usize, mut op: impl FnMut()) {
    for _ in 0..iterations / 10 {
        op();
    }
    let mut latencies = Vec::with_capacity(iterations);
    let started = Instant::now();
    for _ in 0..iterations {
        let op_started = Instant::now();
        op();
        latencies.push(op_started.elapsed().as_nanos() as u64);
    }
    report(
        name,
        bytes_per_op,
        latencies,
        started.elapsed().as_secs_f64(),
    );
}

fn main() {
    let decoder = FrameDecoder::default();
    for serialize_type in [SerializeType::Json, SerializeType::RocketMq] {
        let frame = send_request(serialize_type);
        bench(
            &format!("decode send_v2 {}", serialize_type.name()),
            frame.len(),
            200_000,
            || {
                let decoded = decoder.decode(std::hint::black_box(&frame)).expect("valid");
                std::hint::black_box(decoded);
            },
        );
        let command = decoder.decode(&frame).expect("valid").expect("whole").0;
        let mut out = Vec::with_capacity(frame.len());
        bench(
            &format!("encode send_v2 {}", serialize_type.name()),
            frame.len(),
            200_000,
            || {
                out.clear();
                std::hint::black_box(&command)
                    .encode(&mut out)
                    .expect("encodable");
            },
        );
    }
    let body: Vec<u8> = (0..32).flat_map(record).collect();
    bench("decode 32 records (crc)", body.len(), 20_000, || {
        let mut position = 0;
        while position < body.len() {
            let (view, size) =
                wire::message::RecordView::decode(&body[position..], true).expect("valid");
            std::hint::black_box(view);
            position += size;
        }
    });
}
