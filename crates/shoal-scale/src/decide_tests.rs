//! Tests of [`decide`] with an explicit clock: the proportional rule, tolerance, step cap,
//! cooldown, stabilization, bounds, several metrics, missing and non-finite data, starting instances.

use std::time::Duration;

use shoal_spec::{ScaleSpec, ScaleTarget};

use crate::test_support::*;
use crate::{decide, Hold, Metric, Past, Signals, State, Verdict};

fn one(spec: &ScaleSpec, signals: &Signals, desired: u32) -> crate::Decision {
    decide(spec, signals, &State::new(desired), T0)
}

// ---- the proportional rule -------------------------------------------------

#[test]
fn rps_over_target_asks_for_the_count_that_carries_it() {
    let spec = rps_spec(1, 10, 200.0);
    let d = one(&spec, &rps(480.0, 2), 2);
    assert_eq!(d.desired, 3);
    assert!(d.changed);
    assert_eq!(d.held_by, None);
    assert_eq!(
        d.reason,
        "rps 480 over 2 instances (240 each), target 200 → 3; scale up 2 → 3 (step cap 4)"
    );
    let r = &d.recommendations[0];
    assert_eq!(r.metric, Metric::Rps);
    assert_eq!((r.value, r.per_instance, r.target), (480.0, 240.0, 200.0));
    assert_eq!((r.verdict, r.count), (Verdict::Up, 3));
}

#[test]
fn every_metric_follows_the_same_rule() {
    // (target, signals, current, expected count asked)
    let cases: Vec<(ScaleTarget, Signals, u32, u32)> = vec![
        (
            ScaleTarget {
                p95_ms: Some(150.0),
                ..ScaleTarget::default()
            },
            Signals {
                p95_ms: Some(300.0),
                ready: 3,
                ..Signals::default()
            },
            3,
            6,
        ),
        (
            ScaleTarget {
                cpu: Some(0.7),
                ..ScaleTarget::default()
            },
            Signals {
                cpu: Some(0.35),
                ready: 4,
                ..Signals::default()
            },
            4,
            2,
        ),
        (
            ScaleTarget {
                inflight: Some(20.0),
                ..ScaleTarget::default()
            },
            Signals {
                inflight: Some(100.0),
                ready: 2,
                ..Signals::default()
            },
            2,
            5,
        ),
        (
            ScaleTarget {
                metric: Some(custom("queue_depth", 100.0)),
                ..ScaleTarget::default()
            },
            Signals {
                custom: Some(250.0),
                ready: 1,
                ..Signals::default()
            },
            1,
            3,
        ),
    ];
    for (target, signals, current, want) in cases {
        let spec = with_target(rps_spec(1, 10, 1.0), target.clone());
        let d = one(&spec, &signals, current);
        assert_eq!(d.recommendations.len(), 1, "{target:?}");
        assert_eq!(d.recommendations[0].count, want, "{target:?}");
    }
}

#[test]
fn totals_are_divided_by_the_ready_instances_values_are_not() {
    let spec = with_target(
        rps_spec(1, 10, 1.0),
        ScaleTarget {
            rps: Some(100.0),
            p95_ms: Some(100.0),
            cpu: Some(0.5),
            inflight: Some(10.0),
            metric: Some(custom("jobs", 10.0)),
        },
    );
    let signals = Signals {
        rps: Some(400.0),
        p95_ms: Some(50.0),
        cpu: Some(0.25),
        inflight: Some(40.0),
        custom: Some(16.0),
        ready: 4,
        ..Signals::default()
    };
    let d = one(&spec, &signals, 4);
    let per: Vec<(String, f64)> = d
        .recommendations
        .iter()
        .map(|r| (r.metric.name().to_owned(), r.per_instance))
        .collect();
    assert_eq!(
        per,
        [
            ("rps".to_owned(), 100.0),
            ("p95_ms".to_owned(), 50.0),
            ("cpu".to_owned(), 0.25),
            ("inflight".to_owned(), 10.0),
            ("jobs".to_owned(), 4.0),
        ]
    );
}

#[test]
fn with_no_instance_ready_the_per_instance_value_is_the_total() {
    let spec = rps_spec(1, 10, 100.0);
    let d = one(&spec, &rps(250.0, 0), 1);
    let r = &d.recommendations[0];
    assert_eq!((r.per_instance, r.count), (250.0, 3));
    assert_eq!(d.desired, 2, "step cap from 1");
    assert!(d
        .reason
        .starts_with("rps 250 with no instance ready, target 100 → 3;"));
}

