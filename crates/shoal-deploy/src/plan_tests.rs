//! Unit tests of the rollout plan: each strategy step by step, on a hand-run clock.

use std::time::Duration;

use super::*;

pub(super) const OLD: u64 = 1;
pub(super) const NEW: u64 = 2;

pub(super) fn spec(version: &str, strategy: Strategy) -> ServiceSpec {
    let src =
        format!("[services.web]\ncommand = [\"sh\"]\nversion = \"{version}\"\ninstances = 3\n");
    let parsed = shoal_spec::parse_str_with(
        &src,
        "t.toml",
        std::path::Path::new("/"),
        &shoal_spec::AssumeExists,
    )
    .expect("a valid spec");
    let mut s = parsed.services["web"].clone();
    s.deploy.strategy = strategy;
    s
}

pub(super) fn inst(
    id: &str,
    version: &str,
    fp: u64,
    health: Health,
    since: Option<u64>,
    seq: u64,
) -> Observed {
    Observed {
        id: id.into(),
        version: version.into(),
        fingerprint: fp,
        state: InstanceState::Running,
        health,
        healthy_since_ms: since,
        seq,
    }
}

fn old_set() -> Vec<Observed> {
    (1..=3)
        .map(|i| inst(&format!("old{i}"), "1", OLD, Health::Passing, Some(0), i))
        .collect()
}

pub(super) fn deployment(from: &ServiceSpec, to: &ServiceSpec, now: u64) -> Deployment {
    Deployment {
        id: 2,
        service: "web".into(),
        strategy: to.deploy.strategy,
        from: Some(from.clone()),
        to: to.clone(),
        status: Status::Running,
        reason: "started".into(),
        step: 0,
        step_started_ms: None,
        marks: BTreeMap::new(),
        weights: BTreeMap::new(),
        counts: BTreeMap::new(),
        started_ms: now,
        updated_ms: now,
        deadline_ms: now + 600_000,
        ended_ms: None,
        keep_until_ms: None,
        revert_of: None,
        order: None,
        steps: vec![],
    }
}

fn line(spec: &ServiceSpec) -> Line<'_> {
    Line {
        spec,
        count: spec.instances,
        fingerprint: NEW,
    }
}

fn stopped(p: &Plan) -> Vec<&str> {
    p.stop.iter().map(|s| s.id.as_str()).collect()
}

fn none() -> BTreeMap<String, Totals> {
    BTreeMap::new()
}

#[test]
fn rolling_surges_one_and_waits_for_min_healthy() {
    let (from, to) = (spec("1", Strategy::Rolling), spec("2", Strategy::Rolling));
    let d = deployment(&from, &to, 1000);
    let p = plan(line(&to), Some(&d), &old_set(), &none(), 1000);
    assert_eq!(p.place, 1);
    assert!(p.stop.is_empty());
    // Served for 1 s of the 2 s min_healthy: nothing stops yet; traffic on both versions.
    let mut obs = old_set();
    obs.push(inst("new1", "2", NEW, Health::Passing, Some(5000), 4));
    let p = plan(line(&to), Some(&d), &obs, &none(), 6000);
    assert_eq!((p.place, p.stop.len()), (0, 0));
    assert_eq!(p.wake_at_ms, Some(7000));
    let weights = &p.deployment.as_ref().expect("updated").weights;
    assert_eq!(weights, &BTreeMap::from([("1".into(), 3), ("2".into(), 1)]));
    // Ready: the oldest old one leaves.
    let p = plan(line(&to), Some(&d), &obs, &none(), 7000);
    assert_eq!(stopped(&p), vec!["old1"]);
    assert_eq!(p.stop[0].reason, StopReason::Replaced);
}

#[test]
fn rolling_ends_when_every_new_instance_is_ready_and_no_old_one_runs() {
    let (from, to) = (spec("1", Strategy::Rolling), spec("2", Strategy::Rolling));
    let d = deployment(&from, &to, 0);
    let obs: Vec<Observed> = (1..=3)
        .map(|i| inst(&format!("n{i}"), "2", NEW, Health::Passing, Some(0), i))
        .collect();
    let p = plan(line(&to), Some(&d), &obs, &none(), 10_000);
    let d = p.deployment.expect("ended");
    assert_eq!(d.status, Status::Succeeded);
    assert!(d.weights.is_empty());
    assert!(d.reason.contains("3 of 3"), "{}", d.reason);
}

#[test]
fn rolling_with_max_unavailable_stops_before_it_starts() {
    let from = spec("1", Strategy::Rolling);
    let mut to = spec("2", Strategy::Rolling);
    to.deploy.max_surge = 0;
    to.deploy.max_unavailable = 1;
    let d = deployment(&from, &to, 0);
    let p = plan(line(&to), Some(&d), &old_set(), &none(), 0);
    assert_eq!(p.place, 0);
    assert_eq!(stopped(&p), vec!["old1"]);
}

