//! The slave's HA client: connects to its master's HA address (from the namesrv registration
//! answer or `haMasterAddress`), reports the end of its own log, appends the frames it
//! receives at the same offsets, and reports again after each append and every 5 s.
//!
//! Threads: one thread of its own, blocking on its socket. The broker sets the master's
//! address from the event loop ([`HaSlave::set_master`]).
//!
//! A frame for another offset than the end of the log means the two logs diverged; a master
//! announcing an end below ours means this log is ahead of it. Either way the slave stops
//! replicating and says so in the log, rather than overwrite or skip anything.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::protocol::{decode_frame_header, encode_report, FRAME_HEADER_SIZE};
use crate::store::{MessageStore, StoreError};

const REPORT_INTERVAL: Duration = Duration::from_secs(5);
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);
const MASTER_SILENCE_MAX: Duration = Duration::from_secs(20);

struct Shared {
    master: Mutex<Option<SocketAddr>>,
    stop: AtomicBool,
    diverged: AtomicBool,
    connected: AtomicBool,
    store: Arc<MessageStore>,
}

pub struct HaSlave {
    shared: Arc<Shared>,
}

/// Why a session ended.
enum End {
    /// Connection trouble: try again.
    Retry(io::Error),
    /// The logs do not continue each other: stop for good.
    Diverged(String),
}

impl From<io::Error> for End {
    fn from(error: io::Error) -> Self {
        End::Retry(error)
    }
}

impl HaSlave {
    pub fn start(store: Arc<MessageStore>, master: Option<SocketAddr>) -> io::Result<HaSlave> {
        let shared = Arc::new(Shared {
            master: Mutex::new(master),
            stop: AtomicBool::new(false),
            diverged: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            store,
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

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    pub fn has_diverged(&self) -> bool {
        self.shared.diverged.load(Ordering::Acquire)
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
        match ended {
            End::Retry(error) => {
                log::warn!("HA connection to {master} lost: {error}; retrying");
                std::thread::sleep(RECONNECT_PAUSE);
            }
            End::Diverged(reason) => {
                log::error!("HA replication from {master} stopped: {reason}");
                shared.diverged.store(true, Ordering::Release);
                return;
            }
        }
    }
}

fn session(shared: &Shared, master: SocketAddr) -> End {
    let mut stream = match TcpStream::connect_timeout(&master, Duration::from_secs(3)) {
        Ok(stream) => stream,
        Err(error) => return End::Retry(error),
    };
    let log = shared.store.commit_log();
    let setup = (|| -> io::Result<()> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        stream.write_all(&encode_report(log.written_offset()))
    })();
    if let Err(error) = setup {
        return End::Retry(error);
    }
    shared.connected.store(true, Ordering::Release);
    log::info!(
        "HA connected to master {master} at offset {}",
        log.written_offset()
    );
    let mut last_report = Instant::now();
    let mut last_heard = Instant::now();
    let mut body = Vec::new();
    while !shared.stop.load(Ordering::Acquire) {
        let mut header = [0u8; FRAME_HEADER_SIZE];
        match read_full(&mut stream, &mut header) {
            Ok(true) => last_heard = Instant::now(),
            Ok(false) => {
                if last_heard.elapsed() > MASTER_SILENCE_MAX {
                    return End::Retry(io::Error::other("master silent for 20 s"));
                }
                if last_report.elapsed() >= REPORT_INTERVAL {
                    if let Err(error) = stream.write_all(&encode_report(log.written_offset())) {
                        return End::Retry(error);
                    }
                    last_report = Instant::now();
                }
                continue;
            }
            Err(error) => return End::Retry(error),
        }
        let (offset, size) = match decode_frame_header(header) {
            Ok(frame) => frame,
            Err(reason) => return End::Retry(io::Error::other(reason)),
        };
        body.resize(size, 0);
        if let Err(error) = read_body(&mut stream, &mut body) {
            return End::Retry(error);
        }
        if let Err(end) = apply(shared, offset, &body) {
            return end;
        }
        if size > 0 || last_report.elapsed() >= REPORT_INTERVAL {
            if let Err(error) = stream.write_all(&encode_report(log.written_offset())) {
                return End::Retry(error);
            }
            last_report = Instant::now();
        }
    }
    End::Retry(io::Error::other("stopping"))
}

/// Appends a frame's body (a heartbeat when empty) after checking it continues our log.
fn apply(shared: &Shared, offset: u64, body: &[u8]) -> Result<(), End> {
    let written = shared.store.commit_log().written_offset();
    if body.is_empty() {
        if offset < written {
            return Err(End::Diverged(format!(
                "this slave's log ends at {written}, ahead of the master's {offset}"
            )));
        }
        return Ok(());
    }
    match shared.store.append_replica(offset, body) {
        Ok(_) => Ok(()),
        Err(error @ StoreError::ReplicaOffsetMismatch { .. }) => Err(End::Diverged(format!(
            "the master's log does not continue ours: {error}"
        ))),
        Err(StoreError::Config(reason)) => Err(End::Diverged(reason)),
        Err(error) => Err(End::Retry(io::Error::other(error.to_string()))),
    }
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
