//! What `mqbench` prints and writes: the line per second (elapsed, TPS, MB/s, latency
//! percentiles in ms with 3 decimals, failures of that interval) and the final [`Summary`],
//! as text and, with `--json FILE`, as JSON.
//!
//! JSON fields: `tps`, `mb_per_s` and `latency_us` describe the sends (produce, e2e) or, in a
//! consume run, the receives; `receive_*` and `e2e_latency_us` the receives of consume and e2e
//! runs (receive time minus born time); `broker_counters` the masters' own count deltas.
//!
//! Used by the main thread only; [`Meter`] drains a [`Recorder`] the sides fill.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::cluster::{BrokerInfo, CounterDelta};
use super::options::{Command, Options, SendMode};
use super::stats::{histogram, rates, Counts, Latency, Recorder};

/// Turns one recorder into per-interval and whole-run figures.
pub struct Meter {
    recorder: Arc<Recorder>,
    interval: Histogram<u64>,
    total: Histogram<u64>,
    last: Counts,
}

/// One interval of one side.
#[derive(Debug, Clone, Copy)]
pub struct Interval {
    pub counts: Counts,
    pub latency: Latency,
}

impl Meter {
    pub fn new(recorder: Arc<Recorder>) -> Meter {
        Meter {
            recorder,
            interval: histogram(),
            total: histogram(),
            last: Counts::default(),
        }
    }

    /// What happened since the last tick.
    pub fn tick(&mut self) -> Interval {
        self.recorder.drain_into(&mut self.interval);
        let now = self.recorder.counts();
        let counts = now.since(self.last);
        self.last = now;
        let latency = Latency::of(&self.interval);
        // Same bounds on both sides: adding cannot go out of range.
        let _ = self.total.add(&self.interval);
        self.interval.reset();
        Interval { counts, latency }
    }

    /// Latency over the whole run (call after the last tick).
    pub fn total_latency(&self) -> Latency {
        Latency::of(&self.total)
    }

