//! The chaos run's only source of randomness: splitmix64, seeded from the run's seed and a
//! stream label, so that every round's fault plan and every sender's choices follow from the
//! seed alone (a failing round is replayed by running the same seed again).
//!
//! Owned by one thread each: the round loop has one per round, every sender has its own.

/// A splitmix64 generator (Steele, Lea and Flood): tiny, fast and good enough to pick faults,
/// moments, queues and body sizes.
pub struct Random(u64);

impl Random {
    /// A generator for stream `label` of run `seed`: distinct labels give unrelated sequences.
    pub fn new(seed: u64, label: u64) -> Random {
        let mut random = Random(seed ^ label.wrapping_mul(0xD1B5_4A32_D192_ED03));
        random.next();
        random
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high` (`low` when the range is empty).
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next() % (high - low)
    }

    /// Log-uniform in `low..=high`: small sizes are common, large ones still frequent.
    pub fn log_uniform(&mut self, low: u64, high: u64) -> u64 {
        let fraction = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let ln_low = (low.max(1) as f64).ln();
        let ln_high = (high.max(low.max(1)) as f64).ln();
        let value = (ln_low + fraction * (ln_high - ln_low)).exp().round() as u64;
        value.clamp(low, high)
    }
}
