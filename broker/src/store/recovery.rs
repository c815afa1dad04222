//! Commit-log recovery at open: find where valid data ends, cut whatever follows it.
//!
//! After a clean stop the checkpoint's flushed offset is trusted. After a crash (abort marker
//! present) every record from the checkpoint's flushed offset on (or from the first segment
//! when there is no usable checkpoint) is verified: magic, TOTALSIZE against the computed
//! length, the record's own commit-log offset against its position, and the body CRC. The
//! first failure ends the valid data; what follows is zeroed in its segment, later segments
//! holding data are removed, and the report says where and why it cut and how much went.
//!
//! Runs on the opening thread, before any other store thread exists. Reads go through
//! block-aligned buffers because segments may be O_DIRECT files.

use std::collections::BTreeMap;
use std::sync::Arc;

use wire::message::{self, RecordKind, RecordView, BLANK_RECORD_SIZE};

use super::aligned_buffer::{align_down, align_up, AlignedBuffer, BLOCK_SIZE};
use super::commit_log::{parse_segment_name, segment_name};
use super::direct_file::BlockFile;
use super::error::StoreError;
use super::journal::JournalImage;
use super::storage::Storage;

const WINDOW_SIZE: usize = 1 << 20;
/// How far past the cut recovery looks for torn bytes to zero and count.
const CUT_SCAN_MAX: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Commit-log offset of the first byte not kept.
    pub offset: u64,
    pub reason: String,
    /// Nonzero bytes found after `offset` in its segment (up to the first zero block) plus
    /// the sizes of later segments that held data.
    pub bytes_cut: u64,
    pub segments_removed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    pub clean: bool,
    /// Where verification started (the valid end itself after a clean stop).
    pub verified_from: u64,
    /// Where the log ends: the segments' valid end, then what the journal added.
    pub valid_end: u64,
    pub records_verified: u64,
    pub cut: Option<Cut>,
    pub journal: JournalOutcome,
}

/// What the crash journal gave recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JournalOutcome {
    /// A clean stop, or nothing was in the journal past the segments' end.
    NotNeeded,
    /// Records verified from the journal and written to the segments; `missing`: bytes the
    /// journal said it held past what could be replayed (a gap, damage, or a replica's
    /// partial record).
    Replayed {
        from: u64,
        to: u64,
        records: u64,
        missing: u64,
    },
    /// After a crash, no journal: the machine went down (tmpfs emptied), or journaling is off.
    Missing,
    /// After a crash, a journal that could not be used, and why.
    Ignored(String),
}

impl JournalOutcome {
    /// Whether recovery may have lost what was appended before the crash (the journal was not
    /// there to give it back).
    pub fn may_have_lost_data(&self, clean: bool) -> bool {
        !clean
            && matches!(
                self,
                JournalOutcome::Missing
                    | JournalOutcome::Ignored(_)
                    | JournalOutcome::Replayed { missing: 1.., .. }
            )
    }
}

type Segments = BTreeMap<u64, Arc<dyn BlockFile>>;

/// Checks the segment files: 20-digit names, the configured size, no gaps.
/// Also says whether a short segment was restored (recovery must then verify, not trust).
fn list_segments(storage: &dyn Storage, segment_size: u64) -> Result<(Segments, bool), StoreError> {
    let mut segments = BTreeMap::new();
    let mut repaired = false;
    for (name, mut length) in storage.list()? {
        let Some(base) = parse_segment_name(&name) else {
            log::warn!("commit log: ignoring {name}, not a segment name");
            continue;
        };
        let invalid = |reason: String| StoreError::SegmentInvalid {
            name: name.clone(),
            reason,
        };
        if length < segment_size && base % segment_size == 0 {
            // A segment cut short: restore its length and verify; the walk cuts at the damage.
            log::warn!("commit log: {name} is {length} bytes; restoring {segment_size}");
            storage.repair_length(&name, segment_size)?;
            length = segment_size;
            repaired = true;
        }
        if length != segment_size {
            return Err(invalid(format!("{length} bytes, expected {segment_size}")));
        }
        if base % segment_size != 0 {
            return Err(invalid(format!(
                "not a multiple of the segment size {segment_size}"
            )));
        }
        segments.insert(base, storage.open(&name, segment_size)?);
    }
    let mut expected = None;
    for base in segments.keys() {
        if let Some(expected) = expected {
            if *base != expected {
                return Err(StoreError::SegmentInvalid {
                    name: segment_name(*base),
                    reason: format!("gap: expected segment {}", segment_name(expected)),
                });
            }
        }
        expected = Some(base + segment_size);
    }
    Ok((segments, repaired))
}

