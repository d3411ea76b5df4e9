//! A fixed-resolution ring buffer of points (one rollup tier of one series).
//!
//! Slots are allocated as time passes, up to `len`, so a young or short-lived series
//! costs little; each slot carries the bucket number it holds, so stale slots are
//! recognised without clearing.

/// What was observed in one time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Point {
    /// Observations (samples of a gauge, events of a summary); a counter's 1.
    pub n: f32,
    /// Sum of the values (a counter's increase).
    pub sum: f32,
    pub min: f32,
    pub max: f32,
    /// The last value.
    pub last: f32,
}

/// p50, p90, p95, p99 of a summary bucket (weighted means when buckets merge).
pub type Quantiles = [f32; 4];

/// `v` as an `f32`, saturated at the largest finite ones (NaN as 0): the store keeps
/// `f32`s, and a finite StatsD value beyond their range must not turn into an infinity.
pub fn to_f32(v: f64) -> f32 {
    if v.is_nan() {
        return 0.0;
    }
    v.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32
}

fn add(a: f32, b: f32) -> f32 {
    to_f32(f64::from(a) + f64::from(b))
}

impl Point {
    /// One observation of `v` (a gauge's sample, a counter's increase).
    pub fn one(v: f64) -> Point {
        let v = to_f32(v);
        Point {
            n: 1.0,
            sum: v,
            min: v,
            max: v,
            last: v,
        }
    }

    /// Folds a later observation of the same bucket into this one (sums saturate).
    pub fn merge(&mut self, o: &Point) {
        if self.n == 0.0 {
            *self = *o;
            return;
        }
        self.n = add(self.n, o.n);
        self.sum = add(self.sum, o.sum);
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.last = o.last;
    }
}

/// Approximate merge of quantiles: means weighted by observation counts.
pub fn merge_quantiles(a: &mut Quantiles, a_n: f32, b: &Quantiles, b_n: f32) {
    let (a_n, b_n) = (f64::from(a_n), f64::from(b_n));
    let total = a_n + b_n;
    if total <= 0.0 {
        return;
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x = to_f32((f64::from(*x) * a_n + f64::from(*y) * b_n) / total);
    }
}

/// One tier: `len` buckets of `res` seconds.
#[derive(Debug, Clone)]
pub struct Ring {
    pub res: u64,
    len: usize,
    /// The first bucket ever written: slot `i` holds bucket `origin + k*len + i`.
    origin: u64,
    /// The newest bucket written.
    newest: u64,
    stamps: Vec<u64>,
    points: Vec<Point>,
    quantiles: Option<Vec<Quantiles>>,
}

impl Ring {
    pub fn new(res: u64, len: usize, with_quantiles: bool) -> Self {
        Self {
            res: res.max(1),
            len: len.max(1),
            origin: 0,
            newest: 0,
            stamps: Vec::new(),
            points: Vec::new(),
            quantiles: with_quantiles.then(Vec::new),
        }
    }

    fn slot(&self, bucket: u64) -> usize {
        (bucket.wrapping_sub(self.origin) % self.len as u64) as usize
    }

    /// Records an observation at unix second `t` (merged with the bucket's earlier ones).
    pub fn record(&mut self, t: u64, p: &Point, q: Option<&Quantiles>) {
        let bucket = t / self.res;
        if self.stamps.is_empty() {
            self.origin = bucket;
        } else if bucket < self.origin {
            return; // older than anything kept: ignored
        }
        self.newest = self.newest.max(bucket);
        let i = self.slot(bucket);
        while self.stamps.len() <= i {
            self.stamps.push(u64::MAX);
            self.points.push(Point::default());
            if let Some(qs) = &mut self.quantiles {
                qs.push([0.0; 4]);
            }
        }
        if self.stamps[i] != bucket {
            if self.stamps[i] != u64::MAX && self.stamps[i] > bucket {
                return; // a newer bucket already took the slot
            }
            self.stamps[i] = bucket;
            self.points[i] = Point::default();
            if let Some(qs) = &mut self.quantiles {
                qs[i] = [0.0; 4];
            }
        }
        let before = self.points[i].n;
        if let (Some(qs), Some(q)) = (&mut self.quantiles, q) {
            merge_quantiles(&mut qs[i], before, q, p.n);
        }
        self.points[i].merge(p);
    }

