//! Assembles a trace's spans into a tree by parent span id, flattened in tree order.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::span::Span;

/// One span in its place in the tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceSpan {
    #[serde(flatten)]
    pub span: Span,
    /// 0 for a root; a child is one deeper than its parent.
    pub depth: usize,
}

/// Every recorded span of one trace, each parent before its children, siblings by start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    pub trace_id: String,
    /// Unix microseconds of the earliest span's start.
    pub start_us: u64,
    /// From the earliest start to the latest end.
    pub duration_us: u64,
    /// Services that answered a span, sorted.
    pub services: Vec<String>,
    /// Any span with a 5xx or a Shoal reason.
    pub error: bool,
    pub spans: Vec<TraceSpan>,
}

/// Builds the tree: a span whose parent id is not among the spans is a root (the first
/// hop's parent is often the caller's own span); a cycle is broken at its earliest span.
pub fn assemble(mut spans: Vec<Span>) -> Option<Trace> {
    spans.sort_by(|a, b| (a.start_us, &a.span_id).cmp(&(b.start_us, &b.span_id)));
    let first = spans.first()?;
    let trace_id = first.trace_id.clone();
    let start_us = first.start_us;
    let end_us = spans.iter().map(Span::end_us).max().unwrap_or(start_us);
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        by_id.entry(s.span_id.as_str()).or_insert(i);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.as_deref().and_then(|p| by_id.get(p)) {
            Some(&parent) if parent != i => children[parent].push(i),
            _ => roots.push(i),
        }
    }
    let order = tree_order(&children, &roots);
    let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    let services = services.into_iter().map(str::to_string).collect();
    let error = spans.iter().any(Span::is_error);
    let mut slots: Vec<Option<Span>> = spans.into_iter().map(Some).collect();
    let spans = order
        .into_iter()
        .filter_map(|(i, depth)| slots[i].take().map(|span| TraceSpan { span, depth }))
        .collect();
    Some(Trace {
        trace_id,
        start_us,
        duration_us: end_us.saturating_sub(start_us),
        services,
        error,
        spans,
    })
}

/// Pre-order walk from the roots, then from any span not reached (a cycle).
fn tree_order(children: &[Vec<usize>], roots: &[usize]) -> Vec<(usize, usize)> {
    let mut seen = vec![false; children.len()];
    let mut out = Vec::with_capacity(children.len());
    let starts = roots.iter().copied().chain(0..children.len());
    for start in starts {
        if seen[start] {
            continue;
        }
        let mut stack = vec![(start, 0usize)];
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            out.push((i, depth));
            for &c in children[i].iter().rev() {
                if !seen[c] {
                    stack.push((c, depth + 1));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::test_span;

    const T: &str = "0af7651916cd43dd8448eb211c80319c";

    fn ids(t: &Trace) -> Vec<(&str, usize)> {
        t.spans
            .iter()
            .map(|s| (s.span.span_id.as_str(), s.depth))
            .collect()
    }

    #[test]
    fn empty_is_none() {
        assert!(assemble(Vec::new()).is_none());
    }

    #[test]
    fn children_follow_parents_in_start_order() {
        // Recorded as they finish: children first.
        let mut b = test_span(T, "b", Some("a"), 120, 30);
        b.service = "publications".into();
        let mut c = test_span(T, "c", Some("a"), 110, 20);
        c.service = "institution".into();
        c.status = 503;
        let d = test_span(T, "d", Some("c"), 115, 5);
        // The first hop's parent is the caller's own span, which Shoal never saw.
        let a = test_span(T, "a", Some("caller"), 100, 100);
        let t = assemble(vec![b, d, c, a]).expect("trace");
        assert_eq!(ids(&t), vec![("a", 0), ("c", 1), ("d", 2), ("b", 1)]);
        assert_eq!((t.start_us, t.duration_us), (100, 100));
        assert_eq!(t.services, vec!["institution", "publications", "web"]);
        assert!(t.error);
        assert_eq!(t.trace_id, T);
    }

    #[test]
    fn orphans_are_roots_and_cycles_are_broken() {
        let x = test_span(T, "x", Some("gone"), 50, 10);
        let p = test_span(T, "p", Some("q"), 10, 10);
        let q = test_span(T, "q", Some("p"), 20, 10);
        let own = test_span(T, "o", Some("o"), 30, 1);
        let t = assemble(vec![x, q, own, p]).expect("trace");
        assert_eq!(ids(&t), vec![("o", 0), ("x", 0), ("p", 0), ("q", 1)]);
        assert!(!t.error);
    }

    #[test]
    fn duplicate_span_ids_keep_every_span_once() {
        let a1 = test_span(T, "a", None, 1, 10);
        let a2 = test_span(T, "a", None, 2, 10);
        let c = test_span(T, "c", Some("a"), 3, 1);
        let t = assemble(vec![a2, c, a1]).expect("trace");
        assert_eq!(t.spans.len(), 3);
        assert_eq!(ids(&t), vec![("a", 0), ("c", 1), ("a", 0)]);
    }

    #[test]
    fn a_deep_chain_does_not_recurse() {
        let spans: Vec<Span> = (0..20_000u64)
            .map(|i| {
                let parent = (i > 0).then(|| format!("s{}", i - 1));
                test_span(T, &format!("s{i}"), parent.as_deref(), i, 1)
            })
            .collect();
        let t = assemble(spans).expect("trace");
        assert_eq!(t.spans.last().map(|s| s.depth), Some(19_999));
    }

    #[test]
    fn round_trips_through_json() {
        let t = assemble(vec![test_span(T, "a", None, 1, 2)]).expect("trace");
        let json = serde_json::to_string(&t).expect("json");
        assert!(json.contains("\"depth\":0"), "{json}");
        let back: Trace = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, t);
    }
}
