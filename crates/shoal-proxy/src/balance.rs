//! Load balancing: power of two choices on the least in-flight requests, with a
//! peak-EWMA latency tiebreak; instances that are ejected are skipped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::eject::Outlier;

/// Decay time of the latency average.
const EWMA_TAU: Duration = Duration::from_secs(10);

/// Live numbers of one instance, kept across routing-table swaps.
#[derive(Debug, Default)]
pub struct EndpointStats {
    inflight: AtomicUsize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    ewma_ns: f64,
    last: Option<Instant>,
    outlier: Outlier,
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
        let Ok(mut inner) = self.inner.lock() else {
            return None;
        };
        inner.outlier.record(ok, now)
    }

    /// Feeds the peak-EWMA latency: jumps up to a slower sample, decays toward faster ones.
    pub fn observe_latency(&self, rtt: Duration, now: Instant) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let rtt = rtt.as_nanos() as f64;
        inner.ewma_ns = match inner.last {
            _ if rtt > inner.ewma_ns => rtt,
            None => rtt,
            Some(last) => {
                let w = (-(now.duration_since(last).as_secs_f64()) / EWMA_TAU.as_secs_f64()).exp();
                inner.ewma_ns * w + rtt * (1.0 - w)
            }
        };
        inner.last = Some(now);
    }

    pub fn ewma(&self) -> Duration {
        self.inner
            .lock()
            .map_or(Duration::ZERO, |i| Duration::from_nanos(i.ewma_ns as u64))
    }

    pub fn ejected_for(&self, now: Instant) -> Option<Duration> {
        self.inner
            .lock()
            .ok()
            .and_then(|i| i.outlier.remaining(now))
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
    let fresh: Vec<usize> = (0..endpoints.len())
        .filter(|i| !tried.contains(i))
        .collect();
    let healthy: Vec<usize> = fresh
        .iter()
        .copied()
        .filter(|&i| endpoints[i].stats.ejected_for(now).is_none())
        .collect();
    // When every instance is ejected, ejection is ignored (panic mode, as Envoy).
    let candidates = if healthy.is_empty() { fresh } else { healthy };
    match (candidates.len(), strategy) {
        (0, _) => None,
        (1, _) => Some(candidates[0]),
        (n, Strategy::RoundRobin) => Some(candidates[rr.fetch_add(1, Ordering::Relaxed) % n]),
        (n, Strategy::LeastLoaded) => {
            let a = rng.random_range(0..n);
            let mut b = rng.random_range(0..n - 1);
            if b >= a {
                b += 1;
            }
            let (ia, ib) = (candidates[a], candidates[b]);
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