#[test]
fn a_single_instance_prints_no_share() {
    let d = one(&rps_spec(1, 10, 100.0), &rps(150.0, 1), 1);
    assert_eq!(
        d.reason,
        "rps 150 over 1 instance, target 100 → 2; scale up 1 → 2 (step cap 2)"
    );
}

// ---- tolerance ---------------------------------------------------------------

#[test]
fn inside_the_tolerance_band_nothing_moves() {
    let spec = rps_spec(1, 10, 100.0);
    for total in [180.0, 190.0, 200.0, 210.0, 220.0] {
        let d = one(&spec, &rps(total, 2), 2);
        assert_eq!(d.desired, 2, "{total}");
        assert!(!d.changed);
        assert_eq!(d.held_by, Some(Hold::Tolerance), "{total}");
        assert_eq!(d.recommendations[0].verdict, Verdict::Keep);
    }
    let d = one(&spec, &rps(220.0, 2), 2);
    assert_eq!(
        d.reason,
        "rps 220 over 2 instances (110 each), target 100: within tolerance; \
         every metric within 10% of its target: keeping 2"
    );
}

#[test]
fn just_outside_the_band_the_rule_acts() {
    let spec = ScaleSpec {
        max: 20,
        ..rps_spec(1, 10, 100.0)
    };
    // 111 per instance: up; ceil(10 × 1.11) = 12.
    let d = one(&spec, &rps(1110.0, 10), 10);
    assert_eq!((d.desired, d.recommendations[0].verdict), (12, Verdict::Up));
    // 89 per instance: down; ceil(10 × 0.89) = 9.
    let d = one(&spec, &rps(890.0, 10), 10);
    assert_eq!(
        (d.desired, d.recommendations[0].verdict),
        (9, Verdict::Down)
    );
}

#[test]
fn the_tolerance_is_configurable() {
    let strict = ScaleSpec {
        tolerance: 0.0,
        ..rps_spec(1, 10, 100.0)
    };
    assert_eq!(one(&strict, &rps(201.0, 2), 2).desired, 3);
    assert_eq!(
        one(&strict, &rps(200.0, 2), 2).held_by,
        Some(Hold::Tolerance)
    );
    let loose = ScaleSpec {
        tolerance: 0.5,
        ..rps_spec(1, 10, 100.0)
    };
    assert_eq!(one(&loose, &rps(290.0, 2), 2).desired, 2);
    assert_eq!(one(&loose, &rps(310.0, 2), 2).desired, 4);
    assert_eq!(one(&loose, &rps(110.0, 2), 2).desired, 2);
    assert_eq!(one(&loose, &rps(90.0, 2), 2).desired, 1);
}

#[test]
fn a_nonsense_tolerance_falls_back_to_the_default() {
    for tolerance in [f64::NAN, f64::INFINITY, -0.5] {
        let spec = ScaleSpec {
            tolerance,
            ..rps_spec(1, 10, 100.0)
        };
        assert_eq!(one(&spec, &rps(210.0, 2), 2).held_by, Some(Hold::Tolerance));
        assert_eq!(one(&spec, &rps(230.0, 2), 2).desired, 3);
    }
}

// ---- step cap ------------------------------------------------------------------

#[test]
fn a_scale_up_at_most_doubles_but_always_adds_one() {
    let mut d = Driver::new(rps_spec(1, 100, 10.0), 1);
    let counts = d.run(6, &rps(1000.0, 1));
    // the load needs 100 from the first second; the steps are 1 → 2 → 4 → 8 ...
    assert_eq!(counts, [2, 4, 8, 16, 32, 64]);
    assert_eq!(d.after(1000, &rps(1000.0, 1)).desired, 100);
}

#[test]
fn the_step_cap_is_reported() {
    let d = one(&rps_spec(1, 100, 10.0), &rps(1000.0, 2), 2);
    assert_eq!(d.desired, 4);
    assert_eq!(d.held_by, Some(Hold::StepCap { cap: 4 }));
    assert_eq!(
        d.reason,
        "rps 1000 over 2 instances (500 each), target 10 → 100; scale up 2 → 4 (step cap 4)"
    );
}

#[test]
fn other_step_factors() {
    let cases = [
        // (factor, from, to)
        (1.5, 2, 3),
        (1.5, 3, 5),
        (1.5, 10, 15),
        (1.1, 10, 11),
        (1.01, 1, 2),
        (1.01, 50, 51),
        (3.0, 2, 6),
        (1e300, 1, 100),
    ];
    for (factor, from, to) in cases {
        let spec = ScaleSpec {
            max_step_up: factor,
            ..rps_spec(1, 100, 1.0)
        };
        let d = one(&spec, &rps(1000.0, from), from);
        assert_eq!(d.desired, to, "{factor} from {from}");
    }
}

