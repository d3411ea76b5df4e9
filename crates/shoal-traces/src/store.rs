//! The bounded in-memory span store: spans in arrival order, indexed by trace id;
//! the oldest are evicted first when a count, size or age limit is passed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::span::Span;
use crate::summary::{summarize, TraceQuery, TraceSummary};
use crate::tree::{assemble, Trace};

/// How much the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceLimits {
    pub max_spans: usize,
    /// By [`Span::approx_bytes`].
    pub max_bytes: usize,
    /// Spans that ended longer ago than this are dropped.
    pub max_age: Duration,
}

impl Default for TraceLimits {
    fn default() -> Self {
        Self {
            max_spans: 50_000,
            max_bytes: 32 << 20,
            max_age: Duration::from_secs(3600),
        }
    }
}

/// Counters of the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TraceStats {
    pub spans: usize,
    pub traces: usize,
    pub bytes: usize,
    /// Spans evicted to stay within the count or size limit.
    pub dropped: u64,
    /// Spans removed for being older than the age limit.
    pub expired: u64,
}

/// Spans by trace id; safe to share between the proxy (writer) and the API (readers).
pub struct TraceStore {
    limits: TraceLimits,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Arrival order; sequence numbers are consecutive.
    spans: VecDeque<(u64, Arc<Span>)>,
    next_seq: u64,
    /// Each trace's span sequence numbers, oldest first.
    traces: HashMap<String, VecDeque<u64>>,
    /// Traces by the sequence number of their oldest kept span.
    order: BTreeMap<u64, String>,
    stats: TraceStats,
}

/// Now, in unix microseconds.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl TraceStore {
    pub fn new(limits: TraceLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a finished span. Cheap; called on the request path.
    pub fn record(&self, span: Span) {
        self.record_at(span, now_us());
    }

    pub fn record_at(&self, span: Span, now_us: u64) {
        let mut inner = self.lock();
        inner.push(span);
        inner.evict(&self.limits, now_us);
    }

    /// The assembled trace, if any of its spans is kept.
    pub fn trace(&self, trace_id: &str) -> Option<Trace> {
        self.trace_at(trace_id, now_us())
    }

    pub fn trace_at(&self, trace_id: &str, now_us: u64) -> Option<Trace> {
        let spans: Vec<Span> = {
            let mut inner = self.lock();
            inner.evict(&self.limits, now_us);
            inner.spans_of(trace_id).map(|s| Span::clone(s)).collect()
        };
        assemble(spans)
    }

    /// Summaries of recent traces matching `q`, newest first.
    pub fn list(&self, q: &TraceQuery) -> Vec<TraceSummary> {
        self.list_at(q, now_us())
    }

    pub fn list_at(&self, q: &TraceQuery, now_us: u64) -> Vec<TraceSummary> {
        let mut out = Vec::new();
        {
            let mut inner = self.lock();
            inner.evict(&self.limits, now_us);
            for id in inner.order.values().rev() {
                let spans: Vec<&Span> = inner.spans_of(id).map(|s| s.as_ref()).collect();
                match summarize(spans.iter().copied()) {
                    Some(s) if q.matches(&s) => out.push(s),
                    _ => {}
                }
                if q.limit > 0 && out.len() >= q.limit {
                    break;
                }
            }
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.start_us));
        out
    }

    pub fn stats(&self) -> TraceStats {
        let inner = self.lock();
        TraceStats {
            spans: inner.spans.len(),
            traces: inner.traces.len(),
            ..inner.stats
        }
    }
}

impl Inner {
    fn push(&mut self, span: Span) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.bytes += span.approx_bytes();
        let seqs = self.traces.entry(span.trace_id.clone()).or_default();
        if seqs.is_empty() {
            self.order.insert(seq, span.trace_id.clone());
        }
        seqs.push_back(seq);
        self.spans.push_back((seq, Arc::new(span)));
    }

    fn evict(&mut self, limits: &TraceLimits, now_us: u64) {
        let oldest_end = now_us.saturating_sub(limits.max_age.as_micros() as u64);
        while let Some((_, front)) = self.spans.front() {
            if self.spans.len() > limits.max_spans || self.stats.bytes > limits.max_bytes {
                self.stats.dropped += 1;
            } else if front.end_us() < oldest_end {
                self.stats.expired += 1;
            } else {
                break;
            }
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        let Some((seq, span)) = self.spans.pop_front() else {
            return;
        };
        self.stats.bytes = self.stats.bytes.saturating_sub(span.approx_bytes());
        self.order.remove(&seq);
        if let Some(seqs) = self.traces.get_mut(&span.trace_id) {
            seqs.retain(|s| *s != seq);
            match seqs.front() {
                Some(&next) => {
                    self.order.insert(next, span.trace_id.clone());
                }
                None => {
                    self.traces.remove(&span.trace_id);
                }
            }
        }
    }

    fn spans_of<'a>(&'a self, trace_id: &str) -> impl Iterator<Item = &'a Arc<Span>> + 'a {
        let base = self.spans.front().map_or(0, |(s, _)| *s);
        self.traces
            .get(trace_id)
            .into_iter()
            .flatten()
            .filter_map(move |seq| self.spans.get(seq.checked_sub(base)? as usize))
            .map(|(_, span)| span)
    }
}

#[cfg(test)]
mod tests {
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
}