/// Reads aligned windows of one segment.
struct Window {
    buffer: AlignedBuffer,
    /// Segment position of `buffer[0]`, and how many bytes are loaded.
    start: u64,
    length: usize,
}

impl Window {
    fn new() -> Window {
        Window {
            buffer: AlignedBuffer::zeroed(WINDOW_SIZE),
            start: 0,
            length: 0,
        }
    }

    /// The bytes at `position..position + size` of `file`, loading as needed.
    fn bytes(
        &mut self,
        file: &dyn BlockFile,
        position: u64,
        size: usize,
    ) -> Result<&[u8], StoreError> {
        let loaded =
            position >= self.start && position + size as u64 <= self.start + self.length as u64;
        if !loaded {
            let start = align_down(position);
            let length = align_up(position + size as u64 - start).max(WINDOW_SIZE as u64) as usize;
            if length > self.buffer.capacity() {
                self.buffer = AlignedBuffer::zeroed(length);
            }
            let read = file.read_at(&mut self.buffer.as_mut_slice()[..length], start)?;
            self.start = start;
            self.length = read;
        }
        let skip = (position - self.start) as usize;
        let available = self.length.saturating_sub(skip).min(size);
        Ok(&self.buffer.as_slice()[skip..skip + available])
    }
}

enum Step {
    /// A valid record (or BLANK) of this many bytes.
    Advance(u64),
    /// Zeros: the end of written data.
    End,
    /// Invalid data: cut here for this reason.
    Cut(String),
    /// The data ends inside this record (a replica's or a stream's partial tail).
    Short,
}

/// One segment's bytes by position: read from its file, or from a journal image.
trait SegmentBytes {
    /// Up to `size` bytes from `position` (fewer where the source ends).
    fn bytes(&mut self, position: u64, size: usize) -> Result<&[u8], StoreError>;
}

struct FileBytes<'a> {
    window: &'a mut Window,
    file: &'a dyn BlockFile,
}

impl SegmentBytes for FileBytes<'_> {
    fn bytes(&mut self, position: u64, size: usize) -> Result<&[u8], StoreError> {
        self.window.bytes(self.file, position, size)
    }
}

/// Bytes in memory (`bytes` hold the log from commit-log offset `start`) that fall in the
/// segment at `segment_base`.
struct MemoryBytes<'a> {
    segment_base: u64,
    start: u64,
    bytes: &'a [u8],
}

impl SegmentBytes for MemoryBytes<'_> {
    fn bytes(&mut self, position: u64, size: usize) -> Result<&[u8], StoreError> {
        let offset = self.segment_base + position;
        if offset < self.start {
            return Ok(&[]);
        }
        let at = ((offset - self.start) as usize).min(self.bytes.len());
        let end = (at + size).min(self.bytes.len());
        Ok(&self.bytes[at..end])
    }
}

