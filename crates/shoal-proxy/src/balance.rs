//! Load balancing: power of two choices on the least in-flight requests, with a
//! peak-EWMA latency tiebreak; instances that are ejected are skipped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::eject::Outlier;

/// Decay time of the latency average.
const EWMA_TAU: Duration = Duration::from_secs(10);

/// Live numbers of one instance, kept across routing-table swaps.
///
/// Every serving thread touches these on every request, so the common path
/// takes no lock: in-flight count and latency average are atomics (a lost
/// update of the average under a race is harmless), and the outlier state is
/// only locked after a failure or while an ejection may be in force.
#[derive(Debug)]
pub struct EndpointStats {
    inflight: AtomicUsize,
    /// Peak-EWMA latency in nanoseconds, as `f64` bits.
    ewma_bits: AtomicU64,
    /// When latency was last observed, in nanoseconds after `born` plus one (0: never).
    last: AtomicU64,
    born: Instant,
    /// Whether an outcome can change the outlier state (a failure was seen since it was clean).
    dirty: AtomicBool,
    /// Whether an ejection may be in force.
    ejecting: AtomicBool,
    outlier: Mutex<Outlier>,
    /// The instance left the route table (it failed its health check, stopped, or
    /// its node's lease lapsed): in-flight attempts on it give up (`left`).
    gone: AtomicBool,
    /// Wakes the attempts waiting in [`EndpointStats::left`].
    leaving: tokio::sync::Notify,
}

impl Default for EndpointStats {
    fn default() -> Self {
        Self {
            inflight: AtomicUsize::new(0),
            ewma_bits: AtomicU64::new(0f64.to_bits()),
            last: AtomicU64::new(0),
            born: Instant::now(),
            dirty: AtomicBool::new(false),
            ejecting: AtomicBool::new(false),
            outlier: Mutex::new(Outlier::default()),
            gone: AtomicBool::new(false),
            leaving: tokio::sync::Notify::new(),
        }
    }
}

impl EndpointStats {
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }

    /// Marks a request as sent; the guard marks it done when dropped.
    pub fn start(self: &Arc<Self>) -> InflightGuard {
        self.inflight.fetch_add(1, Ordering::Relaxed);
        InflightGuard(self.clone())
    }

    /// Records an attempt's outcome; returns an ejection it caused.
    pub fn record(&self, ok: bool, now: Instant) -> Option<Duration> {
        // A success on a clean instance changes nothing: no lock.
        if ok && !self.dirty.load(Ordering::Relaxed) {
            return None;
        }
        let Ok(mut outlier) = self.outlier.lock() else {
            return None;
        };
        let ejected = outlier.record(ok, now);
        if ejected.is_some() {
            self.ejecting.store(true, Ordering::Relaxed);
        }
        self.dirty.store(!outlier.is_clean(now), Ordering::Relaxed);
        ejected
    }

    /// The instance is out of the route table for good: every attempt in flight on
    /// it, and any started later through an older table, gives up.
    pub fn withdraw(&self) {
        self.gone.store(true, Ordering::Release);
        self.leaving.notify_waiters();
    }

    /// The instance was ejected: attempts in flight on it now give up (new ones
    /// are not sent to it while the ejection lasts).
    pub fn interrupt(&self) {
        self.leaving.notify_waiters();
    }

    /// Resolves once the instance is withdrawn or ejected after this call.
    pub async fn left(&self) {
        let notified = self.leaving.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.gone.load(Ordering::Acquire) {
            return;
        }
        notified.await;
    }

    /// Feeds the peak-EWMA latency: jumps up to a slower sample, decays toward faster ones.
    pub fn observe_latency(&self, rtt: Duration, now: Instant) {
        let rtt = rtt.as_nanos() as f64;
        let ewma = f64::from_bits(self.ewma_bits.load(Ordering::Relaxed));
        let last = self.last.load(Ordering::Relaxed);
        let at = now.saturating_duration_since(self.born);
        let next = if last == 0 || rtt > ewma {
            rtt
        } else {
            let since = at.saturating_sub(Duration::from_nanos(last - 1));
            let w = (-since.as_secs_f64() / EWMA_TAU.as_secs_f64()).exp();
            ewma * w + rtt * (1.0 - w)
        };
        self.ewma_bits.store(next.to_bits(), Ordering::Relaxed);
        let at_ns = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX - 1);
        self.last.store(at_ns + 1, Ordering::Relaxed);
    }

    pub fn ewma(&self) -> Duration {
        Duration::from_nanos(f64::from_bits(self.ewma_bits.load(Ordering::Relaxed)) as u64)
    }

    pub fn ejected_for(&self, now: Instant) -> Option<Duration> {
        if !self.ejecting.load(Ordering::Relaxed) {
            return None;
        }
        let left = self.outlier.lock().ok()?.remaining(now);
        if left.is_none() {
            self.ejecting.store(false, Ordering::Relaxed);
        }
        left
    }

    fn load(&self) -> (usize, u64) {
        (self.inflight(), self.ewma().as_nanos() as u64)
    }
}