#[test]
fn a_nonsense_step_factor_still_adds_one_at_least() {
    for factor in [0.5, 1.0, -3.0, 0.0] {
        let spec = ScaleSpec {
            max_step_up: factor,
            ..rps_spec(1, 100, 1.0)
        };
        assert_eq!(one(&spec, &rps(1000.0, 4), 4).desired, 5, "{factor}");
    }
    for factor in [f64::NAN, f64::INFINITY] {
        let spec = ScaleSpec {
            max_step_up: factor,
            ..rps_spec(1, 100, 1.0)
        };
        assert_eq!(
            one(&spec, &rps(1000.0, 4), 4).desired,
            8,
            "{factor} → default 2"
        );
    }
}

// ---- cooldown ----------------------------------------------------------------

#[test]
fn scale_ups_wait_for_the_cooldown() {
    let spec = ScaleSpec {
        up_cooldown: Duration::from_secs(5),
        ..rps_spec(1, 100, 100.0)
    };
    let mut d = Driver::new(spec, 2);
    assert_eq!(d.step(&rps(2000.0, 2)).desired, 4);
    let held = d.after(s(2), &rps(2000.0, 4));
    assert_eq!(held.desired, 4);
    assert!(!held.changed);
    assert_eq!(
        held.held_by,
        Some(Hold::Cooldown {
            until_ms: T0 + s(5)
        })
    );
    assert_eq!(
        held.reason,
        "rps 2000 over 4 instances (500 each), target 100 → 20; held at 4: up_cooldown 5s \
         after the last scale-up, 3s more (until 2023-11-14T22:13:25.000Z)"
    );
    assert_eq!(d.after(2999, &rps(2000.0, 4)).desired, 4, "4.999 s");
    assert_eq!(d.after(1, &rps(2000.0, 4)).desired, 8, "5 s");
    assert_eq!(d.state.last_scale_up_ms, Some(T0 + s(5)));
}

#[test]
fn the_cooldown_does_not_hold_a_scale_down() {
    let spec = ScaleSpec {
        up_cooldown: Duration::from_secs(60),
        ..rps_spec(1, 100, 100.0)
    };
    let mut d = Driver::new(spec, 2);
    assert_eq!(d.step(&rps(400.0, 2)).desired, 4);
    assert_eq!(d.after(s(1), &rps(100.0, 4)).desired, 1);
}

#[test]
fn a_held_scale_up_is_still_remembered() {
    let spec = ScaleSpec {
        up_cooldown: Duration::from_secs(30),
        down_stabilization: Duration::from_secs(60),
        ..rps_spec(1, 100, 100.0)
    };
    let mut d = Driver::new(spec, 2);
    d.step(&rps(400.0, 2));
    let held = d.after(s(1), &rps(1600.0, 4));
    assert_eq!(held.desired, 4);
    assert_eq!(
        d.state.past.last(),
        Some(&Past {
            at_ms: T0 + s(1),
            count: 16
        })
    );
}

#[test]
fn a_clock_that_steps_back_keeps_the_cooldown() {
    let spec = ScaleSpec {
        up_cooldown: Duration::from_secs(5),
        ..rps_spec(1, 100, 100.0)
    };
    let state = State {
        desired: 2,
        last_scale_up_ms: Some(T0 + s(100)),
        ..State::default()
    };
    let d = decide(&spec, &rps(1000.0, 2), &state, T0);
    assert_eq!(d.desired, 2);
    assert_eq!(
        d.held_by,
        Some(Hold::Cooldown {
            until_ms: T0 + s(105)
        })
    );
}

// ---- stabilization -----------------------------------------------------------

fn stabilized() -> Driver {
    let spec = ScaleSpec {
        down_stabilization: Duration::from_secs(60),
        ..rps_spec(1, 100, 100.0)
    };
    Driver::new(spec, 4)
}

