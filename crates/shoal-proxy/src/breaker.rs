//! The circuit breaker (Hystrix semantics): a rolling window of outcomes opens it,
//! `open_for` later one half-open probe is let through, its success closes it.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;
use shoal_spec::CircuitSpec;
use tokio::time::Instant;

/// Buckets per rolling window.
const BUCKETS: u32 = 10;

/// The breaker's state as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

/// What the breaker says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Closed: go ahead.
    Allow,
    /// Half-open: this request is the probe; its outcome decides.
    Probe,
    /// Open (or a probe is already out): answer without calling.
    Reject,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    start: Instant,
    ok: u32,
    failed: u32,
}

/// One service's breaker; time is passed in so tests use a paused clock.
#[derive(Debug)]
pub struct Breaker {
    spec: CircuitSpec,
    buckets: VecDeque<Bucket>,
    state: CircuitState,
    /// Open: when the probe may go. Half-open: when the probe started.
    since: Instant,
    /// Times the breaker opened.
    pub opened: u64,
}

impl Breaker {
    pub fn new(spec: CircuitSpec, now: Instant) -> Self {
        Self {
            spec,
            buckets: VecDeque::new(),
            state: CircuitState::Closed,
            since: now,
            opened: 0,
        }
    }

    pub fn state(&self) -> CircuitState {
        self.state
    }

    fn bucket_len(&self) -> Duration {
        (self.spec.window / BUCKETS).max(Duration::from_millis(1))
    }

    /// Asks whether a request may be sent now.
    pub fn check(&mut self, now: Instant) -> Permit {
        match self.state {
            CircuitState::Closed => Permit::Allow,
            CircuitState::Open if now >= self.since => {
                self.state = CircuitState::HalfOpen;
                self.since = now;
                Permit::Probe
            }
            CircuitState::Open => Permit::Reject,
            // A probe that never reported (cancelled) is replaced after `open_for`.
            CircuitState::HalfOpen if now >= self.since + self.spec.open_for => {
                self.since = now;
                Permit::Probe
            }
            CircuitState::HalfOpen => Permit::Reject,
        }
    }

    /// Records the outcome of a request the breaker let through.
    pub fn record(&mut self, permit: Permit, ok: bool, now: Instant) {
        match (permit, self.state) {
            (Permit::Probe, CircuitState::HalfOpen) => {
                if ok {
                    self.state = CircuitState::Closed;
                    self.buckets.clear();
                } else {
                    self.trip(now);
                }
            }
            (Permit::Allow, CircuitState::Closed) => {
                self.add(ok, now);
                let (total, failed) = self.totals(now);
                if total >= self.spec.min_requests
                    && f64::from(failed) >= self.spec.error_rate * f64::from(total)
                {
                    self.trip(now);
                }
            }
            // Late outcomes of requests sent before a transition are ignored.
            _ => {}
        }
    }

    fn trip(&mut self, now: Instant) {
        self.state = CircuitState::Open;
        self.since = now + self.spec.open_for;
        self.opened += 1;
    }

    fn add(&mut self, ok: bool, now: Instant) {
        let len = self.bucket_len();
        let window = self.spec.window;
        while self
            .buckets
            .front()
            .is_some_and(|b| now.duration_since(b.start) >= window)
        {
            self.buckets.pop_front();
        }
        let fresh = self
            .buckets
            .back()
            .is_some_and(|b| now.duration_since(b.start) < len);
        if !fresh {
            self.buckets.push_back(Bucket {
                start: now,
                ok: 0,
                failed: 0,
            });
        }
        if let Some(b) = self.buckets.back_mut() {
            if ok {
                b.ok += 1;
            } else {
                b.failed += 1;
            }
        }
    }

    /// (requests, failures) within the window ending at `now`.
    fn totals(&self, now: Instant) -> (u32, u32) {
        self.buckets
            .iter()
            .filter(|b| now.duration_since(b.start) < self.spec.window)
            .fold((0, 0), |(t, f), b| (t + b.ok + b.failed, f + b.failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> CircuitSpec {
        CircuitSpec {
            error_rate: 0.5,
            min_requests: 4,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
        }
    }

    fn run(b: &mut Breaker, ok: bool) {
        let p = b.check(Instant::now());
        b.record(p, ok, Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn opens_at_error_rate_after_min_requests() {
        let mut b = Breaker::new(spec(), Instant::now());
        run(&mut b, false);
        run(&mut b, false);
        run(&mut b, false);
        assert_eq!(b.state(), CircuitState::Closed, "below min_requests");
        run(&mut b, true);
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.check(Instant::now()), Permit::Reject);
        assert_eq!(b.opened, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stays_closed_below_error_rate() {
        let mut b = Breaker::new(spec(), Instant::now());
        for _ in 0..10 {
            run(&mut b, true);
        }
        for _ in 0..9 {
            run(&mut b, false);
        }
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn old_outcomes_leave_the_window() {
        let mut b = Breaker::new(spec(), Instant::now());
        for _ in 0..3 {
            run(&mut b, false);
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        run(&mut b, false);
        assert_eq!(
            b.state(),
            CircuitState::Closed,
            "only one failure in window"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_probe_closes_on_success() {
        let mut b = Breaker::new(spec(), Instant::now());
        for _ in 0..4 {
            run(&mut b, false);
        }
        tokio::time::advance(Duration::from_millis(4999)).await;
        assert_eq!(b.check(Instant::now()), Permit::Reject);
        tokio::time::advance(Duration::from_millis(1)).await;
        let probe = b.check(Instant::now());
        assert_eq!(probe, Permit::Probe);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(
            b.check(Instant::now()),
            Permit::Reject,
            "one probe at a time"
        );
        b.record(probe, true, Instant::now());
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.check(Instant::now()), Permit::Allow);
        run(&mut b, false);
        assert_eq!(b.state(), CircuitState::Closed, "window was reset");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_and_lost_probe_is_replaced() {
        let mut b = Breaker::new(spec(), Instant::now());
        for _ in 0..4 {
            run(&mut b, false);
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        let probe = b.check(Instant::now());
        b.record(probe, false, Instant::now());
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.opened, 2);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.check(Instant::now()), Permit::Probe);
        // The probe never reports; after open_for another one may go.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.check(Instant::now()), Permit::Probe);
    }
}
