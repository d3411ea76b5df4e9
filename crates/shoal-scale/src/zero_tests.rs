//! Tests of scale to zero (`min = 0`, `idle_after`) and of waking from zero, with an explicit clock.

use std::time::Duration;

use shoal_spec::{ScaleSpec, ScaleTarget};

use crate::test_support::*;
use crate::{decide, Hold, Past, Signals, State};

/// `min = 0`, `max = 10`, 100 rps per instance, idle after 5 minutes (the default).
fn to_zero() -> ScaleSpec {
    rps_spec(0, 10, 100.0)
}

const FIVE_MIN: u64 = 300_000;

#[test]
fn idle_long_enough_goes_to_zero() {
    let mut d = Driver::new(to_zero(), 1);
    let z = d.step(&quiet(1, FIVE_MIN));
    assert_eq!((z.desired, z.changed), (0, true));
    assert_eq!(z.held_by, None);
    assert_eq!(
        z.reason,
        "no request for 5m (idle_after 5m): scale to zero 1 → 0"
    );
    assert!(z.next.past.is_empty());
    assert_eq!(z.next.last_change_ms, Some(T0));
}

#[test]
fn not_idle_long_enough_stays_at_one() {
    let mut d = Driver::new(to_zero(), 3);
    let one = d.step(&quiet(3, FIVE_MIN - 1));
    assert_eq!(one.desired, 1, "the metrics go down to 1, never to 0");
    assert_eq!(
        one.reason,
        "rps 0 over 3 instances (0 each), target 100 → 0; scale down 3 → 1; \
         to zero after 5m without requests"
    );
    let still = d.after(0, &quiet(1, FIVE_MIN - 1));
    assert_eq!((still.desired, still.changed), (1, false));
    assert_eq!(d.after(1, &quiet(1, FIVE_MIN)).desired, 0);
}

#[test]
fn idle_goes_straight_to_zero_from_any_count() {
    let spec = ScaleSpec {
        down_stabilization: Duration::from_secs(600),
        ..to_zero()
    };
    let state = State {
        desired: 7,
        past: vec![Past {
            at_ms: T0 - 1,
            count: 7,
        }],
        ..State::default()
    };
    let d = decide(&spec, &quiet(7, 2 * FIVE_MIN), &state, T0);
    assert_eq!(d.desired, 0, "idle_after is the window for going to zero");
}

#[test]
fn min_above_zero_never_goes_to_zero() {
    let mut d = Driver::new(rps_spec(1, 10, 100.0), 2);
    assert_eq!(d.step(&quiet(2, u64::MAX)).desired, 1);
    assert_eq!(d.after(s(3600), &quiet(1, u64::MAX)).desired, 1);
}

#[test]
fn an_unknown_idle_time_is_never_idle() {
    let signals = Signals {
        idle_ms: None,
        ..quiet(1, 0)
    };
    let d = decide(&to_zero(), &signals, &State::new(1), T0);
    assert_eq!(d.desired, 1);
}

#[test]
fn demand_is_never_idle() {
    let long = 10 * FIVE_MIN;
    let busy = [
        Signals {
            inflight: Some(1.0),
            ..quiet(1, long)
        },
        Signals {
            rps: Some(0.01),
            ..quiet(1, long)
        },
        Signals {
            custom: Some(5.0),
            ..quiet(1, long)
        },
        Signals {
            wake: true,
            ..quiet(1, long)
        },
    ];
    for signals in busy {
        let d = decide(&to_zero(), &signals, &State::new(1), T0);
        assert_eq!(d.desired, 1, "{signals:?}");
    }
}

#[test]
fn a_configured_idle_after() {
    let spec = ScaleSpec {
        idle_after: Duration::from_secs(30),
        ..to_zero()
    };
    assert_eq!(
        decide(&spec, &quiet(1, s(29)), &State::new(1), T0).desired,
        1
    );
    let z = decide(&spec, &quiet(1, s(30)), &State::new(1), T0);
    assert_eq!(z.desired, 0);
    assert_eq!(
        z.reason,
        "no request for 30s (idle_after 30s): scale to zero 1 → 0"
    );
}

#[test]
fn at_zero_without_demand_it_stays() {
    let stale_measurements = Signals {
        p95_ms: Some(900.0),
        cpu: Some(1.0),
        ..quiet(0, 10 * FIVE_MIN)
    };
    for signals in [
        quiet(0, 10 * FIVE_MIN),
        stale_measurements,
        Signals::default(),
    ] {
        let d = decide(&to_zero(), &signals, &State::new(0), T0);
        assert_eq!((d.desired, d.changed), (0, false), "{signals:?}");
        assert_eq!(
            d.reason,
            "no demand at zero instances: staying at 0 until a request arrives"
        );
    }
}

#[test]
fn a_held_request_wakes_one_at_once() {
    let spec = ScaleSpec {
        up_cooldown: Duration::from_secs(600),
        ..to_zero()
    };
    // scaled up a second ago, then to zero (a hand-made memory): no cooldown applies.
    let state = State {
        desired: 0,
        last_scale_up_ms: Some(T0 - 1000),
        ..State::default()
    };
    let signals = Signals {
        wake: true,
        ..Signals::default()
    };
    let d = decide(&spec, &signals, &state, T0);
    assert_eq!((d.desired, d.changed), (1, true));
    assert_eq!(d.held_by, None);
    assert_eq!(
        d.reason,
        "a request is waiting at zero instances: waking 0 → 1 (no cooldown)"
    );
    assert_eq!(d.next.last_scale_up_ms, Some(T0));
}

