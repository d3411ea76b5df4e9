//! The autoscaler's memory of one service, and the scale-down stabilization window kept in it.

use serde::{Deserialize, Serialize};

/// Most past recommendations a [`State`] keeps. Only the ones that can still
/// decide a window's highest value are kept (a newer, higher or equal one makes an
/// older one useless), so this is rarely reached; beyond it the two oldest are
/// merged into one that keeps the higher count for longer (never a faster scale-down).
pub const MAX_PAST: usize = 64;

/// What the autoscaler remembers between two decisions for one service.
///
/// The loop stores it (it is small and serializable) and hands it back to the next
/// [`decide`](crate::decide) unchanged, except `desired` when someone else sets the
/// count (`shoal scale web 5`): then `desired` is that count. Fields absent from an
/// older stored state decode to their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// The instance count currently asked for (running, starting, or yet to be placed).
    pub desired: u32,
    /// When the count last went up (unix ms), for `up_cooldown`.
    pub last_scale_up_ms: Option<u64>,
    /// When the count last changed either way (unix ms).
    pub last_change_ms: Option<u64>,
    /// Recommendations within the last `down_stabilization`, oldest first, each
    /// higher than every later one (a sliding-window maximum).
    pub past: Vec<Past>,
    /// When this memory's first decision was made (unix ms); `None` for a fresh one.
    /// The first decision records the current count as a recommendation (as
    /// Kubernetes' HPA does), so a restarted autoscaler without a stored memory
    /// waits one window before its first scale-down.
    pub since_ms: Option<u64>,
}

/// One remembered recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Past {
    /// When it was made (unix ms).
    pub at_ms: u64,
    /// The (bounded) count recommended.
    pub count: u32,
}

impl State {
    /// A fresh memory for a service currently asked to run `desired` instances.
    pub fn new(desired: u32) -> State {
        State {
            desired,
            ..State::default()
        }
    }

    /// The highest recommendation inside the window of `window_ms` before `now_ms`
    /// (the latest one of that count if several), or `None` when the window is empty.
    /// Recommendations dated after `now_ms` (a clock that stepped back) are inside.
    pub fn highest(&self, now_ms: u64, window_ms: u64) -> Option<Past> {
        self.past
            .iter()
            .filter(|p| inside(p, now_ms, window_ms))
            .max_by_key(|p| (p.count, p.at_ms))
            .copied()
    }

    /// Until when (unix ms) the window keeps a recommendation of `level` or more:
    /// the latest such one inside it plus `window_ms`; `None` if there is none.
    pub fn holds_until(&self, now_ms: u64, window_ms: u64, level: u32) -> Option<u64> {
        self.past
            .iter()
            .filter(|p| p.count >= level && inside(p, now_ms, window_ms))
            .map(|p| p.at_ms.saturating_add(window_ms))
            .max()
    }

    /// On a fresh memory's first decision: notes the time and remembers the
    /// current count as if recommended now (nothing to hold at zero).
    pub(crate) fn seed(&mut self, now_ms: u64, window_ms: u64) {
        if self.since_ms.is_some() {
            return;
        }
        self.since_ms = Some(now_ms);
        if self.desired > 0 {
            self.remember(now_ms, window_ms, self.desired);
        }
    }

    /// Drops the recommendations that left the window.
    pub(crate) fn forget(&mut self, now_ms: u64, window_ms: u64) {
        self.past.retain(|p| inside(p, now_ms, window_ms));
    }

    /// Remembers `count` recommended at `now_ms`: forgets what left the window and
    /// every earlier recommendation of `count` or less (the new one outlasts it; it
    /// takes the latest of their times, so a clock that stepped back never shortens
    /// a hold), then keeps at most [`MAX_PAST`].
    pub(crate) fn remember(&mut self, now_ms: u64, window_ms: u64, count: u32) {
        self.forget(now_ms, window_ms);
        let mut at_ms = now_ms;
        self.past.retain(|p| {
            if p.count > count {
                return true;
            }
            at_ms = at_ms.max(p.at_ms);
            false
        });
        self.past.push(Past { at_ms, count });
        self.past.sort_by_key(|p| p.at_ms);
        while self.past.len() > MAX_PAST {
            let oldest = self.past.remove(0);
            if let Some(next) = self.past.first_mut() {
                next.count = next.count.max(oldest.count);
            }
        }
    }
}

/// Whether `p` is within `window_ms` before `now_ms` (or after it).
fn inside(p: &Past, now_ms: u64, window_ms: u64) -> bool {
    now_ms.saturating_sub(p.at_ms) < window_ms
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
