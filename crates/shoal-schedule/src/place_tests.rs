//! Examples of each placement rule.

use super::*;
use crate::Constraint;

fn node(name: &str, cpu: u64, mem: u64) -> Node {
    Node {
        name: name.into(),
        capacity: Resources::new(cpu, mem),
        labels: BTreeMap::new(),
        status: NodeStatus::Ready,
    }
}

fn group(service: &str, count: u32) -> Group {
    Group {
        service: service.into(),
        version: "1".into(),
        count,
        request: Resources::new(100, 64),
        constraints: vec![],
    }
}

fn placed(id: &str, service: &str, node: &str) -> Placement {
    Placement {
        id: id.into(),
        service: service.into(),
        version: "1".into(),
        node: node.into(),
        healthy: true,
    }
}

fn nodes_of(plan: &Plan) -> Vec<&str> {
    plan.place.iter().map(|p| p.node.as_str()).collect()
}

fn three() -> Vec<Node> {
    vec![
        node("a", 4000, 8192),
        node("b", 4000, 8192),
        node("c", 4000, 8192),
    ]
}

#[test]
fn instances_spread_across_nodes() {
    let plan = schedule(&[group("web", 5)], &three(), &[]);
    assert_eq!(nodes_of(&plan), ["a", "b", "c", "a", "b"]);
    assert!(plan.stop.is_empty() && plan.unplaced.is_empty());
}

#[test]
fn a_settled_fleet_needs_nothing() {
    let current = [placed("1", "web", "a"), placed("2", "web", "b")];
    assert!(schedule(&[group("web", 2)], &three(), &current).is_empty());
}

#[test]
fn spread_counts_the_service_not_other_services() {
    let current = [placed("1", "db", "a"), placed("2", "db", "a")];
    let plan = schedule(&[group("db", 2), group("web", 1)], &three(), &current);
    // a holds db but no web; on equal web counts the emptier node wins: b.
    assert_eq!(nodes_of(&plan), ["b"]);
}

#[test]
fn capacity_is_never_exceeded() {
    let nodes = vec![node("a", 250, 8192), node("b", 100, 8192)];
    let plan = schedule(&[group("web", 5)], &nodes, &[]);
    assert_eq!(nodes_of(&plan), ["a", "b", "a"]);
    assert_eq!(plan.unplaced.len(), 1);
    assert_eq!(plan.unplaced[0].missing, 2);
    assert!(plan.unplaced[0]
        .reason
        .contains("no room for 100m CPU / 64 MiB: a, b"));
}

#[test]
fn constraints_pick_nodes_by_label() {
    let mut nodes = three();
    nodes[1].labels.insert("disk".into(), "ssd".into());
    let mut g = group("db", 2);
    g.constraints.push(Constraint::Equals {
        label: "disk".into(),
        value: "ssd".into(),
    });
    let plan = schedule(&[g], &nodes, &[]);
    assert_eq!(nodes_of(&plan), ["b", "b"]);
}

#[test]
fn an_unmet_constraint_is_explained() {
    let mut g = group("db", 1);
    g.constraints.push(Constraint::In {
        label: "zone".into(),
        values: vec!["eu".into()],
    });
    let plan = schedule(&[g], &three(), &[]);
    assert_eq!(plan.unplaced[0].reason, "constraints not met: a, b, c");
}

#[test]
fn surplus_leaves_the_most_crowded_node_first() {
    let current = [
        placed("1", "web", "a"),
        placed("2", "web", "a"),
        placed("3", "web", "b"),
    ];
    let plan = schedule(&[group("web", 2)], &three(), &current);
    assert_eq!(
        plan.stop,
        [Stop {
            id: "2".into(),
            reason: StopReason::Surplus
        }]
    );
}

#[test]
fn an_unwanted_version_stops() {
    let mut old = placed("1", "web", "a");
    old.version = "0".into();
    let plan = schedule(&[group("web", 1)], &three(), &[old]);
    assert_eq!(plan.stop[0].reason, StopReason::Surplus);
    assert_eq!(nodes_of(&plan), ["a"]);
}

#[test]
fn a_suspect_node_keeps_its_instances_but_gets_no_new_ones() {
    let mut nodes = three();
    nodes[0].status = NodeStatus::Suspect;
    let current = [placed("1", "web", "a")];
    let plan = schedule(&[group("web", 3)], &nodes, &current);
    assert!(plan.stop.is_empty());
    assert_eq!(nodes_of(&plan), ["b", "c"]);
}

#[test]
fn a_lost_node_s_instances_are_placed_elsewhere() {
    let mut nodes = three();
    nodes[0].status = NodeStatus::Lost;
    let current = [placed("1", "web", "a"), placed("2", "web", "b")];
    let plan = schedule(&[group("web", 2)], &nodes, &current);
    assert_eq!(
        plan.stop,
        [Stop {
            id: "1".into(),
            reason: StopReason::NodeLost
        }]
    );
    assert_eq!(nodes_of(&plan), ["c"]);
}

#[test]
fn draining_places_new_before_stopping_old() {
    let mut nodes = three();
    nodes[0].status = NodeStatus::Draining;
    let current = [placed("1", "web", "a"), placed("2", "web", "b")];
    let first = schedule(&[group("web", 2)], &nodes, &current);
    assert_eq!(nodes_of(&first), ["c"]);
    assert!(
        first.stop.is_empty(),
        "old keeps running until new is healthy"
    );

    let mut starting = placed("3", "web", "c");
    starting.healthy = false;
    let waiting = [current[0].clone(), current[1].clone(), starting.clone()];
    assert!(schedule(&[group("web", 2)], &nodes, &waiting).is_empty());

    starting.healthy = true;
    let ready = [current[0].clone(), current[1].clone(), starting];
    let done = schedule(&[group("web", 2)], &nodes, &ready);
    assert_eq!(
        done.stop,
        [Stop {
            id: "1".into(),
            reason: StopReason::Drained
        }]
    );
    assert!(done.place.is_empty());
}

#[test]
fn an_unknown_node_s_instances_stop() {
    let plan = schedule(&[group("web", 1)], &three(), &[placed("1", "web", "z")]);
    assert_eq!(plan.stop[0].reason, StopReason::UnknownNode);
    assert_eq!(nodes_of(&plan), ["a"]);
}

#[test]
fn no_nodes_is_said_plainly() {
    let plan = schedule(&[group("web", 1)], &[], &[]);
    assert_eq!(plan.unplaced[0].reason, "no nodes in the cluster");
}

#[test]
fn plans_read_as_json() {
    let plan = schedule(&[group("web", 1)], &three(), &[]);
    let json = serde_json::to_value(&plan).expect("json");
    assert_eq!(json["place"][0]["node"], "a");
}

#[test]
fn place_one_spreads_like_schedule() {
    let current = [
        placed("1", "web", "a"),
        placed("2", "web", "b"),
        placed("3", "db", "c"),
    ];
    let g = group("web", 3);
    let zero = |_: &str, _: &str| Resources::default();
    assert_eq!(place_one(&g, &three(), &current, zero), Ok("c".to_string()));
    let mut nodes = three();
    nodes[2].status = NodeStatus::Draining;
    // a and b hold one web each; a is first by name.
    assert_eq!(place_one(&g, &nodes, &current, zero), Ok("a".to_string()));
    let full = |_: &str, _: &str| Resources::new(4000, 0);
    let err = place_one(&g, &nodes, &current, full).expect_err("no room");
    assert!(
        err.contains("not ready: c") && err.contains("no room"),
        "{err}"
    );
}