/// How much of `bytes` (the log from commit-log offset `start`) is whole, valid records
/// (BLANKs included), and why it stops there: `None` when the bytes end (inside a record or
/// at a boundary), the reason when a record is invalid.
pub fn valid_prefix(start: u64, bytes: &[u8], segment_size: u64) -> (u64, Option<String>) {
    let end = start + bytes.len() as u64;
    let mut offset = start;
    while offset < end {
        let base = offset - offset % segment_size;
        let mut source = MemoryBytes {
            segment_base: base,
            start,
            bytes,
        };
        match verify_one(&mut source, base, offset - base, segment_size) {
            // A BLANK counts once its padding to the segment end is here too.
            Ok(Step::Advance(size)) if offset + size <= end => offset += size,
            Ok(Step::Advance(_)) | Ok(Step::Short) => break,
            Ok(Step::End) => return (offset - start, Some("zeros where a record belongs".into())),
            Ok(Step::Cut(reason)) => return (offset - start, Some(reason)),
            Err(error) => return (offset - start, Some(error.to_string())),
        }
    }
    (offset - start, None)
}

fn verify_one(
    source: &mut dyn SegmentBytes,
    base: u64,
    position: u64,
    segment_size: u64,
) -> Result<Step, StoreError> {
    let remaining = segment_size - position;
    if remaining < BLANK_RECORD_SIZE as u64 {
        return Ok(Step::Cut(format!(
            "{remaining} bytes left before the segment end"
        )));
    }
    let head = source.bytes(position, BLANK_RECORD_SIZE)?;
    if head.len() < BLANK_RECORD_SIZE {
        return Ok(Step::Short);
    }
    let header = match message::peek(head) {
        Ok(header) => header,
        Err(error) => return Ok(Step::Cut(error.to_string())),
    };
    let size = header.size() as u64;
    match header.kind {
        RecordKind::EndOfData => return Ok(Step::End),
        RecordKind::Blank if size == remaining => return Ok(Step::Advance(size)),
        RecordKind::Blank => {
            return Ok(Step::Cut(format!(
                "BLANK of {size} bytes with {remaining} left"
            )))
        }
        RecordKind::Message(_) if size > remaining => {
            return Ok(Step::Cut(format!(
                "record of {size} bytes crosses the segment end"
            )))
        }
        RecordKind::Message(_) => {}
    }
    let bytes = source.bytes(position, size as usize)?;
    if (bytes.len() as u64) < size {
        return Ok(Step::Short);
    }
    match RecordView::decode(bytes, true) {
        Ok((view, _)) if view.commit_log_offset as u64 == base + position => {
            Ok(Step::Advance(size))
        }
        Ok((view, _)) => Ok(Step::Cut(format!(
            "record claims offset {} at {}",
            view.commit_log_offset,
            base + position
        ))),
        Err(error) => Ok(Step::Cut(error.to_string())),
    }
}

/// Recovers the commit log in `storage`. `clean_end` is the checkpoint's flushed offset after
/// a clean stop; `crash_start` the offset to verify from after a crash (`None`: the first
/// segment).
pub fn recover(
    storage: &dyn Storage,
    segment_size: u64,
    clean_end: Option<u64>,
    crash_start: Option<u64>,
) -> Result<RecoveryReport, StoreError> {
    let (segments, repaired) = list_segments(storage, segment_size)?;
    let clean_end = clean_end.filter(|_| !repaired);
    let (Some(&first), Some(&last)) = (segments.keys().next(), segments.keys().next_back()) else {
        return Ok(RecoveryReport {
            clean: clean_end.is_some(),
            verified_from: 0,
            valid_end: 0,
            records_verified: 0,
            cut: None,
            journal: JournalOutcome::NotNeeded,
        });
    };
    let in_range = |offset: u64| offset >= first && offset <= last + segment_size;
    if let Some(end) = clean_end.filter(|end| in_range(*end)) {
        return Ok(RecoveryReport {
            clean: true,
            verified_from: end,
            valid_end: end,
            records_verified: 0,
            cut: None,
            journal: JournalOutcome::NotNeeded,
        });
    }
    let start = crash_start
        .filter(|start| in_range(*start))
        .unwrap_or(first);
    let (offset, records_verified, reason) = walk(&segments, segment_size, start)?;
    let cut = cut_after(storage, &segments, segment_size, offset, reason)?;
    if let Some(cut) = &cut {
        log::warn!(
            "commit log recovery: cut at offset {} ({}): {} bytes, segments removed {:?}",
            cut.offset,
            cut.reason,
            cut.bytes_cut,
            cut.segments_removed
        );
    }
    Ok(RecoveryReport {
        clean: false,
        verified_from: start,
        valid_end: offset,
        records_verified,
        cut,
        journal: JournalOutcome::NotNeeded,
    })
}

