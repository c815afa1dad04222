//! The real `namesrv` under hostile or heavy peers: garbage and lying frames, slow loris,
//! pipelining, signals, a thousand connections, running out of descriptors.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use integration::{RawClient, TempDir};
use wire::{ResponseCode, SerializeType};

#[test]
fn garbage_and_lying_frames_close_only_their_connection() {
    let namesrv = start_namesrv("");
    let mut good = client(&namesrv);
    let cases: Vec<Vec<u8>> = vec![
        vec![0xFF; 64],                                       // negative length
        100_000_000i32.to_be_bytes().to_vec(),                // 100 MB claim
        [&20i32.to_be_bytes()[..], &[0, 0, 0, 100]].concat(), // header longer than frame
        [&12i32.to_be_bytes()[..], &[0, 0, 0, 8], b"{bad json"].concat(),
        [&12i32.to_be_bytes()[..], &[9, 0, 0, 8], b"whatever"].concat(), // serialize type 9
    ];
    for bytes in cases {
        let mut bad = client(&namesrv);
        bad.send_bytes(&bytes).unwrap();
        assert!(
            bad.is_closed_by_peer(Duration::from_secs(5)),
            "{bytes:?} left open"
        );
        let response = good
            .call(route_request("T", 409, SerializeType::Json))
            .unwrap();
        assert_eq!(response.response_code(), ResponseCode::TOPIC_NOT_EXIST);
    }
}

#[test]
fn slow_loris_does_not_delay_anyone_else() {
    let namesrv = start_namesrv("");
    let frame = route_request("T", 409, SerializeType::Json)
        .to_frame()
        .unwrap();
    let mut lorises: Vec<RawClient> = (0..20).map(|_| client(&namesrv)).collect();
    for loris in &mut lorises {
        loris.send_bytes(&frame[..frame.len() / 2]).unwrap();
    }
    let mut good = client(&namesrv);
    for _ in 0..50 {
        let started = Instant::now();
        let response = good
            .call(route_request("T", 409, SerializeType::Json))
            .unwrap();
        assert_eq!(response.response_code(), ResponseCode::TOPIC_NOT_EXIST);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "stalled behind a slow loris"
        );
    }
    // A loris that finally completes its frame is answered too.
    lorises[0].send_bytes(&frame[frame.len() / 2..]).unwrap();
    let response = lorises[0].receive(Duration::from_secs(5)).unwrap();
    assert_eq!(response.response_code(), ResponseCode::TOPIC_NOT_EXIST);
}

#[test]
fn byte_by_byte_and_pipelined_frames() {
    let namesrv = start_namesrv("");
    let mut asker = client(&namesrv);
    let mut batch = Vec::new();
    for opaque in 1..=20 {
        let mut request = route_request("T", 409, SerializeType::RocketMq);
        request.opaque = opaque;
        request.encode(&mut batch).unwrap();
    }
    asker.send_bytes(&batch).unwrap();
    for opaque in 1..=20 {
        assert_eq!(
            asker.receive(Duration::from_secs(5)).unwrap().opaque,
            opaque
        );
    }
    let mut request = route_request("T", 409, SerializeType::Json);
    request.opaque = 99;
    for byte in request.to_frame().unwrap() {
        asker.stream().write_all(&[byte]).unwrap();
    }
    assert_eq!(asker.receive(Duration::from_secs(5)).unwrap().opaque, 99);
}

#[test]
fn sigterm_stops_cleanly() {
    let mut namesrv = start_namesrv("");
    let _ = client(&namesrv)
        .call(route_request("T", 409, SerializeType::Json))
        .unwrap();
    namesrv.process.signal(libc::SIGTERM);
    let status = namesrv
        .process
        .wait_timeout(Duration::from_secs(10))
        .expect("exited");
    assert!(status.success(), "{status:?}");
}

#[test]
fn thousand_concurrent_connections_query_routes() {
    integration::raise_fd_limit(4096);
    let namesrv = start_namesrv("");
    let mut broker = client(&namesrv);
    broker
        .call(register_request(
            "broker-a",
            0,
            "127.0.0.1:1",
            register_body(1, &[("T", 4)]),
        ))
        .unwrap();
    let addr = namesrv.addr;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            std::thread::spawn(move || {
                let mut clients: Vec<RawClient> = (0..125)
                    .map(|_| RawClient::connect(addr).unwrap())
                    .collect();
                let mut ok = 0;
                for round in 0..4 {
                    let serialize_type = if round % 2 == 0 {
                        SerializeType::Json
                    } else {
                        SerializeType::RocketMq
                    };
                    for c in &mut clients {
                        c.send(&mut route_request("T", 409, serialize_type))
                            .unwrap();
                    }
                    for c in &mut clients {
                        let response = c.receive(Duration::from_secs(30)).unwrap();
                        assert_eq!(response.response_code(), ResponseCode::SUCCESS);
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, 1000 * 4);
}

#[test]
fn out_of_descriptors_then_recovers() {
    // With 40 descriptors the namesrv runs out while 60 clients connect: the kernel queues the
    // rest, accept fails with EMFILE, and the loop must keep retrying (no new edge will come)
    // so that every client is served once others leave.
    let dir = TempDir::new("namesrv-emfile");
    let config_path = dir.path().join("namesrv.properties");
    let kv = dir.path().join("kv.json");
    let config = format!(
        "listenPort=0\nbindAddress=127.0.0.1\nkvConfigPath={}\n",
        kv.display()
    );
    std::fs::write(&config_path, config).unwrap();
    let config_arg = config_path.display().to_string();
    let (_process, addr) =
        integration::spawn_server_with_fd_limit("namesrv", &["-c", &config_arg], dir.path(), 40);
    let mut clients: Vec<RawClient> = (0..60).map(|_| RawClient::connect(addr).unwrap()).collect();
    for client in &mut clients {
        client
            .send(&mut route_request("T", 409, SerializeType::Json))
            .unwrap();
    }
    // Those accepted answer now; then they leave, freeing descriptors for the queued ones.
    let mut answered = Vec::new();
    let mut waiting = Vec::new();
    for mut client in clients {
        match client.receive(Duration::from_millis(100)) {
            Ok(response) => {
                assert_eq!(response.response_code(), ResponseCode::TOPIC_NOT_EXIST);
                answered.push(client);
            }
            Err(_) => waiting.push(client),
        }
    }
    let count = answered.len();
    assert!(
        count > 0 && !waiting.is_empty(),
        "answered {count} of 60 within 40 descriptors"
    );
    drop(answered);
    for client in &mut waiting {
        let response = client.receive(Duration::from_secs(10)).unwrap();
        assert_eq!(response.response_code(), ResponseCode::TOPIC_NOT_EXIST);
    }
    let log = std::fs::read_to_string(dir.path().join("namesrv.log")).unwrap();
    assert!(
        log.contains("accept failed"),
        "the EMFILE path was not exercised:\n{log}"
    );
}
