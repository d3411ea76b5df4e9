//! `Backoff`: the pure restart delay, exponential with jitter, capped.

use std::time::Duration;

/// Restart delays: `initial`, doubling per consecutive failure, capped at `max`.
///
/// Jitter is "equal" style around the exponential value: the delay is drawn from
/// `[0.8 × base, 1.2 × base]` (then capped at `max`), so instances that crashed
/// together do not restart in lockstep while the delay stays predictable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

/// Relative spread of the jitter: ±20 %.
const JITTER: f64 = 0.2;

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max }
    }

    /// The delay before the next start after `consecutive_failures` failed runs.
    ///
    /// 0 failures: no delay. 1: `initial`. n: `initial × 2^(n-1)`, capped at `max`.
    /// `jitter` is a random number in `[0, 1]` supplied by the caller (0.5 = none);
    /// values outside are clamped.
    pub fn delay(&self, consecutive_failures: u32, jitter: f64) -> Duration {
        if consecutive_failures == 0 {
            return Duration::ZERO;
        }
        let doublings = consecutive_failures - 1;
        let base = if doublings >= 32 {
            self.max
        } else {
            self.initial
                .checked_mul(1u32 << doublings)
                .unwrap_or(Duration::MAX)
                .min(self.max)
        };
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let factor = 1.0 - JITTER + 2.0 * JITTER * jitter;
        base.mul_f64(factor).min(self.max)
    }
}

impl Default for Backoff {
    /// DESIGN §4's example: 100 ms doubling up to 30 s.
    fn default() -> Self {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn no_failure_no_delay() {
        assert_eq!(Backoff::default().delay(0, 1.0), Duration::ZERO);
    }

    #[test]
    fn doubles_from_initial_then_caps() {
        let b = Backoff::new(ms(100), ms(1_000));
        let delays: Vec<_> = (1..=7).map(|n| b.delay(n, 0.5)).collect();
        assert_eq!(
            delays,
            [
                ms(100),
                ms(200),
                ms(400),
                ms(800),
                ms(1_000),
                ms(1_000),
                ms(1_000)
            ]
        );
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let b = Backoff::new(ms(100), Duration::from_secs(30));
        for n in [31, 32, 33, 64, 1_000, u32::MAX] {
            assert_eq!(b.delay(n, 0.5), Duration::from_secs(30), "n = {n}");
        }
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_under_max() {
        let b = Backoff::new(ms(1_000), ms(10_000));
        assert_eq!(b.delay(1, 0.0), ms(800));
        assert_eq!(b.delay(1, 1.0), ms(1_200));
        for i in 0..=100 {
            let j = f64::from(i) / 100.0;
            let d = b.delay(2, j);
            assert!(d >= ms(1_600) && d <= ms(2_400), "{d:?} at {j}");
            let capped = b.delay(10, j);
            assert!(
                capped >= ms(8_000) && capped <= ms(10_000),
                "{capped:?} at {j}"
            );
        }
    }

    #[test]
    fn bad_jitter_is_clamped() {
        let b = Backoff::new(ms(1_000), ms(10_000));
        assert_eq!(b.delay(1, -3.0), ms(800));
        assert_eq!(b.delay(1, 7.0), ms(1_200));
        assert_eq!(b.delay(1, f64::NAN), ms(1_000));
    }
}