#[test]
fn any_rate_wakes_too() {
    let cases = [
        (
            rps(3.0, 0),
            "rps 3 at zero instances: waking 0 → 1 (no cooldown)",
        ),
        (
            Signals {
                inflight: Some(2.0),
                ..Signals::default()
            },
            "inflight 2 at zero instances: waking 0 → 1 (no cooldown)",
        ),
    ];
    for (signals, reason) in cases {
        let d = decide(&to_zero(), &signals, &State::new(0), T0);
        assert_eq!((d.desired, d.reason.as_str()), (1, reason));
    }
}

#[test]
fn a_queue_wakes_a_worker_by_its_metric_name() {
    let spec = with_target(
        to_zero(),
        ScaleTarget {
            metric: Some(custom("queue_depth", 100.0)),
            ..ScaleTarget::default()
        },
    );
    let signals = Signals {
        custom: Some(40.0),
        ..Signals::default()
    };
    let d = decide(&spec, &signals, &State::new(0), T0);
    assert_eq!(d.desired, 1);
    assert_eq!(
        d.reason,
        "queue_depth 40 at zero instances: waking 0 → 1 (no cooldown)"
    );
}

#[test]
fn waking_is_one_instance_then_the_usual_pace() {
    let spec = ScaleSpec {
        up_cooldown: Duration::from_secs(5),
        ..to_zero()
    };
    let mut d = Driver::new(spec, 0);
    // A burst arrives at a service at zero: 1 at once, then doubling after the cooldown.
    assert_eq!(d.step(&rps(1000.0, 0)).desired, 1);
    let held = d.after(
        s(1),
        &Signals {
            starting: 1,
            ..rps(1000.0, 0)
        },
    );
    assert_eq!(held.desired, 1);
    assert_eq!(
        held.held_by,
        Some(Hold::Cooldown {
            until_ms: T0 + s(5)
        })
    );
    assert_eq!(d.after(s(4), &rps(1000.0, 1)).desired, 2);
    assert_eq!(d.after(s(5), &rps(1000.0, 2)).desired, 4);
}

#[test]
fn zero_rules_work_without_a_target() {
    let spec = ScaleSpec {
        target: None,
        ..to_zero()
    };
    let mut d = Driver::new(spec, 2);
    let kept = d.step(&quiet(2, s(10)));
    assert_eq!((kept.desired, kept.held_by), (2, Some(Hold::NoTarget)));
    assert_eq!(d.after(FIVE_MIN, &quiet(2, FIVE_MIN)).desired, 0);
    let woken = d.after(
        s(1),
        &Signals {
            wake: true,
            ..Signals::default()
        },
    );
    assert_eq!(woken.desired, 1);
}

#[test]
fn a_max_of_zero_in_a_hand_made_spec_never_wakes() {
    let spec = ScaleSpec {
        max: 0,
        ..to_zero()
    };
    let signals = Signals {
        wake: true,
        ..Signals::default()
    };
    let d = decide(&spec, &signals, &State::new(0), T0);
    assert_eq!(d.desired, 0);
    assert_eq!(d.held_by, Some(Hold::Bounds { bound: 0 }));
    assert_eq!(
        d.reason,
        "a request is waiting at zero instances, but max is 0: staying at 0"
    );
}

#[test]
fn a_day_of_a_service_that_sleeps_at_night() {
    let spec = ScaleSpec {
        up_cooldown: Duration::from_secs(5),
        down_stabilization: Duration::from_secs(60),
        ..to_zero()
    };
    let mut d = Driver::new(spec, 0);
    let mut last_request: Option<u64> = None;
    let mut trace = Vec::new();
    for minute in 0..24 * 60u64 {
        // busy from 08:00 to 18:00 at 450 rps, no request otherwise.
        let busy = (8 * 60..18 * 60).contains(&minute);
        for _ in 0..60 {
            d.now += 1000;
            if busy {
                last_request = Some(d.now);
            }
            let ready = d.state.desired;
            let signals = Signals {
                rps: Some(if busy { 450.0 } else { 0.0 }),
                ready,
                idle_ms: last_request.map(|t| d.now - t).or(Some(d.now - T0)),
                wake: busy && ready == 0,
                ..Signals::default()
            };
            let out = d.step(&signals);
            if out.changed {
                trace.push((minute, out.desired));
            }
        }
    }
    // Up in the morning within a few steps; at night down to 1 when the last ask
    // of 5 leaves the 1 min window, and to zero 5 min after the last request.
    let morning: Vec<u32> = trace
        .iter()
        .filter(|(m, _)| *m < 12 * 60)
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(morning, [1, 2, 4, 5]);
    let evening: Vec<(u64, u32)> = trace
        .iter()
        .filter(|(m, _)| *m >= 12 * 60)
        .copied()
        .collect();
    assert_eq!(evening, [(18 * 60, 1), (18 * 60 + 4, 0)]);
}
