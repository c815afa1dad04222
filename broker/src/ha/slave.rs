//! The slave's HA client: connects to its master's HA address (from the namesrv registration
//! answer or `haMasterAddress`), says what its log holds and whose it is (HELLO: extent and
//! epoch history), gives back its tail when a recovering master asks (TAKE_BACK), cuts its
//! log to what the master says they share (ACCEPT) and takes the master's history, then
//! appends the frames it receives at the same offsets and reports its end after each append
//! and every 5 s.
//!
//! Threads: one thread of its own, blocking on its socket. The broker sets the master's
//! address from the event loop ([`HaSlave::set_master`]) and hears of truncations through the
//! listener (to correct consumer offsets past the new end).
//!
//! A slave never keeps a byte that is not its master's at the same offset: it appends only
//! after the handshake, only frames that continue its log, and cuts what the master does not
//! share. Anything unexpected ends the session and the next handshake settles it again: the
//! slave always converges to its master.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::protocol::{
    decode_frame_header, encode_frame_header, encode_report, Control, FRAME_HEADER_SIZE,
    HANDSHAKE_MAGIC, TRANSFER_BATCH_SIZE,
};
use super::session::{append_waiting, read_control};
use crate::store::MessageStore;

const REPORT_INTERVAL: Duration = Duration::from_secs(5);
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);
const MASTER_SILENCE_MAX: Duration = Duration::from_secs(20);
/// A recovering master may take a while (taking back, dispatching) before it answers.
const HANDSHAKE_WAIT_MAX: Duration = Duration::from_secs(60);

/// Told the new end of the log after a truncation; must not block.
pub type TruncateListener = Arc<dyn Fn(u64) + Send + Sync>;

struct Shared {
    master: Mutex<Option<SocketAddr>>,
    stop: AtomicBool,
    connected: AtomicBool,
    store: Arc<MessageStore>,
    broker_name: String,
    on_truncate: Option<TruncateListener>,
    /// The last session's failure, so that one repeated every second is logged once.
    last_failure: Mutex<Option<String>>,
}

pub struct HaSlave {
    shared: Arc<Shared>,
}

impl HaSlave {
    pub fn start(
        store: Arc<MessageStore>,
        broker_name: &str,
        master: Option<SocketAddr>,
        on_truncate: Option<TruncateListener>,
    ) -> io::Result<HaSlave> {
        let shared = Arc::new(Shared {
            master: Mutex::new(master),
            stop: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            store,
            broker_name: broker_name.to_string(),
            on_truncate,
            last_failure: Mutex::new(None),
        });
        let running = shared.clone();
        std::thread::Builder::new()
            .name("ha-slave".into())
            .spawn(move || run(&running))?;
        Ok(HaSlave { shared })
    }

    pub fn set_master(&self, address: SocketAddr) {
        let mut master = self.shared.master.lock().unwrap_or_else(|p| p.into_inner());
        if *master != Some(address) {
            log::info!("HA master is {address}");
            *master = Some(address);
        }
    }

    /// Connected and past the handshake.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}

impl Drop for HaSlave {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared) {
    while !shared.stop.load(Ordering::Acquire) {
        let master = *shared.master.lock().unwrap_or_else(|p| p.into_inner());
        let Some(master) = master else {
            std::thread::sleep(RECONNECT_PAUSE);
            continue;
        };
        let ended = session(shared, master);
        shared.connected.store(false, Ordering::Release);
        if let Err(error) = ended {
            let failure = format!("HA connection to {master} ended: {error}");
            let mut last = shared
                .last_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.as_deref() != Some(failure.as_str()) {
                log::warn!("{failure}; retrying every second");
                *last = Some(failure);
            }
            drop(last);
            std::thread::sleep(RECONNECT_PAUSE);
        }
    }
}

fn session(shared: &Shared, master: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&master, Duration::from_secs(3))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(HANDSHAKE_WAIT_MAX))?;
    stream.set_write_timeout(Some(MASTER_SILENCE_MAX))?;
    handshake(shared, &mut stream)?;
    shared.connected.store(true, Ordering::Release);
    *shared
        .last_failure
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = None;
    let log = shared.store.commit_log();
    log::info!(
        "HA replicating from master {master} at offset {}",
        log.written_offset()
    );
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.write_all(&encode_report(log.written_offset()))?;
    replicate(shared, &mut stream)
}

