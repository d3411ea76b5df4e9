//! How the answers of several nodes to one query become one answer: pure functions over
//! what each node said, so the merge is tested without a cluster (`fanout.rs` asks).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use shoal_errors::Group;
use shoal_events::Event;
use shoal_logs::LogLine;
use shoal_traces::{Trace, TraceSummary};

/// Which nodes' data an answer holds: `answered` in full, `missing` not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodesReport {
    pub answered: Vec<String>,
    pub missing: Vec<Missing>,
}

/// A node whose data is not in an answer, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Missing {
    pub node: String,
    pub error: String,
}

/// A log line and the node that keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeLine {
    #[serde(flatten)]
    pub line: LogLine,
    pub node: String,
}

/// Every node's lines as one answer, oldest first, like one node's: with `limit` > 0 the
/// most recent `limit` lines. Lines of the same millisecond keep each node's order
/// (by sequence number) and go by node name between nodes.
pub fn logs(per_node: Vec<(String, Vec<LogLine>)>, limit: usize) -> Vec<NodeLine> {
    by_time(per_node, limit, |l| (l.time_ms, l.seq))
        .into_iter()
        .map(|(node, line)| NodeLine { line, node })
        .collect()
}

/// An event and the node that said it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeEvent {
    #[serde(flatten)]
    pub event: Event,
    pub node: String,
}

/// Every node's events as one answer, merged as [`logs`] merges lines.
pub fn events(per_node: Vec<(String, Vec<Event>)>, limit: usize) -> Vec<NodeEvent> {
    by_time(per_node, limit, |e| (e.time_ms, e.seq))
        .into_iter()
        .map(|(node, event)| NodeEvent { event, node })
        .collect()
}

/// Entries of every node, oldest first by `(time, seq)` of `key`, ties between nodes by
/// node name; with `limit` > 0 the most recent `limit`.
fn by_time<T>(
    per_node: Vec<(String, Vec<T>)>,
    limit: usize,
    key: impl Fn(&T) -> (u64, u64),
) -> Vec<(String, T)> {
    let mut all: Vec<(String, T)> = per_node
        .into_iter()
        .flat_map(|(node, entries)| entries.into_iter().map(move |e| (node.clone(), e)))
        .collect();
    all.sort_by(|(na, a), (nb, b)| {
        let ((ta, sa), (tb, sb)) = (key(a), key(b));
        (ta, na, sa).cmp(&(tb, nb, sb))
    });
    if limit > 0 && all.len() > limit {
        all.drain(..all.len() - limit);
    }
    all
}

/// One trace's parts from several nodes (each node keeps the spans its proxy recorded)
/// as one trace: the spans joined (a span id seen twice kept once) and the tree built
/// again. `None` when no node had a span of it.
pub fn trace(parts: Vec<Trace>) -> Option<Trace> {
    let mut seen = BTreeSet::new();
    let spans = parts
        .into_iter()
        .flat_map(|t| t.spans)
        .map(|s| s.span)
        .filter(|s| seen.insert(s.span_id.clone()))
        .collect();
    shoal_traces::assemble(spans)
}

/// Every node's trace summaries as one list, the latest start first, at most `limit`
/// (0: all). A trace seen on several nodes is one row: the earliest start, the latest
/// end, the spans counted on each node added, the services joined, an error anywhere an
/// error; its root is the earliest-starting part's root.
pub fn trace_summaries(per_node: Vec<Vec<TraceSummary>>, limit: usize) -> Vec<TraceSummary> {
    let mut by_id: BTreeMap<String, TraceSummary> = BTreeMap::new();
    for s in per_node.into_iter().flatten() {
        match by_id.get_mut(&s.trace_id) {
            None => {
                by_id.insert(s.trace_id.clone(), s);
            }
            Some(t) => {
                let end = (t.start_us + t.duration_us).max(s.start_us + s.duration_us);
                if s.start_us < t.start_us {
                    t.root_service = s.root_service;
                    t.root_name = s.root_name;
                    t.start_us = s.start_us;
                }
                t.duration_us = end - t.start_us;
                t.span_count += s.span_count;
                let services: BTreeSet<String> = t.services.drain(..).chain(s.services).collect();
                t.services = services.into_iter().collect();
                t.error |= s.error;
            }
        }
    }
    let mut out: Vec<TraceSummary> = by_id.into_values().collect();
    out.sort_by_key(|s| (Reverse(s.start_us), s.trace_id.clone()));
    if limit > 0 {
        out.truncate(limit);
    }
    out
}

/// One error group seen on several nodes: counts added, the first and last seen of all,
/// the instances joined (bounded as one node bounds them), the latest example of the
/// node that saw it last.
pub fn group(mut a: Group, b: Group) -> Group {
    if b.last_ms > a.last_ms {
        a.latest = b.latest;
    }
    a.count += b.count;
    a.first_ms = a.first_ms.min(b.first_ms);
    a.last_ms = a.last_ms.max(b.last_ms);
    for i in b.instances {
        if a.instances.len() < shoal_errors::MAX_INSTANCES {
            a.instances.insert(i);
        }
    }
    a
}

/// Every node's error groups as one list, groups with the same id merged ([`group`]),
/// most recently seen first (then the most frequent), at most `limit` (0: all).
pub fn error_groups(per_node: Vec<Vec<Group>>, limit: usize) -> Vec<Group> {
    let mut by_id: BTreeMap<String, Group> = BTreeMap::new();
    for g in per_node.into_iter().flatten() {
        let merged = match by_id.remove(&g.id) {
            Some(old) => group(old, g),
            None => g,
        };
        by_id.insert(merged.id.clone(), merged);
    }
    let mut out: Vec<Group> = by_id.into_values().collect();
    out.sort_by(|a, b| b.last_ms.cmp(&a.last_ms).then(b.count.cmp(&a.count)));
    if limit > 0 {
        out.truncate(limit);
    }
    out
}

#[cfg(test)]
#[path = "fanout_merge_tests.rs"]
mod tests;
