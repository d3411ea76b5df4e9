//! The metrics store: every series in two rollup tiers (1 s for 1 h, 10 s for 24 h),
//! in bounded memory.
//!
//! Series are Shoal's own ([`Origin::Platform`]: instances, requests) or an
//! application's ([`Origin::Application`]: StatsD), each origin with its own cap, so
//! a flood of StatsD names never pushes out an instance's series. A new series that
//! finds its origin full evicts that origin's least recently updated ones
//! ([`crate::evict`]); once a minute, series without a point in the last 24 h (which
//! no query can show any more) are evicted as stale. Evictions are counted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use serde::Serialize;

use crate::evict::{self, Evictions};
use crate::query::{align, evaluate, Query, QueryError, QueryResult, SeriesData};
use crate::ring::{Point, Quantiles, Ring};

/// 1 s resolution kept for one hour.
pub const FINE: (u64, usize) = (1, 3600);
/// 10 s resolution kept for 24 hours.
pub const COARSE: (u64, usize) = (10, 8640);
/// Seconds between sweeps for stale series.
const SWEEP_EVERY_S: u64 = 60;

#[path = "tsdb_room.rs"]
mod room;
pub use room::{Caps, Origin};

/// How a series' points are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    /// Points hold increases (`sum`); `rate` is increase per second.
    Counter,
    /// Points hold samples.
    Gauge,
    /// Points hold observations with their percentiles.
    Summary,
}

/// A series' identity: name and labels sorted by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub name: String,
    pub labels: Vec<(String, String)>,
}

impl SeriesKey {
    pub fn new(name: impl Into<String>, labels: &[(&str, &str)]) -> Self {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        Self {
            name: name.into(),
            labels,
        }
    }
}

/// One observation to record.
#[derive(Debug, Clone)]
pub struct Sample {
    pub key: SeriesKey,
    pub kind: SeriesKind,
    pub point: Point,
    pub quantiles: Option<Quantiles>,
}

struct Series {
    kind: SeriesKind,
    origin: Origin,
    /// The store's sample sequence number at the last update (recency order).
    stamp: u64,
    /// The newest unix second recorded.
    last_t: u64,
    fine: Ring,
    coarse: Ring,
}

#[derive(Default)]
struct Inner {
    series: HashMap<SeriesKey, Series>,
    /// Names to their series, for selection by name.
    by_name: BTreeMap<String, Vec<SeriesKey>>,
    /// Series held and evicted, per [`Origin::index`].
    held: [usize; 2],
    evicted: [Evictions; 2],
    /// Samples recorded so far: the stamp of the next one.
    seq: u64,
    next_sweep: u64,
}

/// The bounded store; writers take a short write lock per batch, queries a read lock.
pub struct Tsdb {
    inner: RwLock<Inner>,
    caps: Caps,
}

/// What one origin holds in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OriginUsage {
    pub origin: Origin,
    pub series: usize,
    pub cap: usize,
    pub evicted: Evictions,
}

/// What the store holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub series: usize,
    /// Bytes held by the rings.
    pub bytes: usize,
    pub origins: Vec<OriginUsage>,
}

/// One name the store knows.
#[derive(Debug, Clone, Serialize)]
pub struct NameInfo {
    pub name: String,
    pub kind: SeriesKind,
    pub series: usize,
}

impl Tsdb {
    pub fn new(caps: Caps) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            caps,
        }
    }

    /// Records a batch of samples from `origin` taken at unix second `t`.
    pub fn record(&self, t: u64, origin: Origin, samples: Vec<Sample>) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let inner = &mut *inner;
        if t >= inner.next_sweep {
            inner.sweep(t);
            inner.next_sweep = t + SWEEP_EVERY_S;
        }
        let cap = self.caps.of(origin);
        let batch_from = inner.seq + 1;
        for s in samples {
            inner.seq += 1;
            let stamp = inner.seq;
            if !inner.series.contains_key(&s.key) {
                if inner.held[origin.index()] >= cap {
                    inner.evict(origin, evict::batch(cap), batch_from);
                }
                let summary = s.kind == SeriesKind::Summary;
                inner
                    .by_name
                    .entry(s.key.name.clone())
                    .or_default()
                    .push(s.key.clone());
                inner.held[origin.index()] += 1;
                let series = Series {
                    kind: s.kind,
                    origin,
                    stamp,
                    last_t: t,
                    fine: Ring::new(FINE.0, FINE.1, summary),
                    coarse: Ring::new(COARSE.0, COARSE.1, summary),
                };
                inner.series.insert(s.key.clone(), series);
            }
            if let Some(series) = inner.series.get_mut(&s.key) {
                series.stamp = stamp;
                series.last_t = series.last_t.max(t);
                series.fine.record(t, &s.point, s.quantiles.as_ref());
                series.coarse.record(t, &s.point, s.quantiles.as_ref());
            }
        }
    }

    /// Runs a query at unix second `now`.
    pub fn query(&self, q: &Query, now: u64) -> Result<QueryResult, QueryError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let Some(keys) = inner.by_name.get(&q.name) else {
            return Err(QueryError::UnknownName(q.name.clone()));
        };
        let to = now + 1;
        let fine = q.step.as_secs() < COARSE.0 && q.since.as_secs() <= FINE.0 * FINE.1 as u64;
        let res = if fine { FINE.0 } else { COARSE.0 };
        let from = align(to.saturating_sub(q.since.as_secs()), q, res);
        let mut data = Vec::new();
        for key in keys.iter().filter(|k| q.matches(&k.labels)) {
            if let Some(s) = inner.series.get(key) {
                let ring = if fine { &s.fine } else { &s.coarse };
                data.push(SeriesData {
                    labels: key.labels.clone(),
                    kind: s.kind,
                    points: ring.range(from, to),
                });
            }
        }
        Ok(evaluate(q, data, from, to, res))
    }

    /// Every name with its kind and number of series.
    pub fn names(&self) -> Vec<NameInfo> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner
            .by_name
            .iter()
            .filter_map(|(name, keys)| {
                let kind = inner.series.get(keys.first()?)?.kind;
                Some(NameInfo {
                    name: name.clone(),
                    kind,
                    series: keys.len(),
                })
            })
            .collect()
    }

    /// Series held and evicted per origin, and the bytes held by the rings.
    pub fn usage(&self) -> Usage {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let bytes = inner
            .series
            .values()
            .map(|s| s.fine.bytes() + s.coarse.bytes())
            .sum();
        let origins = Origin::ALL
            .iter()
            .map(|o| OriginUsage {
                origin: *o,
                series: inner.held[o.index()],
                cap: self.caps.of(*o),
                evicted: inner.evicted[o.index()],
            })
            .collect();
        Usage {
            series: inner.series.len(),
            bytes,
            origins,
        }
    }
}

#[cfg(test)]
#[path = "tsdb_tests.rs"]
mod tests;
