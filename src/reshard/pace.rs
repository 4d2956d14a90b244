//! The reshard's throttle: at most `rate` rows (copied rows read, or binlog changes applied) per second,
//! so the copy and catch-up leave the live workload its share of the backends. The cut-over's last drain
//! runs unthrottled: writes are held meanwhile.

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
}
