//! Unit tests of `HealthTracker`: thresholds, grace, flapping, liveness.

use super::*;

const PASS: CheckOutcome = CheckOutcome::Passing;

fn fail() -> CheckOutcome {
    CheckOutcome::Critical("HTTP GET http://x/health: 500".into())
}

fn warn() -> CheckOutcome {
    CheckOutcome::Warning("HTTP GET http://x/health: 429".into())
}

fn policy(healthy: u32, unhealthy: u32, grace_s: u64, restart_s: Option<u64>) -> HealthPolicy {
    HealthPolicy {
        healthy_threshold: healthy,
        unhealthy_threshold: unhealthy,
        grace: Duration::from_secs(grace_s),
        restart_after: restart_s.map(Duration::from_secs),
    }
}

/// A tracker started at `t0` and a helper giving `t0 + secs`.
fn setup(p: HealthPolicy) -> (HealthTracker, impl Fn(u64) -> Instant) {
    let t0 = Instant::now();
    (HealthTracker::new(p, t0), move |secs| {
        t0 + Duration::from_secs(secs)
    })
}

#[test]
fn starts_in_starting() {
    let (t, at) = setup(policy(1, 1, 10, None));
    assert_eq!(t.health(), Health::Starting);
    assert!(!t.should_restart(at(1_000)));
    assert_eq!(t.last_output(), "");
}

#[test]
fn one_pass_with_threshold_one_is_passing() {
    let (mut t, at) = setup(policy(1, 2, 10, None));
    assert_eq!(
        t.observe(&PASS, at(1)),
        Some((Health::Starting, Health::Passing))
    );
    assert_eq!(t.observe(&PASS, at(2)), None);
}

#[test]
fn healthy_threshold_needs_consecutive_passes() {
    let (mut t, at) = setup(policy(3, 1, 0, None));
    assert_eq!(t.observe(&PASS, at(1)), None);
    assert_eq!(t.observe(&PASS, at(2)), None);
    // A failure resets the count (grace 0: it also counts as critical).
    assert_eq!(
        t.observe(&fail(), at(3)),
        Some((Health::Starting, Health::Critical))
    );
    assert_eq!(t.observe(&PASS, at(4)), None);
    assert_eq!(t.observe(&PASS, at(5)), None);
    assert_eq!(
        t.observe(&PASS, at(6)),
        Some((Health::Critical, Health::Passing))
    );
}

#[test]
fn zero_thresholds_act_as_one() {
    let (mut t, at) = setup(policy(0, 0, 0, None));
    assert_eq!(
        t.observe(&PASS, at(1)),
        Some((Health::Starting, Health::Passing))
    );
    assert_eq!(
        t.observe(&fail(), at(2)),
        Some((Health::Passing, Health::Critical))
    );
}

#[test]
fn unhealthy_threshold_needs_consecutive_failures() {
    let (mut t, at) = setup(policy(1, 3, 0, None));
    t.observe(&PASS, at(1));
    assert_eq!(t.observe(&fail(), at(2)), None);
    assert_eq!(t.observe(&fail(), at(3)), None);
    assert_eq!(
        t.health(),
        Health::Passing,
        "still served below the threshold"
    );
    assert_eq!(t.observe(&PASS, at(4)), None);
    assert_eq!(t.observe(&fail(), at(5)), None);
    assert_eq!(t.observe(&fail(), at(6)), None);
    assert_eq!(
        t.observe(&fail(), at(7)),
        Some((Health::Passing, Health::Critical))
    );
}

#[test]
fn failures_inside_grace_do_not_count_before_first_pass() {
    let (mut t, at) = setup(policy(1, 1, 10, None));
    for s in 0..10 {
        assert_eq!(t.observe(&fail(), at(s)), None, "at {s}s");
    }
    assert_eq!(t.health(), Health::Starting);
    assert_eq!(
        t.observe(&fail(), at(10)),
        Some((Health::Starting, Health::Critical))
    );
}

#[test]
fn grace_failures_do_not_accumulate_towards_the_threshold() {
    let (mut t, at) = setup(policy(1, 2, 5, None));
    for s in 0..5 {
        t.observe(&fail(), at(s));
    }
    assert_eq!(t.observe(&fail(), at(5)), None, "first counted failure");
    assert_eq!(
        t.observe(&fail(), at(6)),
        Some((Health::Starting, Health::Critical))
    );
}

