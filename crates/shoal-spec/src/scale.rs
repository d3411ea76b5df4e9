//! `[services.S.scale]`: elastic scaling bounds, per-instance targets and pacing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::values::{duration, positive, positive_ratio, u32_in, MAX_INSTANCES};
use crate::walk::{Ctx, Field, Obj};

/// `[services.S.scale]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleSpec {
    /// Fewest instances. Default 1.
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
}

impl Default for ScaleSpec {
    fn default() -> Self {
        ScaleSpec {
            min: 1,
            max: 10,
            target: None,
            up_cooldown: Duration::from_secs(5),
            down_stabilization: Duration::from_secs(60),
        }
    }
}

impl ScaleSpec {
    /// `n` clamped into `min..=max`.
    pub fn clamp(&self, n: u32) -> u32 {
        n.clamp(self.min, self.max.max(self.min))
    }
}

/// `target = { rps, p95_ms, cpu, inflight }`: any non-empty subset, each per instance.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScaleTarget {
    /// Requests per second per instance (> 0).
    pub rps: Option<f64>,
    /// 95th percentile latency in milliseconds (> 0).
    pub p95_ms: Option<f64>,
    /// CPU use as a fraction of one core, (0, 1].
    pub cpu: Option<f64>,
    /// Concurrent requests per instance (> 0).
    pub inflight: Option<f64>,
}

pub(crate) fn read_scale(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> Option<ScaleSpec> {
    let mut obj = Obj::open(cx, f, path)?;
    let mut spec = ScaleSpec::default();
    obj.set(cx, "min", &mut spec.min, u32_in(0, MAX_INSTANCES));
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
    obj.finish(cx);
    Some(spec)
}

fn read_target(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> Option<ScaleTarget> {
    let mut obj = Obj::open(cx, f, path)?;
    let target = ScaleTarget {
        rps: obj.get(cx, "rps", positive),
        p95_ms: obj.get(cx, "p95_ms", positive),
        cpu: obj.get(cx, "cpu", positive_ratio),
        inflight: obj.get(cx, "inflight", positive),
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
