//! Route-query throughput and latency of an in-process namesrv over loopback.
//!
//! `cargo bench -p namesrv --bench route_query -- [SECONDS] [THREADS] [CONNECTIONS_PER_THREAD]`
//! Each client thread keeps one GET_ROUTEINFO_BY_TOPIC in flight on each of its connections and
//! records every request's round trip; the summary line is what BENCHMARKS.md quotes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use namesrv::config::NamesrvConfig;
use namesrv::server::Server;
use wire::{FrameDecoder, RemotingCommand, RequestCode, ResponseCode};

static STOP: AtomicBool = AtomicBool::new(false);

fn arg(index: usize, default: u64) -> u64 {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .nth(index)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn register(addr: SocketAddr) {
    let body = br#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":1,"timestamp":1},"topicConfigTable":{"BenchTopic":{"order":false,"perm":6,"readQueueNums":8,"topicFilterType":"SINGLE_TAG","topicName":"BenchTopic","topicSysFlag":0,"writeQueueNums":8}}}}"#;
    let request = RemotingCommand::request(RequestCode::REGISTER_BROKER, 1)
        .with_ext("brokerName", "broker-a")
        .with_ext("brokerAddr", "127.0.0.1:10911")
        .with_ext("clusterName", "BenchCluster")
        .with_ext("haServerAddr", "127.0.0.1:10912")
        .with_ext("brokerId", "0")
        .with_ext("compressed", "false")
        .with_ext("bodyCrc32", "0")
        .with_body(body.to_vec());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&request.to_frame().unwrap()).unwrap();
    let response = read_frame(&mut stream, &mut Vec::new());
    assert_eq!(response.response_code(), ResponseCode::SUCCESS);
    // Keep the broker connection open for the whole run: closing it would drop the route.
    std::mem::forget(stream);
}

fn read_frame(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> RemotingCommand {
    let decoder = FrameDecoder::default();
    loop {
        if let Some((command, size)) = decoder.decode(buffer).unwrap() {
            buffer.drain(..size);
            return command;
        }
        let mut chunk = [0u8; 16 * 1024];
        let read = stream.read(&mut chunk).unwrap();
        assert!(read > 0, "namesrv closed the connection");
        buffer.extend_from_slice(&chunk[..read]);
    }
}

fn client(addr: SocketAddr, connections: usize, deadline: Instant) -> Vec<u32> {
    let mut streams: Vec<(TcpStream, Vec<u8>)> = (0..connections)
        .map(|_| {
            let stream = TcpStream::connect(addr).unwrap();
            stream.set_nodelay(true).unwrap();
            (stream, Vec::new())
        })
        .collect();
    let frame = RemotingCommand::request(RequestCode::GET_ROUTEINFO_BY_TOPIC, 7)
        .with_ext("topic", "BenchTopic")
        .to_frame()
        .unwrap();
    let mut latencies_us = Vec::new();
    let mut sent_at = vec![Instant::now(); connections];
    while Instant::now() < deadline {
        for (index, (stream, _)) in streams.iter_mut().enumerate() {
            sent_at[index] = Instant::now();
            stream.write_all(&frame).unwrap();
        }
        for (index, (stream, buffer)) in streams.iter_mut().enumerate() {
            let response = read_frame(stream, buffer);
            assert_eq!(response.response_code(), ResponseCode::SUCCESS);
            latencies_us.push(sent_at[index].elapsed().as_micros() as u32);
        }
    }
    latencies_us
}

fn main() {
    let seconds = arg(0, 5);
    let threads = arg(1, 4) as usize;
    let connections = arg(2, 16) as usize;
    let address: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let config = NamesrvConfig {
        kv_config_path: std::env::temp_dir().join(format!("bench-kv-{}.json", std::process::id())),
        ..NamesrvConfig::default()
    };
    let server = Server::bind(config, address).unwrap();
    let addr = server.local_addr();
    let server_thread = std::thread::spawn(move || server.run(&STOP).unwrap());
    register(addr);

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(move || client(addr, connections, deadline)))
        .collect();
    let mut latencies: Vec<u32> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "route_query: {} queries in {elapsed:.1} s = {:.0} queries/s; {threads}x{connections} \
         connections; latency us p50 {} p99 {} p999 {} max {}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        percentile(0.50),
        percentile(0.99),
        percentile(0.999),
        latencies[latencies.len() - 1]
    );
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    server_thread.join().unwrap();
}