    /// The points with bucket start times in `[from, to)`, oldest first.
    pub fn range(&self, from: u64, to: u64) -> Vec<(u64, Point, Option<Quantiles>)> {
        let mut out = Vec::new();
        let first = (from / self.res).max((self.newest + 1).saturating_sub(self.len as u64));
        let last = to.div_ceil(self.res).min(self.newest + 1);
        if last <= first || self.stamps.is_empty() {
            return out;
        }
        for bucket in first..last {
            let i = self.slot(bucket);
            if self.stamps.get(i) == Some(&bucket) {
                let q = self.quantiles.as_ref().and_then(|qs| qs.get(i).copied());
                out.push((bucket * self.res, self.points[i], q));
            }
        }
        out
    }

    /// Bytes held by this ring.
    pub fn bytes(&self) -> usize {
        self.stamps.capacity() * 8
            + self.points.capacity() * std::mem::size_of::<Point>()
            + self.quantiles.as_ref().map_or(0, |q| q.capacity() * 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(v: f32) -> Point {
        Point {
            n: 1.0,
            sum: v,
            min: v,
            max: v,
            last: v,
        }
    }

    #[test]
    fn records_merge_within_a_bucket() {
        let mut r = Ring::new(10, 6, true);
        r.record(100, &pt(1.0), Some(&[1.0; 4]));
        r.record(105, &pt(3.0), Some(&[3.0; 4]));
        let got = r.range(100, 110);
        assert_eq!(got.len(), 1);
        let (t, p, q) = got[0];
        assert_eq!(
            (t, p.n, p.sum, p.min, p.max, p.last),
            (100, 2.0, 4.0, 1.0, 3.0, 3.0)
        );
        assert_eq!(q, Some([2.0; 4]));
    }

    #[test]
    fn wraps_and_forgets_old_buckets() {
        let mut r = Ring::new(1, 4, false);
        for t in 1000..1010 {
            r.record(t, &pt(t as f32), None);
        }
        let got: Vec<u64> = r.range(0, 2000).iter().map(|(t, _, _)| *t).collect();
        assert_eq!(got, vec![1006, 1007, 1008, 1009]);
        // A late write for a bucket that was overwritten is dropped.
        r.record(1001, &pt(0.0), None);
        assert_eq!(r.range(1001, 1002).len(), 0);
        assert!(r.bytes() <= 4 * 8 + 4 * std::mem::size_of::<Point>());
    }

    #[test]
    fn huge_values_saturate_instead_of_becoming_infinite() {
        assert_eq!(to_f32(1e300), f32::MAX);
        assert_eq!(to_f32(-1e300), -f32::MAX);
        assert_eq!(to_f32(f64::NAN), 0.0);
        assert_eq!(to_f32(2.5), 2.5);
        let mut r = Ring::new(1, 10, true);
        r.record(5, &Point::one(1e300), Some(&[f32::MAX; 4]));
        r.record(5, &Point::one(1e300), Some(&[f32::MAX; 4]));
        let (_, p, q) = r.range(5, 6)[0];
        assert_eq!((p.sum, p.max, p.last), (f32::MAX, f32::MAX, f32::MAX));
        assert!(q.is_some_and(|q| q.iter().all(|v| v.is_finite())));
    }

    #[test]
    fn gaps_are_absent_points() {
        let mut r = Ring::new(1, 100, false);
        r.record(10, &pt(1.0), None);
        r.record(13, &pt(2.0), None);
        let got: Vec<u64> = r.range(10, 14).iter().map(|(t, _, _)| *t).collect();
        assert_eq!(got, vec![10, 13]);
    }
}
