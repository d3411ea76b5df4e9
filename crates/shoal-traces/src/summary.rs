//! One line per trace for listings, and the filters of `shoal traces`.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::span::Span;

/// What `list` shows of one trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub trace_id: String,
    /// The service of the root span (the earliest span whose parent was not seen).
    pub root_service: String,
    /// The root span's `METHOD path`.
    pub root_name: String,
    /// Unix microseconds of the earliest start.
    pub start_us: u64,
    pub duration_us: u64,
    pub span_count: usize,
    /// Sorted.
    pub services: Vec<String>,
    /// Any 5xx or Shoal reason.
    pub error: bool,
}

/// Filters of a trace listing; every set filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceQuery {
    /// Only traces in which this service answered a span.
    pub service: Option<String>,
    /// Only traces at least this long.
    pub min_duration: Option<Duration>,
    pub errors_only: bool,
    /// At most this many (newest first); 0 means no limit.
    pub limit: usize,
}

impl TraceQuery {
    pub fn matches(&self, s: &TraceSummary) -> bool {
        self.service
            .as_ref()
            .is_none_or(|svc| s.services.iter().any(|x| x == svc))
            && self
                .min_duration
                .is_none_or(|d| u128::from(s.duration_us) >= d.as_micros())
            && (!self.errors_only || s.error)
    }
}

/// Summarizes one trace's spans (any order); `None` when there are none.
pub fn summarize<'a>(spans: impl IntoIterator<Item = &'a Span> + Clone) -> Option<TraceSummary> {
    let ids: HashSet<&str> = spans
        .clone()
        .into_iter()
        .map(|s| s.span_id.as_str())
        .collect();
    let mut root: Option<&Span> = None;
    let mut first: Option<&Span> = None;
    let (mut start, mut end, mut count, mut error) = (u64::MAX, 0u64, 0usize, false);
    let mut services = BTreeSet::new();
    for s in spans {
        count += 1;
        start = start.min(s.start_us);
        end = end.max(s.end_us());
        error |= s.is_error();
        services.insert(s.service.as_str());
        let orphan = s
            .parent_span_id
            .as_deref()
            .is_none_or(|p| !ids.contains(p) || p == s.span_id);
        if orphan && root.is_none_or(|r| s.start_us < r.start_us) {
            root = Some(s);
        }
        if first.is_none_or(|f| s.start_us < f.start_us) {
            first = Some(s);
        }
    }
    let root = root.or(first)?;
    Some(TraceSummary {
        trace_id: root.trace_id.clone(),
        root_service: root.service.clone(),
        root_name: root.name(),
        start_us: start,
        duration_us: end.saturating_sub(start),
        span_count: count,
        services: services.into_iter().map(str::to_string).collect(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::test_span;

    const T: &str = "0af7651916cd43dd8448eb211c80319c";

    fn trace() -> Vec<Span> {
        let mut child = test_span(T, "b", Some("a"), 110, 20);
        child.service = "db".into();
        child.path = "/q".into();
        let mut root = test_span(T, "a", Some("outside"), 100, 50);
        root.path = "/page".into();
        vec![child, root]
    }

    #[test]
    fn the_root_is_the_span_without_a_known_parent() {
        let s = summarize(&trace()).expect("summary");
        assert_eq!(s.root_service, "web");
        assert_eq!(s.root_name, "GET /page");
        assert_eq!((s.start_us, s.duration_us, s.span_count), (100, 50, 2));
        assert_eq!(s.services, vec!["db", "web"]);
        assert!(!s.error);
        assert!(summarize(&Vec::new()).is_none());
    }

    #[test]
    fn queries_filter_by_service_duration_and_errors() {
        let mut spans = trace();
        let s = summarize(&spans).expect("summary");
        let q = |service: Option<&str>, min_us: Option<u64>, errors_only| TraceQuery {
            service: service.map(str::to_string),
            min_duration: min_us.map(Duration::from_micros),
            errors_only,
            limit: 0,
        };
        assert!(q(None, None, false).matches(&s));
        assert!(q(Some("db"), None, false).matches(&s));
        assert!(!q(Some("cache"), None, false).matches(&s));
        assert!(q(None, Some(50), false).matches(&s));
        assert!(!q(None, Some(51), false).matches(&s));
        assert!(!q(None, None, true).matches(&s));
        spans[0].status = 500;
        let s = summarize(&spans).expect("summary");
        assert!(s.error);
        assert!(q(Some("web"), None, true).matches(&s));
    }
}
