//! StatsD aggregation: sharded ingestion, the flush that turns one interval into
//! values (pure: [`merge`] and [`compute`]), and the running state `/metrics` shows.
//!
//! Every StatsD series is an application's: caps evict the least recently updated
//! ones, so a burst of new names never locks later ones out.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::agg::{split_key, Agg, RawMap, Shard, ShardStats};
use crate::evict;
use crate::line::{tag_pairs, Kind};
use crate::refuse::{finite, Refusal, Refusals};

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

/// A series' value across flushes, stamped with its last update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kept {
    pub value: Exposed,
    /// The state's update sequence number when the series was last flushed with values.
    pub stamp: u64,
}

/// The state kept across flushes, bounded by `max_series`: a new series arriving
/// when it is full evicts the least recently updated ones ([`crate::evict`]).
#[derive(Debug, Default)]
pub struct StatsdState {
    pub series: BTreeMap<SeriesId, Kept>,
    pub max_series: usize,
    /// Series evicted because a cap was reached (at ingestion or here).
    pub evicted_series: u64,
    /// Values refused so that no series holds an infinity or NaN, by reason.
    pub refused: Refusals,
    pub lines: u64,
    pub bad_lines: u64,
    pub flushes: u64,
    /// Updates so far: the stamp of the next one.
    seq: u64,
}

impl StatsdState {
    pub fn new(max_series: usize) -> Self {
        Self {
            max_series: max_series.max(1),
            ..Self::default()
        }
    }

    /// Removes the least recently updated batch of series. Those updated by the flush
    /// in progress (stamped from `flush_from` on, in name order rather than arrival
    /// order) go only when nothing older is left: a name arriving in the same interval
    /// as a burst is not evicted for sorting before the burst's names.
    fn evict(&mut self, flush_from: u64) {
        let older: Vec<u64> = self
            .series
            .values()
            .map(|k| k.stamp)
            .filter(|s| *s < flush_from)
            .collect();
        let stamps = if older.is_empty() {
            self.series.values().map(|k| k.stamp).collect()
        } else {
            older
        };
        let Some(oldest) = evict::threshold(stamps, evict::batch(self.max_series)) else {
            return;
        };
        let before = self.series.len();
        self.series.retain(|_, k| k.stamp > oldest);
        self.evicted_series += (before - self.series.len()) as u64;
    }
}

/// Folds the shards' raw-keyed maps into one map keyed by canonical series; a
/// shard's aggregate that would overflow the total is refused and counted.
pub fn merge(maps: Vec<RawMap>, refused: &mut Refusals) -> BTreeMap<SeriesId, Agg> {
    let mut out: BTreeMap<SeriesId, Agg> = BTreeMap::new();
    for map in maps {
        for (key, slot) in map {
            let Some((name, tags)) = split_key(&key) else {
                continue;
            };
            let id = SeriesId::new(slot.kind, name, tags);
            match out.get_mut(&id) {
                Some(existing) => {
                    if let Err(r) = existing.merge(slot.agg) {
                        refused.count(r);
                    }
                }
                None => {
                    out.insert(id, slot.agg);
                }
            }
        }
    }
    out
}

/// Turns one interval into values and updates the running state. A series whose
/// value or total would overflow keeps its previous value (counted as refused).
pub fn compute(
    merged: BTreeMap<SeriesId, Agg>,
    state: &mut StatsdState,
    interval: Duration,
) -> Vec<(SeriesId, Flushed)> {
    let secs = interval.as_secs_f64().max(1e-3);
    let flush_from = state.seq + 1;
    let mut out = Vec::with_capacity(merged.len());
    for (id, agg) in merged {
        let prev = state.series.get(&id).map(|k| k.value);
        let (flushed, exposed) = match interval_values(agg, prev, secs) {
            Ok(v) => v,
            Err(r) => {
                state.refused.count(r);
                continue;
            }
        };
        if prev.is_none() && state.series.len() >= state.max_series {
            state.evict(flush_from);
        }
        state.seq += 1;
        let kept = Kept {
            value: exposed,
            stamp: state.seq,
        };
        state.series.insert(id.clone(), kept);
        out.push((id, flushed));
    }
    state.flushes += 1;
    out
}

/// One series' interval values and running value after it (pure; finite or refused).
fn interval_values(
    agg: Agg,
    prev: Option<Exposed>,
    secs: f64,
) -> Result<(Flushed, Exposed), Refusal> {
    Ok(match agg {
        Agg::Counter(count) => {
            let total = match prev {
                Some(Exposed::Counter(t)) => t,
                _ => 0.0,
            };
            // A derived figure: saturated rather than refusing a finite count.
            let rate = (count / secs).clamp(-f64::MAX, f64::MAX);
            (
                Flushed::Counter { count, rate },
                Exposed::Counter(finite(total + count)?),
            )
        }
        Agg::Gauge { base, delta } => {
            let before = match prev {
                Some(Exposed::Gauge(g)) => g,
                _ => 0.0,
            };
            let v = finite(base.unwrap_or(before) + delta)?;
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
                count: finite(count + s.count)?,
                sum: finite(sum + s.sum)?,
                last: stats,
            };
            (Flushed::Summary(stats), exposed)
        }
        Agg::Set(members) => {
            let n = members.len() as u64;
            (Flushed::Set(n), Exposed::Set(n))
        }
    })
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
            state: Mutex::new(StatsdState::new(max_series)),
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
            stats.evicted_series += st.evicted_series;
            stats.refused.add(&st.refused);
        }
        let merged = merge(maps, &mut stats.refused);
        let mut state = lock(&self.state);
        state.lines += stats.lines;
        state.bad_lines += stats.bad_lines;
        state.evicted_series += stats.evicted_series;
        state.refused.add(&stats.refused);
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
