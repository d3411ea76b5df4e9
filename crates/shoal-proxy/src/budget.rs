//! The retry budget (as linkerd's): retries may add at most `ratio` of the
//! requests seen over a sliding window, plus a small floor so a quiet service can retry.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Window over which requests and retries are counted.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Retries always allowed per second of window, whatever the ratio.
pub const MIN_RETRIES_PER_SEC: u32 = 10;
const SLOTS: u32 = 10;

#[derive(Debug, Clone, Copy)]
struct Slot {
    start: Instant,
    requests: u32,
    retries: u32,
}

/// Counts requests (deposits) and retries (withdrawals) of one service.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    slots: VecDeque<Slot>,
    /// Retries refused because the budget was spent.
    pub exhausted: u64,
}

impl RetryBudget {
    pub fn new(ratio: f64) -> Self {
        Self {
            ratio,
            slots: VecDeque::new(),
            exhausted: 0,
        }
    }

    fn current(&mut self, now: Instant) -> Option<&mut Slot> {
        while self
            .slots
            .front()
            .is_some_and(|s| now.duration_since(s.start) >= WINDOW)
        {
            self.slots.pop_front();
        }
        let len = WINDOW / SLOTS;
        let fresh = self
            .slots
            .back()
            .is_some_and(|s| now.duration_since(s.start) < len);
        if !fresh {
            self.slots.push_back(Slot {
                start: now,
                requests: 0,
                retries: 0,
            });
        }
        self.slots.back_mut()
    }

    /// Counts one original request.
    pub fn deposit(&mut self, now: Instant) {
        if let Some(s) = self.current(now) {
            s.requests += 1;
        }
    }

    /// Takes one retry from the budget if there is room; false = do not retry.
    pub fn withdraw(&mut self, now: Instant) -> bool {
        let _ = self.current(now);
        let (requests, retries) = self.slots.iter().fold((0u64, 0u64), |(q, r), s| {
            (q + u64::from(s.requests), r + u64::from(s.retries))
        });
        let floor = f64::from(MIN_RETRIES_PER_SEC) * WINDOW.as_secs_f64();
        let allowed = floor + self.ratio * requests as f64;
        if (retries + 1) as f64 > allowed {
            self.exhausted += 1;
            return false;
        }
        if let Some(s) = self.slots.back_mut() {
            s.retries += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_are_bounded_by_ratio_plus_floor() {
        let mut b = RetryBudget::new(0.2);
        for _ in 0..1000 {
            b.deposit(Instant::now());
        }
        // floor 100 + 20% of 1000 = 300
        let granted = (0..1000).filter(|_| b.withdraw(Instant::now())).count();
        assert_eq!(granted, 300);
        assert_eq!(b.exhausted, 700);
    }

    #[tokio::test(start_paused = true)]
    async fn budget_refills_as_the_window_slides() {
        let mut b = RetryBudget::new(0.0);
        let granted = (0..200).filter(|_| b.withdraw(Instant::now())).count();
        assert_eq!(granted, 100);
        assert!(!b.withdraw(Instant::now()));
        tokio::time::advance(WINDOW).await;
        assert!(b.withdraw(Instant::now()));
    }
}