#[test]
fn a_dip_inside_the_window_keeps_the_higher_count() {
    let mut d = stabilized();
    assert_eq!(d.step(&rps(400.0, 4)).desired, 4);
    let dip = d.after(s(10), &rps(150.0, 4));
    assert_eq!(dip.desired, 4);
    assert_eq!(
        dip.held_by,
        Some(Hold::Stabilization {
            count: 4,
            until_ms: T0 + s(60)
        })
    );
    assert_eq!(
        dip.reason,
        "rps 150 over 4 instances (37.5 each), target 100 → 2; held at 4: down_stabilization 1m \
         remembers 4 from 10s ago; lower in 50s (at 2023-11-14T22:14:20.000Z)"
    );
    // 40 seconds of low load, then back up: never went down.
    assert!(d.run(40, &rps(150.0, 4)).iter().all(|&n| n == 4));
    assert_eq!(d.after(s(1), &rps(400.0, 4)).desired, 4);
}

#[test]
fn after_the_window_it_goes_down() {
    let mut d = stabilized();
    d.step(&rps(400.0, 4));
    let counts = d.run(60, &rps(150.0, 4));
    assert_eq!(counts[..59], [4; 59]);
    assert_eq!(counts[59], 2, "60 s after the last ask of 4");
    let last = d.after(0, &rps(150.0, 2));
    assert_eq!((last.desired, last.held_by), (2, None));
}

#[test]
fn the_window_steps_down_through_intermediate_asks() {
    let mut d = stabilized();
    d.step(&rps(400.0, 4));
    d.after(s(20), &rps(300.0, 4));
    // the ask of 3 at 20 s outlives the ask of 4 at 0 s.
    let partial = d.after(s(45), &rps(100.0, 4));
    assert_eq!(partial.desired, 3);
    assert!(partial.changed);
    assert_eq!(
        partial.held_by,
        Some(Hold::Stabilization {
            count: 3,
            until_ms: T0 + s(80)
        })
    );
    assert!(partial.reason.contains(
        "scale down 4 → 3, not to 1 yet: down_stabilization 1m remembers 3 from 45s ago"
    ));
    assert_eq!(d.after(s(15), &rps(100.0, 3)).desired, 1);
}

#[test]
fn the_highest_ask_in_the_window_wins_even_above_the_current_count() {
    // A scale-up held by the cooldown asked 16; a dip right after stays at 8.
    let spec = ScaleSpec {
        up_cooldown: Duration::from_secs(30),
        down_stabilization: Duration::from_secs(60),
        ..rps_spec(1, 100, 100.0)
    };
    let mut d = Driver::new(spec, 4);
    d.step(&rps(1600.0, 4));
    d.after(s(1), &rps(1600.0, 8));
    let dip = d.after(s(1), &rps(100.0, 8));
    assert_eq!(dip.desired, 8);
    assert_eq!(
        dip.held_by,
        Some(Hold::Stabilization {
            count: 16,
            until_ms: T0 + s(61)
        })
    );
}

#[test]
fn without_a_window_a_dip_goes_down_at_once() {
    let mut d = Driver::new(rps_spec(1, 100, 100.0), 4);
    assert_eq!(d.step(&rps(150.0, 4)).desired, 2);
}

#[test]
fn inside_the_tolerance_the_current_count_is_remembered() {
    let mut d = stabilized();
    d.step(&rps(400.0, 4));
    d.after(s(50), &rps(390.0, 4));
    // The ask of 4 at 0 s left the window; the tolerance ask at 50 s holds.
    let dip = d.after(s(15), &rps(100.0, 4));
    assert_eq!(dip.desired, 4);
    assert_eq!(
        dip.held_by,
        Some(Hold::Stabilization {
            count: 4,
            until_ms: T0 + s(110)
        })
    );
}

// ---- bounds ------------------------------------------------------------------

#[test]
fn never_above_max() {
    let d = one(&rps_spec(1, 5, 100.0), &rps(10_000.0, 4), 4);
    assert_eq!(d.desired, 5);
    assert_eq!(d.held_by, Some(Hold::Bounds { bound: 5 }));
    assert!(
        d.reason.ends_with("scale up 4 → 5 (step cap 8, max 5)"),
        "{}",
        d.reason
    );
    let at_max = one(&rps_spec(1, 5, 100.0), &rps(10_000.0, 5), 5);
    assert_eq!((at_max.desired, at_max.changed), (5, false));
    assert_eq!(at_max.held_by, Some(Hold::Bounds { bound: 5 }));
    assert!(at_max.reason.ends_with("; held at max 5"));
}