    pub fn counts(&self) -> Counts {
        self.recorder.counts()
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

/// The line printed every second. `send`/`receive` are the sides the run has.
pub fn interval_line(
    elapsed: Duration,
    length: Duration,
    send: Option<(Interval, SendMode)>,
    receive: Option<(Interval, u64)>,
) -> String {
    let mut line = format!("[{:>7.1}s]", elapsed.as_secs_f64());
    let per_second = |counts: Counts| rates(counts, length);
    if let Some((interval, mode)) = send {
        let (tps, mb) = per_second(interval.counts);
        line.push_str(&format!(" send tps {tps:.0} MB/s {mb:.3}"));
        if receive.is_none() && mode != SendMode::Oneway {
            line.push_str(&format!(" latency ms {}", interval.latency.to_ms_text()));
        }
        line.push_str(&format!(" failed {}", interval.counts.failed));
    }
    if let Some((interval, duplicates)) = receive {
        let (tps, mb) = per_second(interval.counts);
        let label = if send.is_some() { "e2e" } else { "b2c" };
        line.push_str(&format!(
            " recv tps {tps:.0} MB/s {mb:.3} {label} ms {} dup {duplicates}",
            interval.latency.to_ms_text()
        ));
    }
    line
}

/// The final figures of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub command: &'static str,
    pub mode: &'static str,
    pub topic: String,
    pub body_size: usize,
    pub threads: usize,
    pub connections: usize,
    pub batch: usize,
    pub rate_target: u64,
    pub tag_count: u64,
    pub keys: bool,
    pub duration_s: f64,
    /// Stopped by SIGINT/SIGTERM.
    pub interrupted: bool,
    pub messages_ok: u64,
    pub messages_failed: u64,
    pub received: u64,
    pub duplicates: u64,
    /// Received but born before the run (e2e).
    pub skipped: u64,
    pub tps: f64,
    pub mb_per_s: f64,
    pub latency_us: Option<Latency>,
    pub receive_tps: Option<f64>,
    pub receive_mb_per_s: Option<f64>,
    pub e2e_latency_us: Option<Latency>,
    pub rss_kib: Option<u64>,
    pub broker_counters: CounterDelta,
    pub brokers: Vec<BrokerInfo>,
    pub first_error: Option<String>,
}

/// What the run's sides measured, for [`Summary::new`].
pub struct Measured {
    pub elapsed: Duration,
    /// Until the last send returned (e2e runs then wait for the last receives).
    pub send_elapsed: Duration,
    pub interrupted: bool,
    pub send: Option<(Counts, Latency)>,
    /// Counts, latency, duplicates, skipped.
    pub receive: Option<(Counts, Latency, u64, u64)>,
    pub broker_counters: CounterDelta,
    pub brokers: Vec<BrokerInfo>,
    pub first_error: Option<String>,
}

fn some_latency(latency: Latency) -> Option<Latency> {
    (latency.count > 0).then_some(latency)
}

impl Summary {
    pub fn new(options: &Options, measured: Measured) -> Summary {
        let send = measured.send.unwrap_or_default();
        let receive = measured.receive;
        let (send_tps, send_mb) = rates(send.0, measured.send_elapsed);
        let receive_rates = receive.map(|r| rates(r.0, measured.elapsed));
        let consume_only = options.command == Command::Consume;
        let (tps, mb_per_s) = if consume_only {
            receive_rates.unwrap_or_default()
        } else {
            (send_tps, send_mb)
        };
        let latency_us = if consume_only {
            receive.and_then(|r| some_latency(r.1))
        } else {
            some_latency(send.1)
        };
        Summary {
            command: options.command.name(),
            mode: options.mode.name(),
            topic: options.topic.clone(),
            body_size: options.body_size,
            threads: options.threads,
            connections: options.connections,
            batch: options.batch,
            rate_target: options.rate,
            tag_count: options.tag_count,
            keys: options.keys,
            duration_s: measured.elapsed.as_secs_f64(),
            interrupted: measured.interrupted,
            messages_ok: send.0.ok,
            messages_failed: send.0.failed,
            received: receive.map_or(0, |r| r.0.ok),
            duplicates: receive.map_or(0, |r| r.2),
            skipped: receive.map_or(0, |r| r.3),
            tps,
            mb_per_s,
            latency_us,
            receive_tps: receive_rates.map(|r| r.0),
            receive_mb_per_s: receive_rates.map(|r| r.1),
            e2e_latency_us: receive.and_then(|r| some_latency(r.1)),
            rss_kib: super::stats::rss_kib(),
            broker_counters: measured.broker_counters,
            brokers: measured.brokers,
            first_error: measured.first_error,
        }
    }

    fn send_lines(&self) -> String {
        let latency = match self.latency_us {
            Some(latency) => format!("latency ms {}", latency.to_ms_text()),
            None => "latency not measured (oneway)".into(),
        };
        let mut text = format!(
            "  sent: ok {} failed {} tps {:.1} MB/s {:.3} {latency}\n",
            self.messages_ok, self.messages_failed, self.tps, self.mb_per_s
        );
        if let Some(error) = &self.first_error {
            text.push_str(&format!("  first send failure: {error}\n"));
        }
        text
    }

    fn receive_line(&self) -> String {
        let label = if self.command == "e2e" { "e2e" } else { "b2c" };
        let latency = self.e2e_latency_us.unwrap_or_default().to_ms_text();
        format!(
            "  received: {} duplicates {} skipped {} tps {:.1} MB/s {:.3} {label} ms {latency}\n",
            self.received,
            self.duplicates,
            self.skipped,
            self.receive_tps.unwrap_or(0.0),
            self.receive_mb_per_s.unwrap_or(0.0)
        )
    }

