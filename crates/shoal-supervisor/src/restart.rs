//! `RestartTracker`: the pure restart accounting of one instance slot.

use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::Backoff;

/// This many consecutive quick failures make an instance "crash looping".
pub const CRASH_LOOP_FAILURES: u32 = 3;

/// The shortest run that resets the failure count, whatever the backoff.
const MIN_RESET_AFTER: Duration = Duration::from_secs(10);

/// Counts consecutive failed runs of one instance slot and turns them into
/// restart delays. A run that lasted (or stayed healthy) at least `reset_after`
/// clears the count, so a service that crashes once a day restarts at once.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    backoff: Backoff,
    reset_after: Duration,
    started: Option<Instant>,
    consecutive_failures: u32,
    quick_failures: u32,
}

impl RestartTracker {
    /// A tracker resetting after `max(10s, backoff.max)` of good running.
    pub fn new(backoff: Backoff) -> Self {
        Self::with_reset_after(backoff, MIN_RESET_AFTER.max(backoff.max))
    }

    pub fn with_reset_after(backoff: Backoff, reset_after: Duration) -> Self {
        RestartTracker {
            backoff,
            reset_after,
            started: None,
            consecutive_failures: 0,
            quick_failures: 0,
        }
    }

    /// Records that the process started at `now`.
    pub fn on_start(&mut self, now: Instant) {
        self.started = Some(now);
    }

    /// Records an exit (a crash, or a kill for liveness) at `now` and returns the
    /// delay before the next start. `jitter` is a random number in `[0, 1]`.
    ///
    /// A run of at least `reset_after` first clears earlier failures; a shorter
    /// one (or one whose start was not recorded) counts as a quick failure.
    pub fn on_exit(&mut self, now: Instant, jitter: f64) -> Duration {
        let uptime = self
            .started
            .take()
            .map(|s| now.saturating_duration_since(s));
        match uptime {
            Some(up) if up >= self.reset_after => {
                self.consecutive_failures = 0;
                self.quick_failures = 0;
            }
            _ => self.quick_failures = self.quick_failures.saturating_add(1),
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.backoff.delay(self.consecutive_failures, jitter)
    }

    /// Records that the running instance has been up and healthy for `stretch`;
    /// long enough clears the failure count.
    pub fn on_healthy_for(&mut self, stretch: Duration) {
        if stretch >= self.reset_after {
            self.consecutive_failures = 0;
            self.quick_failures = 0;
        }
    }

    /// Failed runs since the last reset.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// At least [`CRASH_LOOP_FAILURES`] consecutive runs each died before `reset_after`.
    pub fn crash_looping(&self) -> bool {
        self.quick_failures >= CRASH_LOOP_FAILURES
    }

    pub fn reset_after(&self) -> Duration {
        self.reset_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn tracker() -> (RestartTracker, Instant) {
        let backoff = Backoff::new(ms(100), Duration::from_secs(30));
        (RestartTracker::new(backoff), Instant::now())
    }

    #[test]
    fn reset_after_is_at_least_ten_seconds_or_the_max_backoff() {
        let (t, _) = tracker();
        assert_eq!(t.reset_after(), Duration::from_secs(30));
        let short = RestartTracker::new(Backoff::new(ms(10), ms(500)));
        assert_eq!(short.reset_after(), Duration::from_secs(10));
    }

    #[test]
    fn quick_crashes_back_off_exponentially_and_loop() {
        let (mut t, t0) = tracker();
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..4 {
            t.on_start(now);
            now += ms(50);
            let delay = t.on_exit(now, 0.5);
            delays.push(delay);
            now += delay;
            assert_eq!(t.crash_looping(), t.consecutive_failures() >= 3);
        }
        assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800)]);
        assert_eq!(t.consecutive_failures(), 4);
        assert!(t.crash_looping());
    }

    #[test]
    fn a_long_run_resets_before_counting_the_exit() {
        let (mut t, t0) = tracker();
        for i in 0..3 {
            t.on_start(t0 + ms(i));
            t.on_exit(t0 + ms(i + 1), 0.5);
        }
        assert!(t.crash_looping());
        t.on_start(t0 + ms(10));
        let delay = t.on_exit(t0 + ms(10) + Duration::from_secs(30), 0.5);
        assert_eq!(delay, ms(100), "first failure again");
        assert_eq!(t.consecutive_failures(), 1);
        assert!(!t.crash_looping());
    }

    #[test]
    fn a_healthy_stretch_resets_failures() {
        let (mut t, t0) = tracker();
        for i in 0..3 {
            t.on_start(t0 + ms(i));
            t.on_exit(t0 + ms(i + 1), 0.5);
        }
        t.on_start(t0 + ms(10));
        t.on_healthy_for(Duration::from_secs(29));
        assert_eq!(t.consecutive_failures(), 3);
        t.on_healthy_for(Duration::from_secs(30));
        assert_eq!(t.consecutive_failures(), 0);
        assert!(!t.crash_looping());
        assert_eq!(t.on_exit(t0 + Duration::from_secs(1), 0.5), ms(100));
    }

    #[test]
    fn an_exit_without_a_recorded_start_counts_as_quick() {
        let (mut t, t0) = tracker();
        t.on_exit(t0, 0.5);
        t.on_exit(t0, 0.5);
        assert!(!t.crash_looping());
        t.on_exit(t0, 0.5);
        assert!(t.crash_looping());
    }

    #[test]
    fn delays_are_jittered_and_capped() {
        let (mut t, t0) = tracker();
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            last = t.on_exit(t0, 1.0);
        }
        assert_eq!(last, Duration::from_secs(30));
        let (mut t, t0) = tracker();
        assert_eq!(t.on_exit(t0, 0.0), ms(80));
    }
}
