//! Tests of [`node_statuses`] on a fake clock (plain milliseconds).

use std::collections::BTreeMap;
use std::time::Duration;

use shoal_schedule::{NodeStatus, Resources};

use super::node_statuses;
use crate::nodes::{NodeRecord, NodeSeen};

const GRACE: Duration = Duration::from_secs(30);
const T0: u64 = 1_700_000_000_000;

fn record(name: &str) -> NodeRecord {
    NodeRecord {
        name: name.into(),
        address: [10, 0, 0, 1].into(),
        api: ([10, 0, 0, 1], 8500).into(),
        gateway: ([10, 0, 0, 1], 8080).into(),
        capacity: Resources::new(4000, 8192),
        labels: BTreeMap::from([("zone".into(), "a".into())]),
        started_ms: T0,
        version: "0.1.0".into(),
        draining: false,
    }
}

fn seen(name: &str, last_seen_ms: u64) -> NodeSeen {
    NodeSeen {
        record: record(name),
        last_seen_ms,
    }
}

fn statuses(records: &[NodeRecord], seen: &[NodeSeen], now: u64) -> Vec<(String, NodeStatus)> {
    node_statuses(records, seen, now, GRACE)
        .into_iter()
        .map(|n| (n.name, n.status))
        .collect()
}

#[test]
fn a_live_node_is_ready_and_a_draining_one_draining() {
    let mut b = record("b");
    b.draining = true;
    let got = statuses(&[record("a"), b], &[], T0);
    assert_eq!(
        got,
        [
            ("a".into(), NodeStatus::Ready),
            ("b".into(), NodeStatus::Draining)
        ]
    );
}

#[test]
fn a_live_record_wins_over_an_old_seen_record() {
    let got = statuses(
        &[record("a")],
        &[seen("a", T0)],
        T0 + 10 * GRACE.as_millis() as u64,
    );
    assert_eq!(got, [("a".into(), NodeStatus::Ready)]);
}

#[test]
fn a_gone_node_is_suspect_until_the_grace_then_lost() {
    let grace = GRACE.as_millis() as u64;
    let gone = [seen("a", T0)];
    let at = |now| statuses(&[], &gone, now)[0].1;
    assert_eq!(at(T0), NodeStatus::Suspect);
    assert_eq!(at(T0 + grace - 1), NodeStatus::Suspect);
    assert_eq!(at(T0 + grace), NodeStatus::Lost);
    assert_eq!(at(T0 + 100 * grace), NodeStatus::Lost);
}

#[test]
fn a_clock_behind_the_nodes_counts_as_just_seen() {
    let got = statuses(&[], &[seen("a", T0 + 5_000)], T0);
    assert_eq!(got, [("a".into(), NodeStatus::Suspect)]);
}

#[test]
fn every_node_once_sorted_by_name_with_its_capacity_and_labels() {
    let mut c = record("c");
    c.capacity = Resources::new(2000, 1024);
    let nodes = node_statuses(
        &[c, record("a")],
        &[seen("b", T0), seen("a", T0), seen("c", T0)],
        T0 + 1,
        GRACE,
    );
    let names: Vec<_> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(nodes[1].status, NodeStatus::Suspect);
    assert_eq!(nodes[2].capacity, Resources::new(2000, 1024));
    assert_eq!(nodes[1].labels.get("zone").map(String::as_str), Some("a"));
}

#[test]
fn no_records_no_nodes() {
    assert!(node_statuses(&[], &[], T0, GRACE).is_empty());
}
