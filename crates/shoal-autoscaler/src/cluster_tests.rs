//! How nodes' signals combine, and stale nodes named.

use std::time::Duration;

use super::*;

fn sig(rps: f64, p95: f64, cpu: Option<f64>, inflight: f64, custom: f64) -> Signals {
    Signals {
        rps: Some(rps),
        p95_ms: Some(p95),
        cpu,
        inflight: Some(inflight),
        custom: Some(custom),
        idle_ms: Some((1000.0 / rps.max(0.001)) as u64),
        ..Signals::default()
    }
}

#[test]
fn rates_add_the_p95_is_the_slowest_and_cpu_is_weighted_by_instances() {
    let a = sig(30.0, 40.0, Some(0.9), 3.0, 7.0);
    let b = sig(10.0, 120.0, Some(0.3), 1.0, 5.0);
    let parts = [
        Part {
            signals: &a,
            instances: 1,
        },
        Part {
            signals: &b,
            instances: 3,
        },
    ];
    let rate = combine(&parts, false);
    assert_eq!(rate.rps, Some(40.0));
    assert_eq!(rate.inflight, Some(4.0));
    assert_eq!(rate.p95_ms, Some(120.0));
    let cpu = rate.cpu.expect("cpu");
    assert!((cpu - (0.9 + 3.0 * 0.3) / 4.0).abs() < 1e-9, "{cpu}");
    assert_eq!(rate.custom, Some(12.0), "a counter's rates add up");
    assert_eq!(
        combine(&parts, true).custom,
        Some(7.0),
        "a gauge: the largest"
    );
    assert_eq!(rate.idle_ms, Some(33), "the most recent request");
    assert!(!rate.wake);
}

#[test]
fn nothing_measured_stays_unknown_and_any_held_request_wakes() {
    let quiet = Signals::default();
    let held = Signals {
        wake: true,
        ..Signals::default()
    };
    let parts = [
        Part {
            signals: &quiet,
            instances: 0,
        },
        Part {
            signals: &held,
            instances: 0,
        },
    ];
    let s = combine(&parts, false);
    assert_eq!(
        (s.rps, s.p95_ms, s.cpu, s.inflight, s.custom),
        (None, None, None, None, None)
    );
    assert!(s.wake);
    assert_eq!(combine(&[], false), Signals::default());
}

fn record(node: &str, revision: i64, rps: f64) -> KeyValue {
    let signals = NodeSignals {
        seq: revision as u64,
        services: BTreeMap::from([(
            "web".to_owned(),
            Signals {
                rps: Some(rps),
                ..Signals::default()
            },
        )]),
    };
    KeyValue {
        key: signals_key(node),
        value: serde_json::to_vec(&signals).unwrap_or_default(),
        create_revision: 1,
        mod_revision: revision,
        version: 1,
        lease: 0,
    }
}

#[test]
fn a_node_that_stops_publishing_counts_with_its_last_signals_and_is_named() {
    let t0 = Instant::now();
    let mut c = ClusterSignals::default();
    c.update(&[record("a", 3, 10.0), record("b", 4, 5.0)], t0);
    let later = t0 + STALE + Duration::from_millis(1);
    c.update(&[record("a", 7, 12.0), record("b", 4, 5.0)], later);
    let (s, stale) = c.combined("web", false, |_| 1, |_| true, later);
    assert_eq!(s.rps, Some(17.0));
    assert_eq!(stale, ["b"]);
    let (none, _) = c.combined("other", false, |_| 1, |_| true, later);
    assert_eq!(none, Signals::default());
    // b's lease lapsed: its last signals no longer count.
    let (s, stale) = c.combined("web", false, |_| 1, |n| n != "b", later);
    assert_eq!((s.rps, stale.len()), (Some(12.0), 0));
}
