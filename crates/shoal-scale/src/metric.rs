//! One metric's ask: the proportional rule with its tolerance band, as Kubernetes' HPA computes it.

use std::fmt;

use serde::{Deserialize, Serialize};
use shoal_spec::ScaleTarget;

use crate::signals::{usable, Signals};

/// A metric the autoscaler can target (`[services.S.scale] target`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Requests per second, a total for the service.
    Rps,
    /// 95th percentile latency in milliseconds, a value for the service.
    P95Ms,
    /// CPU use per instance as a fraction of a core, already a mean.
    Cpu,
    /// Requests in flight, a total for the service.
    Inflight,
    /// The custom StatsD metric of `target.metric`, by name: a total for the service.
    Custom(String),
}

impl Metric {
    /// The name as written in the spec (`rps`, `p95_ms`, ..., or the StatsD name).
    pub fn name(&self) -> &str {
        match self {
            Metric::Rps => "rps",
            Metric::P95Ms => "p95_ms",
            Metric::Cpu => "cpu",
            Metric::Inflight => "inflight",
            Metric::Custom(name) => name,
        }
    }

    /// Whether the signal is a total for the service, divided by the serving
    /// instances to get a per-instance value (`rps`, `inflight`, custom), rather
    /// than a value that already is per instance (`p95_ms`, `cpu`).
    pub fn is_total(&self) -> bool {
        matches!(self, Metric::Rps | Metric::Inflight | Metric::Custom(_))
    }

    /// This metric's usable measurement in `signals` (finite, not negative).
    pub fn value(&self, signals: &Signals) -> Option<f64> {
        usable(match self {
            Metric::Rps => signals.rps,
            Metric::P95Ms => signals.p95_ms,
            Metric::Cpu => signals.cpu,
            Metric::Inflight => signals.inflight,
            Metric::Custom(_) => signals.custom,
        })
    }

    /// The targets configured in `target`, in the spec's order (`rps`, `p95_ms`,
    /// `cpu`, `inflight`, `metric`). A target that is not a finite number above
    /// zero (the parser refuses those) is left out as if not configured.
    pub fn targets(target: Option<&ScaleTarget>) -> Vec<(Metric, f64)> {
        let Some(t) = target else {
            return Vec::new();
        };
        let custom = t
            .metric
            .as_ref()
            .map(|m| (Metric::Custom(m.name.clone()), Some(m.per_instance)));
        [
            (Metric::Rps, t.rps),
            (Metric::P95Ms, t.p95_ms),
            (Metric::Cpu, t.cpu),
            (Metric::Inflight, t.inflight),
        ]
        .into_iter()
        .chain(custom)
        .filter_map(|(m, v)| Some((m, v.filter(|x| x.is_finite() && *x > 0.0)?)))
        .collect()
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one metric says about the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Within `1 ± tolerance` of target: keep the current count.
    Keep,
    /// Over target, but the instances still starting will bring it within
    /// tolerance once they serve: keep the current count.
    Absorbed,
    /// Over target: more instances.
    Up,
    /// Under target: fewer instances.
    Down,
}

/// One metric's measurement and the count it asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Which metric.
    pub metric: Metric,
    /// As measured: a total for the service, or the service's p95 / mean CPU.
    pub value: f64,
    /// Per serving instance: `value / ready` for totals (`value` with none ready), else `value`.
    pub per_instance: f64,
    /// The target per instance.
    pub target: f64,
    /// `per_instance / target`.
    pub ratio: f64,
    /// Up, down, or keep (and why).
    pub verdict: Verdict,
    /// The instance count this metric asks for (not yet bounded, capped or stabilized).
    pub count: u32,
}

/// The instance counts a recommendation is computed against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Instances serving now.
    pub ready: u32,
    /// Instances started, not yet serving.
    pub starting: u32,
    /// The count the autoscaler currently asks for.
    pub current: u32,
}

/// Float noise allowed on the edge of the tolerance band (a ratio of exactly
/// `1.1` computed as `1.1000000000000001` is still within 10 %).
const EPSILON: f64 = 1e-9;

/// HPA's proportional rule for one metric.
///
/// `ratio = per_instance / target`. Within `1 ± tolerance` (edges included):
/// [`Verdict::Keep`], the
/// current count. Otherwise `ceil(ready × ratio)`, with `ready` taken as 1 when no
/// instance serves (the per-instance value is then the total), which for a total
/// is simply `ceil(total / target)`: the count that carries the load at target.
///
/// Instances still starting, going up (HPA's "unready pods count as using 0 %"):
/// they carry nothing yet but will share the load, so the ratio is first recomputed
/// over `ready + starting`; if that brings it within tolerance the metric keeps the
/// current count ([`Verdict::Absorbed`]) instead of adding instances for load the
/// starting ones are about to take. The count asked stays the absolute
/// `ceil(ready × ratio)`, compared with `current` (which includes the starting
/// instances), so they are never added twice. Going down, starting instances are
/// ignored (also as HPA): the count is what the measured load needs.
///
/// As HPA, a metric over target never asks for fewer than `current`, and one under
/// target never for more. A value a hair above an integer (float noise below one
/// part in 10⁹) is not rounded up to the next count.
pub fn recommend(
    metric: Metric,
    value: f64,
    target: f64,
    counts: Counts,
    tolerance: f64,
) -> Recommendation {
    let base = f64::from(counts.ready.max(1));
    let per_instance = if metric.is_total() {
        value / base
    } else {
        value
    };
    let ratio = per_instance / target;
    let needed = ceil_count(ratio * base);
    let (verdict, count) = if (ratio - 1.0).abs() <= tolerance + EPSILON {
        (Verdict::Keep, counts.current)
    } else if ratio > 1.0 {
        let capacity = (u64::from(counts.ready) + u64::from(counts.starting)).max(1) as f64;
        let with_starting = ratio * base / capacity.max(base);
        if with_starting <= 1.0 + tolerance + EPSILON {
            (Verdict::Absorbed, counts.current)
        } else {
            (Verdict::Up, needed.max(counts.current))
        }
    } else {
        (Verdict::Down, needed.min(counts.current))
    };
    Recommendation {
        metric,
        value,
        per_instance,
        target,
        ratio,
        verdict,
        count,
    }
}

/// `ceil(x)` as a count: NaN and negatives are 0, huge values saturate, and float
/// noise just above an integer does not add one.
pub(crate) fn ceil_count(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    to_count((x * (1.0 - 1e-9)).ceil())
}

/// A non-negative float as a count, saturating (NaN is 0).
pub(crate) fn to_count(x: f64) -> u32 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        x as u32
    }
}

#[cfg(test)]
#[path = "metric_tests.rs"]
mod tests;
