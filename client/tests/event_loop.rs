//! The event loop against real sockets on 127.0.0.1: echo, pipelining, partial frames,
//! hostile frames, back-pressure, idle timeout, outbound connects, remote messages, stop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use client::net::{CloseReason, ConnectionId, Context, EventLoop, Handler, LoopConfig, Remote};
use wire::{FrameDecoder, RemotingCommand, RequestCode, ResponseCode};

/// Answers every request with SUCCESS and a body of `reply_size` bytes; counts requests.
struct Echo {
    reply_size: usize,
    requests: Arc<AtomicUsize>,
    events: mpsc::Sender<String>,
    remembered: Option<ConnectionId>,
}

enum Message {
    /// Reply "pushed" on the last connection that sent a request.
    Push,
    /// Connect to this address and send one request there.
    Dial(SocketAddr),
}

impl Handler for Echo {
    type Message = Message;

    fn on_command(&mut self, ctx: &mut Context<'_>, id: ConnectionId, command: RemotingCommand) {
        if command.is_response() {
            let _ = self.events.send(format!("response {}", command.opaque));
            return;
        }
        self.requests.fetch_add(1, Ordering::SeqCst);
        self.remembered = Some(id);
        let response = RemotingCommand::response_to(&command, ResponseCode::SUCCESS);
        let body = vec![b'r'; self.reply_size];
        assert!(ctx.send_with_body(id, &response, &body));
    }

    fn on_connected(&mut self, ctx: &mut Context<'_>, id: ConnectionId) {
        let _ = self.events.send("connected".into());
        ctx.send(id, &RemotingCommand::request(RequestCode::HEART_BEAT, 4242));
    }

    fn on_close(&mut self, _ctx: &mut Context<'_>, _id: ConnectionId, reason: &CloseReason) {
        let _ = self.events.send(format!("closed {reason}"));
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: Message) {
        match message {
            Message::Push => {
                if let Some(id) = self.remembered {
                    let push =
                        RemotingCommand::request(RequestCode::NOTIFY_CONSUMER_IDS_CHANGED, 99);
                    ctx.send(id, &push);
                }
            }
            Message::Dial(addr) => {
                ctx.connect(addr).unwrap();
            }
        }
    }
}

struct Server {
    addr: SocketAddr,
    remote: Remote<Message>,
    requests: Arc<AtomicUsize>,
    events: mpsc::Receiver<String>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.remote.stop();
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

fn start(config: LoopConfig, reply_size: usize) -> Server {
    let mut event_loop = EventLoop::<Echo>::new(config).unwrap();
    let addr = event_loop.listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let remote = event_loop.remote();
    let requests = Arc::new(AtomicUsize::new(0));
    let (sender, events) = mpsc::channel();
    let mut handler = Echo {
        reply_size,
        requests: Arc::clone(&requests),
        events: sender,
        remembered: None,
    };
    let thread = thread::spawn(move || event_loop.run(&mut handler).unwrap());
    Server {
        addr,
        remote,
        requests,
        events,
        thread: Some(thread),
    }
}

struct Peer {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Peer {
    fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Peer {
            stream,
            buffer: Vec::new(),
        }
    }

    fn send(&mut self, opaque: i32) {
        let frame = RemotingCommand::request(RequestCode::HEART_BEAT, opaque)
            .to_frame()
            .unwrap();
        self.stream.write_all(&frame).unwrap();
    }

