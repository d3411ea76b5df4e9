//! [`node_statuses`]: the pure decision of each node's status from its records and the time.

use std::collections::BTreeMap;
use std::time::Duration;

use shoal_schedule::{Node, NodeStatus};

use crate::nodes::{NodeRecord, NodeSeen};

/// Every node known, sorted by name, with its status:
/// - a live record (its lease is alive): `Draining` if marked so, else `Ready`;
/// - only a last-seen record: `Suspect` while `now_ms - last_seen_ms < grace`, then `Lost`.
///
/// `last_seen_ms` is refreshed on a slow cadence, so a node may turn `Lost` up to that
/// cadence (plus its lease TTL) before `grace` after its real end; choose `grace` above both.
/// A node's own clock wrote `last_seen_ms`: clocks far apart skew this by their difference.
pub fn node_statuses(
    records: &[NodeRecord],
    seen: &[NodeSeen],
    now_ms: u64,
    grace: Duration,
) -> Vec<Node> {
    let mut nodes: BTreeMap<&str, Node> = BTreeMap::new();
    for s in seen {
        let gone_ms = u128::from(now_ms.saturating_sub(s.last_seen_ms));
        let status = if gone_ms < grace.as_millis() {
            NodeStatus::Suspect
        } else {
            NodeStatus::Lost
        };
        nodes.insert(&s.record.name, node(&s.record, status));
    }
    for r in records {
        let status = if r.draining {
            NodeStatus::Draining
        } else {
            NodeStatus::Ready
        };
        nodes.insert(&r.name, node(r, status));
    }
    nodes.into_values().collect()
}

fn node(r: &NodeRecord, status: NodeStatus) -> Node {
    Node {
        name: r.name.clone(),
        capacity: r.capacity,
        labels: r.labels.clone(),
        status,
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
