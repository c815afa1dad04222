//! The master's HA service: accepts slaves on `haListenPort` and streams its commit log to
//! each from the offset the slave reports, in frames of at most 32 KiB that never cross a
//! segment end, so the slave's files come out byte-identical. Each slave's reports raise
//! `slave_acked_offset`, which SYNC_MASTER sends wait for.
//!
//! Threads: an acceptor, and per slave a writer (this module's `serve`) and a report reader.
//! They block on their own sockets, never on the event loop; the loop learns of new acked
//! offsets through the callback (a loop message).
//!
//! Rules: a slave reporting 0 gets the log from the master's first segment; a slave ahead of
//! the master is told where the master ends (a heartbeat frame) and dropped; a slave silent
//! for 20 s is dropped; an idle connection carries a heartbeat every 5 s.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::protocol::{decode_report, encode_frame_header, REPORT_SIZE, TRANSFER_BATCH_SIZE};
use crate::store::MessageStore;

const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
const SLAVE_SILENCE_MAX: Duration = Duration::from_secs(20);

/// Called with every new acked offset, on an HA thread; must not block.
pub type AckListener = Arc<dyn Fn(u64) + Send + Sync>;

struct Shared {
    acked_offset: AtomicU64,
    slaves: AtomicUsize,
    stop: AtomicBool,
    store: Arc<MessageStore>,
    on_ack: AckListener,
}

pub struct HaMaster {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl HaMaster {
    /// Binds `address` and starts accepting slaves.
    pub fn start(
        address: SocketAddr,
        store: Arc<MessageStore>,
        on_ack: AckListener,
    ) -> io::Result<HaMaster> {
        let listener = TcpListener::bind(address)?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            acked_offset: AtomicU64::new(0),
            slaves: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            store,
            on_ack,
        });
        let accepting = shared.clone();
        std::thread::Builder::new()
            .name("ha-accept".into())
            .spawn(move || accept(listener, accepting))?;
        log::info!("HA service listening on {local_addr}");
        Ok(HaMaster { shared, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The highest offset any connected slave reported holding.
    pub fn slave_acked_offset(&self) -> u64 {
        self.shared.acked_offset.load(Ordering::Acquire)
    }

    pub fn slave_count(&self) -> usize {
        self.shared.slaves.load(Ordering::Acquire)
    }

    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the acceptor.
        let _ = TcpStream::connect_timeout(&self.local_addr, Duration::from_millis(200));
    }
}

impl Drop for HaMaster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                log::warn!("HA accept failed: {error}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let serving = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("ha-slave".into())
            .spawn(move || {
                let peer = stream.peer_addr().ok();
                if let Err(error) = serve(stream, &serving) {
                    log::warn!("HA slave {peer:?} dropped: {error}");
                }
            });
        if let Err(error) = spawned {
            log::error!("cannot start an HA slave thread: {error}");
        }
    }
}

fn read_report(stream: &mut TcpStream) -> io::Result<u64> {
    let mut report = [0u8; REPORT_SIZE];
    stream.read_exact(&mut report)?;
    Ok(decode_report(report))
}

/// Serves one slave until it goes or the master stops.
fn serve(mut stream: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SLAVE_SILENCE_MAX))?;
    stream.set_write_timeout(Some(SLAVE_SILENCE_MAX))?;
    let log = shared.store.commit_log().clone();
    let reported = read_report(&mut stream)?;
    let written = log.written_offset();
    if reported > written {
        // Tell it where we end, then refuse: its log holds what ours does not.
        stream.write_all(&encode_frame_header(written, 0))?;
        let _ = stream.shutdown(Shutdown::Both);
        return Err(io::Error::other(format!(
            "slave log ends at {reported}, past the master's {written}: refused"
        )));
    }
    let mut transfer_offset = if reported == 0 {
        log.min_offset()
    } else {
        reported
    };
    log::info!("HA slave connected, reports {reported}; sending from {transfer_offset}");
    let alive = Arc::new(AtomicBool::new(true));
    // Where this slave's log ends as far as we know: what it held when it connected, then
    // what we sent. A report past it is not believed (a confused or hostile peer must not
    // release SYNC_MASTER answers for bytes it never received).
    let sent = Arc::new(AtomicU64::new(reported));
    let reader = (alive.clone(), sent.clone());
    spawn_report_reader(stream.try_clone()?, shared.clone(), reader, reported)?;
    shared.slaves.fetch_add(1, Ordering::AcqRel);
    let result = transfer(&mut stream, shared, (&alive, &sent), &mut transfer_offset);
    shared.slaves.fetch_sub(1, Ordering::AcqRel);
    alive.store(false, Ordering::Release);
    let _ = stream.shutdown(Shutdown::Both);
    result
}

/// Streams frames from `transfer_offset` while the slave is alive.
fn transfer(
    stream: &mut TcpStream,
    shared: &Shared,
    (alive, sent): (&AtomicBool, &AtomicU64),
    transfer_offset: &mut u64,
) -> io::Result<()> {
    let log = shared.store.commit_log();
    let mut last_write = Instant::now();
    while alive.load(Ordering::Acquire) && !shared.stop.load(Ordering::Acquire) {
        if *transfer_offset < log.min_offset() {
            return Err(io::Error::other(format!(
                "slave needs offset {transfer_offset}, already removed by retention"
            )));
        }
        let bytes = if *transfer_offset < log.written_offset() {
            log.read(*transfer_offset, TRANSFER_BATCH_SIZE)
                .map_err(|e| io::Error::other(e.to_string()))?
        } else {
            Vec::new()
        };
        if bytes.is_empty() {
            if last_write.elapsed() >= HEARTBEAT_INTERVAL {
                stream.write_all(&encode_frame_header(*transfer_offset, 0))?;
                last_write = Instant::now();
            }
            shared
                .store
                .wait_for_data(*transfer_offset, Duration::from_millis(500));
            continue;
        }
        // Raised before the write: the slave's report of these bytes can arrive before the
        // write call returns here.
        sent.fetch_max(*transfer_offset + bytes.len() as u64, Ordering::AcqRel);
        stream.write_all(&encode_frame_header(*transfer_offset, bytes.len()))?;
        stream.write_all(&bytes)?;
        *transfer_offset += bytes.len() as u64;
        last_write = Instant::now();
    }
    Ok(())
}

fn spawn_report_reader(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    (alive, sent): (Arc<AtomicBool>, Arc<AtomicU64>),
    first: u64,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("ha-reports".into())
        .spawn(move || {
            let mut acked = first;
            note_ack(&shared, acked);
            while alive.load(Ordering::Acquire) {
                match read_report(&mut stream) {
                    Ok(offset) => {
                        let offset = offset.min(sent.load(Ordering::Acquire));
                        if offset > acked {
                            acked = offset;
                            note_ack(&shared, acked);
                        }
                    }
                    Err(error) => {
                        log::info!("HA slave reports ended: {error}");
                        break;
                    }
                }
            }
            alive.store(false, Ordering::Release);
        })?;
    Ok(())
}

fn note_ack(shared: &Shared, offset: u64) {
    let previous = shared.acked_offset.fetch_max(offset, Ordering::AcqRel);
    if offset > previous {
        (shared.on_ack)(offset);
    }
}