    fn receive(&mut self) -> RemotingCommand {
        loop {
            if let Some((command, size)) = FrameDecoder::default().decode(&self.buffer).unwrap() {
                self.buffer.drain(..size);
                return command;
            }
            let mut chunk = [0u8; 65536];
            let read = self.stream.read(&mut chunk).expect("read before timeout");
            assert!(read > 0, "server closed the connection");
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    fn closed_by_server(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// The counter's value once it has stopped moving for 100 ms (within 10 s): what a peer got
/// done before the loop stopped reading it.
fn settled_count(counter: &AtomicUsize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = counter.load(Ordering::SeqCst);
    loop {
        thread::sleep(Duration::from_millis(100));
        let now = counter.load(Ordering::SeqCst);
        if now == last || Instant::now() >= deadline {
            return now;
        }
        last = now;
    }
}

fn wait_for(events: &mpsc::Receiver<String>, wanted: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(event) if event.starts_with(wanted) => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn echo_pipelined_and_byte_by_byte() {
    let server = start(LoopConfig::default(), 3);
    let mut peer = Peer::connect(server.addr);
    let mut batch = Vec::new();
    for opaque in 0..200 {
        RemotingCommand::request(RequestCode::HEART_BEAT, opaque)
            .encode(&mut batch)
            .unwrap();
    }
    peer.stream.write_all(&batch).unwrap();
    for opaque in 0..200 {
        let response = peer.receive();
        assert_eq!(response.opaque, opaque, "responses in request order");
        assert!(response.is_response());
        assert_eq!(response.body, b"rrr");
    }
    let frame = RemotingCommand::request(RequestCode::HEART_BEAT, 777)
        .to_frame()
        .unwrap();
    for byte in frame {
        peer.stream.write_all(&[byte]).unwrap();
    }
    assert_eq!(peer.receive().opaque, 777);
}

#[test]
fn hostile_frames_close_only_their_connection() {
    let server = start(LoopConfig::default(), 0);
    let mut good = Peer::connect(server.addr);
    for garbage in [
        &100_000_000i32.to_be_bytes()[..],
        &[0xff; 16],
        b"\x00\x00\x00\x10\x05\x00\x00\x01",
    ] {
        let mut bad = Peer::connect(server.addr);
        bad.stream.write_all(garbage).unwrap();
        assert!(bad.closed_by_server(), "{garbage:?}");
        good.send(1);
        assert_eq!(good.receive().opaque, 1);
    }
    assert!(wait_for(&server.events, "closed undecodable frame"));
}

#[test]
fn slow_loris_does_not_delay_others() {
    let server = start(LoopConfig::default(), 0);
    let frame = RemotingCommand::request(RequestCode::HEART_BEAT, 5)
        .to_frame()
        .unwrap();
    let mut loris = Peer::connect(server.addr);
    loris.stream.write_all(&frame[..frame.len() - 1]).unwrap();
    let mut good = Peer::connect(server.addr);
    for opaque in 0..100 {
        let started = Instant::now();
        good.send(opaque);
        assert_eq!(good.receive().opaque, opaque);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    loris.stream.write_all(&frame[frame.len() - 1..]).unwrap();
    assert_eq!(loris.receive().opaque, 5);
}

#[test]
fn many_connections() {
    let server = start(LoopConfig::default(), 16);
    let mut peers: Vec<Peer> = (0..200).map(|_| Peer::connect(server.addr)).collect();
    for round in 0..5 {
        for peer in &mut peers {
            peer.send(round);
        }
        for peer in &mut peers {
            assert_eq!(peer.receive().opaque, round);
        }
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 1000);
}

#[test]
fn back_pressure_stops_reading_a_peer_that_does_not_read() {
    let config = LoopConfig {
        write_queue_size_max: 1 << 20,
        ..LoopConfig::default()
    };
    let server = start(config, 256 * 1024);
    let mut hog = Peer::connect(server.addr);
    let mut batch = Vec::new();
    for opaque in 0..200 {
        RemotingCommand::request(RequestCode::HEART_BEAT, opaque)
            .encode(&mut batch)
            .unwrap();
    }
    hog.stream.write_all(&batch).unwrap();
    // The loop answers until ~1 MiB (plus what the kernel buffers) is unsent, then stops
    // reading the hog's requests: 200 answers would be 50 MiB.
    let answered = settled_count(&server.requests);
    assert!(
        answered < 200,
        "read all {answered} requests of a peer that never reads"
    );
    // Everyone else is still served.
    let mut other = Peer::connect(server.addr);
    other.send(1);
    assert_eq!(other.receive().opaque, 1);
    // Once the hog reads, the rest of its requests are processed.
    for opaque in 0..200 {
        assert_eq!(hog.receive().opaque, opaque);
    }
    assert_eq!(server.requests.load(Ordering::SeqCst), 201);
}

#[test]
fn idle_connections_are_closed() {
    let config = LoopConfig {
        idle_timeout: Some(Duration::from_millis(300)),
        tick_interval: Duration::from_millis(20),
        ..LoopConfig::default()
    };
    let server = start(config, 0);
    let mut busy = Peer::connect(server.addr);
    let mut idle = Peer::connect(server.addr);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(600) {
        busy.send(1);
        assert_eq!(busy.receive().opaque, 1);
        thread::sleep(Duration::from_millis(50));
    }
    assert!(idle.closed_by_server());
    assert!(wait_for(&server.events, "closed idle timeout"));
    busy.send(2);
    assert_eq!(busy.receive().opaque, 2, "a busy connection is not idle");
}

#[test]
fn remote_messages_and_outbound_connects() {
    let server = start(LoopConfig::default(), 0);
    let mut peer = Peer::connect(server.addr);
    peer.send(1);
    assert_eq!(peer.receive().opaque, 1);
    // From another thread: a server-initiated request on that peer's connection.
    let remote = server.remote.clone();
    thread::spawn(move || assert!(remote.send(Message::Push).is_ok()))
        .join()
        .unwrap();
    let push = peer.receive();
    assert_eq!(
        push.request_code(),
        RequestCode::NOTIFY_CONSUMER_IDS_CHANGED
    );
    assert!(!push.is_response());
    // The loop dials its own listener, sends a request and gets the answer back.
    server.remote.send(Message::Dial(server.addr)).ok().unwrap();
    assert!(wait_for(&server.events, "connected"));
    assert!(wait_for(&server.events, "response 4242"));
    // A refused connect is reported as a close.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = unused.local_addr().unwrap();
    drop(unused);
    server.remote.send(Message::Dial(addr)).ok().unwrap();
    assert!(wait_for(&server.events, "closed connect failed"));
}

#[test]
fn stop_returns_from_run() {
    let mut server = start(LoopConfig::default(), 0);
    let mut peer = Peer::connect(server.addr);
    server.remote.stop();
    server.thread.take().unwrap().join().unwrap();
    assert!(peer.closed_by_server());
}

#[test]
fn stopping_writes_out_what_is_queued_first() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).unwrap();
        let (decoder, mut frames, mut position) = (FrameDecoder::default(), 0, 0);
        while let Ok(Some((_, size))) = decoder.decode(&bytes[position..]) {
            position += size;
            frames += 1;
        }
        frames
    });
    let client = client::remoting::RemotingClient::start(None).unwrap();
    // 32 MiB of oneway frames: far more than a socket buffer takes at once.
    let count = 4096;
    for _ in 0..count {
        let command =
            RemotingCommand::request(RequestCode::SEND_MESSAGE, 0).with_body(vec![7u8; 8192]);
        client.invoke_oneway(addr, command).unwrap();
    }
    client.shutdown();
    assert_eq!(reader.join().unwrap(), count);
}

#[test]
fn every_frame_before_a_close_is_handled() {
    let server = start(LoopConfig::default(), 0);
    let mut batch = Vec::new();
    for opaque in 0..1000 {
        let mut request = RemotingCommand::request(RequestCode::SEND_MESSAGE, opaque);
        request.mark_oneway();
        request.encode(&mut batch).unwrap();
    }
    // Far more frames than one pass decodes, then the close right behind them.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(&batch).unwrap();
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests.load(Ordering::SeqCst) < 1000 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(settled_count(&server.requests), 1000);
}
