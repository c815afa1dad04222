//! One slave's session on the master. Our slaves open with a HELLO (their log's extent and
//! epoch history): while the master recovers it may first take back the slave's tail
//! (TAKE_BACK), then it answers ACCEPT with the offset up to which the two logs provably
//! agree; the slave cuts anything past it, and from there the master streams its log in
//! Apache's frames and counts the slave's reports toward SYNC_MASTER. An Apache slave (its
//! first 8 bytes are a plain offset report) is streamed to as upstream does, but it is not
//! verified, so its reports release no SYNC_MASTER answer.
//!
//! Rules: an empty or unverifiable slave (no common history, or what it shares is older than
//! either log's oldest segment) starts over from the master's oldest segment; a slave silent
//! for 20 s is dropped; an idle connection carries a heartbeat every 5 s. A report counts
//! only up to what was sent on this connection.
//!
//! Threads: runs on the session's own thread; a report reader thread per slave.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::master::{Phase, Shared};
use super::protocol::{
    decode_frame_header, decode_report, encode_frame_header, Control, FRAME_BODY_SIZE_MAX,
    FRAME_HEADER_SIZE, HANDSHAKE_MAGIC, REPORT_SIZE, TRANSFER_BATCH_SIZE,
};
use crate::store::epochs::common_end;
use crate::store::recovery::valid_prefix;
use crate::store::{EpochHistory, MessageStore, StoreError};

const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
const SLAVE_SILENCE_MAX: Duration = Duration::from_secs(20);
/// How long a take-back may last as a whole (its reads time out on their own too).
const TAKE_BACK_TIME_MAX: Duration = Duration::from_secs(60);

fn other(error: impl ToString) -> io::Error {
    io::Error::other(error.to_string())
}

/// Serves one slave until it goes or the master stops.
pub(super) fn serve(mut stream: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(SLAVE_SILENCE_MAX))?;
    stream.set_write_timeout(Some(SLAVE_SILENCE_MAX))?;
    let mut first = [0u8; REPORT_SIZE];
    stream.read_exact(&mut first)?;
    if u64::from_be_bytes(first) == HANDSHAKE_MAGIC {
        match read_control(&mut stream)? {
            Control::Hello { broker_name, .. } if broker_name != shared.broker_name => {
                Err(io::Error::other(format!(
                    "a slave of {broker_name:?}, not of {:?}: refused",
                    shared.broker_name
                )))
            }
            Control::Hello {
                log_start,
                log_end,
                epochs,
                ..
            } => verified(stream, shared, log_start, log_end, &epochs),
            other => Err(io::Error::other(format!("expected HELLO, got {other:?}"))),
        }
    } else {
        upstream(stream, shared, decode_report(first))
    }
}

/// Reads a control frame's kind, size and payload (its magic already read).
pub(super) fn read_control(stream: &mut TcpStream) -> io::Result<Control> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header)?;
    let (kind, size) = Control::decode_header(header).map_err(io::Error::other)?;
    let mut payload = vec![0u8; size];
    stream.read_exact(&mut payload)?;
    Control::decode(kind, &payload).map_err(io::Error::other)
}

/// Our slave: recovery first if due, then the agreed prefix, then the stream.
fn verified(
    mut stream: TcpStream,
    shared: &Arc<Shared>,
    log_start: u64,
    log_end: u64,
    epochs: &EpochHistory,
) -> io::Result<()> {
    let peer = stream.peer_addr().ok();
    recover_from(&mut stream, shared, epochs, log_end)?;
    let store = &shared.store;
    let log = store.commit_log();
    let master_epochs = store.epochs();
    let mut common = common_end(&master_epochs, log.written_offset(), epochs, log_end);
    if common < log.min_offset() || common < log_start {
        // Nothing both still hold to continue from: the slave starts over.
        common = 0;
    }
    let from = if common == 0 {
        log.min_offset()
    } else {
        common
    };
    let accept = Control::Accept {
        truncate_to: common,
        epochs: master_epochs,
    };
    stream.write_all(&accept.encode())?;
    store.mark_epoch_replicated().map_err(other)?;
    if log_end > common {
        log::warn!(
            "HA slave {peer:?} holds {log_end} but shares only {common} with this master: it \
             cuts {} bytes",
            log_end - common
        );
    }
    log::info!("HA slave {peer:?} verified at {common}; sending from {from}");
    stream_to(stream, shared, from, Some(common))
}

/// While recovering: takes back what the slave holds past this log's end when it continues
/// this log's last epoch, then begins the new epoch. Nothing once serving.
fn recover_from(
    stream: &mut TcpStream,
    shared: &Shared,
    slave_epochs: &EpochHistory,
    slave_end: u64,
) -> io::Result<()> {
    let mut phase = shared.phase();
    if *phase == Phase::Serving {
        return Ok(());
    }
    let store = &shared.store;
    let master_end = store.commit_log().written_offset();
    let master_epochs = store.epochs();
    let (master, slave) = (master_epochs.entries(), slave_epochs.entries());
    let continues = !master.is_empty()
        && master.len() == slave.len()
        && master.iter().zip(slave).all(|(m, s)| m.same_as(s))
        && slave_end > master_end;
    let why = if continues {
        stream.write_all(&Control::TakeBack { from: master_end }.encode())?;
        let taken = take_back(stream, store, master_end, slave_end)?;
        format!("took back {taken} bytes of the last epoch from the slave")
    } else {
        "the slave holds nothing this master lacks".to_string()
    };
    shared.begin_serving(&mut phase, &why)
}

