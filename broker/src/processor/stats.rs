//! The broker's message counters behind GET_BROKER_RUNTIME_INFO: totals since start (what
//! `mqbench` checks its own counts against), the totals at the start of today and of yesterday
//! (local days, as `mqadmin clusterList -m` subtracts them), and put/get rates over the last
//! 10, 60 and 600 seconds from one sample a second.
//!
//! Owned by the event loop: the send and pull paths count, the tick samples.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use super::stats_items::StatsItems;

/// Rates are reported over these windows, as upstream's `putTps` "10s 60s 600s".
const WINDOWS: [u64; 3] = [10, 60, 600];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub put: u64,
    pub got: u64,
}

#[derive(Debug, Clone)]
pub struct BrokerStats {
    pub boot: Instant,
    pub boot_timestamp_ms: i64,
    /// Messages stored since start.
    pub put_messages: u64,
    pub put_bytes: u64,
    /// Messages handed to consumers since start.
    pub got_messages: u64,
    /// Pulls whose data was older than the memory window, read by a pull worker.
    pub disk_pulls: u64,
    /// Totals when today and yesterday began (zero for days before the start).
    pub today_morning: Totals,
    pub yesterday_morning: Totals,
    day: Option<i64>,
    /// One sample a second, the newest last, at most the longest window's worth.
    samples: VecDeque<(Instant, Totals)>,
    /// Messages put by topic and got by `topic@group` (VIEW_BROKER_STATS_DATA).
    pub topic_puts: StatsItems,
    pub group_gets: StatsItems,
}

impl BrokerStats {
    pub fn new() -> BrokerStats {
        BrokerStats {
            boot: Instant::now(),
            boot_timestamp_ms: crate::topic_config::now_ms(),
            put_messages: 0,
            put_bytes: 0,
            got_messages: 0,
            disk_pulls: 0,
            today_morning: Totals::default(),
            yesterday_morning: Totals::default(),
            day: None,
            samples: VecDeque::new(),
            topic_puts: StatsItems::default(),
            group_gets: StatsItems::default(),
        }
    }

    pub fn totals(&self) -> Totals {
        Totals {
            put: self.put_messages,
            got: self.got_messages,
        }
    }

    /// Called on every tick: a sample once a second, and the day's rollover.
    pub fn sample(&mut self, now: Instant, wall: SystemTime) {
        self.roll_day(crate::store::direct_file::local_day(wall));
        let due = self
            .samples
            .back()
            .is_none_or(|(at, _)| now.duration_since(*at) >= Duration::from_secs(1));
        if due {
            self.topic_puts.sample(now);
            self.group_gets.sample(now);
            self.samples.push_back((now, self.totals()));
            let longest = WINDOWS[WINDOWS.len() - 1] as usize + 1;
            while self.samples.len() > longest {
                self.samples.pop_front();
            }
        }
    }

    fn roll_day(&mut self, day: i64) {
        match self.day {
            Some(current) if current == day => {}
            Some(current) => {
                // A day passed (two or more: yesterday's morning is unknown, so today's).
                self.yesterday_morning = if day == current + 1 {
                    self.today_morning
                } else {
                    self.totals()
                };
                self.today_morning = self.totals();
                self.day = Some(day);
            }
            None => self.day = Some(day),
        }
    }

    /// Puts and gets per second over each window, `"10s 60s 600s"` as upstream formats them
    /// (a window longer than the time since start uses what there is).
    pub fn rates(&self, now: Instant) -> (String, String) {
        let current = self.totals();
        let (mut puts, mut gets) = (Vec::new(), Vec::new());
        for window in WINDOWS {
            let since = now.checked_sub(Duration::from_secs(window));
            let oldest = self
                .samples
                .iter()
                .find(|(at, _)| since.is_none_or(|since| *at >= since))
                .copied()
                .unwrap_or((self.boot, Totals::default()));
            let seconds = now.duration_since(oldest.0).as_secs_f64().max(1e-3);
            puts.push(format!(
                "{:.2}",
                (current.put - oldest.1.put) as f64 / seconds
            ));
            gets.push(format!(
                "{:.2}",
                (current.got - oldest.1.got) as f64 / seconds
            ));
        }
        (puts.join(" "), gets.join(" "))
    }
}

impl Default for BrokerStats {
    fn default() -> Self {
        BrokerStats::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_roll_the_morning_totals() {
        let mut stats = BrokerStats::new();
        stats.roll_day(100);
        stats.put_messages = 40;
        stats.got_messages = 30;
        stats.roll_day(101);
        assert_eq!(stats.today_morning, Totals { put: 40, got: 30 });
        assert_eq!(stats.yesterday_morning, Totals::default());
        stats.put_messages = 70;
        stats.roll_day(102);
        assert_eq!(stats.yesterday_morning, Totals { put: 40, got: 30 });
        assert_eq!(stats.today_morning, Totals { put: 70, got: 30 });
        stats.roll_day(105);
        assert_eq!(stats.yesterday_morning, stats.today_morning);
    }

    #[test]
    fn rates_cover_each_window() {
        let mut stats = BrokerStats::new();
        let start = stats.boot;
        for second in 0..=20u64 {
            stats.put_messages = second * 100;
            stats.got_messages = second * 10;
            let at = start + Duration::from_secs(second);
            stats.samples.push_back((at, stats.totals()));
        }
        let (puts, gets) = stats.rates(start + Duration::from_secs(20));
        assert_eq!(puts, "100.00 100.00 100.00");
        assert_eq!(gets, "10.00 10.00 10.00");
    }
}
