//! The metrics store: every series in two rollup tiers (1 s for 1 h, 10 s for 24 h),
//! in bounded memory (a cap on series, with a count of the series refused).

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use serde::Serialize;

use crate::query::{align, evaluate, Query, QueryError, QueryResult, SeriesData};
use crate::ring::{Point, Quantiles, Ring};

/// 1 s resolution kept for one hour.
pub const FINE: (u64, usize) = (1, 3600);
/// 10 s resolution kept for 24 hours.
pub const COARSE: (u64, usize) = (10, 8640);

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
    fine: Ring,
    coarse: Ring,
}

#[derive(Default)]
struct Inner {
    series: HashMap<SeriesKey, Series>,
    /// Names to their series, for selection by name.
    by_name: BTreeMap<String, Vec<SeriesKey>>,
    dropped: u64,
}

/// The bounded store; writers take a short write lock per batch, queries a read lock.
pub struct Tsdb {
    inner: RwLock<Inner>,
    max_series: usize,
}

/// One name the store knows.
#[derive(Debug, Clone, Serialize)]
pub struct NameInfo {
    pub name: String,
    pub kind: SeriesKind,
    pub series: usize,
}

impl Tsdb {
    pub fn new(max_series: usize) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            max_series,
        }
    }

    /// Records a batch of samples taken at unix second `t`.
    pub fn record(&self, t: u64, samples: Vec<Sample>) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let inner = &mut *inner;
        for s in samples {
            if !inner.series.contains_key(&s.key) {
                if inner.series.len() >= self.max_series {
                    inner.dropped += 1;
                    continue;
                }
                let summary = s.kind == SeriesKind::Summary;
                inner
                    .by_name
                    .entry(s.key.name.clone())
                    .or_default()
                    .push(s.key.clone());
                inner.series.insert(
                    s.key.clone(),
                    Series {
                        kind: s.kind,
                        fine: Ring::new(FINE.0, FINE.1, summary),
                        coarse: Ring::new(COARSE.0, COARSE.1, summary),
                    },
                );
            }
            if let Some(series) = inner.series.get_mut(&s.key) {
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

    /// (series kept, series refused because of the cap, bytes held by the rings).
    pub fn usage(&self) -> (usize, u64, usize) {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let bytes = inner
            .series
            .values()
            .map(|s| s.fine.bytes() + s.coarse.bytes())
            .sum();
        (inner.series.len(), inner.dropped, bytes)
    }
}
