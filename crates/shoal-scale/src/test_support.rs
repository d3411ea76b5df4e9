//! Test fixtures shared by the decision's tests: specs, signals and a driver that keeps the memory and the clock.

use std::time::Duration;

use shoal_spec::{MetricKind, MetricTarget, ScaleSpec, ScaleTarget};

use crate::{decide, Decision, Signals, State};

/// A time far from zero, so that "5 s ago" exists.
pub(crate) const T0: u64 = 1_700_000_000_000;

/// `min..=max` with an `rps` target per instance, no cooldown, no stabilization,
/// tolerance 0.1, step 2.
pub(crate) fn rps_spec(min: u32, max: u32, rps: f64) -> ScaleSpec {
    ScaleSpec {
        min,
        max,
        target: Some(ScaleTarget {
            rps: Some(rps),
            ..ScaleTarget::default()
        }),
        up_cooldown: Duration::ZERO,
        down_stabilization: Duration::ZERO,
        ..ScaleSpec::default()
    }
}

/// `spec` with every target replaced by `target`.
pub(crate) fn with_target(spec: ScaleSpec, target: ScaleTarget) -> ScaleSpec {
    ScaleSpec {
        target: Some(target),
        ..spec
    }
}

/// A custom gauge target.
pub(crate) fn custom(name: &str, per_instance: f64) -> MetricTarget {
    MetricTarget {
        name: name.to_owned(),
        per_instance,
        kind: MetricKind::Gauge,
    }
}

/// `rps` total over `ready` serving instances, a recent request.
pub(crate) fn rps(total: f64, ready: u32) -> Signals {
    Signals {
        rps: Some(total),
        ready,
        idle_ms: Some(0),
        ..Signals::default()
    }
}

/// Nothing at all for `idle_ms`: no request, no data but a zero rate.
pub(crate) fn quiet(ready: u32, idle_ms: u64) -> Signals {
    Signals {
        rps: Some(0.0),
        inflight: Some(0.0),
        ready,
        idle_ms: Some(idle_ms),
        ..Signals::default()
    }
}

/// Seconds as milliseconds.
pub(crate) fn s(secs: u64) -> u64 {
    secs * 1000
}

/// Runs decisions in sequence the way the loop does: the memory carried over,
/// the clock explicit.
pub(crate) struct Driver {
    pub(crate) spec: ScaleSpec,
    pub(crate) state: State,
    pub(crate) now: u64,
}

impl Driver {
    /// Starts at [`T0`] with `desired` instances and a fresh memory.
    pub(crate) fn new(spec: ScaleSpec, desired: u32) -> Driver {
        Driver {
            spec,
            state: State::new(desired),
            now: T0,
        }
    }

    /// Decides at the current time and keeps the memory.
    pub(crate) fn step(&mut self, signals: &Signals) -> Decision {
        let d = decide(&self.spec, signals, &self.state, self.now);
        self.state = d.next.clone();
        d
    }

    /// Moves the clock by `ms`, then decides.
    pub(crate) fn after(&mut self, ms: u64, signals: &Signals) -> Decision {
        self.now += ms;
        self.step(signals)
    }

    /// One decision per second for `secs` seconds with the same signals; the counts decided.
    pub(crate) fn run(&mut self, secs: u64, signals: &Signals) -> Vec<u32> {
        (0..secs)
            .map(|_| self.after(1000, signals).desired)
            .collect()
    }

    /// Like [`Driver::run`], with the serving count following the decision the
    /// way a fast platform would (every asked instance ready by the next second)
    /// and `rps` as a total.
    pub(crate) fn run_following(&mut self, secs: u64, total_rps: f64) -> Vec<u32> {
        (0..secs)
            .map(|_| {
                let ready = self.state.desired;
                self.after(1000, &rps(total_rps, ready)).desired
            })
            .collect()
    }
}
