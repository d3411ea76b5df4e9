//! Tests of the trace store: lookup, eviction by count, size and age, and listing.

use super::*;
use crate::span::test_span;

fn tid(n: u32) -> String {
    format!("{n:032x}")
}

fn limits(max_spans: usize) -> TraceLimits {
    TraceLimits {
        max_spans,
        max_bytes: usize::MAX,
        max_age: Duration::from_secs(60),
    }
}

const NOW: u64 = 1_000_000_000;

#[test]
fn spans_are_found_by_trace_id() {
    let store = TraceStore::new(limits(100));
    store.record_at(test_span(&tid(1), "b", Some("a"), NOW, 5), NOW);
    store.record_at(test_span(&tid(2), "x", None, NOW, 5), NOW);
    store.record_at(test_span(&tid(1), "a", None, NOW - 10, 20), NOW);
    let t = store.trace_at(&tid(1), NOW).expect("trace 1");
    assert_eq!(t.spans.len(), 2);
    assert_eq!(t.spans[0].span.span_id, "a");
    assert!(store.trace_at(&tid(3), NOW).is_none());
    let stats = store.stats();
    assert_eq!((stats.spans, stats.traces, stats.dropped), (3, 2, 0));
}

#[test]
fn the_oldest_spans_go_first_and_are_counted() {
    let store = TraceStore::new(limits(3));
    for i in 0..5u32 {
        store.record_at(test_span(&tid(i % 2), &format!("s{i}"), None, NOW, 1), NOW);
    }
    // Kept: s2 (trace 0), s3 (trace 1), s4 (trace 0).
    let t0 = store.trace_at(&tid(0), NOW).expect("trace 0");
    let kept: Vec<&str> = t0.spans.iter().map(|s| s.span.span_id.as_str()).collect();
    assert_eq!(kept, vec!["s2", "s4"]);
    let stats = store.stats();
    assert_eq!((stats.spans, stats.dropped), (3, 2));
    // Trace 0's oldest kept span is s2, older than trace 1's s3: listed after it.
    let listed: Vec<String> = store
        .list_at(&TraceQuery::default(), NOW)
        .into_iter()
        .map(|s| s.trace_id)
        .collect();
    assert_eq!(listed.len(), 2);
}

#[test]
fn the_byte_limit_evicts_too() {
    let one = test_span(&tid(1), "a", None, NOW, 1).approx_bytes();
    let store = TraceStore::new(TraceLimits {
        max_bytes: one * 2,
        ..limits(100)
    });
    for i in 0..4u32 {
        store.record_at(test_span(&tid(i), "a", None, NOW, 1), NOW);
    }
    let stats = store.stats();
    assert_eq!((stats.spans, stats.dropped), (2, 2));
    assert!(stats.bytes <= one * 2);
    assert!(store.trace_at(&tid(1), NOW).is_none());
    assert!(store.trace_at(&tid(3), NOW).is_some());
}

#[test]
fn old_spans_expire() {
    let store = TraceStore::new(limits(100));
    store.record_at(test_span(&tid(1), "a", None, NOW, 1), NOW);
    let later = NOW + 61_000_000;
    store.record_at(test_span(&tid(2), "a", None, later, 1), later);
    assert!(store.trace_at(&tid(1), later).is_none());
    assert!(store.trace_at(&tid(2), later).is_some());
    let stats = store.stats();
    assert_eq!((stats.expired, stats.dropped, stats.traces), (1, 0, 1));
    assert!(store
        .list_at(&TraceQuery::default(), later + 61_000_000)
        .is_empty());
}

#[test]
fn listing_is_newest_first_filtered_and_limited() {
    let store = TraceStore::new(limits(100));
    for i in 0..10u32 {
        let mut s = test_span(
            &tid(i),
            "a",
            None,
            NOW + u64::from(i) * 1000,
            u64::from(i) * 100,
        );
        if i % 3 == 0 {
            s.service = "db".into();
            s.status = 500;
        }
        store.record_at(s, NOW);
    }
    let all = store.list_at(&TraceQuery::default(), NOW);
    assert_eq!(all.len(), 10);
    assert_eq!(all[0].trace_id, tid(9));
    let q = TraceQuery {
        service: Some("db".into()),
        errors_only: true,
        min_duration: Some(Duration::from_micros(300)),
        limit: 2,
    };
    let ids: Vec<String> = store
        .list_at(&q, NOW)
        .into_iter()
        .map(|s| s.trace_id)
        .collect();
    assert_eq!(ids, vec![tid(9), tid(6)]);
}

