//! Header rewriting between client and instance: hop-by-hop headers out,
//! `X-Version`, trace context and the caller in.

use http::{header, HeaderMap, HeaderName, HeaderValue};

use crate::trace::TraceContext;

const HOPS: usize = 7;
/// Headers that describe one hop and must not be forwarded (`Connection` first).
const HOP_BY_HOP: [HeaderName; HOPS] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::UPGRADE,
    header::TRANSFER_ENCODING,
];

const X_VERSION: HeaderName = HeaderName::from_static("x-version");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub(crate) const X_TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");
const X_SHOAL_CALLER: HeaderName = HeaderName::from_static("x-shoal-caller");

/// Rewrites a request's headers for the instance: hop-by-hop out; `X-Version`,
/// `traceparent`, `X-Trace-Id`, `X-Shoal-Caller` set. `X-Flag-*` pass unchanged.
pub(crate) fn prepare_headers(
    h: &mut HeaderMap,
    version: &str,
    trace: &TraceContext,
    caller: &str,
) {
    strip_hop_by_hop(h);
    // `insert` replaces what the client sent under the same names.
    match HeaderValue::from_str(version) {
        Ok(v) if !version.is_empty() => {
            h.insert(X_VERSION, v);
        }
        _ => {
            h.remove(X_VERSION);
        }
    }
    if let Some(v) = trace.header_value() {
        h.insert(TRACEPARENT, v);
    }
    if let Some(v) = trace.trace_id_value() {
        h.insert(X_TRACE_ID, v);
    }
    if let Ok(v) = HeaderValue::from_str(caller) {
        h.insert(X_SHOAL_CALLER, v);
    }
}

/// [`HOP_BY_HOP`] as bytes, for names in any case (raw answer fields, `Connection` lists).
const HOP_NAMES: [&[u8]; HOPS] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"te",
    b"trailer",
    b"upgrade",
    b"transfer-encoding",
];

/// Whether a header name, in any case, is hop-by-hop (one of [`HOP_BY_HOP`]).
pub(crate) fn is_hop_by_hop(name: &[u8]) -> bool {
    HOP_NAMES.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The position of a (lower-case) header name in [`HOP_BY_HOP`].
fn hop_index(name: &str) -> Option<usize> {
    match name {
        "connection" => Some(0),
        "keep-alive" => Some(1),
        "proxy-connection" => Some(2),
        "te" => Some(3),
        "trailer" => Some(4),
        "upgrade" => Some(5),
        "transfer-encoding" => Some(6),
        _ => None,
    }
}

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names: most messages carry none or only `Connection: keep-alive`.
    let mut present = [false; HOPS];
    for name in headers.keys() {
        if let Some(i) = hop_index(name.as_str()) {
            present[i] = true;
        }
    }
    if present[0] {
        let listed: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|name| !is_hop_by_hop(name.as_bytes()))
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for (name, _) in HOP_BY_HOP.iter().zip(present).filter(|(_, p)| *p) {
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
        assert_eq!(h["x-trace-id"], trace.trace_id());
        assert_eq!(h["traceparent"], trace.header());
    }

    #[test]
    fn hop_index_matches_the_list() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_index(name.as_str()), Some(i));
            assert_eq!(HOP_NAMES[i], name.as_str().as_bytes());
            assert!(is_hop_by_hop(name.as_str().to_uppercase().as_bytes()));
        }
        assert!(!is_hop_by_hop(b"x-flag-new"));
        assert_eq!(hop_index("x-flag-new"), None);
    }

    #[test]
    fn listed_and_fixed_hop_headers_are_stripped() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("Keep-Alive, X-Hop"),
        );
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h[header::CONTENT_TYPE], "text/plain");
    }
}