#[test]
fn never_below_min() {
    let d = one(&rps_spec(3, 10, 100.0), &rps(10.0, 6), 6);
    assert_eq!(d.desired, 3);
    assert_eq!(d.held_by, Some(Hold::Bounds { bound: 3 }));
    assert!(
        d.reason.ends_with("scale down 6 → 3 (min 3)"),
        "{}",
        d.reason
    );
    let at_min = one(&rps_spec(3, 10, 100.0), &rps(10.0, 3), 3);
    assert_eq!((at_min.desired, at_min.changed), (3, false));
    assert!(at_min.reason.ends_with("; held at min 3"));
}

#[test]
fn a_count_outside_changed_bounds_moves_in_at_once() {
    // The spec's max went from 10 to 4 while 6 ran; no cooldown or window applies.
    let spec = ScaleSpec {
        up_cooldown: Duration::from_secs(600),
        down_stabilization: Duration::from_secs(600),
        ..rps_spec(1, 4, 100.0)
    };
    let state = State {
        desired: 6,
        last_scale_up_ms: Some(T0),
        past: vec![Past {
            at_ms: T0,
            count: 6,
        }],
        ..State::default()
    };
    let d = decide(&spec, &rps(600.0, 6), &state, T0 + 1);
    assert_eq!((d.desired, d.changed), (4, true));
    assert_eq!(d.reason, "6 is outside the bounds 1..=4: 6 → 4");
    // ...and up to a raised min, even inside the cooldown.
    let spec = ScaleSpec { min: 3, ..spec };
    let state = State {
        desired: 1,
        ..state
    };
    let d = decide(&spec, &rps(0.0, 1), &state, T0 + 1);
    assert_eq!(d.desired, 3);
    assert_eq!(d.next.last_scale_up_ms, Some(T0 + 1));
}

#[test]
fn a_fresh_memory_starts_at_min() {
    let d = decide(&rps_spec(2, 10, 100.0), &rps(0.0, 0), &State::default(), T0);
    assert_eq!(d.desired, 2);
}

#[test]
fn max_below_min_in_a_hand_made_spec_means_min() {
    let spec = rps_spec(3, 1, 100.0);
    assert_eq!(one(&spec, &rps(10_000.0, 3), 3).desired, 3);
    assert_eq!(one(&spec, &rps(10_000.0, 3), 9).desired, 3);
}

#[test]
fn without_a_target_only_the_bounds_apply() {
    let spec = ScaleSpec {
        target: None,
        ..rps_spec(2, 6, 1.0)
    };
    let d = one(&spec, &rps(1e6, 4), 4);
    assert_eq!((d.desired, d.changed), (4, false));
    assert_eq!(d.held_by, Some(Hold::NoTarget));
    assert_eq!(d.reason, "no scale target: keeping 4 (bounds 2..=6)");
    assert!(d.recommendations.is_empty());
    assert_eq!(one(&spec, &rps(1e6, 4), 9).desired, 6);
    assert_eq!(one(&spec, &rps(1e6, 4), 1).desired, 2);
}

// ---- several metrics -----------------------------------------------------------

fn all_targets() -> ScaleSpec {
    with_target(
        rps_spec(1, 100, 1.0),
        ScaleTarget {
            rps: Some(100.0),
            p95_ms: Some(200.0),
            cpu: Some(0.5),
            inflight: Some(10.0),
            metric: Some(custom("queue_depth", 50.0)),
        },
    )
}

#[test]
fn the_largest_ask_wins() {
    let signals = Signals {
        rps: Some(400.0),     // 100 each: keep 4
        p95_ms: Some(300.0),  // 1.5: 6
        cpu: Some(0.75),      // 1.5: 6
        inflight: Some(70.0), // 1.75: 7
        custom: Some(100.0),  // 0.5: 2
        ready: 4,
        ..Signals::default()
    };
    let d = one(&all_targets(), &signals, 4);
    let asks: Vec<(Verdict, u32)> = d
        .recommendations
        .iter()
        .map(|r| (r.verdict, r.count))
        .collect();
    assert_eq!(
        asks,
        [
            (Verdict::Keep, 4),
            (Verdict::Up, 6),
            (Verdict::Up, 6),
            (Verdict::Up, 7),
            (Verdict::Down, 2),
        ]
    );
    assert_eq!(d.desired, 7);
    assert!(d
        .reason
        .starts_with("inflight 70 over 4 instances (17.5 each), target 10 → 7;"));
}

#[test]
fn on_a_tie_the_first_metric_in_the_spec_order_explains() {
    let signals = Signals {
        rps: Some(800.0),
        p95_ms: Some(400.0),
        ready: 4,
        ..Signals::default()
    };
    let d = one(&all_targets(), &signals, 4);
    assert_eq!(d.desired, 8);
    assert!(d.reason.starts_with("rps 800"), "{}", d.reason);
}

