//! Tests of the reconcile decision, including rolling replacement.

use super::*;
use std::time::Duration;

fn group(service: &str, version: &str, count: u32) -> GroupSpec {
    GroupSpec {
        service: service.into(),
        group: version.into(),
        version: version.into(),
        count,
        command: shoal_spec::Command::Shell("true".into()),
        env: Default::default(),
        health: None,
        restart: shoal_spec::RestartSpec {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
        },
        drain: Duration::from_secs(1),
        fingerprint: 0,
        deployment: 0,
        tls: None,
    }
}

fn obs(id: &str, service: &str, version: &str, seq: u64, health: Health) -> Observed {
    Observed {
        id: id.into(),
        service: service.into(),
        group: version.into(),
        version: version.into(),
        state: InstanceState::Running,
        health,
        healthy_since_ms: None,
        seq,
        stopping: false,
        fingerprint: 0,
    }
}

fn starts(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Start { .. }))
        .count()
}

fn stop(id: &str) -> Action {
    Action::Stop {
        id: id.into(),
        reason: "",
    }
}

/// The actions with their stop reasons left out (tests compare what, not why).
fn plan(desired: &[GroupSpec], observed: &[Observed]) -> Vec<Action> {
    super::plan(desired, observed)
        .into_iter()
        .map(|a| match a {
            Action::Stop { id, .. } => stop(&id),
            start => start,
        })
        .collect()
}

#[test]
fn starts_missing_instances() {
    let actions = plan(
        &[group("web", "1", 3)],
        &[obs("a", "web", "1", 1, Health::Passing)],
    );
    assert_eq!(starts(&actions), 2);
    assert_eq!(actions.len(), 2);
}

#[test]
fn nothing_to_do_when_matched() {
    let o = [obs("a", "web", "1", 1, Health::Passing)];
    assert!(plan(&[group("web", "1", 1)], &o).is_empty());
}

#[test]
fn stops_say_why() {
    let o = [obs("a", "web", "1", 1, Health::Passing)];
    assert_eq!(
        super::plan(&[group("web", "1", 0)], &o),
        vec![Action::Stop {
            id: "a".into(),
            reason: SURPLUS
        }]
    );
}

#[test]
fn scale_down_stops_unhealthy_then_newest() {
    let o = [
        obs("old", "web", "1", 1, Health::Passing),
        obs("new", "web", "1", 3, Health::Passing),
        obs("sick", "web", "1", 2, Health::Critical),
    ];
    assert_eq!(
        plan(&[group("web", "1", 1)], &o),
        vec![stop("sick"), stop("new")]
    );
}

#[test]
fn removed_groups_are_stopped_and_stopping_ones_ignored() {
    let mut gone = obs("x", "old", "1", 1, Health::Passing);
    let o = vec![gone.clone(), obs("v2", "web", "2", 2, Health::Passing)];
    let actions = plan(&[group("web", "1", 1)], &o);
    assert!(actions.contains(&stop("x")));
    assert!(actions.contains(&stop("v2")));
    assert_eq!(starts(&actions), 1);
    gone.stopping = true;
    assert!(plan(&[], &[gone]).is_empty());
}

#[test]
fn zero_instances_is_valid() {
    let o = [obs("a", "web", "1", 1, Health::Passing)];
    assert_eq!(plan(&[group("web", "1", 0)], &o), vec![stop("a")]);
    assert!(plan(&[group("web", "1", 0)], &[]).is_empty());
}

/// Simulates a rollout step by step: every started instance becomes healthy
/// before the next decision; capacity (serving instances) never drops below
/// the desired count and never exceeds it by more than one.
#[test]
fn a_changed_fingerprint_rolls_one_instance_at_a_time_without_losing_capacity() {
    let mut g = group("web", "1", 3);
    let mut fleet: Vec<Observed> = (1..=3)
        .map(|i| obs(&format!("old{i}"), "web", "1", i, Health::Passing))
        .collect();
    g.fingerprint = 7;
    let mut seq = 10;
    for _step in 0..20 {
        let actions = plan(std::slice::from_ref(&g), &fleet);
        if actions.is_empty() {
            break;
        }
        assert_eq!(actions.len(), 1, "one step at a time: {actions:?}");
        match &actions[0] {
            Action::Start { .. } => {
                seq += 1;
                let mut o = obs(&format!("new{seq}"), "web", "1", seq, Health::Starting);
                o.fingerprint = 7;
                fleet.push(o.clone());
                // While it starts, nothing else happens.
                assert!(plan(std::slice::from_ref(&g), &fleet).is_empty());
                if let Some(last) = fleet.last_mut() {
                    last.health = Health::Passing;
                }
            }
            Action::Stop { id, .. } => fleet.retain(|o| &o.id != id),
        }
        let serving = fleet.iter().filter(|o| o.serving()).count();
        assert!((3..=4).contains(&serving), "capacity {serving}");
    }
    assert_eq!(fleet.len(), 3);
    assert!(fleet.iter().all(|o| o.fingerprint == 7));
}

#[test]
fn a_stale_instance_that_does_not_serve_is_replaced_first_without_surge() {
    let g = GroupSpec {
        fingerprint: 1,
        ..group("web", "1", 2)
    };
    let o = [
        obs("ok", "web", "1", 1, Health::Passing),
        obs("sick", "web", "1", 2, Health::Critical),
    ];
    assert_eq!(plan(std::slice::from_ref(&g), &o), vec![stop("sick")]);
}

#[test]
fn a_new_instance_that_never_serves_holds_the_rollout() {
    let g = GroupSpec {
        fingerprint: 1,
        ..group("web", "1", 1)
    };
    let mut new = obs("new", "web", "1", 2, Health::Critical);
    new.fingerprint = 1;
    let o = [obs("old", "web", "1", 1, Health::Passing), new];
    assert!(
        plan(std::slice::from_ref(&g), &o).is_empty(),
        "old keeps serving"
    );
}
