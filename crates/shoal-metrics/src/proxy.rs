//! Request metrics fed by the proxy: `shoal_requests_total` and
//! `shoal_request_duration_seconds`, cumulative for `/metrics` and per second for the store.
//!
//! The hot path takes one uncontended lock and looks the series up by borrowed `&str`
//! keys: it allocates only the first time a (service, version, code, caller) is seen.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Upper bounds (seconds) of the `shoal_request_duration_seconds` buckets.
pub const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Most (service, version) pairs tracked; beyond it requests are counted as dropped.
const MAX_PAIRS: usize = 10_000;

/// Count of one (code, caller).
#[derive(Debug, Clone)]
pub struct CodeCount {
    pub code: u16,
    pub caller: Box<str>,
    pub total: u64,
    pub interval: u64,
}

/// Everything about one (service, version).
#[derive(Debug)]
pub struct VersionStats {
    pub codes: Vec<CodeCount>,
    /// Cumulative counts per bucket of [`BUCKETS`] (not cumulative across buckets), then +Inf.
    pub buckets: [u64; BUCKETS.len() + 1],
    pub sum: f64,
    pub count: u64,
    /// This second's durations in microseconds.
    interval: Option<Histogram<u64>>,
    interval_sum: f64,
    interval_min: f64,
    interval_max: f64,
}

impl VersionStats {
    fn new() -> Self {
        Self {
            codes: Vec::new(),
            buckets: [0; BUCKETS.len() + 1],
            sum: 0.0,
            count: 0,
            interval: Histogram::new(2).ok(),
            interval_sum: 0.0,
            interval_min: f64::INFINITY,
            interval_max: 0.0,
        }
    }

    fn observe(&mut self, code: u16, caller: &str, secs: f64) {
        match self
            .codes
            .iter_mut()
            .find(|c| c.code == code && &*c.caller == caller)
        {
            Some(c) => {
                c.total += 1;
                c.interval += 1;
            }
            None => self.codes.push(CodeCount {
                code,
                caller: caller.into(),
                total: 1,
                interval: 1,
            }),
        }
        let i = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i] += 1;
        self.sum += secs;
        self.count += 1;
        if let Some(h) = &mut self.interval {
            let _ = h.record((secs * 1e6) as u64);
        }
        self.interval_sum += secs;
        self.interval_min = self.interval_min.min(secs);
        self.interval_max = self.interval_max.max(secs);
    }
}

/// One second of one (service, version), for the store.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalStats {
    pub service: String,
    pub version: String,
    /// (code, caller, requests in the interval)
    pub codes: Vec<(u16, String, u64)>,
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    /// p50, p90, p95, p99 in seconds.
    pub quantiles: [f64; 4],
}

/// service → version → stats.
type ByService = HashMap<Box<str>, HashMap<Box<str>, VersionStats, FastHash>, FastHash>;
/// Label keys are ours, not an attacker's: a fast hash, not SipHash.
type FastHash = foldhash::fast::FixedState;

/// The proxy's request metrics.
#[derive(Default)]
pub struct RequestMetrics {
    inner: Mutex<ByService>,
}

impl RequestMetrics {
    /// Records one answered request.
    pub fn observe(&self, service: &str, version: &str, code: u16, caller: &str, d: Duration) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = map.get_mut(service).and_then(|s| s.get_mut(version)) {
            v.observe(code, caller, d.as_secs_f64());
            return;
        }
        if map.values().map(HashMap::len).sum::<usize>() >= MAX_PAIRS {
            return;
        }
        let mut stats = VersionStats::new();
        stats.observe(code, caller, d.as_secs_f64());
        map.entry(service.into())
            .or_default()
            .insert(version.into(), stats);
    }

    /// Runs `f` over every (service, version) (for `/metrics`).
    pub fn each(&self, mut f: impl FnMut(&str, &str, &VersionStats)) {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for (service, versions) in map.iter() {
            for (version, stats) in versions {
                f(service, version, stats);
            }
        }
    }

    /// Ends the interval: what happened since the last call, per (service, version).
    pub fn take_interval(&self) -> Vec<IntervalStats> {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for (service, versions) in map.iter_mut() {
            for (version, v) in versions.iter_mut() {
                let codes: Vec<(u16, String, u64)> = v
                    .codes
                    .iter_mut()
                    .filter(|c| c.interval > 0)
                    .map(|c| {
                        (
                            c.code,
                            c.caller.to_string(),
                            std::mem::take(&mut c.interval),
                        )
                    })
                    .collect();
                if codes.is_empty() {
                    continue;
                }
                let q = |h: &Option<Histogram<u64>>, q: f64| {
                    h.as_ref()
                        .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1e6)
                };
                out.push(IntervalStats {
                    service: service.to_string(),
                    version: version.to_string(),
                    count: codes.iter().map(|c| c.2).sum(),
                    codes,
                    sum: v.interval_sum,
                    min: v.interval_min,
                    max: v.interval_max,
                    quantiles: [0.5, 0.9, 0.95, 0.99].map(|x| q(&v.interval, x)),
                });
                if let Some(h) = &mut v.interval {
                    h.reset();
                }
                v.interval_sum = 0.0;
                v.interval_min = f64::INFINITY;
                v.interval_max = 0.0;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_codes_buckets_and_intervals() {
        let m = RequestMetrics::default();
        for ms in [1u64, 2, 3, 40] {
            m.observe("web", "1", 200, "gateway", Duration::from_millis(ms));
        }
        m.observe("web", "1", 503, "gateway", Duration::from_millis(2));
        let mut seen = 0;
        m.each(|s, v, st| {
            seen += 1;
            assert_eq!((s, v, st.count), ("web", "1", 5));
            assert_eq!(st.codes.iter().map(|c| c.total).sum::<u64>(), 5);
            assert_eq!(st.buckets[0], 1); // <= 1 ms
            assert_eq!(st.buckets[1], 2); // <= 2.5 ms
        });
        assert_eq!(seen, 1);
        let i = m.take_interval();
        assert_eq!(i.len(), 1);
        assert_eq!(i[0].count, 5);
        assert!((i[0].max - 0.040).abs() < 1e-9);
        assert!(i[0].quantiles[3] >= 0.039, "{:?}", i[0].quantiles);
        // Nothing new: the next interval is empty, totals stay.
        assert!(m.take_interval().is_empty());
        m.each(|_, _, st| assert_eq!(st.count, 5));
    }
}