#[test]
fn one_metric_over_target_beats_all_others_under() {
    let signals = Signals {
        rps: Some(10.0),
        p95_ms: Some(10.0),
        cpu: Some(0.9),
        inflight: Some(1.0),
        custom: Some(0.0),
        ready: 4,
        ..Signals::default()
    };
    assert_eq!(one(&all_targets(), &signals, 4).desired, 8);
}

#[test]
fn a_metric_within_tolerance_keeps_the_count_against_others_under() {
    let signals = Signals {
        rps: Some(10.0),
        cpu: Some(0.5),
        ready: 4,
        ..Signals::default()
    };
    let d = one(&all_targets(), &signals, 4);
    assert_eq!((d.desired, d.held_by.clone()), (4, None));
    assert!(d
        .reason
        .ends_with("; keeping 4; no data for p95_ms, inflight, queue_depth"));
}

// ---- missing and non-finite data ---------------------------------------------

#[test]
fn no_data_for_any_target_is_no_action() {
    let spec = with_target(
        rps_spec(1, 10, 1.0),
        ScaleTarget {
            rps: Some(100.0),
            cpu: Some(0.5),
            ..ScaleTarget::default()
        },
    );
    let signals = Signals {
        p95_ms: Some(1e6),
        ready: 3,
        ..Signals::default()
    };
    let d = one(&spec, &signals, 3);
    assert_eq!((d.desired, d.changed), (3, false));
    assert_eq!(
        d.held_by,
        Some(Hold::MissingMetrics {
            missing: vec![Metric::Rps, Metric::Cpu]
        })
    );
    assert_eq!(
        d.reason,
        "no data for rps, cpu (missing, stale or not a finite number): keeping 3"
    );
    assert!(d.recommendations.is_empty());
}

#[test]
fn no_data_neither_scales_down_nor_forgets_the_window() {
    let mut d = stabilized();
    d.step(&rps(800.0, 4));
    let before = d.state.past.clone();
    let blind = d.after(s(1), &Signals::default());
    assert_eq!(blind.desired, 8);
    assert_eq!(blind.next.past, before);
}

#[test]
fn some_data_missing_acts_on_the_rest_and_says_so() {
    let spec = with_target(
        rps_spec(1, 10, 1.0),
        ScaleTarget {
            rps: Some(100.0),
            cpu: Some(0.5),
            ..ScaleTarget::default()
        },
    );
    let d = one(&spec, &rps(600.0, 2), 2);
    assert_eq!(d.desired, 4);
    assert_eq!(
        d.reason,
        "rps 600 over 2 instances (300 each), target 100 → 6; scale up 2 → 4 (step cap 4); no data for cpu"
    );
}

#[test]
fn non_finite_and_negative_values_are_missing() {
    let spec = all_targets();
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
        let signals = Signals {
            rps: Some(bad),
            p95_ms: Some(bad),
            cpu: Some(bad),
            inflight: Some(bad),
            custom: Some(bad),
            ready: 4,
            ..Signals::default()
        };
        let d = one(&spec, &signals, 4);
        assert_eq!(d.desired, 4, "{bad}");
        assert!(
            matches!(&d.held_by, Some(Hold::MissingMetrics { missing }) if missing.len() == 5),
            "{bad}: {:?}",
            d.held_by
        );
    }
}

#[test]
fn a_non_finite_value_beside_a_good_one_is_skipped() {
    let signals = Signals {
        rps: Some(f64::NAN),
        cpu: Some(1.0),
        ready: 2,
        ..Signals::default()
    };
    let d = one(&all_targets(), &signals, 2);
    assert_eq!(d.recommendations.len(), 1);
    assert_eq!(d.desired, 4);
}

#[test]
fn huge_values_saturate_to_max() {
    let spec = ScaleSpec {
        max_step_up: 1e308,
        ..rps_spec(1, 10_000, 1e-300)
    };
    let d = one(&spec, &rps(f64::MAX, 1), 1);
    assert_eq!(d.recommendations[0].count, u32::MAX);
    assert_eq!(d.desired, 10_000);
    let d = one(&spec, &rps(f64::MAX, u32::MAX), u32::MAX);
    assert_eq!(d.desired, 10_000);
}

