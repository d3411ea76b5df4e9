//! Tests of one metric's rule: per-instance values, the tolerance band, starting instances, direction, rounding.

use shoal_spec::{MetricKind, MetricTarget, ScaleTarget};

use super::*;

fn counts(ready: u32, starting: u32, current: u32) -> Counts {
    Counts {
        ready,
        starting,
        current,
    }
}

fn ask(metric: Metric, value: f64, target: f64, c: Counts) -> (Verdict, u32) {
    let r = recommend(metric, value, target, c, 0.1);
    (r.verdict, r.count)
}

#[test]
fn names_and_kinds() {
    let all = [
        (Metric::Rps, "rps", true),
        (Metric::P95Ms, "p95_ms", false),
        (Metric::Cpu, "cpu", false),
        (Metric::Inflight, "inflight", true),
        (Metric::Custom("queue_depth".into()), "queue_depth", true),
    ];
    for (m, name, total) in all {
        assert_eq!((m.name(), m.is_total()), (name, total));
        assert_eq!(m.to_string(), name);
    }
}

#[test]
fn each_metric_reads_its_own_signal() {
    let s = Signals {
        rps: Some(1.0),
        p95_ms: Some(2.0),
        cpu: Some(3.0),
        inflight: Some(4.0),
        custom: Some(5.0),
        ..Signals::default()
    };
    let got: Vec<Option<f64>> = [
        Metric::Rps,
        Metric::P95Ms,
        Metric::Cpu,
        Metric::Inflight,
        Metric::Custom("x".into()),
    ]
    .iter()
    .map(|m| m.value(&s))
    .collect();
    assert_eq!(got, [Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(5.0)]);
    let bad = Signals {
        rps: Some(f64::NAN),
        ..Signals::default()
    };
    assert_eq!(Metric::Rps.value(&bad), None);
}

#[test]
fn targets_come_in_the_spec_order_and_skip_unusable_ones() {
    assert!(Metric::targets(None).is_empty());
    assert!(Metric::targets(Some(&ScaleTarget::default())).is_empty());
    let t = ScaleTarget {
        rps: Some(200.0),
        p95_ms: Some(0.0),
        cpu: Some(0.7),
        inflight: Some(f64::NAN),
        metric: Some(MetricTarget {
            name: "jobs".into(),
            per_instance: 5.0,
            kind: MetricKind::Rate,
        }),
    };
    assert_eq!(
        Metric::targets(Some(&t)),
        [
            (Metric::Rps, 200.0),
            (Metric::Cpu, 0.7),
            (Metric::Custom("jobs".into()), 5.0)
        ]
    );
}

#[test]
fn totals_are_shared_by_the_ready_instances() {
    let r = recommend(Metric::Rps, 600.0, 100.0, counts(3, 0, 3), 0.1);
    assert_eq!((r.per_instance, r.ratio), (200.0, 2.0));
    assert_eq!((r.verdict, r.count), (Verdict::Up, 6));
    let r = recommend(Metric::Inflight, 600.0, 100.0, counts(3, 0, 3), 0.1);
    assert_eq!((r.per_instance, r.count), (200.0, 6));
    let r = recommend(
        Metric::Custom("q".into()),
        50.0,
        100.0,
        counts(2, 0, 2),
        0.1,
    );
    assert_eq!(
        (r.per_instance, r.verdict, r.count),
        (25.0, Verdict::Down, 1)
    );
}

#[test]
fn per_instance_values_are_taken_as_they_are() {
    let r = recommend(Metric::P95Ms, 300.0, 100.0, counts(3, 0, 3), 0.1);
    assert_eq!((r.per_instance, r.ratio, r.count), (300.0, 3.0, 9));
    let r = recommend(Metric::Cpu, 0.2, 0.8, counts(8, 0, 8), 0.1);
    assert_eq!(
        (r.per_instance, r.verdict, r.count),
        (0.2, Verdict::Down, 2)
    );
}

#[test]
fn with_none_ready_one_instance_is_assumed() {
    let r = recommend(Metric::Rps, 250.0, 100.0, counts(0, 0, 1), 0.1);
    assert_eq!((r.per_instance, r.count), (250.0, 3));
    let r = recommend(Metric::P95Ms, 250.0, 100.0, counts(0, 0, 1), 0.1);
    assert_eq!((r.per_instance, r.count), (250.0, 3));
    let r = recommend(Metric::Rps, 0.0, 100.0, counts(0, 0, 1), 0.1);
    assert_eq!((r.verdict, r.count), (Verdict::Down, 0));
}

#[test]
fn the_band_edges_are_inside() {
    let c = counts(10, 0, 10);
    assert_eq!(ask(Metric::Rps, 1100.0, 100.0, c), (Verdict::Keep, 10));
    assert_eq!(ask(Metric::Rps, 900.0, 100.0, c), (Verdict::Keep, 10));
    assert_eq!(ask(Metric::Cpu, 0.77, 0.7, c), (Verdict::Keep, 10));
    assert_eq!(ask(Metric::Cpu, 0.63, 0.7, c), (Verdict::Keep, 10));
    assert_eq!(ask(Metric::Rps, 1101.0, 100.0, c), (Verdict::Up, 12));
    assert_eq!(ask(Metric::Rps, 899.0, 100.0, c), (Verdict::Down, 9));
}

