//! [`Slot`]: whether a connection is busy or idle (and until when), which the
//! budget reads to pick connections to reclaim, and the signal telling it to close.
//!
//! One atomic word per connection, written only by the connection (idle, busy)
//! and, from idle only, by a reclaim: marking a request costs a store and a
//! compare-and-swap on the connection's own cache line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use tokio::sync::Notify;
use tokio::time::Instant;

const BUSY: u64 = 0;
const RECLAIMED: u64 = u64::MAX;

/// A connection's state as the budget sees it.
#[derive(Debug, Default)]
pub struct Slot {
    /// `BUSY`, `RECLAIMED`, or idle: the key (see [`key_of`]) of when its wait ends.
    state: AtomicU64,
    /// Woken when the connection is reclaimed.
    reclaim: Notify,
}

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Milliseconds from a fixed point of this process to `at`, plus one: the order
/// of idle connections (the smallest closes first; never 0, the busy mark).
pub fn key_of(at: Instant) -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    let ms = at.saturating_duration_since(epoch).as_millis();
    u64::try_from(ms).unwrap_or(RECLAIMED - 2) + 1
}

/// The instant a key stands for (inverse of [`key_of`], to the millisecond).
pub(crate) fn instant_of(key: u64) -> Instant {
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch + std::time::Duration::from_millis(key.saturating_sub(1))
}

impl Slot {
    /// Waiting for a request (or its head) until `key` (see [`key_of`]): the
    /// connection may be reclaimed. Nothing changes once it was reclaimed.
    pub fn idle(&self, key: u64) {
        let key = key.clamp(1, RECLAIMED - 1);
        let current = self.state.load(Ordering::Relaxed);
        if current != RECLAIMED {
            let _ = self
                .state
                .compare_exchange(current, key, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Serving a request: not reclaimable until [`Slot::idle`] again. `false`
    /// when the connection was reclaimed first: serve what arrived, then close.
    pub fn busy(&self) -> bool {
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            match current {
                BUSY => return true,
                RECLAIMED => return false,
                key => match self.state.compare_exchange_weak(
                    key,
                    BUSY,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => current = now,
                },
            }
        }
    }

    /// Whether the budget asked this connection to close.
    pub fn is_reclaimed(&self) -> bool {
        self.state.load(Ordering::Acquire) == RECLAIMED
    }

    /// Resolves once the budget asks this connection to close (at once if it did).
    pub async fn reclaimed(&self) {
        while !self.is_reclaimed() {
            self.reclaim.notified().await;
        }
    }

    /// The key of an idle connection; `None` when busy or reclaimed.
    pub(crate) fn idle_key(&self) -> Option<u64> {
        match self.state.load(Ordering::Relaxed) {
            BUSY | RECLAIMED => None,
            key => Some(key),
        }
    }

    /// Asks the connection to close if it is still idle with `key`.
    pub(crate) fn reclaim(&self, key: u64) -> bool {
        if key == BUSY || key == RECLAIMED {
            return false;
        }
        let done = self
            .state
            .compare_exchange(key, RECLAIMED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if done {
            self.reclaim.notify_one();
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_slot_is_busy() {
        let s = Slot::default();
        assert_eq!(s.idle_key(), None);
        assert!(s.busy());
    }

    #[test]
    fn idle_then_busy_round_trips() {
        let s = Slot::default();
        s.idle(42);
        assert_eq!(s.idle_key(), Some(42));
        s.idle(50);
        assert_eq!(s.idle_key(), Some(50), "a later wait moves the key");
        assert!(s.busy());
        assert_eq!(s.idle_key(), None);
    }

    #[test]
    fn only_an_idle_slot_with_the_same_key_is_reclaimed() {
        let s = Slot::default();
        assert!(!s.reclaim(0), "busy: never reclaimed");
        s.idle(7);
        assert!(!s.reclaim(8), "it moved on since it was picked");
        assert!(s.reclaim(7));
        assert!(s.is_reclaimed());
        assert!(!s.busy(), "a request that arrives now is the last one");
        s.idle(9);
        assert!(s.is_reclaimed(), "reclaimed stays reclaimed");
    }

    #[tokio::test]
    async fn the_reclaim_signal_is_not_lost_when_nobody_waits_yet() {
        let s = Slot::default();
        s.idle(3);
        assert!(s.reclaim(3));
        tokio::time::timeout(std::time::Duration::from_secs(1), s.reclaimed())
            .await
            .expect("resolves at once");
    }

    #[test]
    fn keys_keep_order_and_are_never_zero() {
        let now = Instant::now();
        let later = now + std::time::Duration::from_secs(3);
        assert!(key_of(now) >= 1);
        assert!(key_of(later) > key_of(now));
        assert_eq!(key_of(instant_of(key_of(later))), key_of(later));
    }
}
