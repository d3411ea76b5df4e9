//! Retention limits of the store, the query filter, and the store's statistics.

use std::time::Duration;

use crate::line::LogLine;

/// How much the store keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLimits {
    /// Total approximate bytes kept (text, labels and per-line overhead); oldest lines go first.
    pub max_bytes: usize,
    /// Lines older than this are dropped.
    pub max_age: Duration,
    /// Longer lines are cut to this many bytes and end with [`TRUNCATION_MARKER`].
    pub max_line_bytes: usize,
}

/// Appended to a line cut to `max_line_bytes`.
pub const TRUNCATION_MARKER: &str = " …[truncated]";

impl Default for LogLimits {
    fn default() -> Self {
        LogLimits {
            max_bytes: 8 * 1024 * 1024,
            max_age: Duration::from_secs(24 * 60 * 60),
            max_line_bytes: 16 * 1024,
        }
    }
}

/// Which lines a query returns. Every set filter must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Exact service name.
    pub service: Option<String>,
    /// Exact instance id.
    pub instance: Option<String>,
    /// Only lines appended at or after this unix ms.
    pub since_ms: Option<u64>,
    /// Only lines with a sequence number greater than this (resume a tail).
    pub after_seq: Option<u64>,
    /// Case-sensitive substring of the line text.
    pub grep: Option<String>,
    /// Only lines carrying this trace id (any service; found by a scan of the trace keys).
    pub trace: Option<String>,
    /// Only structured lines whose field KEY has the text VALUE (`level` = `error`).
    pub fields: Vec<(String, String)>,
    /// The most recent N matching lines (returned oldest-first); 0 means no limit.
    pub limit: usize,
}

impl LogQuery {
    /// Whether `line` passes the label, trace, field and text filters (not the range filters).
    pub fn matches(&self, line: &LogLine) -> bool {
        self.service.as_deref().is_none_or(|s| s == line.service)
            && self.instance.as_deref().is_none_or(|i| i == line.instance)
            && self
                .trace
                .as_deref()
                .is_none_or(|t| line.trace_id.as_deref() == Some(t))
            && self.fields.iter().all(|(k, v)| {
                line.field(k)
                    .is_some_and(|actual| crate::structure::field_text(actual) == *v)
            })
            && self.grep.as_deref().is_none_or(|g| line.line.contains(g))
    }
}

/// What the store holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogStats {
    pub lines: usize,
    /// Sum of [`crate::LogLine::cost`] over kept lines; never above `max_bytes`.
    pub bytes: usize,
    /// Time of the oldest kept line, if any.
    pub oldest_ms: Option<u64>,
    /// Lines evicted so far (over `max_bytes` or older than `max_age`).
    pub dropped: u64,
    /// Distinct trace ids among kept lines.
    pub traces: usize,
    /// Bytes of the log's segment files on disk (0 without a disk log).
    pub disk_bytes: u64,
    /// Lines not written to disk because the writer fell behind.
    pub disk_dropped: u64,
}
