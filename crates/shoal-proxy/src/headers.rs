//! Header rewriting between client and instance: hop-by-hop headers out,
//! `X-Version`, trace context and the caller in; which answers are buffered.

use http::{header, HeaderMap, HeaderName, HeaderValue};

use crate::trace::TraceContext;

/// Headers that describe one hop and must not be forwarded.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "transfer-encoding",
];

/// Rewrites a request's headers for the instance: hop-by-hop out; `X-Version`,
/// `traceparent`, `X-Trace-Id`, `X-Shoal-Caller` set. `X-Flag-*` pass unchanged.
pub(crate) fn prepare_headers(
    h: &mut HeaderMap,
    version: &str,
    trace: &TraceContext,
    caller: &str,
) {
    strip_hop_by_hop(h);
    h.remove("x-version");
    if let Ok(v) = HeaderValue::from_str(version) {
        if !version.is_empty() {
            h.insert("x-version", v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&trace.header()) {
        h.insert("traceparent", v);
    }
    if let Ok(v) = HeaderValue::from_str(&trace.trace_id) {
        h.insert("x-trace-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(caller) {
        h.insert("x-shoal-caller", v);
    }
}

/// Bodies up to this size (by `Content-Length`) are buffered, larger ones streamed.
const BUFFER_BODY_BYTES: u64 = 64 * 1024;

pub(crate) fn small_length(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n <= BUFFER_BODY_BYTES)
}

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_for_the_instance() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("x-flag-new", HeaderValue::from_static("1"));
        h.insert("x-version", HeaderValue::from_static("99"));
        h.insert("x-shoal-caller", HeaderValue::from_static("forged"));
        let trace = TraceContext::from_headers(&HeaderMap::new(), &mut rand::rng());
        prepare_headers(&mut h, "23", &trace, "web");
        assert!(h.get("x-secret").is_none() && h.get(header::CONNECTION).is_none());
        assert_eq!(h["x-flag-new"], "1");
        assert_eq!(h["x-version"], "23");
        assert_eq!(h["x-shoal-caller"], "web");
        assert_eq!(h["x-trace-id"], trace.trace_id.as_str());
        assert_eq!(h["traceparent"], trace.header().as_str());
    }
}
