//! Header rewriting between client and instance: hop-by-hop fields out,
//! `X-Version`, trace context and the caller in. Names are compared as bytes in
//! any case, so raw fields (`fields.rs`) are filtered without a header map.

use http::{header, HeaderMap, HeaderName};

use crate::trace::TraceContext;

pub(crate) const X_TRACE_ID: HeaderName = HeaderName::from_static("x-trace-id");

/// The start of every feature flag field's name, lower case.
const FLAG_PREFIX: &[u8] = b"x-flag-";

/// The fields the proxy reads, sets or drops, recognised once per field (by
/// length, then bytes in any case); every other field is [`Known::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Known {
    Other,
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    KeepAlive,
    ProxyConnection,
    Te,
    Trailer,
    Upgrade,
    Expect,
    Traceparent,
    XTraceId,
    XVersion,
    XShoalCaller,
    Accept,
    Date,
    /// A gRPC answer's status, in its head when the answer is trailers-only.
    GrpcStatus,
    /// Any `X-Flag-<name>`: a feature flag's decision (a class of names, by prefix).
    XFlag,
}

impl Known {
    /// How many kinds there are (for tables indexed by kind).
    pub(crate) const COUNT: usize = Known::XFlag as usize + 1;

    /// The kind of a field called `name` (any case): by length and first letter,
    /// then one comparison.
    pub(crate) fn of(name: &[u8]) -> Known {
        let Some(&first) = name.first() else {
            return Known::Other;
        };
        // `| 0x20` lower-cases a letter; no other byte becomes one of these letters.
        let kind = match (name.len(), first | 0x20) {
            (2, b't') => Known::Te,
            (4, b'h') => Known::Host,
            (4, b'd') => Known::Date,
            (6, b'a') => Known::Accept,
            (6, b'e') => Known::Expect,
            (7, b't') => Known::Trailer,
            (7, b'u') => Known::Upgrade,
            (9, b'x') => Known::XVersion,
            (10, b'c') => Known::Connection,
            (10, b'k') => Known::KeepAlive,
            (10, b'x') => Known::XTraceId,
            (11, b't') => Known::Traceparent,
            (11, b'g') => Known::GrpcStatus,
            (14, b'c') => Known::ContentLength,
            (14, b'x') => Known::XShoalCaller,
            (16, b'p') => Known::ProxyConnection,
            (17, b't') => Known::TransferEncoding,
            _ => Known::Other,
        };
        if kind != Known::Other && eq_lower(name, kind.name().as_bytes()) {
            return kind;
        }
        if name.len() > FLAG_PREFIX.len()
            && first | 0x20 == b'x'
            && eq_lower(&name[..FLAG_PREFIX.len()], FLAG_PREFIX)
        {
            return Known::XFlag;
        }
        Known::Other
    }

    /// The field's name in lower case ("" for [`Known::Other`]; the prefix
    /// `x-flag-` for [`Known::XFlag`], a class of names).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Known::Other => "",
            Known::Te => "te",
            Known::Host => "host",
            Known::Date => "date",
            Known::Accept => "accept",
            Known::Expect => "expect",
            Known::Trailer => "trailer",
            Known::Upgrade => "upgrade",
            Known::XVersion => "x-version",
            Known::Connection => "connection",
            Known::KeepAlive => "keep-alive",
            Known::XTraceId => "x-trace-id",
            Known::Traceparent => "traceparent",
            Known::GrpcStatus => "grpc-status",
            Known::ContentLength => "content-length",
            Known::XShoalCaller => "x-shoal-caller",
            Known::ProxyConnection => "proxy-connection",
            Known::TransferEncoding => "transfer-encoding",
            Known::XFlag => "x-flag-",
        }
    }

    /// Whether the field describes one hop and is not forwarded (`Connection`,
    /// `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`, `Upgrade`, `Transfer-Encoding`).
    pub(crate) fn is_hop_by_hop(self) -> bool {
        matches!(
            self,
            Known::Connection
                | Known::KeepAlive
                | Known::ProxyConnection
                | Known::Te
                | Known::Trailer
                | Known::Upgrade
                | Known::TransferEncoding
        )
    }
}

