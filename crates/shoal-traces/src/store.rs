//! The bounded in-memory span store: spans in arrival order, indexed by trace id;
//! the oldest are evicted first when a count, size or age limit is passed.

mod index;
mod packed;

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::span::{Span, SpanRef};
use crate::summary::{TraceQuery, TraceSummary};
use crate::tree::{assemble, Trace};
use index::Inner;

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
        self.record_ref_at(&span.as_ref(), now_us);
    }

    /// Keeps a finished span given as borrowed texts (copied into one allocation).
    pub fn record_ref(&self, span: &SpanRef<'_>) {
        self.record_ref_at(span, now_us());
    }

    pub fn record_ref_at(&self, span: &SpanRef<'_>, now_us: u64) {
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
            inner.spans_of(trace_id).collect()
        };
        assemble(spans)
    }

    /// Summaries of recent traces matching `q`, newest first.
    pub fn list(&self, q: &TraceQuery) -> Vec<TraceSummary> {
        self.list_at(q, now_us())
    }

    pub fn list_at(&self, q: &TraceQuery, now_us: u64) -> Vec<TraceSummary> {
        let mut out = {
            let mut inner = self.lock();
            inner.evict(&self.limits, now_us);
            inner.list(q)
        };
        out.sort_by_key(|s| std::cmp::Reverse(s.start_us));
        out
    }

    pub fn stats(&self) -> TraceStats {
        self.lock().stats()
    }
}

#[cfg(test)]
mod tests;
