//! StatsD aggregation: sharded ingestion, the flush that turns one interval into
//! values (pure: [`merge`] and [`compute`]), and the running state `/metrics` shows.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::agg::{split_key, Agg, RawMap, Shard, ShardStats};
use crate::line::{tag_pairs, Kind};

/// A StatsD series: type, name and tags (sorted by key, first value of a key wins).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesId {
    pub kind: Kind,
    pub name: String,
    pub tags: Vec<(String, String)>,
}

impl SeriesId {
    pub fn new(kind: Kind, name: &str, tags: &str) -> Self {
        let mut tags: Vec<(String, String)> = tag_pairs(tags)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        tags.dedup_by(|a, b| a.0 == b.0);
        Self {
            kind,
            name: name.to_string(),
            tags,
        }
    }
}

/// Percentiles and moments of one interval of a timer, histogram or distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct SummaryStats {
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

/// What one series amounts to over one flush interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flushed {
    /// `count` in the interval and `rate` per second.
    Counter {
        count: f64,
        rate: f64,
    },
    /// The gauge's value after the interval (deltas applied to the previous value).
    Gauge(f64),
    Summary(SummaryStats),
    /// Distinct members seen in the interval.
    Set(u64),
}

/// What `/metrics` shows of a StatsD series between flushes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exposed {
    /// Total since Shoal started.
    Counter(f64),
    Gauge(f64),
    /// Totals since start, with the last interval's percentiles.
    Summary {
        count: f64,
        sum: f64,
        last: SummaryStats,
    },
    Set(u64),
}

/// The state kept across flushes, bounded by `max_series`.
#[derive(Debug, Default)]
pub struct StatsdState {
    pub series: BTreeMap<SeriesId, Exposed>,
    pub max_series: usize,
    /// Series refused because `max_series` was reached (at ingestion or here).
    pub dropped_series: u64,
    pub lines: u64,
    pub bad_lines: u64,
    pub flushes: u64,
}

/// Folds the shards' raw-keyed maps into one map keyed by canonical series.
pub fn merge(maps: Vec<RawMap>) -> BTreeMap<SeriesId, Agg> {
    let mut out: BTreeMap<SeriesId, Agg> = BTreeMap::new();
    for map in maps {
        for (key, (kind, agg)) in map {
            let Some((name, tags)) = split_key(&key) else {
                continue;
            };
            let id = SeriesId::new(kind, name, tags);
            match out.get_mut(&id) {
                Some(existing) => existing.merge(agg),
                None => {
                    out.insert(id, agg);
                }
            }
        }
    }
    out
}

/// Turns one interval into values and updates the running state.
pub fn compute(
    merged: BTreeMap<SeriesId, Agg>,
    state: &mut StatsdState,
    interval: Duration,
) -> Vec<(SeriesId, Flushed)> {
    let secs = interval.as_secs_f64().max(1e-3);
    let mut out = Vec::with_capacity(merged.len());
    for (id, agg) in merged {
        let prev = state.series.get(&id).copied();
        if prev.is_none() && state.series.len() >= state.max_series {
            state.dropped_series += 1;
            continue;
        }
        let (flushed, exposed) = match agg {
            Agg::Counter(count) => {
                let total = match prev {
                    Some(Exposed::Counter(t)) => t,
                    _ => 0.0,
                };
                let rate = count / secs;
                (
                    Flushed::Counter { count, rate },
                    Exposed::Counter(total + count),
                )
            }
            Agg::Gauge { base, delta } => {
                let before = match prev {
                    Some(Exposed::Gauge(g)) => g,
                    _ => 0.0,
                };
                let v = base.unwrap_or(before) + delta;
                (Flushed::Gauge(v), Exposed::Gauge(v))
            }
            Agg::Summary(s) => {
                let stats = SummaryStats {
                    count: s.count,
                    sum: s.sum,
                    min: s.min,
                    max: s.max,
                    mean: if s.count > 0.0 { s.sum / s.count } else { 0.0 },
                    p50: s.quantile(0.50),
                    p90: s.quantile(0.90),
                    p95: s.quantile(0.95),
                    p99: s.quantile(0.99),
                };
                let (count, sum) = match prev {
                    Some(Exposed::Summary { count, sum, .. }) => (count, sum),
                    _ => (0.0, 0.0),
                };
                let exposed = Exposed::Summary {
                    count: count + s.count,
                    sum: sum + s.sum,
                    last: stats,
                };
                (Flushed::Summary(stats), exposed)
            }
            Agg::Set(members) => {
                let n = members.len() as u64;
                (Flushed::Set(n), Exposed::Set(n))
            }
        };
        state.series.insert(id.clone(), exposed);
        out.push((id, flushed));
    }
    state.flushes += 1;
    out
}

/// The StatsD aggregator: `shards` ingestion shards and the state across flushes.
pub struct Statsd {
    shards: Vec<Mutex<Shard>>,
    next: AtomicUsize,
    state: Mutex<StatsdState>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Statsd {
    pub fn new(shards: usize, max_series: usize, max_set: usize) -> Self {
        Self {
            shards: (0..shards.max(1))
                .map(|_| Mutex::new(Shard::new(max_series, max_set)))
                .collect(),
            next: AtomicUsize::new(0),
            state: Mutex::new(StatsdState {
                max_series,
                ..StatsdState::default()
            }),
        }
    }

    /// A shard index for a new receiver (round robin).
    pub fn pick_shard(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()
    }

    /// Ingests one packet (newline-separated lines) into shard `shard`.
    pub fn ingest(&self, shard: usize, packet: &[u8]) {
        if let Some(s) = self.shards.get(shard % self.shards.len()) {
            lock(s).ingest(packet);
        }
    }

    /// Counts a line refused before parsing (e.g. longer than a TCP line may be).
    pub fn count_bad_line(&self, shard: usize) {
        if let Some(s) = self.shards.get(shard % self.shards.len()) {
            let mut s = lock(s);
            s.stats.lines += 1;
            s.stats.bad_lines += 1;
        }
    }

    /// Ends the interval: every shard is emptied, its aggregates turned into values.
    pub fn flush(&self, interval: Duration) -> Vec<(SeriesId, Flushed)> {
        let mut maps = Vec::with_capacity(self.shards.len());
        let mut stats = ShardStats::default();
        for s in &self.shards {
            let (map, st) = lock(s).take();
            maps.push(map);
            stats.lines += st.lines;
            stats.bad_lines += st.bad_lines;
            stats.dropped_series += st.dropped_series;
        }
        let merged = merge(maps);
        let mut state = lock(&self.state);
        state.lines += stats.lines;
        state.bad_lines += stats.bad_lines;
        state.dropped_series += stats.dropped_series;
        compute(merged, &mut state, interval)
    }

    /// Runs `f` on the state across flushes (for `/metrics`).
    pub fn with_state<R>(&self, f: impl FnOnce(&StatsdState) -> R) -> R {
        f(&lock(&self.state))
    }
}

#[cfg(test)]
#[path = "statsd_tests.rs"]
mod tests;