/// Replays a crashed run's journal past `disk_end`, the segments' valid end: verifies its
/// records as [`recover`] verifies the segments, writes the valid ones to their segments
/// (creating them) and syncs them. Returns the outcome and the new end.
pub fn replay(
    storage: &dyn Storage,
    segment_size: u64,
    disk_end: u64,
    image: &JournalImage,
) -> Result<(JournalOutcome, u64), StoreError> {
    if image.written_offset <= disk_end {
        return Ok((JournalOutcome::NotNeeded, disk_end));
    }
    assert_eq!(
        image.start,
        align_down(disk_end),
        "image must start at the tail block"
    );
    if (image.bytes.len() as u64) < disk_end - image.start
        || !tail_matches(storage, segment_size, disk_end, image)?
    {
        let reason = "it does not hold the segments' last block".to_string();
        return Ok((JournalOutcome::Ignored(reason), disk_end));
    }
    let mut offset = disk_end;
    let mut records = 0;
    while offset < image.written_offset {
        let base = offset - offset % segment_size;
        let mut source = MemoryBytes {
            segment_base: base,
            start: image.start,
            bytes: &image.bytes,
        };
        match verify_one(&mut source, base, offset - base, segment_size)? {
            // A BLANK counts once its padding to the segment end is in the image too (a
            // replica can hold the start of the padding only).
            Step::Advance(size) if offset + size <= image.written_offset => {
                offset += size;
                records += 1;
            }
            Step::Advance(_) | Step::End | Step::Short => break,
            Step::Cut(reason) => {
                log::warn!("journal replay stops at {offset}: {reason}");
                break;
            }
        }
    }
    write_replayed(storage, segment_size, image, offset)?;
    let outcome = JournalOutcome::Replayed {
        from: disk_end,
        to: offset,
        records,
        missing: image.claimed_end.saturating_sub(offset),
    };
    Ok((outcome, offset))
}

/// Whether the journal's bytes of the block holding `disk_end` are the segment's.
fn tail_matches(
    storage: &dyn Storage,
    segment_size: u64,
    disk_end: u64,
    image: &JournalImage,
) -> Result<bool, StoreError> {
    let kept = (disk_end - image.start) as usize;
    if kept == 0 {
        return Ok(true);
    }
    let base = image.start - image.start % segment_size;
    let file = storage.open(&segment_name(base), segment_size)?;
    let mut block = AlignedBuffer::zeroed(BLOCK_SIZE);
    file.read_at(block.as_mut_slice(), image.start - base)?;
    Ok(block.as_slice()[..kept] == image.bytes[..kept])
}

/// Writes the image's bytes below `end` from its start (the segments' tail block) to the
/// segments in whole blocks, zeros past `end`, and syncs every file written.
fn write_replayed(
    storage: &dyn Storage,
    segment_size: u64,
    image: &JournalImage,
    end: u64,
) -> Result<(), StoreError> {
    let mut staging = AlignedBuffer::zeroed(WINDOW_SIZE);
    let mut at = image.start;
    while at < end {
        let base = at - at % segment_size;
        let file = storage.open(&segment_name(base), segment_size)?;
        let segment_stop = align_up(end).min(base + segment_size);
        while at < segment_stop {
            let length = ((segment_stop - at) as usize).min(WINDOW_SIZE);
            let buffer = &mut staging.as_mut_slice()[..length];
            buffer.fill(0);
            let from = (at - image.start) as usize;
            let data_end = ((end - image.start) as usize)
                .min(from + length)
                .min(image.bytes.len());
            if data_end > from {
                buffer[..data_end - from].copy_from_slice(&image.bytes[from..data_end]);
            }
            file.write_at(buffer, at - base)?;
            at += length as u64;
        }
        file.sync_data()?;
    }
    Ok(())
}