    /// The broker's counts next to the tool's, with whether they agree.
    fn counters_line(&self) -> String {
        let counters = self.broker_counters;
        let mut line = format!(
            "  broker counters over {}/{} masters: put delta {} (tool sent ok {})",
            counters.masters_answered, counters.masters, counters.put, self.messages_ok
        );
        if self.command != "consume" {
            line.push_str(if counters.put == self.messages_ok {
                " matches"
            } else {
                " DIFFERS (other clients, retried sends, or oneway sends lost)"
            });
        }
        line.push_str(&format!(
            ", get delta {} (tool received {})",
            counters.get, self.received
        ));
        if self.command != "produce" {
            line.push_str(if counters.get >= self.received {
                " ok"
            } else {
                " BELOW"
            });
        }
        line.push('\n');
        line
    }

    /// The summary as text, one figure group per line.
    pub fn text(&self) -> String {
        let sending = if self.command == "consume" {
            String::new()
        } else {
            format!(
                " mode {} body {} B threads {} connections {} batch {}",
                self.mode, self.body_size, self.threads, self.connections, self.batch
            )
        };
        let interrupted = if self.interrupted {
            " (interrupted)"
        } else {
            ""
        };
        let mut text = format!(
            "summary: {} topic {}{sending} in {:.3} s{interrupted}\n",
            self.command, self.topic, self.duration_s
        );
        if self.command != "consume" {
            text.push_str(&self.send_lines());
        }
        if self.command != "produce" {
            text.push_str(&self.receive_line());
        }
        text.push_str(&self.counters_line());
        match self.rss_kib {
            Some(kib) => text.push_str(&format!("  rss: {kib} KiB\n")),
            None => text.push_str("  rss: unknown (no /proc/self/status)\n"),
        }
        text
    }

    pub fn json(&self) -> String {
        // Plain numbers, strings and options: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(ok: u64, failed: u64) -> Interval {
        Interval {
            counts: Counts {
                ok,
                failed,
                bytes: ok * 1000,
            },
            latency: Latency {
                count: 1,
                avg: 1000.0,
                p50: 1000,
                p99: 1000,
                p999: 1000,
                max: 1000,
            },
        }
    }

    #[test]
    fn interval_lines_name_their_figures() {
        let second = Duration::from_secs(1);
        let line = interval_line(second, second, Some((interval(5, 1), SendMode::Sync)), None);
        assert_eq!(
            line,
            "[    1.0s] send tps 5 MB/s 0.005 latency ms avg 1.000 p50 1.000 p99 1.000 \
             p999 1.000 max 1.000 failed 1"
        );
        let line = interval_line(
            second,
            second,
            Some((interval(5, 0), SendMode::Async)),
            Some((interval(4, 0), 2)),
        );
        assert!(
            line.contains("send tps 5 MB/s 0.005 failed 0 recv tps 4"),
            "{line}"
        );
        assert!(
            line.contains("e2e ms avg 1.000") && line.ends_with("dup 2"),
            "{line}"
        );
    }

    #[test]
    fn the_summary_compares_with_the_broker() {
        let args = ["produce", "-q", "5"].map(String::from);
        let Ok(super::super::options::Parsed::Run(options)) =
            super::super::options::parse(&args, None)
        else {
            panic!("parse");
        };
        let measured = Measured {
            elapsed: Duration::from_secs(1),
            send_elapsed: Duration::from_secs(1),
            interrupted: false,
            send: Some((interval(5, 0).counts, interval(5, 0).latency)),
            receive: None,
            broker_counters: CounterDelta {
                put: 5,
                get: 0,
                masters: 1,
                masters_answered: 1,
            },
            brokers: Vec::new(),
            first_error: None,
        };
        let summary = Summary::new(&options, measured);
        let text = summary.text();
        assert!(text.contains("sent: ok 5 failed 0 tps 5.0"), "{text}");
        assert!(
            text.contains("put delta 5 (tool sent ok 5) matches"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&summary.json()).unwrap();
        assert_eq!(json["messages_ok"], 5);
        assert_eq!(json["latency_us"]["p50"], 1000);
        assert_eq!(json["broker_counters"]["put"], 5);
    }
}
