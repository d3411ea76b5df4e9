//! Property tests of [`decide`]: random specs, memories and signal sequences; the count
//! stays in bounds, respects the step cap, the cooldown and the window, and settles
//! without oscillating under constant load.

use std::time::Duration;

use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, proptest, Just, ProptestConfig};
use proptest::prop_oneof;
use proptest::strategy::Strategy;
use shoal_spec::{ScaleSpec, ScaleTarget};

use crate::test_support::{custom, T0};
use crate::{decide, Decision, Past, Signals, State};

/// A per-instance target or none.
fn target_value(lo: f64, hi: f64) -> impl Strategy<Value = Option<f64>> {
    prop::option::of(lo..hi)
}

fn targets() -> impl Strategy<Value = Option<ScaleTarget>> {
    prop::option::weighted(
        0.9,
        (
            target_value(1.0, 500.0),
            target_value(10.0, 2000.0),
            target_value(0.05, 1.0),
            target_value(1.0, 100.0),
            target_value(1.0, 1000.0),
        )
            .prop_map(|(rps, p95_ms, cpu, inflight, per)| ScaleTarget {
                rps,
                p95_ms,
                cpu,
                inflight,
                metric: per.map(|p| custom("queue_depth", p)),
            }),
    )
}

/// Specs as the parser accepts them, with pacing short enough to settle within
/// 210 s (20 steps of at most 10 s up, a window of at most 60 s, idle after at most 200 s).
fn specs() -> impl Strategy<Value = ScaleSpec> {
    (
        0u32..4,
        0u32..17,
        targets(),
        0u64..=10,
        0u64..=60,
        0.0f64..0.5,
        1.01f64..4.0,
        1u64..200,
    )
        .prop_map(
            |(min, extra, target, cooldown, window, tolerance, step, idle)| ScaleSpec {
                min,
                max: (min + extra).max(1),
                target,
                up_cooldown: Duration::from_secs(cooldown),
                down_stabilization: Duration::from_secs(window),
                tolerance,
                max_step_up: step,
                idle_after: Duration::from_secs(idle),
            },
        )
}

/// A measurement: mostly sane, sometimes missing or garbage.
fn measurement(hi: f64) -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        6 => (0.0..hi).prop_map(Some),
        2 => Just(None),
        1 => Just(Some(0.0)),
        1 => prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-1.0),
            Just(f64::MAX),
            any::<f64>()
        ]
        .prop_map(Some),
    ]
}

/// Any signals, consistent or not.
fn signals() -> impl Strategy<Value = Signals> {
    (
        measurement(5000.0),
        measurement(2000.0),
        measurement(1.5),
        measurement(500.0),
        measurement(2000.0),
        0u32..30,
        0u32..10,
        prop::option::of(0u64..1_000_000),
        any::<bool>(),
    )
        .prop_map(
            |(rps, p95_ms, cpu, inflight, custom, ready, starting, idle_ms, wake)| Signals {
                rps,
                p95_ms,
                cpu,
                inflight,
                custom,
                ready,
                starting,
                idle_ms,
                wake,
            },
        )
}

/// Signals a real loop could send: finite, and no long idleness while requests flow.
fn consistent_signals() -> impl Strategy<Value = Signals> {
    signals().prop_map(|s| {
        let mut s = s.sanitized();
        if s.demand() {
            s.idle_ms = s.idle_ms.map(|ms| ms.min(1000));
        }
        s
    })
}

/// A memory from earlier decisions, possibly odd (times ahead of the clock).
fn states() -> impl Strategy<Value = State> {
    (
        0u32..25,
        prop::option::of(T0 - 100_000..T0 + 10_000),
        prop::collection::vec((T0 - 200_000..T0 + 5_000, 0u32..40), 0..8),
        prop::option::of(T0 - 300_000..T0),
    )
        .prop_map(|(desired, last_up, past, since_ms)| State {
            desired,
            last_scale_up_ms: last_up,
            last_change_ms: last_up,
            past: past
                .into_iter()
                .map(|(at_ms, count)| Past { at_ms, count })
                .collect(),
            since_ms,
        })
}

