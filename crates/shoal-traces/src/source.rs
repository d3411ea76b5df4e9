//! Where kept spans are read from: a store that gives one trace's spans and
//! walks recent traces; traces are assembled and summarized from it here.

use std::cmp::Reverse;

use crate::span::Span;
use crate::summary::{summarize, TraceQuery, TraceSummary};
use crate::tree::{assemble, Trace};

/// Kept spans, by trace. In `shoal up` these are the proxy's access lines in
/// the log store: a request is kept once, as its access record, and read as a
/// span here.
pub trait SpanSource: Send + Sync {
    /// The kept spans of `trace_id` (32 lower-case hex digits), any order.
    fn spans_of(&self, trace_id: &str) -> Vec<Span>;
    /// Each kept trace's spans, the most recently active trace first, until
    /// `visit` returns false.
    fn recent_traces(&self, visit: &mut dyn FnMut(Vec<Span>) -> bool);
}

/// The assembled trace, if any of its spans is kept.
pub fn find_trace(source: &dyn SpanSource, trace_id: &str) -> Option<Trace> {
    assemble(source.spans_of(trace_id))
}

/// Summaries of recent traces matching `q`, at most `q.limit` (0: all), the
/// latest start first.
pub fn list_traces(source: &dyn SpanSource, q: &TraceQuery) -> Vec<TraceSummary> {
    let mut out = Vec::new();
    source.recent_traces(&mut |spans| {
        match summarize(spans.iter()) {
            Some(s) if q.matches(&s) => out.push(s),
            _ => {}
        }
        q.limit == 0 || out.len() < q.limit
    });
    out.sort_by_key(|s| Reverse(s.start_us));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::test_span;

    /// Traces in a vector, most recently active last.
    struct Kept(Vec<Vec<Span>>);

    impl SpanSource for Kept {
        fn spans_of(&self, trace_id: &str) -> Vec<Span> {
            self.0
                .iter()
                .flatten()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect()
        }
        fn recent_traces(&self, visit: &mut dyn FnMut(Vec<Span>) -> bool) {
            for t in self.0.iter().rev() {
                if !visit(t.clone()) {
                    return;
                }
            }
        }
    }

    const A: &str = "0af7651916cd43dd8448eb211c80319c";
    const B: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const C: &str = "5bf92f3577b34da6a3ce929d0e0e4736";

    fn kept() -> Kept {
        let mut slow = test_span(C, "c1", None, 50, 900);
        slow.service = "reports".into();
        Kept(vec![
            vec![
                test_span(A, "a1", None, 100, 10),
                test_span(A, "a2", Some("a1"), 101, 5),
            ],
            vec![slow],
            vec![test_span(B, "b1", None, 200, 10)],
        ])
    }

    #[test]
    fn a_trace_is_assembled_from_its_spans() {
        let t = find_trace(&kept(), A).expect("trace A");
        assert_eq!(t.trace_id, A);
        assert_eq!(t.spans.len(), 2);
        assert!(find_trace(&kept(), "ffffffffffffffffffffffffffffffff").is_none());
    }

    #[test]
    fn listings_filter_limit_and_put_the_latest_start_first() {
        let all = list_traces(&kept(), &TraceQuery::default());
        let ids: Vec<&str> = all.iter().map(|s| s.trace_id.as_str()).collect();
        assert_eq!(ids, [B, A, C]);
        let two = TraceQuery {
            limit: 2,
            ..Default::default()
        };
        let ids: Vec<String> = list_traces(&kept(), &two)
            .into_iter()
            .map(|s| s.trace_id)
            .collect();
        assert_eq!(ids, [B, C], "the two most recently active, then by start");
        let reports = TraceQuery {
            service: Some("reports".into()),
            ..Default::default()
        };
        assert_eq!(list_traces(&kept(), &reports).len(), 1);
    }
}