#[test]
fn old_instances_that_do_not_serve_go_first() {
    let (from, to) = (spec("1", Strategy::Rolling), spec("2", Strategy::Rolling));
    let d = deployment(&from, &to, 0);
    let mut obs = old_set();
    obs[1].health = Health::Critical;
    let p = plan(line(&to), Some(&d), &obs, &none(), 0);
    assert_eq!(stopped(&p), vec!["old2"]);
    assert_eq!(p.stop[0].reason, StopReason::NotServing);
}

#[test]
fn a_new_version_that_never_serves_fails_at_the_deadline_and_old_keeps_serving() {
    let (from, to) = (spec("1", Strategy::Rolling), spec("2", Strategy::Rolling));
    let d = deployment(&from, &to, 0);
    let mut obs = old_set();
    obs.push(inst("new1", "2", NEW, Health::Critical, None, 4));
    let p = plan(line(&to), Some(&d), &obs, &none(), 599_999);
    assert!(p.stop.is_empty());
    let p = plan(line(&to), Some(&d), &obs, &none(), 600_000);
    let ended = p.deployment.expect("failed");
    assert_eq!(ended.status, Status::Failed);
    assert!(
        ended
            .reason
            .contains("progress deadline of 10m passed: 0 of 3"),
        "{}",
        ended.reason
    );
    assert!(p.stop.is_empty());
    // A failed deployment holds: v1 keeps serving, nothing is replaced.
    let p = plan(line(&to), Some(&ended), &obs, &none(), 700_000);
    assert!(p.stop.is_empty() && p.place == 0);
}

#[test]
fn auto_revert_returns_to_the_previous_spec() {
    let from = spec("1", Strategy::Rolling);
    let mut to = spec("2", Strategy::Rolling);
    to.deploy.auto_revert = true;
    let d = deployment(&from, &to, 0);
    let p = plan(line(&to), Some(&d), &old_set(), &none(), 600_000);
    let ended = p.ended.expect("ended");
    assert_eq!(ended.status, Status::RolledBack);
    assert!(
        ended.reason.contains("returning to version 1"),
        "{}",
        ended.reason
    );
    let next = p.deployment.expect("revert");
    assert_eq!(
        (next.id, next.revert_of, next.status),
        (3, Some(2), Status::Running)
    );
    assert_eq!(next.to.version, "1");
    assert_eq!(next.weights, BTreeMap::from([("1".into(), 100)]));
    assert_eq!(p.revert_to.map(|s| s.version), Some("1".into()));
}

#[test]
fn blue_green_starts_the_whole_set_and_switches_when_all_are_ready() {
    let (from, to) = (
        spec("1", Strategy::BlueGreen),
        spec("2", Strategy::BlueGreen),
    );
    let d = deployment(&from, &to, 0);
    let p = plan(line(&to), Some(&d), &old_set(), &none(), 0);
    assert_eq!(p.place, 3);
    let mut obs = old_set();
    for i in 1..=3 {
        obs.push(inst(
            &format!("n{i}"),
            "2",
            NEW,
            Health::Passing,
            Some(1000),
            3 + i,
        ));
    }
    let p = plan(line(&to), Some(&d), &obs, &none(), 2000);
    let d2 = p.deployment.expect("weights kept on the old set");
    assert_eq!(d2.weights, BTreeMap::from([("1".into(), 3)]));
    assert_eq!(d2.status, Status::Running);
    let p = plan(line(&to), Some(&d), &obs, &none(), 3000);
    let done = p.deployment.expect("switched");
    assert_eq!(done.status, Status::Succeeded);
    assert_eq!(done.weights, BTreeMap::from([("2".into(), 100)]));
    assert_eq!(done.keep_until_ms, Some(603_000));
    assert!(p.stop.is_empty(), "the old set stays warm");
    // Warm until keep_previous passes, then stopped.
    let p = plan(line(&to), Some(&done), &obs, &none(), 602_999);
    assert!(p.stop.is_empty());
    let p = plan(line(&to), Some(&done), &obs, &none(), 603_000);
    assert_eq!(stopped(&p), vec!["old1", "old2", "old3"]);
}

