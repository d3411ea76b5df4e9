//! `[services.S.scale]`: elastic scaling bounds, per-instance targets and pacing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::values::{
    choice, duration, f64_in, nonempty_string, positive, positive_duration, positive_ratio, u32_in,
    Low, MAX_INSTANCES,
};
use crate::walk::{Ctx, Field, Obj};

/// Default [`ScaleSpec::tolerance`]: no action while every metric is within 10 % of target.
const DEFAULT_TOLERANCE: f64 = 0.1;
/// Default [`ScaleSpec::max_step_up`]: at most double the instances per scale-up.
const DEFAULT_MAX_STEP_UP: f64 = 2.0;
/// Default [`ScaleSpec::idle_after`]: five minutes without a request.
const DEFAULT_IDLE_AFTER: Duration = Duration::from_secs(300);
/// Longest custom metric name accepted in `target.metric.name`.
const MAX_METRIC_NAME: usize = 200;

/// `[services.S.scale]`. Fields missing from a stored (older) spec decode to their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScaleSpec {
    /// Fewest instances. Default 1. With 0, the service is scaled to zero after
    /// `idle_after` without requests and woken by the next one.
    pub min: u32,
    /// Most instances, at least `min` and 1. Default 10 (or `min` if larger).
    pub max: u32,
    /// Per-instance targets; the autoscaler keeps every given one at or below target.
    /// Default none (bounds only: `shoal scale` is clamped to them).
    pub target: Option<ScaleTarget>,
    /// Wait at least this long between two scale-ups. Default 5s.
    pub up_cooldown: Duration,
    /// Scale down only after the lower count was enough for this long. Default 60s.
    pub down_stabilization: Duration,
    /// No action while each metric is within this fraction of its target, in [0, 1).
    /// Default 0.1 (as Kubernetes' HPA).
    pub tolerance: f64,
    /// One scale-up multiplies the instances by at most this factor (> 1), but always
    /// allows at least one more. Default 2.0.
    pub max_step_up: f64,
    /// With `min = 0`: scale to zero after this long without a request (> 0). Default 5m.
    pub idle_after: Duration,
}

impl Default for ScaleSpec {
    fn default() -> Self {
        ScaleSpec {
            min: 1,
            max: 10,
            target: None,
            up_cooldown: Duration::from_secs(5),
            down_stabilization: Duration::from_secs(60),
            tolerance: DEFAULT_TOLERANCE,
            max_step_up: DEFAULT_MAX_STEP_UP,
            idle_after: DEFAULT_IDLE_AFTER,
        }
    }
}

impl ScaleSpec {
    /// `n` clamped into `min..=max`.
    pub fn clamp(&self, n: u32) -> u32 {
        n.clamp(self.min, self.max.max(self.min))
    }
}

/// `target = { rps, p95_ms, cpu, inflight, metric }`: any non-empty subset, each per instance.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ScaleTarget {
    /// Requests per second per instance (> 0).
    pub rps: Option<f64>,
    /// 95th percentile latency in milliseconds (> 0).
    pub p95_ms: Option<f64>,
    /// CPU use as a fraction of one core, (0, 1].
    pub cpu: Option<f64>,
    /// Concurrent requests per instance (> 0).
    pub inflight: Option<f64>,
    /// A custom StatsD metric per instance. Default none.
    pub metric: Option<MetricTarget>,
}

/// `metric = { name = "queue_depth", per_instance = 100, kind = "gauge" }`: the
/// autoscaler keeps `value / instances` at or below `per_instance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricTarget {
    /// The StatsD metric name, as sent by the service (no spaces, `:` or `|`).
    pub name: String,
    /// Target value per instance (> 0).
    pub per_instance: f64,
    /// How the metric is read. Default [`MetricKind::Gauge`].
    #[serde(default)]
    pub kind: MetricKind,
}

/// How a custom metric becomes one number for the autoscaler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// The gauge's last value (e.g. a queue depth).
    #[default]
    Gauge,
    /// The counter's rate per second over the window (e.g. jobs enqueued).
    Rate,
}

impl MetricKind {
    /// The name written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Gauge => "gauge",
            MetricKind::Rate => "rate",
        }
    }
}

/// Whether `name` can be a StatsD metric name: 1 to 200 characters, no
/// whitespace, control characters, `:` (the value separator) or `|` (the type separator).
pub fn is_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_METRIC_NAME
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':' || c == '|')
}

