//! Per-interval aggregates of one StatsD series and the ingestion shard that fills them.
//!
//! A shard is owned by one receiver at a time (one uncontended lock per packet); it
//! keys series by the raw bytes `name|type|tags` so a known series costs one hash
//! lookup and no allocation. Tag order is canonicalised later, at flush.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use hdrhistogram::Histogram;

use crate::line::{lines, parse_line, Kind, Line};

/// Values are kept in thousandths in the histogram (microseconds for `ms` timers).
const SCALE: f64 = 1000.0;

/// What one series collected during the current interval.
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

    pub fn record(&mut self, v: f64, rate: f64) {
        let weight = 1.0 / rate;
        self.count += weight;
        self.sum += v * weight;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        let scaled = (v * SCALE).clamp(0.0, 1e15) as u64;
        if let Some(h) = &mut self.hist {
            let _ = h.record_n(scaled, weight.round().max(1.0) as u64);
        }
    }

    pub fn merge(&mut self, other: &Summary) {
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if let (Some(a), Some(b)) = (&mut self.hist, &other.hist) {
            let _ = a.add(b);
        }
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

    fn apply(&mut self, line: &Line<'_>, max_set: usize) {
        match self {
            Agg::Counter(c) => *c += line.numbers().sum::<f64>() / line.rate,
            Agg::Gauge { base, delta } => {
                for (text, v) in line.values_with_text() {
                    if Line::is_delta(text) {
                        *delta += v;
                    } else {
                        *base = Some(v);
                        *delta = 0.0;
                    }
                }
            }
            Agg::Summary(s) => line.numbers().for_each(|v| s.record(v, line.rate)),
            Agg::Set(members) => {
                if members.len() < max_set {
                    // Fixed keys: the same member hashes alike in every shard.
                    let mut h = DefaultHasher::new();
                    line.values.hash(&mut h);
                    members.insert(h.finish());
                }
            }
        }
    }

    /// Folds another interval aggregate of the same series into this one.
    pub fn merge(&mut self, other: Agg) {
        match (self, other) {
            (Agg::Counter(a), Agg::Counter(b)) => *a += b,
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
                    *delta += d2;
                }
            }
            (Agg::Summary(a), Agg::Summary(b)) => a.merge(&b),
            (Agg::Set(a), Agg::Set(b)) => a.extend(b),
            _ => {}
        }
    }
}

/// One interval's aggregates keyed by raw `name|type|tags`.
pub type RawMap = HashMap<Box<[u8]>, (Kind, Agg)>;

/// Counters of what a shard saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShardStats {
    pub lines: u64,
    pub bad_lines: u64,
    pub dropped_series: u64,
}

/// One ingestion shard: the interval's aggregates keyed by raw `name|type|tags`.
#[derive(Debug, Default)]
pub struct Shard {
    pub map: RawMap,
    pub stats: ShardStats,
    scratch: Vec<u8>,
    max_series: usize,
    max_set: usize,
}

impl Shard {
    pub fn new(max_series: usize, max_set: usize) -> Self {
        Self {
            max_series,
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
                    tracing::trace!(error = %e, "bad statsd line skipped");
                }
            }
        }
    }

    fn apply(&mut self, line: &Line<'_>) {
        self.scratch.clear();
        self.scratch.extend_from_slice(line.name.as_bytes());
        self.scratch.push(b'|');
        self.scratch
            .extend_from_slice(line.kind.as_str().as_bytes());
        self.scratch.push(b'|');
        self.scratch.extend_from_slice(line.tags.as_bytes());
        if let Some((_, agg)) = self.map.get_mut(self.scratch.as_slice()) {
            agg.apply(line, self.max_set);
            return;
        }
        if self.map.len() >= self.max_series {
            self.stats.dropped_series += 1;
            return;
        }
        let mut agg = Agg::new(line.kind);
        agg.apply(line, self.max_set);
        self.map
            .insert(self.scratch.clone().into_boxed_slice(), (line.kind, agg));
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
mod tests {
    use super::*;

    fn shard(packet: &str) -> Shard {
        let mut s = Shard::new(100, 100);
        s.ingest(packet.as_bytes());
        s
    }

    fn get<'a>(s: &'a Shard, key: &str) -> &'a Agg {
        match s.map.get(key.as_bytes()) {
            Some((_, a)) => a,
            None => panic!("no series {key}: {:?}", s.map.keys()),
        }
    }

    #[test]
    fn counters_sum_with_sample_rates() {
        let s = shard("a:1|c\na:2|c|@0.5\nbad\na:1:1|c");
        assert!(matches!(get(&s, "a|c|"), Agg::Counter(v) if (*v - 7.0).abs() < 1e-9));
        assert_eq!(
            s.stats,
            ShardStats {
                lines: 4,
                bad_lines: 1,
                dropped_series: 0
            }
        );
    }

    #[test]
    fn gauges_set_then_delta() {
        let s = shard("g:10|g\ng:+5|g\ng:-2|g\nd:+3|g");
        assert!(
            matches!(get(&s, "g|g|"), Agg::Gauge { base: Some(b), delta } if *b == 10.0 && *delta == 3.0)
        );
        assert!(matches!(get(&s, "d|g|"), Agg::Gauge { base: None, delta } if *delta == 3.0));
    }

    #[test]
    fn summaries_and_sets() {
        let mut s = Shard::new(100, 2);
        let mut p = String::new();
        for i in 1..=100 {
            p.push_str(&format!("t:{i}|ms|#x:1\n"));
        }
        p.push_str("u:ada|s\nu:bob|s\nu:ada|s\nu:eve|s\n");
        s.ingest(p.as_bytes());
        let Agg::Summary(t) = get(&s, "t|ms|x:1") else {
            panic!("not a summary")
        };
        assert_eq!((t.count, t.min, t.max, t.sum), (100.0, 1.0, 100.0, 5050.0));
        assert!(
            (t.quantile(0.95) - 95.0).abs() <= 1.0,
            "{}",
            t.quantile(0.95)
        );
        // Sets are capped at max_set members per interval.
        assert!(matches!(get(&s, "u|s|"), Agg::Set(m) if m.len() == 2));
    }

    #[test]
    fn series_cap_drops_new_series_only() {
        let mut s = Shard::new(1, 10);
        s.ingest(b"a:1|c\nb:1|c\na:1|c");
        assert_eq!(s.map.len(), 1);
        assert_eq!(s.stats.dropped_series, 1);
        let (map, stats) = s.take();
        assert_eq!((map.len(), stats.lines), (1, 3));
        assert!(s.map.is_empty());
        assert_eq!(split_key(b"a.b|ms|k:v,x"), Some(("a.b", "k:v,x")));
    }
}
