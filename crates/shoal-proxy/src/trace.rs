//! W3C trace context: a `traceparent` is continued with a new span id per hop,
//! or created at the first hop (random trace id and span id, sampled).

use http::HeaderMap;
use rand::Rng;

/// The trace context of one hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lower-case hex digits.
    pub trace_id: String,
    /// This hop's span, 16 hex digits.
    pub span_id: String,
    /// The caller's span, when the request arrived with a `traceparent`.
    pub parent_span_id: Option<String>,
    pub flags: String,
}

impl TraceContext {
    /// Continues the request's `traceparent`, or starts a new trace.
    pub fn from_headers(headers: &HeaderMap, rng: &mut impl Rng) -> Self {
        let parsed = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse);
        let span_id = hex(rng.random::<u64>().max(1).to_be_bytes().as_slice());
        match parsed {
            Some((trace_id, parent, flags)) => Self {
                trace_id,
                span_id,
                parent_span_id: Some(parent),
                flags,
            },
            None => Self {
                trace_id: hex(rng.random::<u128>().max(1).to_be_bytes().as_slice()),
                span_id,
                parent_span_id: None,
                flags: "01".to_owned(),
            },
        }
    }

    /// The `traceparent` value to send upstream.
    pub fn header(&self) -> String {
        let mut s = String::with_capacity(
            3 + self.trace_id.len() + 1 + self.span_id.len() + 1 + self.flags.len(),
        );
        for part in ["00-", &self.trace_id, "-", &self.span_id, "-", &self.flags] {
            s.push_str(part);
        }
        s
    }
}

/// Lower-case hex of `bytes` (on the request path, so without `fmt`).
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses `00-<trace id>-<parent id>-<flags>`; all-zero ids are invalid.
fn parse(v: &str) -> Option<(String, String, String)> {
    let mut parts = v.trim().split('-');
    let (version, trace, parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let valid = is_hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && is_hex(trace, 32)
        && is_hex(parent, 16)
        && is_hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && parent.bytes().any(|b| b != b'0');
    valid.then(|| (trace.to_owned(), parent.to_owned(), flags.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn starts_a_trace_when_absent() {
        let t = TraceContext::from_headers(&HeaderMap::new(), &mut rand::rng());
        assert!(is_hex(&t.trace_id, 32) && is_hex(&t.span_id, 16));
        assert_eq!(t.parent_span_id, None);
        assert_eq!(t.header(), format!("00-{}-{}-01", t.trace_id, t.span_id));
    }

    #[test]
    fn continues_a_trace_with_a_new_span() {
        let mut h = HeaderMap::new();
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        h.insert("traceparent", HeaderValue::from_static(incoming));
        let t = TraceContext::from_headers(&h, &mut rand::rng());
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_ne!(t.span_id, "00f067aa0ba902b7");
    }

    #[test]
    fn rejects_malformed_parents() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "garbage",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
