//! `[services.S.deploy]`: rollout strategy (rolling, canary, blue-green) and its pacing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::values::{
    boolean, choice, duration, f64_in, positive_duration, ratio, u32_in, Low, MAX_INSTANCES,
};
use crate::walk::{Ctx, Field, Obj};

/// How a service moves from one spec to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Replace instances a few at a time (`max_surge`, `max_unavailable`).
    #[default]
    Rolling,
    /// Shift traffic by `canary.steps`, watching errors and latency.
    Canary,
    /// Start the full new set, switch traffic at once when it is healthy.
    BlueGreen,
}

const STRATEGIES: &[&str] = &["rolling", "canary", "blue-green"];

/// `[services.S.deploy]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploySpec {
    /// Default rolling.
    pub strategy: Strategy,
    /// Extra instances allowed during a rollout. Default 1.
    pub max_surge: u32,
    /// Instances that may be missing during a rollout. Default 0. Not both 0.
    pub max_unavailable: u32,
    /// A new instance must stay healthy this long to count. Default 2s.
    pub min_healthy: Duration,
    /// In-flight requests may finish this long before SIGKILL. Default 10s.
    pub drain: Duration,
    /// Canary pacing (used when `strategy` is canary).
    pub canary: CanarySpec,
    /// The previous version stays warm this long for instant rollback. Default 10m.
    pub keep_previous: Duration,
    /// A deployment not finished this long after it began fails. Default 10m.
    #[serde(default = "default_progress_deadline")]
    pub progress_deadline: Duration,
    /// A failed deployment returns to the previous spec. Default false (as Nomad's).
    #[serde(default)]
    pub auto_revert: bool,
}

fn default_progress_deadline() -> Duration {
    Duration::from_secs(600)
}

fn default_min_requests() -> u32 {
    20
}

impl Default for DeploySpec {
    fn default() -> Self {
        DeploySpec {
            strategy: Strategy::Rolling,
            max_surge: 1,
            max_unavailable: 0,
            min_healthy: Duration::from_secs(2),
            drain: Duration::from_secs(10),
            canary: CanarySpec::default(),
            keep_previous: Duration::from_secs(600),
            progress_deadline: default_progress_deadline(),
            auto_revert: false,
        }
    }
}

/// `canary = { steps, interval, max_error_rate, max_p95_ratio }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanarySpec {
    /// Percent of traffic on the new version at each step: strictly increasing,
    /// each in 1..=100, ending at 100. Default [10, 50, 100].
    pub steps: Vec<u8>,
    /// Time at each step before the next. Default 30s.
    pub interval: Duration,
    /// The canary's error rate (0..=1) above which the rollout is aborted. Default 0.01.
    pub max_error_rate: f64,
    /// Canary p95 / baseline p95 above which the rollout is aborted. Default 1.5.
    pub max_p95_ratio: f64,
    /// Requests the canary must have answered in a step before it is judged. Default 20.
    #[serde(default = "default_min_requests")]
    pub min_requests: u32,
}

impl Default for CanarySpec {
    fn default() -> Self {
        CanarySpec {
            steps: vec![10, 50, 100],
            interval: Duration::from_secs(30),
            max_error_rate: 0.01,
            max_p95_ratio: 1.5,
            min_requests: default_min_requests(),
        }
    }
}

pub(crate) fn read_deploy(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> DeploySpec {
    let mut spec = DeploySpec::default();
    let Some(mut obj) = Obj::open(cx, f, path) else {
        return spec;
    };
    if let Some(i) = obj.get(cx, "strategy", choice(STRATEGIES)) {
        spec.strategy = [Strategy::Rolling, Strategy::Canary, Strategy::BlueGreen][i];
    }
    let surge = obj.take("max_surge");
    if let Some(v) = surge
        .as_ref()
        .and_then(|sf| u32_in(0, MAX_INSTANCES)(cx, sf))
    {
        spec.max_surge = v;
    }
    let unavailable = obj.take("max_unavailable");
    if let Some(v) = unavailable
        .as_ref()
        .and_then(|uf| u32_in(0, MAX_INSTANCES)(cx, uf))
    {
        spec.max_unavailable = v;
    }
    if spec.max_surge == 0 && spec.max_unavailable == 0 {
        let pos = [surge, unavailable]
            .iter()
            .flatten()
            .map(Field::value_pos)
            .max();
        let msg =
            "`max_surge` and `max_unavailable` are both 0: a rollout could never make progress";
        cx.error(pos.unwrap_or(obj.pos), msg);
    }
    obj.set(cx, "min_healthy", &mut spec.min_healthy, duration);
    obj.set(cx, "drain", &mut spec.drain, duration);
    if let Some(cf) = obj.take("canary") {
        spec.canary = read_canary(cx, &cf, format!("{}.canary", obj.path));
    }
    obj.set(cx, "keep_previous", &mut spec.keep_previous, duration);
    obj.set(
        cx,
        "progress_deadline",
        &mut spec.progress_deadline,
        positive_duration,
    );
    obj.set(cx, "auto_revert", &mut spec.auto_revert, boolean);
    obj.finish(cx);
    spec
}

fn read_canary(cx: &mut Ctx<'_>, f: &Field<'_>, path: String) -> CanarySpec {
    let mut spec = CanarySpec::default();
    let Some(mut obj) = Obj::open(cx, f, path) else {
        return spec;
    };
    obj.set(cx, "steps", &mut spec.steps, read_steps);
    obj.set(cx, "interval", &mut spec.interval, positive_duration);
    obj.set(cx, "max_error_rate", &mut spec.max_error_rate, ratio);
    obj.set(
        cx,
        "max_p95_ratio",
        &mut spec.max_p95_ratio,
        f64_in(Low::Excl(0.0), f64::INFINITY),
    );
    obj.set(
        cx,
        "min_requests",
        &mut spec.min_requests,
        u32_in(1, 1_000_000),
    );
    obj.finish(cx);
    spec
}

fn read_steps(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<Vec<u8>> {
    let Some(toml_edit::Value::Array(arr)) = f.value() else {
        cx.error(
            f.value_pos(),
            format!(
                "`steps` must be an array of percents like [10, 50, 100], found {}",
                f.node.kind()
            ),
        );
        return None;
    };
    let mut steps: Vec<u8> = Vec::new();
    for v in arr.iter() {
        let pos = v.span().map_or(f.value_pos(), |r| r.start);
        let step = match v.as_integer().map(u8::try_from) {
            Some(Ok(p)) if (1..=100).contains(&p) => p,
            _ => {
                cx.error(
                    pos,
                    format!(
                        "canary step must be a percent between 1 and 100, found `{}`",
                        v.to_string().trim()
                    ),
                );
                return None;
            }
        };
        if let Some(&prev) = steps.last() {
            if step <= prev {
                cx.error(
                    pos,
                    format!("canary steps must be strictly increasing: {step} follows {prev}"),
                );
                return None;
            }
        }
        steps.push(step);
    }
    if steps.last() != Some(&100) {
        let last = arr.iter().last().and_then(|v| v.span()).map(|r| r.start);
        cx.error(
            last.unwrap_or(f.value_pos()),
            "canary steps must end at 100 (all traffic on the new version)",
        );
        return None;
    }
    Some(steps)
}
