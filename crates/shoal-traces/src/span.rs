//! One span: a proxied request (one hop) with its trace and parent span ids.

use serde::{Deserialize, Serialize};

use crate::TraceError;

/// One hop of a request through the proxy, as recorded at its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// 32 lower-case hex digits.
    pub trace_id: String,
    /// 16 lower-case hex digits.
    pub span_id: String,
    /// The caller's span; for the first hop it may be a span Shoal never saw.
    pub parent_span_id: Option<String>,
    /// Unix microseconds when the proxy received the request.
    pub start_us: u64,
    /// Until the answer's headers were ready, in microseconds.
    pub duration_us: u64,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// `gateway` for outside traffic, else the calling service.
    pub caller: String,
    pub service: String,
    pub version: String,
    /// The instance that answered (the last one tried), if any.
    pub instance: Option<String>,
    pub retries: u32,
    /// `X-Shoal-Reason` when Shoal answered itself (`shed`, `timeout`, ...).
    pub reason: Option<String>,
    /// The feature flags the request was sent on with, `name=value` pairs joined by
    /// `,` (none: the proxy had no flags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
}

impl Span {
    /// Unix microseconds when the answer was ready.
    pub fn end_us(&self) -> u64 {
        self.start_us.saturating_add(self.duration_us)
    }

    /// A 5xx answer, or one Shoal gave itself.
    pub fn is_error(&self) -> bool {
        self.status >= 500 || self.reason.is_some()
    }

    /// `METHOD path`, the span's name.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
}

/// Checks a W3C trace id (32 hex digits, not all zero) and lower-cases it.
pub fn parse_trace_id(s: &str) -> Result<String, TraceError> {
    if is_hex(s, 32) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(TraceError::BadTraceId(s.chars().take(64).collect()))
    }
}

/// Whether `s` is a W3C span id (16 hex digits, not all zero).
pub fn is_span_id(s: &str) -> bool {
    is_hex(s, 16)
}

#[cfg(test)]
pub(crate) fn test_span(trace: &str, id: &str, parent: Option<&str>, start: u64, dur: u64) -> Span {
    Span {
        trace_id: trace.to_string(),
        span_id: id.to_string(),
        parent_span_id: parent.map(str::to_string),
        start_us: start,
        duration_us: dur,
        method: "GET".into(),
        path: "/".into(),
        status: 200,
        caller: "gateway".into(),
        service: "web".into(),
        version: "1".into(),
        instance: Some("web-1".into()),
        retries: 0,
        reason: None,
        flags: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_checked_and_lower_cased() {
        let id = "0AF7651916CD43DD8448EB211C80319C";
        assert_eq!(
            parse_trace_id(id).ok().as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
        for bad in ["", "xyz", &"0".repeat(32), &"a".repeat(31), &"g".repeat(32)] {
            assert!(parse_trace_id(bad).is_err(), "{bad}");
        }
        assert!(is_span_id("b7ad6b7169203331"));
        assert!(!is_span_id("0000000000000000"));
    }

    #[test]
    fn errors_are_5xx_or_shoal_answers() {
        let mut s = test_span("t", "a", None, 0, 1);
        assert!(!s.is_error());
        s.status = 404;
        assert!(!s.is_error());
        s.status = 502;
        assert!(s.is_error());
        s.status = 429;
        s.reason = Some("rate-limited".into());
        assert!(s.is_error());
        assert_eq!(s.name(), "GET /");
        assert_eq!(s.end_us(), 1);
    }
}