#[test]
fn a_rollback_onto_warm_instances_switches_at_once() {
    // After a blue-green switch to 2, a rollback deploys 1 again: the warm old
    // instances are the fresh ones now.
    let (two, one) = (
        spec("2", Strategy::BlueGreen),
        spec("1", Strategy::BlueGreen),
    );
    let mut d = deployment(&two, &one, 0);
    d.strategy = Strategy::Rolling;
    d.revert_of = Some(1);
    let mut obs: Vec<Observed> = (1..=3)
        .map(|i| inst(&format!("old{i}"), "1", NEW, Health::Passing, Some(0), i))
        .collect();
    for i in 1..=3 {
        obs.push(inst(
            &format!("two{i}"),
            "2",
            OLD,
            Health::Passing,
            Some(0),
            3 + i,
        ));
    }
    let p = plan(line(&one), Some(&d), &obs, &none(), 100_000);
    assert_eq!(p.place, 0);
    assert_eq!(stopped(&p), vec!["two1", "two2", "two3"]);
    let d = p.deployment.expect("updated");
    // No version but the target still serves after these stops: all unpinned traffic to it.
    assert!(d.weights.is_empty(), "{:?}", d.weights);
}

pub(super) fn totals(requests: u64, errors: u64) -> Totals {
    let mut buckets = vec![0; Totals::BOUNDS.len() + 1];
    buckets[0] = requests;
    Totals {
        requests,
        errors,
        buckets,
    }
}

fn canary_obs(new: usize, since: u64) -> Vec<Observed> {
    let mut obs = old_set();
    for i in 0..new {
        obs.push(inst(
            &format!("c{i}"),
            "2",
            NEW,
            Health::Passing,
            Some(since),
            10 + i as u64,
        ));
    }
    obs
}

#[test]
fn canary_walks_its_steps_and_is_promoted() {
    let (from, to) = (spec("1", Strategy::Canary), spec("2", Strategy::Canary));
    let mut d = deployment(&from, &to, 0);
    // Step 1 (10 %): one canary instance, traffic on it once ready.
    let p = plan(line(&to), Some(&d), &old_set(), &none(), 0);
    assert_eq!(p.place, 1);
    let t0 = BTreeMap::from([("1".into(), totals(1000, 0)), ("2".into(), totals(0, 0))]);
    let p = plan(line(&to), Some(&d), &canary_obs(1, 0), &t0, 5000);
    d = p.deployment.expect("step began");
    assert_eq!(
        d.weights,
        BTreeMap::from([("1".into(), 90), ("2".into(), 10)])
    );
    assert_eq!(d.step_started_ms, Some(5000));
    assert_eq!(p.wake_at_ms, Some(35_000));
    // Held for the interval, then judged on the window: 100 canary requests, no errors.
    let t1 = BTreeMap::from([("1".into(), totals(1900, 0)), ("2".into(), totals(100, 0))]);
    let p = plan(line(&to), Some(&d), &canary_obs(1, 0), &t1, 20_000);
    assert!(
        p.deployment.is_none(),
        "nothing changes inside the interval"
    );
    let p = plan(line(&to), Some(&d), &canary_obs(1, 0), &t1, 35_000);
    d = p.deployment.expect("passed");
    assert_eq!((d.step, d.step_started_ms), (1, None));
    assert!(
        d.reason
            .contains("step 1 passed at 10% (100 requests, 0 errors)"),
        "{}",
        d.reason
    );
    // Step 2 (50 %): two canary instances for three.
    let p = plan(line(&to), Some(&d), &canary_obs(1, 0), &t1, 35_000);
    assert_eq!(p.place, 1);
    let p = plan(line(&to), Some(&d), &canary_obs(2, 0), &t1, 36_000);
    d = p.deployment.expect("step 2 began");
    assert_eq!(
        d.weights,
        BTreeMap::from([("1".into(), 50), ("2".into(), 50)])
    );
    let t2 = BTreeMap::from([("1".into(), totals(2400, 0)), ("2".into(), totals(600, 3))]);
    let p = plan(line(&to), Some(&d), &canary_obs(2, 0), &t2, 66_000);
    d = p.deployment.expect("passed");
    assert_eq!(d.step, 2);
    // Step 3 (100 %): all three new; then promoted, the old set kept warm.
    let p = plan(line(&to), Some(&d), &canary_obs(3, 0), &t2, 67_000);
    d = p.deployment.expect("step 3 began");
    assert_eq!(d.weights, BTreeMap::from([("2".into(), 100)]));
    let t3 = BTreeMap::from([("1".into(), totals(2400, 0)), ("2".into(), totals(1600, 3))]);
    let p = plan(line(&to), Some(&d), &canary_obs(3, 0), &t3, 97_000);
    d = p.deployment.expect("promoted");
    assert_eq!(d.status, Status::Succeeded);
    assert!(d.reason.starts_with("promoted"), "{}", d.reason);
    assert!(d.keep_until_ms.is_some());
}