/// Whether `name`, a header name (a token: no byte below `!`), is `want` (lower-case
/// letters and `-`) in any case. `| 0x20` maps only `A`–`Z` (and control bytes,
/// which tokens lack) onto these, so names of 8 bytes or more are compared a word
/// at a time (the last word overlapping): cheaper than `eq_ignore_ascii_case`.
fn eq_lower(name: &[u8], want: &[u8]) -> bool {
    let n = name.len();
    if n != want.len() {
        return false;
    }
    if n < 8 {
        return name.iter().zip(want).all(|(&a, &b)| a | 0x20 == b);
    }
    let word = |s: &[u8], i: usize| {
        s.get(i..i + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let same = |i| word(name, i) | 0x2020_2020_2020_2020 == word(want, i);
    let mut i = 0;
    while i + 8 < n {
        if !same(i) {
            return false;
        }
        i += 8;
    }
    same(n - 8)
}

/// Whether a header name, in any case, is hop-by-hop ([`Known::is_hop_by_hop`]).
pub(crate) fn is_hop_by_hop(name: &[u8]) -> bool {
    Known::of(name).is_hop_by_hop()
}

/// Whether a client's request field passes to the instance: not hop-by-hop, not
/// one Shoal sets ([`Stamp`]), not `Content-Length` (the request is framed anew).
pub(crate) fn to_instance(kind: Known) -> bool {
    !kind.is_hop_by_hop()
        && !matches!(
            kind,
            Known::XVersion
                | Known::XTraceId
                | Known::Traceparent
                | Known::XShoalCaller
                | Known::ContentLength
        )
}

/// Whether an answer's field passes to the client: not hop-by-hop; not
/// `Content-Length` when `reframed` (the proxy writes its own); not `X-Trace-Id`
/// when `own_trace_id` (the proxy's is written instead).
pub(crate) fn to_client(kind: Known, reframed: bool, own_trace_id: bool) -> bool {
    let dropped = kind.is_hop_by_hop()
        || (reframed && kind == Known::ContentLength)
        || (own_trace_id && kind == Known::XTraceId);
    !dropped
}

/// Whether `value` may be written as a header value (no control bytes but tab).
fn is_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// What Shoal adds to a request for the instance.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp<'a> {
    /// The version serving the request ("" when not known: no `X-Version`).
    pub version: &'a str,
    pub trace: &'a TraceContext,
    pub caller: &'a str,
    /// The flag decisions made for this request (`X-Flag-<name>: <value>\r\n`
    /// lines): written, and the client's `X-Flag-*` fields dropped. `None`: the
    /// client's pass unchanged.
    pub flags: Option<&'a [u8]>,
}

impl Stamp<'_> {
    /// Whether a client's field of `kind` passes with this stamp: [`to_instance`],
    /// and not `X-Flag-*` when the stamp carries the decisions.
    pub(crate) fn keeps(&self, kind: Known) -> bool {
        to_instance(kind) && !(self.flags.is_some() && kind == Known::XFlag)
    }

    /// Writes `X-Version`, `traceparent`, `X-Trace-Id`, `X-Shoal-Caller` and the
    /// flag decisions. The rest of the client's fields pass unchanged. The trace
    /// context is hex digits by construction; the version and caller are written
    /// only when they are valid header values.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        let Stamp {
            version,
            trace,
            caller,
            flags,
        } = *self;
        if !version.is_empty() && is_value(version.as_bytes()) {
            out.extend_from_slice(b"x-version: ");
            out.extend_from_slice(version.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let (traceparent, trace_id) = trace.wire();
        out.extend_from_slice(b"traceparent: ");
        out.extend_from_slice(traceparent);
        out.extend_from_slice(b"\r\nx-trace-id: ");
        out.extend_from_slice(trace_id);
        out.extend_from_slice(b"\r\n");
        if is_value(caller.as_bytes()) {
            out.extend_from_slice(b"x-shoal-caller: ");
            out.extend_from_slice(caller.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(flags) = flags {
            out.extend_from_slice(flags);
        }
    }

    /// The same fields into a header map (HTTP/2 to an instance).
    pub(crate) fn insert_into(&self, map: &mut HeaderMap) {
        let mut text = Vec::with_capacity(192);
        self.write(&mut text);
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii_start());
            if let (Ok(n), Ok(mut v)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(value),
            ) {
                // Trace ids are new for every request: HPACK gains nothing from
                // indexing them, and each insert would evict a field that repeats.
                v.set_sensitive(n == "traceparent" || n == "x-trace-id");
                map.insert(n, v);
            }
        }
    }
}