#[test]
fn grace_ends_early_once_healthy() {
    let (mut t, at) = setup(policy(1, 1, 60, None));
    t.observe(&PASS, at(1));
    assert_eq!(
        t.observe(&fail(), at(2)),
        Some((Health::Passing, Health::Critical))
    );
}

#[test]
fn warning_is_healthy_and_switches_with_passing_at_once() {
    let (mut t, at) = setup(policy(2, 2, 0, Some(1)));
    assert_eq!(t.observe(&warn(), at(1)), None);
    assert_eq!(
        t.observe(&warn(), at(2)),
        Some((Health::Starting, Health::Warning))
    );
    assert!(t.health().serves_traffic());
    assert_eq!(t.last_output(), "HTTP GET http://x/health: 429");
    assert_eq!(
        t.observe(&PASS, at(3)),
        Some((Health::Warning, Health::Passing))
    );
    assert_eq!(t.last_output(), "");
    assert_eq!(
        t.observe(&warn(), at(4)),
        Some((Health::Passing, Health::Warning))
    );
    assert!(!t.should_restart(at(1_000)), "warning never restarts");
}

#[test]
fn warning_resets_the_failure_count() {
    let (mut t, at) = setup(policy(1, 2, 0, None));
    t.observe(&PASS, at(1));
    t.observe(&fail(), at(2));
    t.observe(&warn(), at(3));
    assert_eq!(t.observe(&fail(), at(4)), None);
    assert_eq!(t.health(), Health::Warning);
}

#[test]
fn flapping_with_thresholds_holds_state() {
    let (mut t, at) = setup(policy(2, 2, 0, None));
    t.observe(&PASS, at(0));
    t.observe(&PASS, at(1));
    assert_eq!(t.health(), Health::Passing);
    for s in 2..20 {
        let outcome = if s % 2 == 0 { fail() } else { PASS };
        assert_eq!(t.observe(&outcome, at(s)), None, "at {s}s");
    }
    assert_eq!(t.health(), Health::Passing);
}

#[test]
fn flapping_with_threshold_one_reports_every_change() {
    let (mut t, at) = setup(policy(1, 1, 0, None));
    let mut changes = 0;
    for s in 0..10 {
        let outcome = if s % 2 == 0 { PASS } else { fail() };
        changes += usize::from(t.observe(&outcome, at(s)).is_some());
    }
    assert_eq!(changes, 10);
}

#[test]
fn critical_after_healthy_restarts_after_restart_after() {
    let (mut t, at) = setup(policy(1, 1, 5, Some(30)));
    t.observe(&PASS, at(1));
    t.observe(&fail(), at(100));
    assert!(!t.should_restart(at(129)));
    assert!(t.should_restart(at(130)));
}

#[test]
fn recovering_cancels_the_restart() {
    let (mut t, at) = setup(policy(1, 1, 0, Some(30)));
    t.observe(&PASS, at(1));
    t.observe(&fail(), at(10));
    t.observe(&PASS, at(20));
    t.observe(&fail(), at(25));
    assert!(!t.should_restart(at(50)), "critical only since 25s");
    assert!(t.should_restart(at(55)));
}

#[test]
fn never_healthy_restarts_after_grace_plus_restart_after() {
    let (mut t, at) = setup(policy(1, 3, 10, Some(30)));
    t.observe(&fail(), at(1));
    assert!(!t.should_restart(at(39)));
    assert!(t.should_restart(at(40)));
    // Even with no check answering at all.
    let (silent, at) = setup(policy(1, 3, 10, Some(30)));
    assert!(!silent.should_restart(at(39)));
    assert!(silent.should_restart(at(40)));
}

#[test]
fn restart_after_zero_waits_for_the_grace_period() {
    let (mut t, at) = setup(policy(1, 1, 10, Some(0)));
    assert!(!t.should_restart(at(5)));
    assert!(t.should_restart(at(10)));
    t.observe(&PASS, at(11));
    assert!(!t.should_restart(at(12)));
}

#[test]
fn no_restart_after_means_never_restart() {
    let (mut t, at) = setup(policy(1, 1, 0, None));
    t.observe(&fail(), at(1));
    assert_eq!(t.health(), Health::Critical);
    assert!(!t.should_restart(at(1_000_000)));
}

#[test]
fn health_serializes_lowercase() {
    let all = [
        Health::Starting,
        Health::Passing,
        Health::Warning,
        Health::Critical,
    ];
    let json = serde_json::to_string(&all).unwrap_or_default();
    assert_eq!(json, r#"["starting","passing","warning","critical"]"#);
}
