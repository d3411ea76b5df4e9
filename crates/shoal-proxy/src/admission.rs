//! Admission: the rate limit (governor, on tokio's clock), the in-flight cap and
//! caller priorities — low priorities are shed first as in-flight grows, and a
//! caller's `share` is both reserved for it and the most it may hold.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use shoal_spec::{CallerPolicy, LimitsSpec, Priority};

/// governor's clock on tokio time, so a paused test clock drives the limiter too.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;
    fn now(&self) -> Self::Instant {
        tokio::time::Instant::now().into_std()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// Percent of `max_inflight` up to which each priority is admitted.
pub fn threshold_pct(p: Priority) -> u64 {
    match p {
        Priority::Low => 50,
        Priority::Normal => 80,
        Priority::High => 90,
        Priority::Critical => 100,
    }
}

/// The pure admission decision for one request under `max` in-flight.
/// `share_cap` is the caller's share of `max` (at least 1), if it has one.
pub fn decide(
    priority: Priority,
    share_cap: Option<u32>,
    caller_inflight: u32,
    total_inflight: u32,
    max: u32,
) -> Result<(), &'static str> {
    if total_inflight >= max {
        return Err("the service is at max_inflight");
    }
    if let Some(cap) = share_cap {
        return if caller_inflight < cap {
            Ok(())
        } else {
            Err("the caller used its share of max_inflight")
        };
    }
    if u64::from(total_inflight) * 100 < u64::from(max) * threshold_pct(priority) {
        Ok(())
    } else {
        Err("the service is overloaded; lower-priority callers are shed first")
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("more than the service's rps limit; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    #[error("{0}")]
    Shed(&'static str),
}

/// One service's admission state, kept across routing-table swaps.
#[derive(Debug)]
pub struct Admission {
    max: Option<u32>,
    /// Most requests waiting for a place, and how long each waits.
    queue: Option<(u32, Duration)>,
    waiting: AtomicU32,
    limiter: Option<Limiter>,
    callers: BTreeMap<String, CallerPolicy>,
    total: AtomicU32,
    per_caller: HashMap<String, AtomicU32>,
    pub shed: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl Admission {
    pub fn new(limits: Option<&LimitsSpec>, callers: &BTreeMap<String, CallerPolicy>) -> Self {
        let limiter = limits.and_then(|l| l.rps).and_then(|rps| {
            let burst = NonZeroU32::new(rps.ceil().clamp(1.0, f64::from(u32::MAX)) as u32)?;
            let quota = Quota::with_period(Duration::from_secs_f64(1.0 / rps))?;
            Some(RateLimiter::direct_with_clock(
                quota.allow_burst(burst),
                TokioClock,
            ))
        });
        Self {
            max: limits.and_then(|l| l.max_inflight),
            queue: limits.and_then(|l| {
                let timeout = l.queue_timeout.unwrap_or(Duration::from_secs(1));
                l.queue.map(|n| (n, timeout))
            }),
            waiting: AtomicU32::new(0),
            limiter,
            callers: callers.clone(),
            total: AtomicU32::new(0),
            per_caller: callers
                .iter()
                .filter(|(_, p)| p.share.is_some())
                .map(|(n, _)| (n.clone(), AtomicU32::new(0)))
                .collect(),
            shed: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
        }
    }

    pub fn inflight(&self) -> u32 {
        self.total.load(Ordering::Relaxed)
    }

    /// Admits one request from `caller`; the guard releases it when dropped.
    pub fn admit(self: &Arc<Self>, caller: &str) -> Result<AdmitGuard, Refusal> {
        self.try_admit(caller, true)
    }

    /// Whether requests that would be shed wait for a place (`limits.queue`).
    pub fn queues(&self) -> bool {
        self.queue.is_some()
    }

    /// [`Admission::admit`], but a request that would be shed waits in the queue (if
    /// the service has one and it has room) for a place, trying again every 5 ms until
    /// `queue_timeout`: the priorities still decide who gets in first (a critical
    /// caller's threshold is the highest), and what times out is shed.
    pub async fn admit_waiting(self: &Arc<Self>, caller: &str) -> Result<AdmitGuard, Refusal> {
        let first = self.try_admit(caller, false);
        let (Err(Refusal::Shed(why)), Some((max, timeout))) = (&first, self.queue) else {
            if matches!(first, Err(Refusal::Shed(_))) {
                self.shed.fetch_add(1, Ordering::Relaxed);
            }
            return first;
        };
        let why = *why;
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= max {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            self.shed.fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::Shed(why));
        }
        let _waiting = Waiting(&self.waiting);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            match self.try_admit(caller, false) {
                Err(Refusal::Shed(why)) if tokio::time::Instant::now() < deadline => {
                    let _ = why;
                }
                Err(Refusal::Shed(why)) => {
                    self.shed.fetch_add(1, Ordering::Relaxed);
                    return Err(Refusal::Shed(why));
                }
                other => return other,
            }
        }
    }

    /// One admission attempt; a refusal by `max_inflight` counts as shed when `count`.
    fn try_admit(self: &Arc<Self>, caller: &str, count: bool) -> Result<AdmitGuard, Refusal> {
        if let Some(limiter) = &self.limiter {
            if let Err(not_until) = limiter.check() {
                self.rate_limited.fetch_add(1, Ordering::Relaxed);
                let now = TokioClock.now();
                let wait = not_until.wait_time_from(now);
                return Err(Refusal::RateLimited {
                    retry_after: wait.max(Duration::from_millis(1)),
                });
            }
        }
        let policy = self.callers.get(caller);
        let counter = self.per_caller.get_key_value(caller);
        let total = self.total.fetch_add(1, Ordering::Relaxed);
        let mine = counter.map_or(0, |(_, c)| c.fetch_add(1, Ordering::Relaxed));
        let guard = AdmitGuard {
            admission: self.clone(),
            caller: counter.map(|(k, _)| k.clone()),
        };
        if let Some(max) = self.max {
            let priority = policy.map_or(Priority::Normal, |p| p.priority);
            let cap = policy
                .and_then(|p| p.share)
                .map(|s| ((s * f64::from(max)).floor() as u32).max(1));
            if let Err(why) = decide(priority, cap, mine, total, max) {
                if count {
                    self.shed.fetch_add(1, Ordering::Relaxed);
                }
                return Err(Refusal::Shed(why));
            }
        }
        Ok(guard)
    }
}

/// Counts a queued request while it waits.
struct Waiting<'a>(&'a AtomicU32);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Releases an admitted request's slot when dropped.
#[derive(Debug)]
pub struct AdmitGuard {
    admission: Arc<Admission>,
    caller: Option<String>,
}

impl Drop for AdmitGuard {
    fn drop(&mut self) {
        self.admission.total.fetch_sub(1, Ordering::Relaxed);
        if let Some(c) = self
            .caller
            .as_ref()
            .and_then(|c| self.admission.per_caller.get(c))
        {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests;