/// Decrements an instance's in-flight count when dropped.
#[derive(Debug)]
pub struct InflightGuard(Arc<EndpointStats>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One routable instance.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub instance: String,
    pub version: String,
    pub addr: SocketAddr,
    pub stats: Arc<EndpointStats>,
}

/// How to spread requests over a version's instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Power of two choices, least in-flight, latency tiebreak (the default).
    #[default]
    LeastLoaded,
    RoundRobin,
}

/// Picks an instance index among `endpoints`, skipping `tried` and (unless all are)
/// ejected ones. `rr` is the round-robin cursor.
pub fn pick(
    endpoints: &[Endpoint],
    tried: &[usize],
    strategy: Strategy,
    rr: &AtomicUsize,
    now: Instant,
    rng: &mut impl Rng,
) -> Option<usize> {
    // Without allocating: count the candidates, then find the chosen ones by rank.
    let fresh = |i: &usize| !tried.contains(i);
    let healthy = |i: &usize| fresh(i) && endpoints[*i].stats.ejected_for(now).is_none();
    let n_healthy = (0..endpoints.len()).filter(healthy).count();
    // When every instance is ejected, ejection is ignored (panic mode, as Envoy).
    let candidate = |i: &usize| if n_healthy > 0 { healthy(i) } else { fresh(i) };
    let n = match n_healthy {
        0 => (0..endpoints.len()).filter(fresh).count(),
        n => n,
    };
    let nth = |k: usize| (0..endpoints.len()).filter(candidate).nth(k);
    match (n, strategy) {
        (0, _) => None,
        (1, _) => nth(0),
        (n, Strategy::RoundRobin) => nth(rr.fetch_add(1, Ordering::Relaxed) % n),
        (n, Strategy::LeastLoaded) => {
            let a = rng.random_range(0..n);
            let mut b = rng.random_range(0..n - 1);
            if b >= a {
                b += 1;
            }
            let (ia, ib) = (nth(a)?, nth(b)?);
            Some(
                if prefer(endpoints[ia].stats.load(), endpoints[ib].stats.load()) {
                    ia
                } else {
                    ib
                },
            )
        }
    }
}