#[test]
fn unusable_targets_in_a_hand_made_spec_are_not_targets() {
    let spec = with_target(
        rps_spec(1, 10, 1.0),
        ScaleTarget {
            rps: Some(0.0),
            p95_ms: Some(f64::NAN),
            cpu: Some(-1.0),
            inflight: Some(f64::INFINITY),
            metric: Some(custom("q", 0.0)),
        },
    );
    let d = one(&spec, &rps(1e6, 2), 2);
    assert_eq!((d.desired, d.held_by), (2, Some(Hold::NoTarget)));
}

#[test]
fn extreme_times_and_durations_do_not_panic() {
    let spec = ScaleSpec {
        up_cooldown: Duration::MAX,
        down_stabilization: Duration::MAX,
        idle_after: Duration::MAX,
        ..rps_spec(0, 10, 100.0)
    };
    let state = State {
        desired: 3,
        last_scale_up_ms: Some(u64::MAX),
        last_change_ms: Some(u64::MAX),
        past: vec![Past {
            at_ms: u64::MAX,
            count: u32::MAX,
        }],
        since_ms: Some(u64::MAX),
    };
    for now in [0, 1, T0, u64::MAX] {
        for signals in [rps(1e9, 3), rps(0.0, 3), quiet(3, u64::MAX)] {
            let d = decide(&spec, &signals, &state, now);
            assert!(d.desired <= 10);
            assert!(!d.reason.is_empty());
        }
    }
}

// ---- starting instances ------------------------------------------------------

#[test]
fn starting_instances_are_not_added_again() {
    // 4 asked: 2 serve, 2 start. 420 rps is 210 per serving instance (2.1 × target),
    // but 105 over the 4 there will be: within tolerance once they serve.
    let spec = rps_spec(1, 100, 100.0);
    let signals = Signals {
        starting: 2,
        ..rps(420.0, 2)
    };
    let d = one(&spec, &signals, 4);
    assert_eq!((d.desired, d.changed), (4, false));
    assert_eq!(d.held_by, Some(Hold::Starting { starting: 2 }));
    assert_eq!(d.recommendations[0].verdict, Verdict::Absorbed);
    assert_eq!(
        d.reason,
        "rps 420 over 2 instances (210 each), target 100: the 2 starting will carry it; keeping 4"
    );
}

#[test]
fn more_load_than_the_starting_instances_take_adds_only_the_difference() {
    // 1000 rps needs 10 in all; 4 are asked (2 starting): 10, not 2 + 10.
    let spec = ScaleSpec {
        max_step_up: 10.0,
        ..rps_spec(1, 100, 100.0)
    };
    let signals = Signals {
        starting: 2,
        ..rps(1000.0, 2)
    };
    let d = one(&spec, &signals, 4);
    assert_eq!(d.recommendations[0].count, 10);
    assert_eq!(d.desired, 10);
}

#[test]
fn a_wave_of_starts_does_not_snowball() {
    // The platform is slow: an instance serves 10 s after it is asked for. The
    // load (820 rps) is 8.2 instances' worth: 8 are within tolerance.
    let mut d = Driver::new(rps_spec(1, 100, 100.0), 2);
    let mut asked_at: Vec<u64> = vec![0, 0];
    let mut seen = Vec::new();
    for sec in 100..=160u64 {
        let want = d.state.desired as usize;
        while asked_at.len() < want {
            asked_at.push(sec);
        }
        asked_at.truncate(want);
        let ready = asked_at.iter().filter(|&&t| sec >= t + 10).count() as u32;
        let starting = asked_at.len() as u32 - ready;
        let signals = Signals {
            starting,
            ..rps(820.0, ready)
        };
        seen.push(d.after(1000, &signals).desired);
    }
    // 2 → 4 (step cap) → 8 (step cap), then the 6 starting are counted: never 9.
    assert_eq!(seen[..3], [4, 8, 8]);
    assert!(seen.iter().all(|&n| n <= 8), "{seen:?}");
    assert_eq!(d.state.desired, 8);
}

#[test]
fn going_down_ignores_starting_instances() {
    let spec = rps_spec(1, 100, 100.0);
    let signals = Signals {
        starting: 4,
        ..rps(100.0, 2)
    };
    assert_eq!(one(&spec, &signals, 6).desired, 1);
}

// ---- the memory ----------------------------------------------------------------

#[test]
fn the_memory_records_changes_and_scale_ups() {
    let mut d = stabilized();
    let up = d.step(&rps(800.0, 4));
    assert_eq!(up.next.last_scale_up_ms, Some(T0));
    assert_eq!(up.next.last_change_ms, Some(T0));
    assert_eq!(up.next.desired, 8);
    let same = d.after(s(1), &rps(800.0, 8));
    assert_eq!(same.next.last_change_ms, Some(T0));
    let down = d.after(s(61), &rps(100.0, 8));
    assert_eq!(down.desired, 1);
    assert_eq!(down.next.last_scale_up_ms, Some(T0));
    assert_eq!(down.next.last_change_ms, Some(T0 + s(62)));
}