fn hi(spec: &ScaleSpec) -> u32 {
    spec.max.max(spec.min)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The promises of one decision, given the memory before it.
fn check(spec: &ScaleSpec, before: &State, now: u64, d: &Decision) -> Result<(), String> {
    let prev = before.desired;
    let (lo, hi) = (spec.min, hi(spec));
    let fail = |what: &str| Err(format!("{what}: {prev} → {} ({})", d.desired, d.reason));
    if d.desired < lo || d.desired > hi {
        return fail("out of bounds");
    }
    if d.next.desired != d.desired || d.changed != (d.desired != prev) {
        return fail("memory or flag inconsistent");
    }
    let in_bounds = (lo..=hi).contains(&prev);
    if d.desired > prev && in_bounds && prev > 0 {
        let cap = (prev + 1).max((f64::from(prev) * spec.max_step_up).ceil() as u32);
        if d.desired > cap {
            return fail("step cap exceeded");
        }
        if let Some(last) = before.last_scale_up_ms {
            if now < last.saturating_add(ms(spec.up_cooldown)) {
                return fail("scale-up inside the cooldown");
            }
        }
    }
    if d.desired > prev && in_bounds && prev == 0 && d.desired != 1 {
        return fail("woke to more than one");
    }
    if d.desired < prev && in_bounds && d.desired > 0 {
        let window = ms(spec.down_stabilization);
        let held = before
            .past
            .iter()
            .filter(|p| now.saturating_sub(p.at_ms) < window)
            .map(|p| p.count.min(prev))
            .max()
            .unwrap_or(0);
        if d.desired < held {
            return fail("scaled below an ask still in the window");
        }
    }
    Ok(())
}

/// `counts` only rises or only falls.
fn monotonic(counts: &[u32]) -> bool {
    let up = counts.windows(2).all(|w| w[0] <= w[1]);
    let down = counts.windows(2).all(|w| w[0] >= w[1]);
    up || down
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Whatever the spec, memory and signals: in bounds, within the step cap, no
    /// scale-up in the cooldown, no scale-down below the window's asks.
    #[test]
    fn every_decision_keeps_its_promises(
        spec in specs(),
        state in states(),
        steps in prop::collection::vec((0u64..8_000, signals()), 1..60),
    ) {
        let mut state = state;
        let mut now = T0;
        for (dt, signals) in steps {
            now += dt;
            let d = decide(&spec, &signals, &state, now);
            if let Err(e) = check(&spec, &state, now, &d) {
                prop_assert!(false, "{e}\nspec {spec:?}\nsignals {signals:?}\nstate {state:?}");
            }
            state = d.next;
        }
    }

    /// More load never means fewer instances: the same moment with every
    /// measurement higher decides at least as many.
    #[test]
    fn more_load_never_means_fewer_instances(
        spec in specs(),
        state in states(),
        signals in consistent_signals(),
        factor in 1.0f64..5.0,
        extra in 0.0f64..100.0,
    ) {
        // Higher, and still finite (an infinite one would count as missing).
        let more = |v: Option<f64>| v.map(|x| (x * factor + extra).min(f64::MAX));
        let busier = Signals {
            rps: more(signals.rps),
            p95_ms: more(signals.p95_ms),
            cpu: more(signals.cpu),
            inflight: more(signals.inflight),
            custom: more(signals.custom),
            ..signals.clone()
        };
        let calm = decide(&spec, &signals, &state, T0);
        let busy = decide(&spec, &busier, &state, T0);
        prop_assert!(
            calm.desired <= busy.desired,
            "{} ({}) > {} ({})",
            calm.desired,
            calm.reason,
            busy.desired,
            busy.reason
        );
    }

    /// Instances already starting never make the decision add more (they are
    /// capacity on its way, not a reason to add).
    #[test]
    fn starting_instances_never_add_instances(
        spec in specs(),
        state in states(),
        signals in consistent_signals(),
        more in 1u32..10,
    ) {
        let later = Signals {
            starting: signals.starting + more,
            ..signals.clone()
        };
        let before = decide(&spec, &signals, &state, T0);
        let after = decide(&spec, &later, &state, T0);
        prop_assert!(after.desired <= before.desired, "{} then {}", before.reason, after.reason);
    }

    /// Pure: the same inputs decide the same, memory and words included.
    #[test]
    fn the_same_inputs_decide_the_same(
        spec in specs(),
        state in states(),
        signals in signals(),
        now in T0 - 100_000..T0 + 100_000,
    ) {
        prop_assert_eq!(
            decide(&spec, &signals, &state, now),
            decide(&spec, &signals, &state, now)
        );
    }

    /// Under the same signals every second for 300 s the count moves one way only,
    /// then stays.
    #[test]
    fn constant_load_settles_without_oscillation(
        spec in specs(),
        signals in consistent_signals(),
        start in 0u32..20,
    ) {
        let mut state = State::new(start.clamp(spec.min, hi(&spec)));
        let mut counts = vec![state.desired];
        for sec in 1..=300u64 {
            let d = decide(&spec, &signals, &state, T0 + sec * 1000);
            counts.push(d.desired);
            state = d.next;
        }
        prop_assert!(monotonic(&counts), "{counts:?}\n{spec:?}\n{signals:?}");
        let tail = &counts[210..];
        prop_assert!(tail.iter().all(|&n| n == tail[0]), "not settled: {counts:?}");
    }

    /// A platform that serves every asked instance a second later, a constant total
    /// rate: the count climbs (or falls) once to what carries the load.
    #[test]
    fn a_following_platform_converges(
        spec in specs(),
        total in 0.0f64..5000.0,
        rps_target in 1.0f64..500.0,
        start in 0u32..20,
    ) {
        let spec = ScaleSpec {
            target: Some(ScaleTarget { rps: Some(rps_target), ..ScaleTarget::default() }),
            ..spec
        };
        let (lo, hi) = (spec.min, hi(&spec));
        let mut state = State::new(start.clamp(lo, hi));
        let mut counts = vec![state.desired];
        for sec in 1..=300u64 {
            let signals = Signals {
                rps: Some(total),
                ready: state.desired,
                idle_ms: Some(if total > 0.0 { 0 } else { sec * 1000 }),
                ..Signals::default()
            };
            let d = decide(&spec, &signals, &state, T0 + sec * 1000);
            counts.push(d.desired);
            state = d.next;
        }
        prop_assert!(monotonic(&counts), "{counts:?}");
        let last = state.desired;
        prop_assert_eq!(counts[210..].iter().filter(|&&n| n != last).count(), 0);
        if last > 0 && last > lo && last < hi {
            let ratio = total / f64::from(last) / rps_target;
            let needed = (total / rps_target).ceil() as u32;
            prop_assert!(
                (ratio - 1.0).abs() <= spec.tolerance + 1e-9 || last == needed,
                "settled at {last} for {total} rps at {rps_target} each: {counts:?}"
            );
        }
    }

    /// Garbage in (any float, count, time or duration): a count in bounds out, no panic.
    #[test]
    fn decide_is_total(
        min in any::<u32>(),
        max in any::<u32>(),
        tolerance in any::<f64>(),
        step in any::<f64>(),
        durations in (any::<u64>(), any::<u64>(), any::<u64>()),
        target in (any::<f64>(), any::<f64>(), any::<f64>()),
        values in (any::<f64>(), any::<f64>(), any::<f64>(), any::<f64>(), any::<f64>()),
        counts in (any::<u32>(), any::<u32>(), any::<Option<u64>>(), any::<bool>()),
        memory in (
            any::<u32>(),
            any::<Option<u64>>(),
            prop::collection::vec((any::<u64>(), any::<u32>()), 0..5),
            any::<Option<u64>>(),
        ),
        now in any::<u64>(),
    ) {
        let spec = ScaleSpec {
            min,
            max,
            target: Some(ScaleTarget {
                rps: Some(target.0),
                p95_ms: Some(target.1),
                cpu: Some(target.2),
                inflight: Some(target.0.abs()),
                metric: Some(custom("m", target.1.abs())),
            }),
            up_cooldown: Duration::from_millis(durations.0),
            down_stabilization: Duration::from_millis(durations.1),
            tolerance,
            max_step_up: step,
            idle_after: Duration::from_millis(durations.2),
        };
        let signals = Signals {
            rps: Some(values.0),
            p95_ms: Some(values.1),
            cpu: Some(values.2),
            inflight: Some(values.3),
            custom: Some(values.4),
            ready: counts.0,
            starting: counts.1,
            idle_ms: counts.2,
            wake: counts.3,
        };
        let (desired, last_scale_up_ms, past, since_ms) = memory;
        let state = State {
            desired,
            last_scale_up_ms,
            last_change_ms: None,
            past: past.into_iter().map(|(at_ms, count)| Past { at_ms, count }).collect(),
            since_ms,
        };
        let d = decide(&spec, &signals, &state, now);
        prop_assert!(d.desired >= min && d.desired <= max.max(min));
        prop_assert!(d.next.past.len() <= crate::MAX_PAST.max(state.past.len() + 1));
        prop_assert!(!d.reason.is_empty());
    }
}
