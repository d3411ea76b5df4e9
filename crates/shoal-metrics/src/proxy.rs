//! Request metrics fed by the proxy: `shoal_requests_total` and
//! `shoal_request_duration_seconds`, cumulative for `/metrics` and per second for the store.
//!
//! The hot path takes its thread's own shard's lock (the proxy's serving
//! threads, one per core, never share a lock or a counter's cache line) and
//! looks the series up by borrowed `&str` keys: it allocates only the first
//! time a (service, version, code, caller) is seen. Readers merge the shards.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Upper bounds (seconds) of the `shoal_request_duration_seconds` buckets.
pub const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Most (service, version) pairs tracked per shard; beyond it requests are not counted.
const MAX_PAIRS: usize = 10_000;
/// Shards of the hot path; threads take one each in turn (more threads share).
const SHARDS: usize = 8;

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

    /// Totals without the interval (what `/metrics` reads), to merge shards into.
    fn totals() -> Self {
        Self {
            interval: None,
            ..Self::new()
        }
    }

    /// Adds `other`'s totals (codes, buckets, sum, count).
    fn add_totals(&mut self, other: &VersionStats) {
        for c in &other.codes {
            match self
                .codes
                .iter_mut()
                .find(|m| m.code == c.code && m.caller == c.caller)
            {
                Some(m) => m.total += c.total,
                None => self.codes.push(CodeCount {
                    interval: 0,
                    ..c.clone()
                }),
            }
        }
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

/// One (service, version)'s interval, merged over the shards.
struct IntervalAcc {
    codes: Vec<(u16, String, u64)>,
    hist: Option<Histogram<u64>>,
    sum: f64,
    min: f64,
    max: f64,
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

/// One shard, on its own cache lines.
#[derive(Default)]
#[repr(align(128))]
struct Shard(Mutex<ByService>);

/// The proxy's request metrics.
#[derive(Default)]
pub struct RequestMetrics {
    shards: [Shard; SHARDS],
}

impl RequestMetrics {
    /// The calling thread's shard, locked.
    fn own(&self) -> MutexGuard<'_, ByService> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        let i = SHARD.with(|s| *s);
        self.shards[i]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn each_shard(&self) -> impl Iterator<Item = MutexGuard<'_, ByService>> {
        self.shards
            .iter()
            .map(|s| s.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records one answered request.
    pub fn observe(&self, service: &str, version: &str, code: u16, caller: &str, d: Duration) {
        let mut map = self.own();
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

    /// Runs `f` over every (service, version), in order, with the shards'
    /// totals merged (for `/metrics`).
    pub fn each(&self, mut f: impl FnMut(&str, &str, &VersionStats)) {
        let mut merged: BTreeMap<(Box<str>, Box<str>), VersionStats> = BTreeMap::new();
        for map in self.each_shard() {
            for (service, versions) in map.iter() {
                for (version, stats) in versions {
                    merged
                        .entry((service.clone(), version.clone()))
                        .or_insert_with(VersionStats::totals)
                        .add_totals(stats);
                }
            }
        }
        for ((service, version), stats) in &merged {
            f(service, version, stats);
        }
    }

    /// Ends the interval: what happened since the last call, per (service,
    /// version), the shards merged (their histograms added for the quantiles).
    pub fn take_interval(&self) -> Vec<IntervalStats> {
        let mut merged: BTreeMap<(Box<str>, Box<str>), IntervalAcc> = BTreeMap::new();
        for mut map in self.each_shard() {
            for (service, versions) in map.iter_mut() {
                for (version, v) in versions.iter_mut() {
                    take_shard_interval(v, || {
                        merged
                            .entry((service.clone(), version.clone()))
                            .or_insert_with(|| IntervalAcc {
                                codes: Vec::new(),
                                hist: None,
                                sum: 0.0,
                                min: f64::INFINITY,
                                max: 0.0,
                            })
                    });
                }
            }
        }
        merged
            .into_iter()
            .map(|((service, version), acc)| {
                let q = |q: f64| {
                    acc.hist
                        .as_ref()
                        .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1e6)
                };
                IntervalStats {
                    service: service.into(),
                    version: version.into(),
                    count: acc.codes.iter().map(|c| c.2).sum(),
                    quantiles: [0.5, 0.9, 0.95, 0.99].map(q),
                    codes: acc.codes,
                    sum: acc.sum,
                    min: acc.min,
                    max: acc.max,
                }
            })
            .collect()
    }
}

/// Moves one shard's interval of one (service, version), if it saw requests,
/// into the accumulator `acc` gives, and starts the shard's next interval.
fn take_shard_interval<'a>(v: &mut VersionStats, acc: impl FnOnce() -> &'a mut IntervalAcc) {
    if v.codes.iter().all(|c| c.interval == 0) {
        return;
    }
    let acc = acc();
    for c in v.codes.iter_mut().filter(|c| c.interval > 0) {
        let n = std::mem::take(&mut c.interval);
        match acc
            .codes
            .iter_mut()
            .find(|m| m.0 == c.code && *m.1 == *c.caller)
        {
            Some(m) => m.2 += n,
            None => acc.codes.push((c.code, c.caller.to_string(), n)),
        }
    }
    match (&mut acc.hist, &v.interval) {
        (Some(h), Some(own)) => {
            let _ = h.add(own);
        }
        (None, Some(own)) => acc.hist = Some(own.clone()),
        _ => {}
    }
    acc.sum += v.interval_sum;
    acc.min = acc.min.min(v.interval_min);
    acc.max = acc.max.max(v.interval_max);
    if let Some(h) = &mut v.interval {
        h.reset();
    }
    v.interval_sum = 0.0;
    v.interval_min = f64::INFINITY;
    v.interval_max = 0.0;
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

    /// Threads record into their own shards; readers see one merged series.
    #[test]
    fn shards_of_many_threads_read_as_one() {
        let m = RequestMetrics::default();
        std::thread::scope(|s| {
            for t in 0..12u64 {
                let m = &m;
                s.spawn(move || {
                    for i in 0..100 {
                        let code = if i % 10 == 0 { 503 } else { 200 };
                        m.observe("web", "1", code, "gateway", Duration::from_millis(1 + t));
                    }
                    m.observe("api", "2", 200, "web", Duration::from_millis(3));
                });
            }
        });
        let mut seen = Vec::new();
        m.each(|s, v, st| {
            let by_code = |code| -> u64 {
                st.codes
                    .iter()
                    .filter(|c| c.code == code)
                    .map(|c| c.total)
                    .sum()
            };
            seen.push((
                s.to_string(),
                v.to_string(),
                st.count,
                by_code(200),
                by_code(503),
            ));
            assert_eq!(
                st.codes.len(),
                if s == "web" { 2 } else { 1 },
                "{s}: merged"
            );
            assert_eq!(st.buckets.iter().sum::<u64>(), st.count);
        });
        assert_eq!(
            seen,
            [
                ("api".into(), "2".into(), 12, 12, 0),
                ("web".into(), "1".into(), 1200, 1080, 120)
            ]
        );
        let i = m.take_interval();
        assert_eq!(i.len(), 2);
        let web = &i[1];
        assert_eq!((web.service.as_str(), web.count), ("web", 1200));
        assert_eq!(web.codes.len(), 2);
        assert!((web.min - 0.001).abs() < 1e-9 && (web.max - 0.012).abs() < 1e-9);
        // Every thread's histogram is in the quantiles: p99 is the slowest thread's.
        assert!(web.quantiles[3] >= 0.0119, "{:?}", web.quantiles);
        assert!(m.take_interval().is_empty());
    }
}