/// HELLO, then TAKE_BACKs answered until the ACCEPT: cut to what is shared, take the
/// master's history.
fn handshake(shared: &Shared, stream: &mut TcpStream) -> io::Result<()> {
    let store = &shared.store;
    let log = store.commit_log();
    let hello = Control::Hello {
        log_start: log.min_offset(),
        log_end: log.written_offset(),
        broker_name: shared.broker_name.clone(),
        epochs: store.epochs(),
    };
    stream.write_all(&hello.encode())?;
    loop {
        let mut magic = [0u8; 8];
        stream.read_exact(&mut magic)?;
        if u64::from_be_bytes(magic) != HANDSHAKE_MAGIC {
            return Err(io::Error::other(
                "the master does not speak the epoch handshake (an Apache master?): \
                 not replicating from it",
            ));
        }
        match read_control(stream)? {
            Control::TakeBack { from } => send_tail(store, stream, from)?,
            Control::Accept {
                truncate_to,
                epochs,
            } => {
                let written = log.written_offset();
                if written > truncate_to {
                    let cut = store.truncate(truncate_to).map_err(io::Error::other)?;
                    let end = log.written_offset();
                    log::warn!(
                        "HA: this log held {cut} bytes its master does not share; cut back \
                         to {end}"
                    );
                    if let Some(listener) = &shared.on_truncate {
                        listener(end);
                    }
                }
                store.adopt_epochs(epochs).map_err(io::Error::other)?;
                return Ok(());
            }
            other => return Err(io::Error::other(format!("unexpected {other:?}"))),
        }
    }
}

/// Gives a recovering master this log from `from` to its end, then an empty frame there.
fn send_tail(store: &MessageStore, stream: &mut TcpStream, from: u64) -> io::Result<()> {
    let log = store.commit_log();
    let end = log.written_offset();
    if from > end || from < log.min_offset() {
        return Err(io::Error::other(format!(
            "asked for {from}, this log holds up to {end}"
        )));
    }
    log::warn!(
        "HA: giving the master back {} bytes from {from}",
        end - from
    );
    let mut at = from;
    while at < end {
        let bytes = log
            .read(at, TRANSFER_BATCH_SIZE.min((end - at) as usize))
            .map_err(io::Error::other)?;
        if bytes.is_empty() {
            break;
        }
        stream.write_all(&encode_frame_header(at, bytes.len()))?;
        stream.write_all(&bytes)?;
        at += bytes.len() as u64;
    }
    stream.write_all(&encode_frame_header(at, 0))
}

/// Appends the master's frames until the connection ends.
fn replicate(shared: &Shared, stream: &mut TcpStream) -> io::Result<()> {
    let log = shared.store.commit_log();
    let mut last_report = Instant::now();
    let mut last_heard = Instant::now();
    let mut body = Vec::new();
    while !shared.stop.load(Ordering::Acquire) {
        let mut header = [0u8; FRAME_HEADER_SIZE];
        if read_full(stream, &mut header)? {
            last_heard = Instant::now();
        } else {
            if last_heard.elapsed() > MASTER_SILENCE_MAX {
                return Err(io::Error::other("master silent for 20 s"));
            }
            if last_report.elapsed() >= REPORT_INTERVAL {
                stream.write_all(&encode_report(log.written_offset()))?;
                last_report = Instant::now();
            }
            continue;
        }
        let (offset, size) = decode_frame_header(header).map_err(io::Error::other)?;
        body.resize(size, 0);
        read_body(stream, &mut body)?;
        apply(shared, offset, &body)?;
        if size > 0 || last_report.elapsed() >= REPORT_INTERVAL {
            stream.write_all(&encode_report(log.written_offset()))?;
            last_report = Instant::now();
        }
    }
    Err(io::Error::other("stopping"))
}

/// Appends a frame's body (a heartbeat when empty) after checking it continues our log.
fn apply(shared: &Shared, offset: u64, body: &[u8]) -> io::Result<()> {
    let written = shared.store.commit_log().written_offset();
    if body.is_empty() {
        if offset < written {
            return Err(io::Error::other(format!(
                "the master's log ends at {offset}, before ours at {written}"
            )));
        }
        return Ok(());
    }
    append_waiting(&shared.store, offset, body)
}

/// Reads exactly `buffer`, or nothing: `Ok(false)` when no byte arrived before the read
/// timeout. A timeout in the middle keeps reading (the rest is on its way).
fn read_full(stream: &mut TcpStream, buffer: &mut [u8]) -> io::Result<bool> {
    let deadline = Instant::now() + MASTER_SILENCE_MAX;
    let mut done = 0;
    while done < buffer.len() {
        if done > 0 && Instant::now() > deadline {
            return Err(io::Error::other("master stalled inside a frame header"));
        }
        match stream.read(&mut buffer[done..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "master closed",
                ))
            }
            Ok(read) => done += read,
            Err(error) if is_timeout(&error) && done == 0 => return Ok(false),
            Err(error) if is_timeout(&error) || error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(true)
}

fn read_body(stream: &mut TcpStream, body: &mut [u8]) -> io::Result<()> {
    if body.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + MASTER_SILENCE_MAX;
    let mut done = 0;
    while done < body.len() {
        match stream.read(&mut body[done..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "master closed",
                ))
            }
            Ok(read) => done += read,
            Err(error) if is_timeout(&error) && Instant::now() < deadline => {}
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