#[test]
fn the_memory_stays_small_over_a_day() {
    let spec = ScaleSpec {
        down_stabilization: Duration::from_secs(3600),
        ..rps_spec(1, 10_000, 1.0)
    };
    let mut d = Driver::new(spec, 100);
    for i in 0..86_400u64 {
        let load = 100.0 + ((i * 7919) % 9_000) as f64;
        d.after(1000, &rps(load, d.state.desired));
        assert!(d.state.past.len() <= crate::MAX_PAST);
    }
}

#[test]
fn a_decision_and_its_memory_serialize() {
    let d = one(&all_targets(), &rps(900.0, 3), 3);
    let json = serde_json::to_string(&d).expect("serialize");
    let back: crate::Decision = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, d);
    let old: State = serde_json::from_str(r#"{"desired":3}"#).expect("an older state decodes");
    assert_eq!(old, State::new(3));
    let hold = serde_json::to_value(Hold::Cooldown { until_ms: 5 }).expect("hold");
    assert_eq!(hold, serde_json::json!({"kind": "cooldown", "until_ms": 5}));
}

#[test]
fn the_decision_displays_as_its_reason() {
    let d = one(&rps_spec(1, 10, 200.0), &rps(480.0, 2), 2);
    assert_eq!(d.to_string(), d.reason);
    let holds = [
        (
            Hold::Cooldown { until_ms: 0 },
            "up_cooldown until 1970-01-01T00:00:00.000Z",
        ),
        (
            Hold::Stabilization {
                count: 4,
                until_ms: 1000,
            },
            "down_stabilization: 4 asked, in the window until 1970-01-01T00:00:01.000Z",
        ),
        (Hold::Tolerance, "every metric within tolerance"),
        (Hold::Starting { starting: 2 }, "2 instances starting"),
        (Hold::Bounds { bound: 10 }, "bound 10"),
        (Hold::StepCap { cap: 4 }, "max_step_up cap 4"),
        (
            Hold::MissingMetrics {
                missing: vec![Metric::Rps, Metric::Custom("q".into())],
            },
            "no data for rps, q",
        ),
        (Hold::NoTarget, "no target"),
    ];
    for (hold, text) in holds {
        assert_eq!(hold.to_string(), text);
    }
}

#[test]
fn a_platform_that_follows_settles_at_what_carries_the_load() {
    let mut d = Driver::new(rps_spec(1, 100, 100.0), 1);
    let counts = d.run_following(8, 1000.0);
    // 125 per instance at 8 is over the band: 10, then 100 each.
    assert_eq!(counts, [2, 4, 8, 10, 10, 10, 10, 10]);
    let mut d = Driver::new(rps_spec(1, 100, 100.0), 20);
    assert_eq!(d.run_following(3, 1000.0), [10, 10, 10]);
}

#[test]
fn the_words_of_a_plain_decision() {
    let spec = with_target(
        rps_spec(1, 10, 1.0),
        ScaleTarget {
            p95_ms: Some(150.0),
            cpu: Some(0.7),
            ..ScaleTarget::default()
        },
    );
    let latency = Signals {
        p95_ms: Some(300.0),
        ready: 3,
        ..Signals::default()
    };
    assert_eq!(
        one(&spec, &latency, 3).reason,
        "p95_ms 300, target 150 → 6; scale up 3 → 6 (step cap 6); no data for cpu"
    );
    let idle_cpu = Signals {
        cpu: Some(0.35),
        ready: 4,
        ..Signals::default()
    };
    let down = one(&spec, &idle_cpu, 4);
    assert_eq!(
        down.reason,
        "cpu 0.35, target 0.7 → 2; scale down 4 → 2; no data for p95_ms"
    );
    assert_eq!(down.held_by, None);
    // 5 asked but only 2 serve, at 1.5 × target: 3 would do, 5 are kept (as HPA).
    let placing = Signals {
        cpu: Some(1.05),
        ready: 2,
        ..Signals::default()
    };
    let kept = one(&spec, &placing, 5);
    assert_eq!((kept.desired, kept.held_by.clone()), (5, None));
    assert_eq!(
        kept.reason,
        "cpu 1.05, target 0.7 → 5; keeping 5; no data for p95_ms"
    );
}
