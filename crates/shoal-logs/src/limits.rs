//! Retention limits of the store, the query filter, and the store's statistics.

use std::time::Duration;

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
            max_bytes: 64 * 1024 * 1024,
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
    /// The most recent N matching lines (returned oldest-first); 0 means no limit.
    pub limit: usize,
}

/// What the store holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogStats {
    pub lines: usize,
    /// Sum of [`crate::LogLine::cost`] over kept lines; never above `max_bytes`.
    pub bytes: usize,
    /// Time of the oldest kept line, if any.
    pub oldest_ms: Option<u64>,
    /// Lines evicted so far (over `max_bytes` or older than `max_age`).
    pub dropped: u64,
}