/// Receives the slave's log from `from` up to `end` (what its HELLO said it holds) and
/// appends its valid records; returns how many bytes it kept. A partial record at the end,
/// or anything from an invalid record on, is left out. Bounded in time as a whole.
fn take_back(stream: &mut TcpStream, store: &MessageStore, from: u64, end: u64) -> io::Result<u64> {
    let segment_size = store.commit_log().config().segment_size;
    let (mut pending, mut pending_start) = (Vec::new(), from);
    let mut invalid: Option<String> = None;
    let deadline = Instant::now() + TAKE_BACK_TIME_MAX;
    loop {
        if Instant::now() >= deadline {
            return Err(io::Error::other("taking back took too long"));
        }
        let mut header = [0u8; FRAME_HEADER_SIZE];
        stream.read_exact(&mut header)?;
        let (offset, size) = decode_frame_header(header).map_err(io::Error::other)?;
        if size == 0 {
            break;
        }
        let mut body = vec![0u8; size];
        stream.read_exact(&mut body)?;
        if invalid.is_some() {
            continue;
        }
        if offset != pending_start + pending.len() as u64 || offset + size as u64 > end {
            return Err(io::Error::other(format!(
                "take-back frame {offset}+{size} out of order or past the slave's end {end}"
            )));
        }
        pending.extend_from_slice(&body);
        let (valid, stop) = valid_prefix(pending_start, &pending, segment_size);
        append_split(store, pending_start, &pending[..valid as usize])?;
        pending.drain(..valid as usize);
        pending_start += valid;
        if pending.len() > FRAME_BODY_SIZE_MAX {
            invalid = Some(format!("{} bytes without a whole record", pending.len()));
        }
        invalid = invalid.or(stop);
        if let Some(reason) = &invalid {
            log::warn!("HA take-back stops at {pending_start}: {reason}");
        }
    }
    Ok(pending_start - from)
}

/// Appends verified records at `offset`, one segment's part at a time.
fn append_split(store: &MessageStore, mut offset: u64, mut bytes: &[u8]) -> io::Result<()> {
    let segment_size = store.commit_log().config().segment_size;
    while !bytes.is_empty() {
        let room = (segment_size - offset % segment_size) as usize;
        let (piece, rest) = bytes.split_at(room.min(bytes.len()));
        append_waiting(store, offset, piece)?;
        offset += piece.len() as u64;
        bytes = rest;
    }
    Ok(())
}

/// [`MessageStore::append_replica`], waiting (bounded) while the unflushed tail is full.
pub(super) fn append_waiting(store: &MessageStore, offset: u64, bytes: &[u8]) -> io::Result<()> {
    let deadline = Instant::now() + SLAVE_SILENCE_MAX;
    loop {
        match store.append_replica(offset, bytes) {
            Ok(_) => return Ok(()),
            Err(StoreError::FlushBehind { .. }) if Instant::now() < deadline => {
                let log = store.commit_log();
                let _ = log.wait_flushed(log.written_offset(), Duration::from_millis(50));
            }
            Err(error) => return Err(other(error)),
        }
    }
}

/// An Apache slave: served as upstream does, never counted toward SYNC_MASTER.
fn upstream(mut stream: TcpStream, shared: &Arc<Shared>, reported: u64) -> io::Result<()> {
    let log = shared.store.commit_log();
    let written = log.written_offset();
    if reported > written {
        // Tell it where we end, then refuse: its log holds what ours does not.
        stream.write_all(&encode_frame_header(written, 0))?;
        let _ = stream.shutdown(Shutdown::Both);
        return Err(io::Error::other(format!(
            "slave log ends at {reported}, past the master's {written}: refused"
        )));
    }
    log::warn!(
        "HA slave {:?} speaks Apache's protocol: replicated but not verified, its reports \
         release no SYNC_MASTER send",
        stream.peer_addr().ok()
    );
    let from = if reported == 0 {
        log.min_offset()
    } else {
        reported
    };
    stream_to(stream, shared, from, None)
}

/// Streams the log from `from`; `verified` (the agreed offset) makes the reports count.
fn stream_to(
    mut stream: TcpStream,
    shared: &Arc<Shared>,
    from: u64,
    verified: Option<u64>,
) -> io::Result<()> {
    let alive = Arc::new(AtomicBool::new(true));
    // What this slave can hold at most: the agreed prefix, then what was sent to it. A report
    // past it is not believed (a confused or hostile peer must not release SYNC_MASTER
    // answers for bytes it never received).
    let sent = Arc::new(AtomicU64::new(verified.unwrap_or(0)));
    let reader = (alive.clone(), sent.clone());
    spawn_report_reader(stream.try_clone()?, shared.clone(), reader, verified)?;
    if verified.is_some() {
        shared.slaves.fetch_add(1, Ordering::AcqRel);
    }
    let mut transfer_offset = from;
    let result = transfer(&mut stream, shared, (&alive, &sent), &mut transfer_offset);
    if verified.is_some() {
        shared.slaves.fetch_sub(1, Ordering::AcqRel);
    }
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
                .map_err(other)?
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

/// Reads the slave's reports; a verified slave's count toward SYNC_MASTER from `verified`.
fn spawn_report_reader(
    mut stream: TcpStream,
    shared: Arc<Shared>,
    (alive, sent): (Arc<AtomicBool>, Arc<AtomicU64>),
    verified: Option<u64>,
) -> io::Result<()> {
    std::thread::Builder::new()
        .name("ha-reports".into())
        .spawn(move || {
            if let Some(agreed) = verified {
                shared.note_ack(agreed);
            }
            while alive.load(Ordering::Acquire) {
                let mut report = [0u8; REPORT_SIZE];
                match stream.read_exact(&mut report) {
                    Ok(()) if verified.is_some() => {
                        let offset = decode_report(report).min(sent.load(Ordering::Acquire));
                        shared.note_ack(offset);
                    }
                    Ok(()) => {}
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
