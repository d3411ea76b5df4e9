//! The pure evaluation of a query over the points of the selected series.

use std::collections::BTreeMap;

use super::{Agg, Query, QueryResult, ResultSeries, SeriesData};
use crate::ring::Point;
use crate::tsdb::SeriesKind;

/// One series reduced over one step.
#[derive(Clone, Copy, Default)]
struct Acc {
    p: Point,
    /// Observation-weighted sums of the percentiles.
    q: [f64; 4],
    has: bool,
}

impl Acc {
    fn add(&mut self, p: &Point, q: Option<&[f32; 4]>) {
        if let Some(q) = q {
            for (acc, v) in self.q.iter_mut().zip(q) {
                *acc += f64::from(*v) * f64::from(p.n);
            }
        }
        if self.has {
            self.p.merge(p);
        } else {
            self.p = *p;
            self.has = true;
        }
    }

    fn mean(&self) -> f64 {
        if self.p.n > 0.0 {
            f64::from(self.p.sum) / f64::from(self.p.n)
        } else {
            0.0
        }
    }
}

type Labels = BTreeMap<String, String>;
/// The accumulators of every series of a group in one step.
type StepAccs = Vec<(SeriesKind, Acc)>;

/// Combines the per-series accumulators of one step.
fn combine(agg: Agg, step: f64, accs: &[(SeriesKind, Acc)]) -> Option<f64> {
    if accs.is_empty() {
        return None;
    }
    let n: f64 = accs.iter().map(|(_, a)| f64::from(a.p.n)).sum();
    let sum: f64 = accs.iter().map(|(_, a)| f64::from(a.p.sum)).sum();
    let value_of = |k: SeriesKind, a: &Acc| match k {
        SeriesKind::Gauge => a.mean(),
        SeriesKind::Counter | SeriesKind::Summary => f64::from(a.p.sum),
    };
    let count_of = |k: SeriesKind, a: &Acc| match k {
        SeriesKind::Counter => f64::from(a.p.sum),
        SeriesKind::Gauge | SeriesKind::Summary => f64::from(a.p.n),
    };
    let quantile = |i: usize| {
        let weighted: f64 = accs
            .iter()
            .filter(|(k, _)| *k == SeriesKind::Summary)
            .map(|(_, a)| a.q[i])
            .sum();
        let n: f64 = accs
            .iter()
            .filter(|(k, _)| *k == SeriesKind::Summary)
            .map(|(_, a)| f64::from(a.p.n))
            .sum();
        (n > 0.0).then(|| weighted / n)
    };
    match agg {
        Agg::Sum => Some(accs.iter().map(|(k, a)| value_of(*k, a)).sum()),
        Agg::Avg => {
            if accs.iter().all(|(k, _)| *k == SeriesKind::Summary) {
                (n > 0.0).then(|| sum / n)
            } else {
                let total: f64 = accs.iter().map(|(k, a)| value_of(*k, a)).sum();
                Some(total / accs.len() as f64)
            }
        }
        Agg::Max => accs
            .iter()
            .map(|(_, a)| f64::from(a.p.max))
            .reduce(f64::max),
        Agg::Min => accs
            .iter()
            .map(|(_, a)| f64::from(a.p.min))
            .reduce(f64::min),
        Agg::Last => Some(accs.iter().map(|(_, a)| f64::from(a.p.last)).sum()),
        Agg::Rate => Some(accs.iter().map(|(k, a)| count_of(*k, a)).sum::<f64>() / step),
        Agg::Count => Some(accs.iter().map(|(k, a)| count_of(*k, a)).sum()),
        Agg::P50 => quantile(0),
        Agg::P90 => quantile(1),
        Agg::P95 => quantile(2),
        Agg::P99 => quantile(3),
    }
}

/// The step in seconds: the asked one rounded up to a multiple of the resolution.
pub fn step_of(q: &Query, res: u64) -> u64 {
    let res = res.max(1);
    q.step.as_secs().max(1).div_ceil(res).saturating_mul(res)
}

/// `t` rounded down to a step boundary.
pub fn align(t: u64, q: &Query, res: u64) -> u64 {
    let step = step_of(q, res);
    t / step * step
}

/// Evaluates `q` over `data` (points in `[from, to)` read at resolution `res` seconds).
pub fn evaluate(q: &Query, data: Vec<SeriesData>, from: u64, to: u64, res: u64) -> QueryResult {
    let res = res.max(1);
    let step = step_of(q, res);
    let start = align(from, q, res);
    let steps = (to.saturating_sub(start)).div_ceil(step).min(100_000) as usize;
    let series_matched = data.len();
    // group labels -> per step -> per series accumulator
    let mut groups: BTreeMap<Labels, Vec<StepAccs>> = BTreeMap::new();
    for s in data {
        let group: BTreeMap<String, String> =
            q.by.iter()
                .map(|l| {
                    let v = s.labels.iter().find(|(k, _)| k == l).map_or("", |(_, v)| v);
                    (l.clone(), v.to_string())
                })
                .collect();
        let mut per_step: Vec<Acc> = vec![Acc::default(); steps];
        for (t, p, quant) in &s.points {
            let Some(i) = t.checked_sub(start).map(|d| (d / step) as usize) else {
                continue;
            };
            if let Some(acc) = per_step.get_mut(i) {
                acc.add(p, quant.as_ref());
            }
        }
        let slots = groups
            .entry(group)
            .or_insert_with(|| vec![Vec::new(); steps]);
        for (slot, acc) in slots.iter_mut().zip(per_step) {
            if acc.has {
                slot.push((s.kind, acc));
            }
        }
    }
    let series = groups
        .into_iter()
        .map(|(labels, slots)| ResultSeries {
            labels,
            points: slots
                .iter()
                .enumerate()
                .map(|(i, accs)| (start + i as u64 * step, combine(q.agg, step as f64, accs)))
                .collect(),
        })
        .collect();
    QueryResult {
        name: q.name.clone(),
        agg: q.agg,
        step,
        resolution: res,
        series_matched,
        series,
    }
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