#[test]
fn inside_the_band_the_ask_is_the_current_count_not_ready() {
    // 5 asked, 3 serve at target: keep 5 (the 2 others may still be placed).
    assert_eq!(
        ask(Metric::Rps, 300.0, 100.0, counts(3, 0, 5)),
        (Verdict::Keep, 5)
    );
}

#[test]
fn over_target_never_asks_for_fewer_than_current() {
    // 2 serve at 1.5 × target: 3 would do, but 5 are asked (others not placed yet).
    assert_eq!(
        ask(Metric::Rps, 300.0, 100.0, counts(2, 0, 5)),
        (Verdict::Up, 5)
    );
}

#[test]
fn under_target_never_asks_for_more_than_current() {
    // 8 serve at 0.5 × target while only 3 are asked (a surge during a deploy).
    assert_eq!(
        ask(Metric::Rps, 400.0, 100.0, counts(8, 0, 3)),
        (Verdict::Down, 3)
    );
}

#[test]
fn starting_instances_absorb_what_they_will_carry() {
    // 2 ready at 2 × target, 2 starting: 1 × target over 4.
    assert_eq!(
        ask(Metric::Rps, 400.0, 100.0, counts(2, 2, 4)),
        (Verdict::Absorbed, 4)
    );
    // 2.2 × over 2 ready, 2 starting: 1.1 × over 4 (the band's edge).
    assert_eq!(
        ask(Metric::Rps, 440.0, 100.0, counts(2, 2, 4)),
        (Verdict::Absorbed, 4)
    );
    // 3 × over 2 ready, 2 starting: 1.5 × over 4 → 6 in all, not 4 + 6.
    assert_eq!(
        ask(Metric::Rps, 600.0, 100.0, counts(2, 2, 4)),
        (Verdict::Up, 6)
    );
    // None ready yet: the total is shared by the starting ones.
    assert_eq!(
        ask(Metric::Rps, 300.0, 100.0, counts(0, 3, 3)),
        (Verdict::Absorbed, 3)
    );
    assert_eq!(
        ask(Metric::Rps, 500.0, 100.0, counts(0, 3, 3)),
        (Verdict::Up, 5)
    );
    // The same for values already per instance (HPA: starting instances at 0 %).
    assert_eq!(
        ask(Metric::Cpu, 0.9, 0.5, counts(2, 2, 4)),
        (Verdict::Absorbed, 4)
    );
    assert_eq!(
        ask(Metric::Cpu, 0.9, 0.3, counts(2, 2, 4)),
        (Verdict::Up, 6)
    );
}

#[test]
fn starting_instances_do_not_matter_going_down() {
    assert_eq!(
        ask(Metric::Rps, 100.0, 100.0, counts(2, 6, 8)),
        (Verdict::Down, 1)
    );
}

#[test]
fn float_noise_does_not_add_an_instance() {
    // 0.1 + 0.2 style noise: 3 × 0.7 / 0.7 ...
    let r = recommend(Metric::Cpu, 0.7 * 3.0, 0.7, counts(1, 0, 1), 0.1);
    assert_eq!(r.count, 3);
    let r = recommend(Metric::Rps, 330.0, 110.0, counts(1, 0, 1), 0.1);
    assert_eq!(r.count, 3);
    assert_eq!(ceil_count(3.000_000_000_1), 3);
    assert_eq!(ceil_count(3.000_01), 4);
    assert_eq!(ceil_count(2.5), 3);
    assert_eq!(ceil_count(1e-12), 1);
}

#[test]
fn counts_saturate_and_nan_is_zero() {
    assert_eq!(ceil_count(f64::NAN), 0);
    assert_eq!(ceil_count(-5.0), 0);
    assert_eq!(ceil_count(0.0), 0);
    assert_eq!(ceil_count(f64::INFINITY), u32::MAX);
    assert_eq!(ceil_count(1e20), u32::MAX);
    assert_eq!(to_count(f64::NAN), 0);
    assert_eq!(to_count(4_294_967_295.0), u32::MAX);
    assert_eq!(to_count(7.9), 7);
}

#[test]
fn extreme_ratios_stay_total() {
    let r = recommend(
        Metric::Rps,
        f64::MAX,
        f64::MIN_POSITIVE,
        counts(1, 0, 1),
        0.1,
    );
    assert_eq!((r.verdict, r.count), (Verdict::Up, u32::MAX));
    let r = recommend(
        Metric::Rps,
        1.0,
        f64::MAX,
        counts(u32::MAX, u32::MAX, 5),
        0.1,
    );
    assert_eq!((r.verdict, r.count), (Verdict::Down, 1));
    let r = recommend(
        Metric::P95Ms,
        1e300,
        1e-300,
        counts(0, u32::MAX, 0),
        f64::NAN,
    );
    assert_eq!(r.verdict, Verdict::Up);
}