pub(crate) fn read_scale(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> Option<ScaleSpec> {
    let mut obj = Obj::open(cx, f, path)?;
    let mut spec = ScaleSpec::default();
    // Whether `min` is known: a bad one is reported once, not again through `idle_after`.
    let mut min_known = true;
    if let Some(mf) = obj.take("min") {
        match u32_in(0, MAX_INSTANCES)(cx, &mf) {
            Some(min) => spec.min = min,
            None => min_known = false,
        }
    }
    spec.max = spec.max.max(spec.min);
    if let Some(mf) = obj.take("max") {
        if let Some(max) = u32_in(1, MAX_INSTANCES)(cx, &mf) {
            if max < spec.min {
                let msg = format!("scale `max` ({max}) must be at least `min` ({})", spec.min);
                cx.error(mf.value_pos(), msg);
            } else {
                spec.max = max;
            }
        }
    }
    if let Some(tf) = obj.take("target") {
        spec.target = read_target(cx, &tf, format!("{}.target", obj.path));
    }
    obj.set(cx, "up_cooldown", &mut spec.up_cooldown, duration);
    obj.set(
        cx,
        "down_stabilization",
        &mut spec.down_stabilization,
        duration,
    );
    obj.set(cx, "tolerance", &mut spec.tolerance, tolerance);
    obj.set(
        cx,
        "max_step_up",
        &mut spec.max_step_up,
        f64_in(Low::Excl(1.0), f64::INFINITY),
    );
    if let Some(idf) = obj.take("idle_after") {
        if let Some(d) = positive_duration(cx, &idf) {
            spec.idle_after = d;
            if spec.min > 0 && min_known {
                let msg = format!(
                    "`idle_after` applies only with `min = 0` (scale to zero), but `min` is {}: \
                     set `min = 0` or remove `idle_after`",
                    spec.min
                );
                cx.error(idf.key_pos, msg);
            }
        }
    }
    obj.finish(cx);
    Some(spec)
}

/// A fraction in [0, 1): 1 would let a metric double without any action.
fn tolerance(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<f64> {
    let v = f64_in(Low::Incl(f64::NEG_INFINITY), f64::INFINITY)(cx, f)?;
    if !(0.0..1.0).contains(&v) {
        let msg = format!("`{}` must be at least 0 and less than 1, found {v}", f.name);
        cx.error(f.value_pos(), msg);
        return None;
    }
    Some(v)
}

fn read_target(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> Option<ScaleTarget> {
    let mut obj = Obj::open(cx, f, path)?;
    let metric_path = format!("{}.metric", obj.path);
    let target = ScaleTarget {
        rps: obj.get(cx, "rps", positive),
        p95_ms: obj.get(cx, "p95_ms", positive),
        cpu: obj.get(cx, "cpu", positive_ratio),
        inflight: obj.get(cx, "inflight", positive),
        metric: obj
            .take("metric")
            .and_then(|mf| read_metric(cx, &mf, metric_path)),
    };
    if obj.is_empty() {
        let msg = format!(
            "[{}] is empty: give at least one of `rps`, `p95_ms`, `cpu`, `inflight`",
            obj.path
        );
        cx.error(obj.pos, msg);
        return None;
    }
    obj.finish(cx);
    Some(target)
}

const METRIC_KINDS: &[&str] = &["gauge", "rate"];

fn read_metric(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> Option<MetricTarget> {
    let mut obj = Obj::open(cx, f, path)?;
    let name_f = obj.take("name");
    let name = name_f.as_ref().and_then(|nf| metric_name(cx, nf));
    let per_f = obj.take("per_instance");
    let per_instance = per_f.as_ref().and_then(|pf| positive(cx, pf));
    let kind = obj
        .get(cx, "kind", choice(METRIC_KINDS))
        .map_or(MetricKind::Gauge, |i| {
            [MetricKind::Gauge, MetricKind::Rate][i]
        });
    if name_f.is_none() {
        obj.missing(cx, "name");
    }
    if per_f.is_none() {
        obj.missing(cx, "per_instance");
    }
    obj.finish(cx);
    Some(MetricTarget {
        name: name?,
        per_instance: per_instance?,
        kind,
    })
}

fn metric_name(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<String> {
    let name = nonempty_string(cx, f)?;
    if !is_metric_name(&name) {
        let msg = format!(
            "invalid StatsD metric name {name:?} for `{}`: use 1 to {MAX_METRIC_NAME} characters \
             without spaces, control characters, `:` or `|` (e.g. \"queue_depth\")",
            f.name
        );
        cx.error(f.value_pos(), msg);
        return None;
    }
    Some(name)
}

#[cfg(test)]
#[path = "scale_tests.rs"]
mod tests;
