//! A window of statement latencies: atomic counts in log-linear buckets (4 per power of two, so a
//! quantile is within 25 %), emptied by whoever reads it. Resharding reads it each second to back off
//! when the live workload's p99 rises; recording is one relaxed atomic add per statement.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS: usize = 160;

/// Latency counts since the last [`LatencyWindow::take`].
#[derive(Debug)]
pub struct LatencyWindow {
    buckets: [AtomicU64; BUCKETS],
}

impl Default for LatencyWindow {
    fn default() -> Self {
        LatencyWindow { buckets: std::array::from_fn(|_| AtomicU64::new(0)) }
    }
}

fn index(micros: u64) -> usize {
    if micros < 4 {
        return micros as usize;
    }
    let top = 63 - micros.leading_zeros() as usize;
    let sub = ((micros >> (top - 2)) & 3) as usize;
    (4 + (top - 2) * 4 + sub).min(BUCKETS - 1)
}

/// The largest latency bucket `i` holds.
fn upper(i: usize) -> Duration {
    if i < 4 {
        return Duration::from_micros(i as u64 + 1);
    }
    let (top, sub) = ((i - 4) / 4 + 2, ((i - 4) % 4) as u64);
    Duration::from_micros((4 + sub + 1) << (top - 2))
}

impl LatencyWindow {
    /// Counts one statement.
    pub fn record(&self, took: Duration) {
        self.buckets[index(took.as_micros() as u64)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far, leaving the window empty.
    pub fn take(&self) -> Vec<u64> {
        self.buckets.iter().map(|b| b.swap(0, Ordering::Relaxed)).collect()
    }
}

/// The `q` quantile (0..1) of `counts` (from [`LatencyWindow::take`]), as its bucket's upper bound;
/// `None` when fewer than `min` statements were counted.
pub fn quantile(counts: &[u64], q: f64, min: u64) -> Option<Duration> {
    let total: u64 = counts.iter().sum();
    if total < min.max(1) {
        return None;
    }
    let want = (q * total as f64).ceil() as u64;
    let mut seen = 0;
    for (i, n) in counts.iter().enumerate() {
        seen += n;
        if seen >= want {
            return Some(upper(i));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_p99_is_within_a_quarter_of_the_true_value() {
        let w = LatencyWindow::default();
        for i in 1..=1000u64 {
            w.record(Duration::from_micros(i * 100));
        }
        let p99 = quantile(&w.take(), 0.99, 100).unwrap();
        let truth = Duration::from_micros(99_000);
        assert!(p99 >= truth && p99 <= truth.mul_f64(1.25), "{p99:?}");
        assert_eq!(quantile(&w.take(), 0.99, 1), None, "take empties the window");
        for us in [0, 3, 4, 7, 8, 1000, 123_456_789] {
            assert!(upper(index(us)) > Duration::from_micros(us), "{us}");
        }
    }
}