/// Removes a map's hop-by-hop fields and the fields its `Connection` names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names; most maps carry none, and then nothing is collected.
    let mut hops: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_hop_by_hop(name.as_str().as_bytes()))
        .cloned()
        .collect();
    if hops.contains(&header::CONNECTION) {
        let listed = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|name| !is_hop_by_hop(name.as_bytes()))
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok());
        hops.extend(listed);
    }
    for name in hops {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use http::HeaderValue;

    #[test]
    fn what_passes_to_the_instance() {
        let to_instance = |name: &str| to_instance(Known::of(name.as_bytes()));
        let to_client =
            |name: &str, reframed, own| to_client(Known::of(name.as_bytes()), reframed, own);
        for name in ["X-Flag-New", "host", "Accept", "tracestate"] {
            assert!(to_instance(name), "{name}");
        }
        for name in [
            "Connection",
            "X-Version",
            "X-SHOAL-CALLER",
            "traceparent",
            "x-trace-id",
            "Content-Length",
            "Transfer-Encoding",
        ] {
            assert!(!to_instance(name), "{name}");
        }
        assert!(to_client("Content-Length", false, true));
        assert!(!to_client("Content-Length", true, false));
        assert!(!to_client("X-Trace-Id", false, true));
        assert!(to_client("X-Trace-Id", false, false));
        assert!(!to_client("keep-alive", false, false));
    }

    #[test]
    fn shoal_fields_for_the_instance() {
        let trace = TraceContext::from_headers(
            &HeaderMap::new(),
            &mut rand::rng(),
            &crate::sample::Sampler::default(),
        );
        let mut out = Vec::new();
        let stamp = |version, caller| Stamp {
            version,
            trace: &trace,
            caller,
            flags: None,
        };
        stamp("23", "web").write(&mut out);
        let want = format!(
            "x-version: 23\r\ntraceparent: {}\r\nx-trace-id: {}\r\nx-shoal-caller: web\r\n",
            trace.header(),
            trace.trace_id()
        );
        assert_eq!(String::from_utf8_lossy(&out), want);
        out.clear();
        stamp("", "bad\ncaller").write(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(
            !text.contains("x-version") && !text.contains("x-shoal-caller"),
            "{text}"
        );
    }

    #[test]
    fn known_fields_are_recognised_in_any_case() {
        for (name, kind) in [
            ("Host", Known::Host),
            ("DATE", Known::Date),
            ("x-version", Known::XVersion),
            ("X-Shoal-Caller", Known::XShoalCaller),
            ("Content-Length", Known::ContentLength),
            ("traceparent", Known::Traceparent),
            ("tracestate", Known::Other),
            ("hosts", Known::Other),
            ("hist", Known::Other),
            ("Content-Type", Known::Other),
            ("x-trace-ix", Known::Other),
            ("Proxy-Connection", Known::ProxyConnection),
            ("", Known::Other),
        ] {
            assert_eq!(Known::of(name.as_bytes()), kind, "{name}");
        }
        for kind in [
            Known::Host,
            Known::Te,
            Known::TransferEncoding,
            Known::XShoalCaller,
        ] {
            assert_eq!(Known::of(kind.name().as_bytes()), kind);
        }
    }

    #[test]
    fn hop_by_hop_names_are_recognised_in_any_case() {
        let hops = [
            header::CONNECTION,
            HeaderName::from_static("keep-alive"),
            HeaderName::from_static("proxy-connection"),
            header::TE,
            header::TRAILER,
            header::UPGRADE,
            header::TRANSFER_ENCODING,
        ];
        for name in &hops {
            assert!(is_hop_by_hop(name.as_str().as_bytes()));
            assert!(is_hop_by_hop(name.as_str().to_uppercase().as_bytes()));
        }
        for other in [
            "x-flag-new",
            "tx",
            "trailers",
            "connections",
            "content-length",
        ] {
            assert!(!is_hop_by_hop(other.as_bytes()), "{other}");
        }
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