#[test]
fn a_failing_canary_is_rolled_back_with_its_numbers() {
    let (from, to) = (spec("1", Strategy::Canary), spec("2", Strategy::Canary));
    let mut d = deployment(&from, &to, 0);
    let t0 = BTreeMap::from([("1".into(), totals(0, 0)), ("2".into(), totals(0, 0))]);
    d = plan(line(&to), Some(&d), &canary_obs(1, 0), &t0, 5000)
        .deployment
        .expect("step began");
    let t1 = BTreeMap::from([("1".into(), totals(900, 0)), ("2".into(), totals(100, 40))]);
    let p = plan(line(&to), Some(&d), &canary_obs(1, 0), &t1, 35_000);
    let ended = p.ended.expect("rolled back");
    assert_eq!(ended.status, Status::RolledBack);
    assert!(
        ended.reason.contains("error rate 40.0%"),
        "{}",
        ended.reason
    );
    assert_eq!(
        ended.steps.last().map(|s| s.numbers["errors"].clone()),
        Some(json!(40))
    );
    let next = p.deployment.expect("revert");
    assert_eq!(next.weights, BTreeMap::from([("1".into(), 100)]));
    assert_eq!(p.revert_to.map(|s| s.version), Some("1".into()));
}

#[test]
fn a_canary_without_enough_requests_waits() {
    let (from, to) = (spec("1", Strategy::Canary), spec("2", Strategy::Canary));
    let mut d = deployment(&from, &to, 0);
    d = plan(line(&to), Some(&d), &canary_obs(1, 0), &none(), 5000)
        .deployment
        .expect("step began");
    let t1 = BTreeMap::from([("2".into(), totals(5, 0))]);
    let p = plan(line(&to), Some(&d), &canary_obs(1, 0), &t1, 35_000);
    let d = p.deployment.expect("noted");
    assert_eq!(d.status, Status::Running);
    assert!(d.reason.contains("5 of 20"), "{}", d.reason);
}

#[test]
fn promote_and_abort_orders() {
    let (from, to) = (spec("1", Strategy::Canary), spec("2", Strategy::Canary));
    let mut d = deployment(&from, &to, 0);
    d.order = Some(Order::Promote);
    let p = plan(line(&to), Some(&d), &canary_obs(1, 0), &none(), 5000);
    assert_eq!(p.place, 2, "promoted: the whole new set");
    let d2 = p.deployment.expect("promoted");
    let p = plan(line(&to), Some(&d2), &canary_obs(3, 0), &none(), 8000);
    let done = p.deployment.expect("done");
    assert_eq!(done.status, Status::Succeeded);
    d.order = Some(Order::Abort);
    let p = plan(line(&to), Some(&d), &canary_obs(1, 0), &none(), 5000);
    assert_eq!(p.ended.map(|e| e.status), Some(Status::RolledBack));
}

#[test]
fn same_version_label_canary_rolls_as_rolling() {
    let (from, mut to) = (spec("1", Strategy::Canary), spec("1", Strategy::Canary));
    to.env
        .insert("X".into(), shoal_spec::EnvValue::literal("y"));
    let d = deployment(&from, &to, 0);
    let p = plan(line(&to), Some(&d), &old_set(), &none(), 0);
    assert_eq!(p.place, 1);
    let d = p.deployment.expect("noted");
    assert!(d.reason.contains("rolled as rolling"), "{}", d.reason);
}

#[test]
fn without_a_deployment_a_config_change_rolls_one_at_a_time() {
    let to = spec("1", Strategy::Rolling);
    let p = plan(line(&to), None, &old_set(), &none(), 0);
    assert_eq!((p.place, p.stop.len()), (1, 0));
    let mut obs = old_set();
    obs.push(inst("n1", "1", NEW, Health::Passing, Some(0), 4));
    let p = plan(line(&to), None, &obs, &none(), 2000);
    assert_eq!(stopped(&p), vec!["old1"]);
}

#[test]
fn scaling_stops_the_least_useful_first() {
    let to = spec("1", Strategy::Rolling);
    let mut obs: Vec<Observed> = (1..=5)
        .map(|i| inst(&format!("n{i}"), "1", NEW, Health::Passing, Some(0), i))
        .collect();
    obs[0].health = Health::Critical;
    let p = plan(line(&to), None, &obs, &none(), 0);
    assert_eq!(stopped(&p), vec!["n1", "n5"]);
    assert!(p.stop.iter().all(|s| s.reason == StopReason::Surplus));
}

#[test]
fn humanize_reads_well() {
    assert_eq!(humanize(600_000), "10m");
    assert_eq!(humanize(90_000), "1m30s");
    assert_eq!(humanize(30_000), "30s");
    assert_eq!(humanize(250), "250ms");
    let _ = Duration::ZERO;
}