/// Whether load `a` (in-flight, latency) is at most load `b`.
pub fn prefer(a: (usize, u64), b: (usize, u64)) -> bool {
    a <= b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eps(n: u16) -> Vec<Endpoint> {
        (0..n)
            .map(|i| Endpoint {
                instance: format!("i{i}"),
                version: "1".into(),
                addr: SocketAddr::from(([127, 0, 0, 1], 1000 + i)),
                stats: Arc::default(),
            })
            .collect()
    }

    #[test]
    fn least_inflight_then_latency_wins() {
        assert!(prefer((0, 100), (1, 1)));
        assert!(!prefer((2, 1), (1, 100)));
        assert!(prefer((1, 5), (1, 9)));
    }

    #[tokio::test(start_paused = true)]
    async fn p2c_avoids_the_busy_instance() {
        let e = eps(2);
        let _busy: Vec<_> = (0..5).map(|_| e[0].stats.start()).collect();
        let mut rng = rand::rng();
        let rr = AtomicUsize::new(0);
        for _ in 0..50 {
            assert_eq!(
                pick(
                    &e,
                    &[],
                    Strategy::LeastLoaded,
                    &rr,
                    Instant::now(),
                    &mut rng
                ),
                Some(1)
            );
        }
        drop(_busy);
        assert_eq!(e[0].stats.inflight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_lock_free_success_path_keeps_ejection_semantics() {
        use crate::eject::{BASE, THRESHOLD};
        let s = EndpointStats::default();
        // Successes on a clean instance change nothing.
        assert_eq!(s.record(true, Instant::now()), None);
        assert_eq!(s.ejected_for(Instant::now()), None);
        // A success in the middle resets the run of failures.
        for _ in 0..THRESHOLD - 1 {
            assert_eq!(s.record(false, Instant::now()), None);
        }
        assert_eq!(s.record(true, Instant::now()), None);
        for _ in 0..THRESHOLD - 1 {
            assert_eq!(s.record(false, Instant::now()), None);
        }
        assert_eq!(s.record(false, Instant::now()), Some(BASE));
        assert_eq!(s.ejected_for(Instant::now()), Some(BASE));
        tokio::time::advance(BASE).await;
        assert_eq!(s.ejected_for(Instant::now()), None);
        // Ejected again before a success: the backoff doubles.
        for _ in 0..THRESHOLD - 1 {
            s.record(false, Instant::now());
        }
        assert_eq!(s.record(false, Instant::now()), Some(BASE * 2));
        tokio::time::advance(BASE * 2).await;
        // A success after the ejection forgets it: the next one is BASE again.
        assert_eq!(s.record(true, Instant::now()), None);
        for _ in 0..THRESHOLD - 1 {
            s.record(false, Instant::now());
        }
        assert_eq!(s.record(false, Instant::now()), Some(BASE));
    }

    #[tokio::test(start_paused = true)]
    async fn tried_and_ejected_instances_are_skipped() {
        let e = eps(3);
        let mut rng = rand::rng();
        let rr = AtomicUsize::new(0);
        let now = Instant::now();
        for _ in 0..crate::eject::THRESHOLD {
            e[2].stats.record(false, now);
        }
        for _ in 0..20 {
            assert_eq!(
                pick(&e, &[0], Strategy::LeastLoaded, &rr, now, &mut rng),
                Some(1)
            );
        }
        // All left are ejected or tried: ejection is ignored.
        assert_eq!(
            pick(&e, &[0, 1], Strategy::LeastLoaded, &rr, now, &mut rng),
            Some(2)
        );
        assert_eq!(
            pick(&e, &[0, 1, 2], Strategy::LeastLoaded, &rr, now, &mut rng),
            None
        );
    }

    #[tokio::test(start_paused = true)]
    async fn round_robin_visits_every_instance() {
        let e = eps(3);
        let mut rng = rand::rng();
        let rr = AtomicUsize::new(0);
        let picks: Vec<_> = (0..3)
            .filter_map(|_| pick(&e, &[], Strategy::RoundRobin, &rr, Instant::now(), &mut rng))
            .collect();
        assert_eq!(picks, vec![0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn peak_ewma_jumps_up_and_decays() {
        let s = EndpointStats::default();
        s.observe_latency(Duration::from_millis(10), Instant::now());
        s.observe_latency(Duration::from_millis(100), Instant::now());
        assert_eq!(s.ewma(), Duration::from_millis(100));
        tokio::time::advance(Duration::from_secs(30)).await;
        s.observe_latency(Duration::from_millis(10), Instant::now());
        assert!(s.ewma() < Duration::from_millis(20));
    }
}
