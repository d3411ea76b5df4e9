//! Per-interval aggregates of one StatsD series and the ingestion shard that fills them.
//!
//! A shard is owned by one receiver at a time (one uncontended lock per packet); it
//! keys series by the raw bytes `name|type|tags` so a known series costs one hash
//! lookup and no allocation. Tag order is canonicalised later, at flush. A full shard
//! evicts its least recently updated series ([`crate::evict`]); a value that would
//! make an aggregate infinite is refused and counted ([`crate::refuse`]).

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use hdrhistogram::Histogram;

use crate::evict;
use crate::line::{lines, parse_line, Kind, Line};
use crate::refuse::{finite, Refusal, Refusals};

/// Values are kept in thousandths in the histogram (microseconds for `ms` timers).
const SCALE: f64 = 1000.0;

/// What one series collected during the current interval (always finite).
#[derive(Debug, Clone)]
pub enum Agg {
    /// Sum of values, each divided by its sample rate.
    Counter(f64),
    /// `base` is the last absolute value set; deltas after it are summed.
    Gauge {
        base: Option<f64>,
        delta: f64,
    },
    Summary(Box<Summary>),
    /// Hashes of the members seen.
    Set(HashSet<u64>),
}

/// Timer / histogram observations of one interval.
#[derive(Debug, Clone)]
pub struct Summary {
    /// `None` only if the histogram could not be created (it always can with 2 digits).
    pub hist: Option<Histogram<u64>>,
    /// Observations, corrected for sample rates.
    pub count: f64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn new() -> Self {
        Self {
            // Two significant digits (1% error), auto-resizing: small while values are.
            hist: Histogram::new(2).ok(),
            count: 0.0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Records every value of one line, or none if the count or sum would overflow.
    pub fn record_all<I: Iterator<Item = f64>>(
        &mut self,
        values: impl Fn() -> I,
        rate: f64,
    ) -> Result<(), Refusal> {
        let weight = finite(1.0 / rate)?;
        let (mut count, mut sum) = (self.count, self.sum);
        for v in values() {
            count = finite(count + weight)?;
            sum = finite(sum + finite(v * weight)?)?;
        }
        for v in values() {
            self.record(v, weight);
        }
        (self.count, self.sum) = (count, sum);
        Ok(())
    }

    fn record(&mut self, v: f64, weight: f64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        let scaled = (v * SCALE).clamp(0.0, 1e15) as u64;
        if let Some(h) = &mut self.hist {
            let _ = h.record_n(scaled, weight.round().max(1.0) as u64);
        }
    }

    /// Folds another interval of the same series in, unless its count or sum would overflow.
    pub fn merge(&mut self, other: &Summary) -> Result<(), Refusal> {
        let count = finite(self.count + other.count)?;
        let sum = finite(self.sum + other.sum)?;
        (self.count, self.sum) = (count, sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if let (Some(a), Some(b)) = (&mut self.hist, &other.hist) {
            let _ = a.add(b);
        }
        Ok(())
    }

    /// The value at quantile `q` (0..=1) in the unit of the observations.
    pub fn quantile(&self, q: f64) -> f64 {
        let Some(h) = self.hist.as_ref().filter(|h| !h.is_empty()) else {
            return 0.0;
        };
        let v = h.value_at_quantile(q) as f64 / SCALE;
        v.clamp(self.min.max(0.0).min(self.max), self.max.max(0.0))
    }
}

impl Default for Summary {
    fn default() -> Self {
        Self::new()
    }
}

impl Agg {
    fn new(kind: Kind) -> Agg {
        match kind {
            Kind::Counter => Agg::Counter(0.0),
            Kind::Gauge => Agg::Gauge {
                base: None,
                delta: 0.0,
            },
            Kind::Set => Agg::Set(HashSet::new()),
            Kind::Timer | Kind::Histogram | Kind::Distribution => Agg::Summary(Box::default()),
        }
    }

    /// Applies one line; on a refusal the aggregate is left as it was.
    fn apply(&mut self, line: &Line<'_>, max_set: usize) -> Result<(), Refusal> {
        match self {
            Agg::Counter(c) => {
                let mut inc = 0.0;
                for v in line.numbers() {
                    inc = finite(inc + v)?;
                }
                *c = finite(*c + finite(inc / line.rate)?)?;
            }
            Agg::Gauge { base, delta } => {
                let (mut b, mut d) = (*base, *delta);
                for (text, v) in line.values_with_text() {
                    if Line::is_delta(text) {
                        d = finite(d + v)?;
                    } else {
                        (b, d) = (Some(v), 0.0);
                    }
                    // Once set, the gauge's value itself must stay finite.
                    finite(b.unwrap_or(0.0) + d)?;
                }
                (*base, *delta) = (b, d);
            }
            Agg::Summary(s) => s.record_all(|| line.numbers(), line.rate)?,
            Agg::Set(members) => {
                if members.len() < max_set {
                    // Fixed keys: the same member hashes alike in every shard.
                    let mut h = DefaultHasher::new();
                    line.values.hash(&mut h);
                    members.insert(h.finish());
                }
            }
        }
        Ok(())
    }

    /// Folds a later aggregate of the same series (another shard's) into this one;
    /// refused, leaving this one as it was, if a total would overflow.
    pub fn merge(&mut self, other: Agg) -> Result<(), Refusal> {
        match (self, other) {
            (Agg::Counter(a), Agg::Counter(b)) => *a = finite(*a + b)?,
            (
                Agg::Gauge { base, delta },
                Agg::Gauge {
                    base: b2,
                    delta: d2,
                },
            ) => {
                if b2.is_some() {
                    *base = b2;
                    *delta = d2;
                } else {
                    *delta = finite(*delta + d2)?;
                }
            }
            (Agg::Summary(a), Agg::Summary(b)) => a.merge(&b)?,
            (Agg::Set(a), Agg::Set(b)) => a.extend(b),
            _ => {}
        }
        Ok(())
    }
}

/// One series' aggregate in a shard, stamped with its last update.
#[derive(Debug, Clone)]
pub struct Slot {
    pub kind: Kind,
    pub agg: Agg,
    /// The shard's line sequence number when the series was last updated.
    pub stamp: u64,
}

/// One interval's aggregates keyed by raw `name|type|tags`.
pub type RawMap = HashMap<Box<[u8]>, Slot>;

/// Counters of what a shard saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShardStats {
    pub lines: u64,
    pub bad_lines: u64,
    /// Series evicted (with this interval's values) to make room for new ones.
    pub evicted_series: u64,
    pub refused: Refusals,
}

/// One ingestion shard: the interval's aggregates keyed by raw `name|type|tags`.
#[derive(Debug, Default)]
pub struct Shard {
    pub map: RawMap,
    pub stats: ShardStats,
    scratch: Vec<u8>,
    max_series: usize,
    max_set: usize,
    /// Lines applied so far: the stamp of the next update.
    seq: u64,
}

impl Shard {
    pub fn new(max_series: usize, max_set: usize) -> Self {
        Self {
            max_series: max_series.max(1),
            max_set,
            ..Self::default()
        }
    }

    /// Ingests every line of a packet; bad lines are counted and skipped.
    pub fn ingest(&mut self, packet: &[u8]) {
        for raw in lines(packet) {
            self.stats.lines += 1;
            match parse_line(raw) {
                Ok(line) => self.apply(&line),
                Err(e) => {
                    self.stats.bad_lines += 1;
                    if let Some(r) = Refusal::of_line_error(e) {
                        self.stats.refused.count(r);
                    }
                    tracing::trace!(error = %e, "bad statsd line skipped");
                }
            }
        }
    }

    fn apply(&mut self, line: &Line<'_>) {
        self.seq += 1;
        self.scratch.clear();
        self.scratch.extend_from_slice(line.name.as_bytes());
        self.scratch.push(b'|');
        self.scratch
            .extend_from_slice(line.kind.as_str().as_bytes());
        self.scratch.push(b'|');
        self.scratch.extend_from_slice(line.tags.as_bytes());
        if let Some(slot) = self.map.get_mut(self.scratch.as_slice()) {
            match slot.agg.apply(line, self.max_set) {
                Ok(()) => slot.stamp = self.seq,
                Err(r) => self.stats.refused.count(r),
            }
            return;
        }
        let mut agg = Agg::new(line.kind);
        if let Err(r) = agg.apply(line, self.max_set) {
            self.stats.refused.count(r);
            return;
        }
        if self.map.len() >= self.max_series {
            self.evict();
        }
        let slot = Slot {
            kind: line.kind,
            agg,
            stamp: self.seq,
        };
        self.map
            .insert(self.scratch.clone().into_boxed_slice(), slot);
    }

    /// Removes the least recently updated batch of series.
    fn evict(&mut self) {
        let stamps = self.map.values().map(|s| s.stamp).collect();
        let Some(oldest) = evict::threshold(stamps, evict::batch(self.max_series)) else {
            return;
        };
        let before = self.map.len();
        self.map.retain(|_, s| s.stamp > oldest);
        self.stats.evicted_series += (before - self.map.len()) as u64;
    }

    /// Takes the interval's aggregates and counters, leaving the shard empty.
    pub fn take(&mut self) -> (RawMap, ShardStats) {
        let cap = self.map.len();
        let map = std::mem::replace(&mut self.map, HashMap::with_capacity(cap));
        (map, std::mem::take(&mut self.stats))
    }
}

/// Splits a raw key `name|type|tags` back into its name and tags.
pub fn split_key(key: &[u8]) -> Option<(&str, &str)> {
    let key = std::str::from_utf8(key).ok()?;
    let (name, rest) = key.split_once('|')?;
    let (_, tags) = rest.split_once('|')?;
    Some((name, tags))
}

#[cfg(test)]
#[path = "agg_tests.rs"]
mod tests;
