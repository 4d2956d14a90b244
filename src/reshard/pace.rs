//! The reshard's throttle: at most `rate` rows (copied rows read, or binlog changes applied) per second,
//! so the copy and catch-up leave the live workload its share of the backends. The cut-over's last drain
//! runs unthrottled: writes are held meanwhile. [`Backoff`] pauses them while the live p99 is up.

use std::time::{Duration, Instant};

/// A running count against a rate.
#[derive(Debug)]
pub struct Pace {
    rate: u64,
    started: Instant,
    done: u64,
}

impl Pace {
    /// At most `rate` per second (0: no limit).
    pub fn new(rate: u64) -> Self {
        Pace { rate, started: Instant::now(), done: 0 }
    }

    /// Counts `n` more and waits until they fit the rate.
    pub async fn step(&mut self, n: u64) {
        self.done += n;
        if let Some(due) = self.due() {
            tokio::time::sleep(due).await;
        }
    }

    fn due(&self) -> Option<Duration> {
        (self.rate > 0).then(|| Duration::from_secs_f64(self.done as f64 / self.rate as f64).saturating_sub(self.started.elapsed())).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_rate_it_asks_to_wait_and_without_a_rate_never() {
        let mut p = Pace::new(1000);
        p.done = 500;
        let due = p.due().expect("500 rows at 1000/s take half a second");
        assert!(due > Duration::from_millis(400) && due <= Duration::from_millis(500), "{due:?}");
        let mut free = Pace::new(0);
        free.done = 1_000_000;
        assert_eq!(free.due(), None);
    }

    #[test]
    fn a_p99_twice_as_slow_and_10_ms_slower_is_a_rise() {
        let ms = Duration::from_millis;
        assert!(risen(ms(20), ms(45)));
        assert!(!risen(ms(20), ms(35)), "under twice");
        assert!(!risen(ms(1), ms(5)), "within 10 ms");
    }
}

/// Backs off while the live workload's p99 (the proxy's own statements) is well above what it was before
/// the job began: the copy and catch-up pause a second at a time until it comes back down.
pub struct Backoff {
    stats: std::sync::Arc<crate::stats::Stats>,
    baseline: Option<Duration>,
    last: Instant,
}

/// Statements a one-second window needs before its p99 means anything.
const ENOUGH: u64 = 20;

/// Whether a p99 of `now` against `baseline` is a rise worth backing off for: over twice as slow, and by
/// more than 10 ms (a fast workload doubling from 1 to 2 ms is noise).
pub fn risen(baseline: Duration, now: Duration) -> bool {
    now > baseline * 2 && now > baseline + Duration::from_millis(10)
}

impl Backoff {
    /// Measures the baseline over one second before the job loads the backends.
    pub async fn measure(stats: std::sync::Arc<crate::stats::Stats>) -> Backoff {
        stats.latency.take();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let baseline = crate::latency::quantile(&stats.latency.take(), 0.99, ENOUGH);
        tracing::info!(?baseline, "reshard: the live workload's p99 before the job");
        Backoff { stats, baseline, last: Instant::now() }
    }

    /// Once a second: if the p99 has risen, waits a second (and says so).
    pub async fn check(&mut self) -> bool {
        if self.last.elapsed() < Duration::from_secs(1) {
            return false;
        }
        self.last = Instant::now();
        let now = crate::latency::quantile(&self.stats.latency.take(), 0.99, ENOUGH);
        match (self.baseline, now) {
            (Some(b), Some(p)) if risen(b, p) => {
                tracing::info!(baseline = ?b, p99 = ?p, "reshard: backing off, the live workload slowed down");
                tokio::time::sleep(Duration::from_secs(1)).await;
                self.stats.latency.take();
                self.last = Instant::now();
                true
            }
            (None, Some(p)) => {
                self.baseline = Some(p);
                false
            }
            _ => false,
        }
    }
}
