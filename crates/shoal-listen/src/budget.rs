//! [`Budget`]: how many file descriptors the listeners together may hold (the
//! open-file limit minus a reserve for the control plane), and reclaiming the
//! connections idle the longest when they near it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use tokio::time::Instant;

use crate::nofile;
use crate::share::ShareInner;
use crate::slot::{key_of, Slot};

/// The least kept for the control plane (store, logs, instances' pipes, health
/// checks, upstream connections beyond the gateway's own): 256 descriptors, or
/// 10 % of the limit when that is more.
pub const RESERVE_MIN: u64 = 256;
/// Descriptors of listeners that keep their own cap outside the budget: StatsD
/// over TCP (256 connections, `shoal-metrics`).
pub const UNBUDGETED: u64 = 256;
/// Reclaiming starts when the budget is this full (percent) ...
const HIGH_PERCENT: usize = 90;
/// ... and closes idle connections until it is this full.
const LOW_PERCENT: usize = 80;
/// Scans for idle connections at most this often.
const SCAN_EVERY: Duration = Duration::from_millis(10);
/// One log line per this long at most while reclaiming goes on.
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// The limit assumed when it cannot be read.
const UNKNOWN_LIMIT: u64 = 1024;

/// Descriptors the listeners may hold together under an open-file limit of
/// `limit`: the limit minus the reserve (10 %, at least [`RESERVE_MIN`]) and
/// minus [`UNBUDGETED`]; never less than a quarter of the limit.
pub fn listener_fds(limit: u64) -> usize {
    let reserve = (limit / 10).max(RESERVE_MIN);
    let fds = limit
        .saturating_sub(reserve)
        .saturating_sub(UNBUDGETED)
        .max(limit / 4);
    usize::try_from(fds).unwrap_or(usize::MAX)
}

/// Descriptors to free when `used` of `cap` are taken: none below the high
/// watermark, else down to the low one.
pub(crate) fn to_reclaim(used: usize, cap: usize) -> usize {
    if used.saturating_mul(100) < cap.saturating_mul(HIGH_PERCENT) {
        return 0;
    }
    used.saturating_sub(cap.saturating_mul(LOW_PERCENT) / 100)
}

/// Keeps the `n` candidates with the smallest keys (in no order).
pub(crate) fn oldest<T>(candidates: &mut Vec<(u64, T)>, n: usize) {
    if n == 0 {
        candidates.clear();
    } else if n < candidates.len() {
        candidates.select_nth_unstable_by_key(n, |c| c.0);
        candidates.truncate(n);
    }
}

/// One listener's (or one group's, by name) numbers, for `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerStats {
    pub name: &'static str,
    /// Connections open now.
    pub open: usize,
    /// Connections it may hold (its own cap, at most the budget's).
    pub cap: usize,
    /// Connections refused so far (over its cap or the budget).
    pub refused: u64,
}

/// The listeners' share of the process's file descriptors.
#[derive(Debug)]
pub struct Budget {
    cap: usize,
    used: AtomicUsize,
    shares: Mutex<Vec<Weak<ShareInner>>>,
    /// Key (see [`key_of`]) of the last scan for idle connections.
    last_scan: AtomicU64,
    last_report: AtomicU64,
    reclaimed: AtomicU64,
}

static PROCESS: OnceLock<Arc<Budget>> = OnceLock::new();