/// Trace ids in listing order; equal starts keep the store's order (the sort is stable).
fn listed(store: &TraceStore, limit: usize) -> Vec<String> {
    let q = TraceQuery {
        limit,
        ..TraceQuery::default()
    };
    store
        .list_at(&q, NOW)
        .into_iter()
        .map(|s| s.trace_id)
        .collect()
}

fn kept(store: &TraceStore, id: &str) -> Vec<String> {
    store.trace_at(id, NOW).map_or_else(Vec::new, |t| {
        t.spans.into_iter().map(|s| s.span.span_id).collect()
    })
}

#[test]
fn a_trace_outliving_its_first_span_moves_in_the_listing() {
    let store = TraceStore::new(limits(4));
    let (a, b, c, d) = (tid(10), tid(11), tid(12), tid(13));
    for (trace, span) in [(&a, "a1"), (&b, "b1"), (&a, "a2"), (&c, "c1"), (&a, "a3")] {
        store.record_at(test_span(trace, span, None, NOW, 1), NOW);
    }
    // a1 is gone; a's oldest kept span, a2, is newer than b1 and older than c1.
    assert_eq!(kept(&store, &a), vec!["a2", "a3"]);
    assert_eq!(listed(&store, 0), vec![c.clone(), a.clone(), b.clone()]);
    store.record_at(test_span(&d, "d1", None, NOW, 1), NOW);
    assert_eq!(kept(&store, &a), vec!["a2", "a3"]);
    assert!(kept(&store, &b).is_empty());
    assert_eq!(listed(&store, 0), vec![d.clone(), c.clone(), a.clone()]);
    assert_eq!(listed(&store, 2), vec![d.clone(), c.clone()]);
    store.record_at(test_span(&d, "d2", None, NOW, 1), NOW);
    store.record_at(test_span(&d, "d3", None, NOW, 1), NOW);
    assert_eq!(kept(&store, &a), vec!["a3"]);
    assert_eq!(listed(&store, 0), vec![d.clone(), a.clone()]);
    let stats = store.stats();
    assert_eq!((stats.spans, stats.traces, stats.dropped), (4, 2, 4));
}

#[test]
fn ids_that_are_not_hex_are_stored_and_read() {
    let store = TraceStore::new(limits(3));
    for (trace, span) in [("my-trace", "m1"), ("other", "o1"), ("my-trace", "m2")] {
        store.record_at(test_span(trace, span, None, NOW, 1), NOW);
    }
    assert_eq!(kept(&store, "my-trace"), vec!["m1", "m2"]);
    assert_eq!(kept(&store, "other"), vec!["o1"]);
    assert!(kept(&store, "my-trac").is_empty());
    assert_eq!(listed(&store, 0), vec!["other", "my-trace"]);
    store.record_at(test_span(&tid(1), "x", None, NOW, 1), NOW);
    assert_eq!(kept(&store, "my-trace"), vec!["m2"]);
    assert_eq!(
        listed(&store, 0),
        vec![tid(1), "my-trace".into(), "other".into()]
    );
    assert_eq!(store.stats().traces, 3);
}

#[test]
fn ids_sharing_a_key_never_show_each_others_spans() {
    // The same hex digits in two cases parse to the same key.
    let lower = "0af7651916cd43dd8448eb211c80319c";
    let upper = lower.to_ascii_uppercase();
    let store = TraceStore::new(limits(3));
    for (trace, span) in [
        (upper.as_str(), "u1"),
        (lower, "l1"),
        (&upper, "u2"),
        (lower, "l2"),
    ] {
        store.record_at(test_span(trace, span, None, NOW, 1), NOW);
    }
    // u1 is gone: kept l1, u2, l2.
    assert_eq!(kept(&store, lower), vec!["l1", "l2"]);
    assert_eq!(kept(&store, &upper), vec!["u2"]);
    assert_eq!(listed(&store, 0), vec![upper.clone(), lower.to_string()]);
    assert_eq!(store.stats().traces, 2);
    store.record_at(test_span(&tid(1), "x", None, NOW, 1), NOW);
    // l1 is gone: the lower-case trace is now placed by l2, after u2.
    assert_eq!(kept(&store, lower), vec!["l2"]);
    assert_eq!(
        listed(&store, 0),
        vec![tid(1), lower.to_string(), upper.clone()]
    );
    let stats = store.stats();
    assert_eq!((stats.spans, stats.traces), (3, 3));
}
