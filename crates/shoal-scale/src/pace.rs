//! From the metrics' largest ask to a count: step cap and cooldown going up, stabilization going down, bounds both ways.

use std::cmp::Reverse;

use crate::decide::{Outcome, Params};
use crate::decision::Hold;
use crate::metric::{ceil_count, Counts, Metric, Recommendation, Verdict};
use crate::state::State;
use crate::text::{describe, dur, list, percent, when};

/// The largest count one scale-up may reach from `current`:
/// `max(current + 1, ceil(current × step))`.
pub(crate) fn step_cap(current: u32, step: f64) -> u32 {
    current
        .saturating_add(1)
        .max(ceil_count(f64::from(current) * step))
}

/// When the cooldown after the scale-up at `last_ms` ends, if it has not yet at `now_ms`.
pub(crate) fn cooldown_until(last_ms: Option<u64>, cooldown_ms: u64, now_ms: u64) -> Option<u64> {
    let until = last_ms?.saturating_add(cooldown_ms);
    (now_ms < until).then_some(until)
}

/// Paces the largest of `recs` (non-empty; the first in the spec's order wins a tie).
pub(crate) fn pace(
    p: &Params,
    state: &State,
    now_ms: u64,
    counts: Counts,
    recs: Vec<Recommendation>,
    missing: &[Metric],
) -> Outcome {
    let current = counts.current;
    let best = recs
        .iter()
        .enumerate()
        .max_by_key(|(i, r)| (r.count, Reverse(*i)))
        .map(|(_, r)| r);
    let Some(best) = best else {
        return Outcome::new(current, format!("no recommendation: keeping {current}"));
    };
    let floor = p.lo.max(1);
    let raw = best.count;
    let wanted = raw.max(floor).min(p.hi);
    let (desired, held_by, what) = if wanted > current {
        up(p, state, now_ms, current, raw, wanted)
    } else if wanted < current {
        down(p, state, now_ms, current, raw, wanted)
    } else {
        keep(p, counts, raw, &recs)
    };
    let mut reason = format!("{}; {what}", describe(best, counts));
    if !missing.is_empty() {
        reason.push_str(&format!("; no data for {}", list(missing)));
    }
    if p.lo == 0 && raw == 0 && desired == 1 {
        reason.push_str(&format!(
            "; to zero after {} without requests",
            dur(p.idle_after_ms)
        ));
    }
    Outcome {
        desired,
        reason,
        recommendations: recs,
        held_by,
        remember: Some(wanted),
    }
}

type Paced = (u32, Option<Hold>, String);

fn up(p: &Params, state: &State, now_ms: u64, current: u32, raw: u32, wanted: u32) -> Paced {
    if let Some(until_ms) = cooldown_until(state.last_scale_up_ms, p.cooldown_ms, now_ms) {
        let what = format!(
            "held at {current}: up_cooldown {} after the last scale-up, {} more (until {})",
            dur(p.cooldown_ms),
            dur(until_ms.saturating_sub(now_ms)),
            when(until_ms)
        );
        return (current, Some(Hold::Cooldown { until_ms }), what);
    }
    let cap = step_cap(current, p.step);
    let desired = wanted.min(cap);
    let (held_by, max) = if desired < wanted {
        (Some(Hold::StepCap { cap }), String::new())
    } else if raw > p.hi {
        (
            Some(Hold::Bounds { bound: p.hi }),
            format!(", max {}", p.hi),
        )
    } else {
        (None, String::new())
    };
    let what = format!("scale up {current} → {desired} (step cap {cap}{max})");
    (desired, held_by, what)
}

fn down(p: &Params, state: &State, now_ms: u64, current: u32, raw: u32, wanted: u32) -> Paced {
    let high = state
        .highest(now_ms, p.window_ms)
        .filter(|h| h.count > wanted);
    if let Some(h) = high {
        let desired = h.count.min(current);
        let until_ms = state
            .holds_until(now_ms, p.window_ms, desired)
            .unwrap_or(now_ms);
        let hold = Hold::Stabilization {
            count: h.count,
            until_ms,
        };
        let window = format!(
            "down_stabilization {} remembers {} from {} ago; lower in {} (at {})",
            dur(p.window_ms),
            h.count,
            dur(now_ms.saturating_sub(h.at_ms)),
            dur(until_ms.saturating_sub(now_ms)),
            when(until_ms)
        );
        let what = if desired == current {
            format!("held at {current}: {window}")
        } else {
            format!("scale down {current} → {desired}, not to {wanted} yet: {window}")
        };
        return (desired, Some(hold), what);
    }
    if raw < wanted && p.lo > 0 {
        let what = format!("scale down {current} → {wanted} (min {})", p.lo);
        return (wanted, Some(Hold::Bounds { bound: p.lo }), what);
    }
    (wanted, None, format!("scale down {current} → {wanted}"))
}

fn keep(p: &Params, counts: Counts, raw: u32, recs: &[Recommendation]) -> Paced {
    let current = counts.current;
    if raw > p.hi {
        let what = format!("held at max {}", p.hi);
        return (current, Some(Hold::Bounds { bound: p.hi }), what);
    }
    if raw < p.lo {
        let what = format!("held at min {}", p.lo);
        return (current, Some(Hold::Bounds { bound: p.lo }), what);
    }
    let kept = |r: &Recommendation| matches!(r.verdict, Verdict::Keep | Verdict::Absorbed);
    if recs.iter().all(kept) {
        if recs.iter().any(|r| r.verdict == Verdict::Absorbed) {
            let hold = Hold::Starting {
                starting: counts.starting,
            };
            return (current, Some(hold), format!("keeping {current}"));
        }
        let what = format!(
            "every metric within {} of its target: keeping {current}",
            percent(p.tolerance)
        );
        return (current, Some(Hold::Tolerance), what);
    }
    (current, None, format!("keeping {current}"))
}