impl Budget {
    /// A budget of `cap` descriptors.
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            used: AtomicUsize::new(0),
            shares: Mutex::new(Vec::new()),
            last_scan: AtomicU64::new(0),
            last_report: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
        })
    }

    /// The budget of this process, from its open-file limit when first asked
    /// (after [`nofile::raise`]), which it logs.
    pub fn process() -> Arc<Self> {
        PROCESS
            .get_or_init(|| {
                let limit = nofile::soft_limit().unwrap_or(UNKNOWN_LIMIT);
                let budget = Budget::new(listener_fds(limit));
                let listener_fds = budget.cap;
                match nofile::raised() {
                    Some(r) if r.now > r.before => tracing::info!(
                        before = r.before,
                        limit = r.now,
                        hard = r.hard,
                        listener_fds,
                        "open-file limit raised to the hard limit; listeners' connections may take listener_fds of it, the rest is kept for the control plane"
                    ),
                    Some(r) => tracing::info!(
                        limit = r.now,
                        hard = r.hard,
                        listener_fds,
                        "open-file limit already at the hard limit; listeners' connections may take listener_fds of it, the rest is kept for the control plane"
                    ),
                    None => tracing::info!(
                        limit,
                        listener_fds,
                        "listeners' connections may take listener_fds of the open-file limit, the rest is kept for the control plane"
                    ),
                }
                budget
            })
            .clone()
    }

    /// Descriptors the listeners may hold together.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Descriptors they hold now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Idle connections closed to make room so far.
    pub fn reclaimed(&self) -> u64 {
        self.reclaimed.load(Ordering::Relaxed)
    }

    /// Takes `n` descriptors if they fit.
    pub(crate) fn take(&self, n: usize) -> bool {
        let now = self.used.fetch_add(n, Ordering::AcqRel) + n;
        if now > self.cap {
            self.used.fetch_sub(n, Ordering::AcqRel);
            return false;
        }
        true
    }

    pub(crate) fn give(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Each listener's connections, cap and refusals, summed by name (the gateway and
    /// every outbound listener are `proxy`), by name.
    pub fn listeners(&self) -> Vec<ListenerStats> {
        let shares = self.shares.lock().unwrap_or_else(PoisonError::into_inner);
        let mut by_name: std::collections::BTreeMap<&'static str, ListenerStats> =
            std::collections::BTreeMap::new();
        for inner in shares.iter().filter_map(Weak::upgrade) {
            let (name, open, cap, refused) = inner.stats();
            let row = by_name.entry(name).or_insert(ListenerStats {
                name,
                open: 0,
                cap: 0,
                refused: 0,
            });
            row.open += open;
            row.cap = row.cap.saturating_add(cap.min(self.cap));
            row.refused += refused;
        }
        by_name.into_values().collect()
    }

    pub(crate) fn register(&self, share: Weak<ShareInner>) {
        let mut shares = self.shares.lock().unwrap_or_else(PoisonError::into_inner);
        shares.retain(|s| s.strong_count() > 0);
        shares.push(share);
    }

    /// Whether the listeners are past the high watermark.
    pub(crate) fn crowded(&self) -> bool {
        to_reclaim(self.used(), self.cap) > 0
    }

    /// Past the high watermark, asks the connections idle the longest (of every
    /// listener) to close, down to the low watermark; at most once per [`SCAN_EVERY`].
    pub(crate) fn reclaim(&self) {
        let now = key_of(Instant::now());
        let last = self.last_scan.load(Ordering::Relaxed);
        let every = SCAN_EVERY.as_millis() as u64;
        // 0: never scanned.
        if (last != 0 && now < last.saturating_add(every))
            || self
                .last_scan
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let want = to_reclaim(self.used(), self.cap);
        if want == 0 {
            return;
        }
        let shares: Vec<Arc<ShareInner>> = {
            let mut shares = self.shares.lock().unwrap_or_else(PoisonError::into_inner);
            shares.retain(|s| s.strong_count() > 0);
            shares.iter().filter_map(Weak::upgrade).collect()
        };
        let mut idle: Vec<(u64, Arc<Slot>)> = Vec::new();
        for share in &shares {
            share.idle_slots(&mut idle);
        }
        oldest(&mut idle, want);
        let closed = idle.iter().filter(|(key, slot)| slot.reclaim(*key)).count() as u64;
        let total = self.reclaimed.fetch_add(closed, Ordering::Relaxed) + closed;
        let last_report = self.last_report.load(Ordering::Relaxed);
        let report_every = REPORT_EVERY.as_millis() as u64;
        if closed > 0 && now >= last_report.saturating_add(report_every) {
            self.last_report.store(now, Ordering::Relaxed);
            tracing::warn!(
                closed,
                open_fds = self.used(),
                listener_fds = self.cap,
                reclaimed_total = total,
                "listeners near their connection budget: closing the connections idle the longest"
            );
        } else {
            tracing::debug!(closed, wanted = want, "reclaimed idle connections");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_a_tenth_of_the_limit_or_256() {
        // 10 % of 20,000 is 2,000; StatsD's 256 stays outside too.
        assert_eq!(listener_fds(20_000), 20_000 - 2_000 - 256);
        assert_eq!(listener_fds(1 << 20), (1 << 20) - (1 << 20) / 10 - 256);
        // Below 2,560 the 256 minimum is the reserve.
        assert_eq!(listener_fds(2_048), 2_048 - 256 - 256);
        assert_eq!(listener_fds(1_024), 512);
    }

    #[test]
    fn a_tiny_limit_still_leaves_listeners_a_quarter() {
        assert_eq!(listener_fds(512), 128);
        assert_eq!(listener_fds(256), 64);
        assert_eq!(listener_fds(0), 0);
    }

    #[test]
    fn reclaiming_starts_at_90_percent_and_goes_down_to_80() {
        assert_eq!(to_reclaim(0, 1000), 0);
        assert_eq!(to_reclaim(899, 1000), 0);
        assert_eq!(to_reclaim(900, 1000), 100);
        assert_eq!(to_reclaim(1000, 1000), 200);
        assert_eq!(to_reclaim(1, 1), 1);
        assert_eq!(to_reclaim(0, 0), 0);
    }

    #[test]
    fn the_smallest_keys_are_kept() {
        let mut c: Vec<(u64, char)> = vec![(5, 'e'), (1, 'a'), (4, 'd'), (2, 'b'), (3, 'c')];
        oldest(&mut c, 2);
        c.sort();
        assert_eq!(c, vec![(1, 'a'), (2, 'b')]);
        let mut all = vec![(2, 'b'), (1, 'a')];
        oldest(&mut all, 5);
        assert_eq!(all.len(), 2, "fewer candidates than wanted: all of them");
        oldest(&mut all, 0);
        assert!(all.is_empty());
    }

    #[test]
    fn taking_past_the_cap_fails_and_leaves_nothing_taken() {
        let b = Budget::new(3);
        assert!(b.take(2));
        assert!(!b.take(2));
        assert_eq!(b.used(), 2);
        assert!(b.take(1));
        b.give(3);
        assert_eq!(b.used(), 0);
    }
}
