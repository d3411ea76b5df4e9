//! Passive outlier ejection: an instance that fails `THRESHOLD` times in a row
//! (5xx or no connection) is left out for a backoff that doubles on each ejection.

use std::time::Duration;

use tokio::time::Instant;

/// Consecutive failures that eject an instance.
pub const THRESHOLD: u32 = 5;
/// First ejection; doubles each time the instance is ejected again without a success.
pub const BASE: Duration = Duration::from_secs(1);
/// Longest ejection.
pub const MAX: Duration = Duration::from_secs(60);

/// One instance's outlier state.
#[derive(Debug, Default, Clone)]
pub struct Outlier {
    consecutive: u32,
    ejections: u32,
    until: Option<Instant>,
}

impl Outlier {
    /// Whether the instance is ejected at `now`.
    pub fn is_ejected(&self, now: Instant) -> bool {
        self.until.is_some_and(|u| now < u)
    }

    /// Whether a success would change nothing: no failures counted, no
    /// ejection in force or remembered for backoff.
    pub fn is_clean(&self, now: Instant) -> bool {
        self.consecutive == 0 && self.ejections == 0 && !self.is_ejected(now)
    }

    /// Time left in the ejection, if ejected.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.until.filter(|u| now < *u).map(|u| u - now)
    }

    /// Records one outcome; returns the ejection's length when this outcome ejects the instance.
    pub fn record(&mut self, ok: bool, now: Instant) -> Option<Duration> {
        if ok {
            self.consecutive = 0;
            if !self.is_ejected(now) {
                self.ejections = 0;
            }
            return None;
        }
        self.consecutive += 1;
        if self.consecutive < THRESHOLD || self.is_ejected(now) {
            return None;
        }
        let backoff = BASE.saturating_mul(1u32 << self.ejections.min(16)).min(MAX);
        self.ejections += 1;
        self.consecutive = 0;
        self.until = Some(now + backoff);
        Some(backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ejects_after_threshold_with_growing_backoff() {
        let mut o = Outlier::default();
        for _ in 0..THRESHOLD - 1 {
            assert_eq!(o.record(false, Instant::now()), None);
        }
        assert_eq!(o.record(false, Instant::now()), Some(BASE));
        assert!(o.is_ejected(Instant::now()));
        tokio::time::advance(BASE).await;
        assert!(!o.is_ejected(Instant::now()));
        for _ in 0..THRESHOLD - 1 {
            o.record(false, Instant::now());
        }
        assert_eq!(o.record(false, Instant::now()), Some(BASE * 2));
        tokio::time::advance(BASE * 2).await;
        for _ in 0..THRESHOLD - 1 {
            o.record(false, Instant::now());
        }
        assert_eq!(o.record(false, Instant::now()), Some(BASE * 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_streak_and_backoff() {
        let mut o = Outlier::default();
        for _ in 0..THRESHOLD {
            o.record(false, Instant::now());
        }
        tokio::time::advance(BASE).await;
        o.record(true, Instant::now());
        for _ in 0..THRESHOLD - 1 {
            o.record(false, Instant::now());
        }
        o.record(true, Instant::now());
        assert_eq!(o.record(false, Instant::now()), None);
        for _ in 0..THRESHOLD - 1 {
            o.record(false, Instant::now());
        }
        assert_eq!(
            o.remaining(Instant::now()),
            Some(BASE),
            "backoff reset after success"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped() {
        let mut o = Outlier::default();
        let mut last = None;
        for _ in 0..10 {
            for _ in 0..THRESHOLD {
                if let Some(d) = o.record(false, Instant::now()) {
                    last = Some(d);
                }
            }
            tokio::time::advance(MAX).await;
        }
        assert_eq!(last, Some(MAX));
    }
}
