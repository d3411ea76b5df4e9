//! Scale to zero and back: with `min = 0`, no instance after `idle_after` without a request; any demand wakes one at once.

use crate::decide::{Outcome, Params};
use crate::decision::Hold;
use crate::signals::Signals;
use crate::text::{dur, num};

/// At zero instances: wake one on demand (no cooldown, no metric needed), else stay.
/// `None` when the service is not at zero. `custom` names the custom metric for the reason.
pub(crate) fn at_zero(
    p: &Params,
    s: &Signals,
    current: u32,
    custom: Option<&str>,
) -> Option<Outcome> {
    if current != 0 {
        return None;
    }
    if !s.demand() {
        let reason = "no demand at zero instances: staying at 0 until a request arrives";
        return Some(Outcome::new(0, reason.to_owned()));
    }
    let cause = cause(s, custom);
    let desired = p.clamp(1);
    if desired == 0 {
        let reason = format!("{cause} at zero instances, but max is 0: staying at 0");
        return Some(Outcome::new(0, reason).held(Hold::Bounds { bound: 0 }));
    }
    let reason = format!("{cause} at zero instances: waking 0 → {desired} (no cooldown)");
    Some(Outcome::new(desired, reason))
}

/// Idle long enough with `min = 0`: straight to zero. `None` when the rule does not apply.
pub(crate) fn idle(p: &Params, s: &Signals, current: u32) -> Option<Outcome> {
    if p.lo != 0 || current == 0 || !s.idle_for(p.idle_after_ms) {
        return None;
    }
    let reason = format!(
        "no request for {} (idle_after {}): scale to zero {current} → 0",
        dur(s.idle_ms.unwrap_or_default()),
        dur(p.idle_after_ms)
    );
    Some(Outcome::new(0, reason))
}

/// What demand woke the service, for the reason.
fn cause(s: &Signals, custom: Option<&str>) -> String {
    let positive = |v: Option<f64>| v.filter(|x| *x > 0.0);
    if s.wake {
        "a request is waiting".to_owned()
    } else if let Some(v) = positive(s.rps) {
        format!("rps {}", num(v))
    } else if let Some(v) = positive(s.inflight) {
        format!("inflight {}", num(v))
    } else if let Some(v) = positive(s.custom) {
        format!("{} {}", custom.unwrap_or("custom metric"), num(v))
    } else {
        "demand".to_owned()
    }
}
