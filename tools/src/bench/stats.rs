//! What a run measures: counters (messages and bytes, failures, duplicates) and latencies in
//! HDR histograms of microseconds. Every recording thread owns a slot (a histogram behind its
//! own, uncontended mutex); the reporter drains the slots once a second into the interval
//! histogram and adds that to the run's. Percentiles always come from a histogram, never from
//! averages of averages.
//!
//! Shared by the sending threads, the async callbacks (which record into the slot of the
//! thread that sent), the consumer's listener threads and the reporter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies above this are recorded as this (one hour, in microseconds).
const LATENCY_US_MAX: u64 = 3_600_000_000;

/// A histogram of microseconds from 1 µs to one hour at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy the crate's rules (low >= 1, high >= 2 * low,
    // sigfig <= 5), so creation cannot fail.
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("constant histogram bounds")
}

/// Counts and latencies recorded by many threads.
pub struct Recorder {
    slots: Vec<Mutex<Histogram<u64>>>,
    /// Messages that succeeded (sent OK, or received once).
    pub ok_count: AtomicU64,
    /// Messages whose send failed (or, received, were seen before: duplicates).
    pub failed_count: AtomicU64,
    pub bytes: AtomicU64,
    /// Messages ignored (received, older than the run).
    pub skipped_count: AtomicU64,
}

fn lock(slot: &Mutex<Histogram<u64>>) -> MutexGuard<'_, Histogram<u64>> {
    slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Recorder {
    pub fn new(slot_count: usize) -> Recorder {
        Recorder {
            slots: (0..slot_count.max(1))
                .map(|_| Mutex::new(histogram()))
                .collect(),
            ok_count: AtomicU64::new(0),
            failed_count: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            skipped_count: AtomicU64::new(0),
        }
    }

    /// Records one latency in `slot` (taken modulo the slot count).
    pub fn record(&self, slot: usize, latency: Duration) {
        self.record_us(slot, latency.as_micros().min(u64::MAX as u128) as u64);
    }

    pub fn record_us(&self, slot: usize, latency_us: u64) {
        let slot = &self.slots[slot % self.slots.len()];
        lock(slot).saturating_record(latency_us.max(1));
    }

    pub fn succeeded(&self, messages: u64, bytes: u64) {
        self.ok_count.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn failed(&self, messages: u64) {
        self.failed_count.fetch_add(messages, Ordering::Relaxed);
    }

    /// Moves every slot's latencies into `into`.
    pub fn drain_into(&self, into: &mut Histogram<u64>) {
        for slot in &self.slots {
            let mut slot = lock(slot);
            // Same bounds on both sides: adding cannot go out of range.
            let _ = into.add(&*slot);
            slot.reset();
        }
    }

    pub fn counts(&self) -> Counts {
        Counts {
            ok: self.ok_count.load(Ordering::Relaxed),
            failed: self.failed_count.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// A reading of a recorder's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub failed: u64,
    pub bytes: u64,
}

impl Counts {
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            ok: self.ok.saturating_sub(earlier.ok),
            failed: self.failed.saturating_sub(earlier.failed),
            bytes: self.bytes.saturating_sub(earlier.bytes),
        }
    }
}

/// Latency figures of a histogram, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub avg: f64,
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        if histogram.is_empty() {
            return Latency::default();
        }
        Latency {
            count: histogram.len(),
            avg: histogram.mean(),
            p50: histogram.value_at_quantile(0.50),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }

    /// `avg 1.234 p50 1.100 p99 ... max ...` in milliseconds, or `-` without samples.
    pub fn to_ms_text(&self) -> String {
        if self.count == 0 {
            return "avg - p50 - p99 - p999 - max -".into();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        format!(
            "avg {:.3} p50 {:.3} p99 {:.3} p999 {:.3} max {:.3}",
            self.avg / 1000.0,
            ms(self.p50),
            ms(self.p99),
            ms(self.p999),
            ms(self.max)
        )
    }
}

/// Messages per second and MB/s (10^6 bytes) over `elapsed`.
pub fn rates(counts: Counts, elapsed: Duration) -> (f64, f64) {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return (0.0, 0.0);
    }
    (
        counts.ok as f64 / seconds,
        counts.bytes as f64 / seconds / 1e6,
    )
}

/// This process's resident set size in KiB (`VmRSS` of /proc/self/status), if readable.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_recorded_values() {
        let recorder = Recorder::new(2);
        for us in 1..=1000u64 {
            recorder.record_us(us as usize, us);
        }
        recorder.record(0, Duration::from_secs(2 * 3600));
        let mut histogram = histogram();
        recorder.drain_into(&mut histogram);
        let latency = Latency::of(&histogram);
        assert_eq!(latency.count, 1001);
        assert!((500..=501).contains(&latency.p50), "{latency:?}");
        assert!((990..=1000).contains(&latency.p99), "{latency:?}");
        assert!(latency.max >= LATENCY_US_MAX, "saturated, {latency:?}");
        let mut again = super::histogram();
        recorder.drain_into(&mut again);
        assert!(again.is_empty(), "drained slots are reset");
    }

    #[test]
    fn text_and_rates() {
        assert_eq!(
            Latency::default().to_ms_text(),
            "avg - p50 - p99 - p999 - max -"
        );
        let latency = Latency {
            count: 1,
            avg: 1500.0,
            p50: 1000,
            p99: 2000,
            p999: 3000,
            max: 4000,
        };
        assert_eq!(
            latency.to_ms_text(),
            "avg 1.500 p50 1.000 p99 2.000 p999 3.000 max 4.000"
        );
        let counts = Counts {
            ok: 2000,
            failed: 0,
            bytes: 4_000_000,
        };
        assert_eq!(rates(counts, Duration::from_secs(2)), (1000.0, 2.0));
        assert!(rss_kib().is_some_and(|kib| kib > 0));
    }
}
