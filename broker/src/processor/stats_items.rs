//! Per-key message counters with minute, hour and day windows, as RocketMQ's `StatsItemSet`
//! keeps them for VIEW_BROKER_STATS_DATA (`mqadmin statsAll`): TOPIC_PUT_NUMS by topic and
//! GROUP_GET_NUMS by `topic@group`. Each key keeps a cumulative value (messages) and times
//! (requests), sampled every 10 s for the last minute, every 10 min for the last hour and every
//! hour for the last day (about 1 KB a key). A window's figures run from its oldest sample to
//! now.
//!
//! Owned by the event loop: the send and pull paths add, the tick samples.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Serialize;

pub const TOPIC_PUT_NUMS: &str = "TOPIC_PUT_NUMS";
pub const GROUP_GET_NUMS: &str = "GROUP_GET_NUMS";

/// (sample every, samples kept) of the minute, hour and day windows.
const WINDOWS: [(Duration, usize); 3] = [
    (Duration::from_secs(10), 7),
    (Duration::from_secs(600), 7),
    (Duration::from_secs(3600), 25),
];

/// One window's figures (`BrokerStatsItem.java`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StatsWindow {
    pub avgpt: f64,
    pub sum: u64,
    pub tps: f64,
}

/// VIEW_BROKER_STATS_DATA's body (`BrokerStatsData.java`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerStatsData {
    pub stats_day: StatsWindow,
    pub stats_hour: StatsWindow,
    pub stats_minute: StatsWindow,
}

#[derive(Debug, Clone, Default)]
struct Item {
    value: u64,
    times: u64,
    /// Per window: (when, value, times), oldest first.
    samples: [VecDeque<(Instant, u64, u64)>; 3],
}

#[derive(Debug, Clone, Default)]
pub struct StatsItems {
    items: HashMap<String, Item>,
}

impl StatsItems {
    /// Counts one request that moved `messages`.
    pub fn add(&mut self, key: &str, messages: u64) {
        let item = match self.items.get_mut(key) {
            Some(item) => item,
            None => {
                // Every window starts at zero when the key appears, so the first messages
                // count even before the next sample.
                let start = (Instant::now(), 0, 0);
                let mut item = Item::default();
                for samples in &mut item.samples {
                    samples.push_back(start);
                }
                self.items.entry(key.to_string()).or_insert(item)
            }
        };
        item.value += messages;
        item.times += 1;
    }

    /// Takes the samples that are due (call about once a second).
    pub fn sample(&mut self, now: Instant) {
        for item in self.items.values_mut() {
            for (window, (every, keep)) in WINDOWS.iter().enumerate() {
                let samples = &mut item.samples[window];
                let due = samples
                    .back()
                    .is_none_or(|(at, _, _)| now.duration_since(*at) >= *every);
                if due {
                    samples.push_back((now, item.value, item.times));
                    while samples.len() > *keep {
                        samples.pop_front();
                    }
                }
            }
        }
    }

    /// The figures of `key`, or `None` for a key never counted.
    pub fn view(&self, key: &str, now: Instant) -> Option<BrokerStatsData> {
        let item = self.items.get(key)?;
        let window = |index: usize| {
            let Some((at, value, times)) = item.samples[index].front().copied() else {
                return StatsWindow::default();
            };
            let sum = item.value - value;
            let seconds = now.duration_since(at).as_secs_f64();
            StatsWindow {
                avgpt: if item.times > times {
                    sum as f64 / (item.times - times) as f64
                } else {
                    0.0
                },
                sum,
                tps: if seconds > 0.0 {
                    sum as f64 / seconds
                } else {
                    0.0
                },
            }
        };
        Some(BrokerStatsData {
            stats_minute: window(0),
            stats_hour: window(1),
            stats_day: window(2),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_from_their_oldest_sample() {
        let mut items = StatsItems::default();
        items.add("T", 0);
        let start = Instant::now();
        items.sample(start);
        for second in 1..=30u64 {
            items.add("T", 10);
            items.sample(start + Duration::from_secs(second));
        }
        let view = items.view("T", start + Duration::from_secs(30)).unwrap();
        // Every window runs from the key's first appearance: 300 messages in 31 requests.
        assert_eq!(view.stats_minute.sum, 300);
        assert!((view.stats_minute.tps - 10.0).abs() < 0.01, "{view:?}");
        assert!(
            (view.stats_minute.avgpt - 300.0 / 31.0).abs() < 1e-9,
            "{view:?}"
        );
        assert_eq!(view.stats_day.sum, 300);
        assert!(items.view("other", start).is_none());
        let body = serde_json::to_string(&view).unwrap();
        assert!(body.starts_with(r#"{"statsDay":{"avgpt":9.67"#), "{body}");
        assert!(body.contains(r#""statsMinute":{"avgpt""#), "{body}");
    }
}