/// Verifies records from `start` until the end of valid data; returns that end, the records
/// verified, and why it stopped when it stopped on damage.
fn walk(
    segments: &Segments,
    segment_size: u64,
    start: u64,
) -> Result<(u64, u64, Option<String>), StoreError> {
    let mut offset = start;
    let mut records_verified = 0;
    let mut window = Window::new();
    let mut window_base = u64::MAX;
    let reason = loop {
        let base = offset - offset % segment_size;
        let Some(file) = segments.get(&base) else {
            break None;
        };
        if base != window_base {
            window = Window::new();
            window_base = base;
        }
        let mut source = FileBytes {
            window: &mut window,
            file: file.as_ref(),
        };
        match verify_one(&mut source, base, offset - base, segment_size)? {
            Step::Advance(size) => {
                offset += size;
                records_verified += 1;
            }
            Step::End => break None,
            Step::Cut(reason) => break Some(reason),
            Step::Short => break Some("record past the end of the file".into()),
        }
    };
    Ok((offset, records_verified, reason))
}

/// Zeros torn bytes after `valid_end` in its segment and removes later segments holding data.
fn cut_after(
    storage: &dyn Storage,
    segments: &BTreeMap<u64, Arc<dyn BlockFile>>,
    segment_size: u64,
    valid_end: u64,
    reason: Option<String>,
) -> Result<Option<Cut>, StoreError> {
    let base = valid_end - valid_end % segment_size;
    let mut bytes_cut = 0;
    if let Some(file) = segments.get(&base) {
        bytes_cut = zero_tail(file.as_ref(), valid_end - base, segment_size)?;
    }
    let mut segments_removed = Vec::new();
    for (later, file) in segments.range(base + 1..) {
        let mut block = AlignedBuffer::zeroed(BLOCK_SIZE);
        file.read_at(block.as_mut_slice(), 0)?;
        let untouched = block.as_slice().iter().all(|b| *b == 0);
        if reason.is_none() && untouched && segments_removed.is_empty() {
            // A preallocated segment never written to: keep it (but never one after a removed
            // segment, which would leave a gap in the segment files).
            continue;
        }
        bytes_cut += segment_size;
        storage.remove(&segment_name(*later))?;
        segments_removed.push(segment_name(*later));
    }
    if reason.is_none() && bytes_cut == 0 {
        return Ok(None);
    }
    Ok(Some(Cut {
        offset: valid_end,
        reason: reason.unwrap_or_else(|| "data after the end of valid records".into()),
        bytes_cut,
        segments_removed,
    }))
}

/// Zeros whatever data the segment holds from `position` on (scanning at most
/// [`CUT_SCAN_MAX`] bytes); returns how many bytes, up to the last that held data.
fn zero_tail(file: &dyn BlockFile, position: u64, segment_size: u64) -> Result<u64, StoreError> {
    let mut block = AlignedBuffer::zeroed(BLOCK_SIZE);
    let mut at = align_down(position);
    let mut dirty_end = position;
    let limit = (position + CUT_SCAN_MAX).min(segment_size);
    while at < limit {
        file.read_at(block.as_mut_slice(), at)?;
        let keep = position.saturating_sub(at).min(BLOCK_SIZE as u64) as usize;
        let tail = &block.as_slice()[keep..];
        let Some(last_nonzero) = tail.iter().rposition(|b| *b != 0) else {
            // Keep looking past a zero block: after a power loss the blocks of an unsynced
            // flush can reach the disk out of order, leaving stale data beyond a hole.
            at += BLOCK_SIZE as u64;
            continue;
        };
        dirty_end = at + (keep + last_nonzero + 1) as u64;
        block.as_mut_slice()[keep..].fill(0);
        file.write_at(block.as_slice(), at)?;
        at += BLOCK_SIZE as u64;
    }
    file.sync_data()?;
    Ok(dirty_end - position)
}
