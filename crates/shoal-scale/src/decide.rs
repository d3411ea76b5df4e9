//! [`decide`]: the whole decision for one service, rule by rule, and the memory it leaves.

use std::time::Duration;

use shoal_spec::ScaleSpec;

use crate::decision::{Decision, Hold};
use crate::metric::{recommend, Counts, Metric, Recommendation};
use crate::pace::pace;
use crate::signals::Signals;
use crate::state::State;
use crate::text::list;
use crate::zero;

/// The spec's numbers as the decision uses them, made total: bounds ordered,
/// durations in saturated milliseconds, non-finite factors replaced by defaults.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    /// `min`.
    pub(crate) lo: u32,
    /// `max`, at least `min`.
    pub(crate) hi: u32,
    pub(crate) tolerance: f64,
    pub(crate) step: f64,
    pub(crate) cooldown_ms: u64,
    pub(crate) window_ms: u64,
    pub(crate) idle_after_ms: u64,
}

impl Params {
    pub(crate) fn of(spec: &ScaleSpec) -> Params {
        let defaults = ScaleSpec::default();
        let tolerance = if spec.tolerance.is_finite() && spec.tolerance >= 0.0 {
            spec.tolerance
        } else {
            defaults.tolerance
        };
        let step = if spec.max_step_up.is_finite() {
            spec.max_step_up
        } else {
            defaults.max_step_up
        };
        Params {
            lo: spec.min,
            hi: spec.max.max(spec.min),
            tolerance,
            step,
            cooldown_ms: ms(spec.up_cooldown),
            window_ms: ms(spec.down_stabilization),
            idle_after_ms: ms(spec.idle_after),
        }
    }

    /// `n` within `[lo, hi]`.
    pub(crate) fn clamp(&self, n: u32) -> u32 {
        n.max(self.lo).min(self.hi)
    }
}

/// A duration in milliseconds, saturating.
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What one rule decided, before the memory is updated.
pub(crate) struct Outcome {
    pub(crate) desired: u32,
    pub(crate) reason: String,
    pub(crate) recommendations: Vec<Recommendation>,
    pub(crate) held_by: Option<Hold>,
    /// The bounded recommendation to remember for the stabilization window.
    pub(crate) remember: Option<u32>,
}

impl Outcome {
    /// `desired` for `reason`, with no recommendation, hold or memory.
    pub(crate) fn new(desired: u32, reason: String) -> Outcome {
        Outcome {
            desired,
            reason,
            recommendations: Vec::new(),
            held_by: None,
            remember: None,
        }
    }

    pub(crate) fn held(self, hold: Hold) -> Outcome {
        Outcome {
            held_by: Some(hold),
            ..self
        }
    }
}

/// How many instances the service should run at `now_ms` (unix ms), and the memory
/// for the next call. Pure and total: no I/O, no clock, no panic on any input.
///
/// In order, the first rule that applies decides:
/// 1. **bounds**: a current count outside `[min, max]` (the spec changed) moves
///    inside at once;
/// 2. **at zero** (`min = 0`): any demand ([`Signals::demand`]: a held request, or
///    requests, in-flight calls or the custom metric above 0) wakes one instance at
///    once, without cooldown; no demand stays at zero;
/// 3. **idle** (`min = 0`): no request for `idle_after` and no demand: zero;
/// 4. **no target**: keep the count (bounds only), [`Hold::NoTarget`];
/// 5. **metrics**: each targeted metric with usable data asks for a count
///    ([`recommend`]); none with data: no action, [`Hold::MissingMetrics`]; else
///    the largest ask is paced: step cap and `up_cooldown` going up, the highest
///    ask of the last `down_stabilization` going down, never below `max(min, 1)`
///    (zero is only reached by the idle rule) nor above `max`.
///
/// A fresh memory ([`State::since_ms`] unset) starts the window with the current
/// count, so a restarted autoscaler without its stored memory never scales down
/// on its first look: it waits one window (Kubernetes' HPA does the same).
///
/// Rules 2 and 3 apply with or without a target: a service at zero must wake.
pub fn decide(spec: &ScaleSpec, signals: &Signals, state: &State, now_ms: u64) -> Decision {
    let p = Params::of(spec);
    let signals = signals.sanitized();
    let current = state.desired;
    let mut next = state.clone();
    next.forget(now_ms, p.window_ms);
    next.seed(now_ms, p.window_ms);
    let out = outcome(&p, spec, &signals, &next, now_ms);
    if let Some(count) = out.remember {
        next.remember(now_ms, p.window_ms, count);
    }
    if out.desired == 0 {
        next.past.clear();
    }
    next.desired = out.desired;
    if out.desired != current {
        next.last_change_ms = Some(now_ms);
    }
    if out.desired > current {
        next.last_scale_up_ms = Some(now_ms);
    }
    Decision {
        desired: out.desired,
        changed: out.desired != current,
        reason: out.reason,
        recommendations: out.recommendations,
        held_by: out.held_by,
        next,
    }
}

fn outcome(p: &Params, spec: &ScaleSpec, s: &Signals, state: &State, now_ms: u64) -> Outcome {
    let current = state.desired;
    let bounded = p.clamp(current);
    if bounded != current {
        let reason = format!(
            "{current} is outside the bounds {}..={}: {current} → {bounded}",
            p.lo, p.hi
        );
        return Outcome::new(bounded, reason);
    }
    let custom = spec
        .target
        .as_ref()
        .and_then(|t| t.metric.as_ref())
        .map(|m| m.name.as_str());
    if let Some(out) = zero::at_zero(p, s, current, custom) {
        return out;
    }
    if let Some(out) = zero::idle(p, s, current) {
        return out;
    }
    let targets = Metric::targets(spec.target.as_ref());
    if targets.is_empty() {
        let reason = format!(
            "no scale target: keeping {current} (bounds {}..={})",
            p.lo, p.hi
        );
        return Outcome::new(current, reason).held(Hold::NoTarget);
    }
    let counts = Counts {
        ready: s.ready,
        starting: s.starting,
        current,
    };
    let mut recs = Vec::with_capacity(targets.len());
    let mut missing = Vec::new();
    for (metric, target) in targets {
        match metric.value(s) {
            Some(v) => recs.push(recommend(metric, v, target, counts, p.tolerance)),
            None => missing.push(metric),
        }
    }
    if recs.is_empty() {
        let reason = format!(
            "no data for {} (missing, stale or not a finite number): keeping {current}",
            list(&missing)
        );
        return Outcome::new(current, reason).held(Hold::MissingMetrics { missing });
    }
    pace(p, state, now_ms, counts, recs, &missing)
}
