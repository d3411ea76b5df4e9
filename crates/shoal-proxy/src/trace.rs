//! W3C trace context: a `traceparent` is continued with a new span id per hop,
//! or created at the first hop (random trace id and span id); its `sampled`
//! flag is what the [`Sampler`] decides.

use http::HeaderValue;
use rand::Rng;

use crate::fields::HeaderLookup;
use crate::sample::Sampler;

/// The length of a version-00 `traceparent`: `00-` 32 hex `-` 16 hex `-` 2 hex.
const HEADER_LEN: usize = 55;

/// The trace context of one hop, kept as the `traceparent` it sends on (in
/// place, no allocation; the ids are slices of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    header: [u8; HEADER_LEN],
    parent: Option<[u8; 16]>,
}

impl TraceContext {
    /// Continues the request's `traceparent`, or starts a new trace; sampled
    /// as `sampler` decides (a parent-based one keeps the caller's flag).
    pub fn from_headers<H: HeaderLookup + ?Sized>(
        headers: &H,
        rng: &mut impl Rng,
        sampler: &Sampler,
    ) -> Self {
        let parsed = headers
            .header("traceparent")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(parse);
        let mut out = [0u8; HEADER_LEN];
        out[..3].copy_from_slice(b"00-");
        out[35] = b'-';
        out[52] = b'-';
        hex_into(&mut out[36..52], &rng.random::<u64>().max(1).to_be_bytes());
        let (flags, parent) = match parsed {
            Some((trace, parent, flags)) => {
                out[3..35].copy_from_slice(trace.as_bytes());
                let mut p = [0u8; 16];
                p.copy_from_slice(parent.as_bytes());
                // Checked to be two hex digits.
                (u8::from_str_radix(flags, 16).unwrap_or(0), Some(p))
            }
            None => {
                hex_into(&mut out[3..35], &rng.random::<u128>().max(1).to_be_bytes());
                (0, None)
            }
        };
        let caller = parent.map(|_| flags & 1 == 1);
        // The trace id's last 16 hex digits, read only when a ratio decides.
        let low = || {
            std::str::from_utf8(&out[19..35])
                .ok()
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .unwrap_or(0)
        };
        let sampled = u8::from(sampler.sampled(caller, low));
        hex_into(&mut out[53..55], &[(flags & !1) | sampled]);
        Self {
            header: out,
            parent,
        }
    }

    fn part(&self, from: usize, to: usize) -> &str {
        // Only ASCII hex digits are ever written into the header.
        std::str::from_utf8(&self.header[from..to]).unwrap_or_default()
    }

    /// 32 lower-case hex digits.
    pub fn trace_id(&self) -> &str {
        self.part(3, 35)
    }

    /// This hop's span, 16 hex digits.
    pub fn span_id(&self) -> &str {
        self.part(36, 52)
    }

    /// The caller's span, when the request arrived with a `traceparent`.
    pub fn parent_span_id(&self) -> Option<&str> {
        self.parent
            .as_ref()
            .and_then(|p| std::str::from_utf8(p).ok())
    }

    pub fn flags(&self) -> &str {
        self.part(53, 55)
    }

    /// Whether the trace is sampled (the flags' lowest bit).
    pub fn sampled(&self) -> bool {
        self.header[54] & 1 == 1
    }

    /// The `traceparent` value to send upstream.
    pub fn header(&self) -> &str {
        self.part(0, HEADER_LEN)
    }

    /// `traceparent` as a header value.
    pub fn header_value(&self) -> Option<HeaderValue> {
        HeaderValue::from_bytes(&self.header).ok()
    }

    /// `X-Trace-Id` as a header value.
    pub fn trace_id_value(&self) -> Option<HeaderValue> {
        HeaderValue::from_bytes(&self.trace_id_digits()).ok()
    }

    /// The trace id's 32 hex digits, by value.
    pub fn trace_id_digits(&self) -> [u8; 32] {
        let mut id = [0u8; 32];
        id.copy_from_slice(&self.header[3..35]);
        id
    }

    /// `traceparent` and the trace id as bytes, for writing (no UTF-8 check).
    pub(crate) fn wire(&self) -> (&[u8], &[u8]) {
        (&self.header[..], &self.header[3..35])
    }
}

/// Lower-case hex of `bytes` into `out` (twice as long; on the request path, so without `fmt`).
fn hex_into(out: &mut [u8], bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0xf)];
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses `00-<trace id>-<parent id>-<flags>`; all-zero ids are invalid.
fn parse(v: &str) -> Option<(&str, &str, &str)> {
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
    valid.then_some((trace, parent, flags))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    #[test]
    fn starts_a_trace_when_absent() {
        let t =
            TraceContext::from_headers(&HeaderMap::new(), &mut rand::rng(), &Sampler::default());
        assert!(is_hex(t.trace_id(), 32) && is_hex(t.span_id(), 16));
        assert_eq!(t.parent_span_id(), None);
        assert_eq!(
            t.header(),
            format!("00-{}-{}-01", t.trace_id(), t.span_id())
        );
        assert_eq!(t.trace_id_value().expect("value"), t.trace_id());
    }

    #[test]
    fn continues_a_trace_with_a_new_span() {
        let mut h = HeaderMap::new();
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        h.insert("traceparent", HeaderValue::from_static(incoming));
        let t = TraceContext::from_headers(&h, &mut rand::rng(), &Sampler::default());
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_span_id(), Some("00f067aa0ba902b7"));
        assert_ne!(t.span_id(), "00f067aa0ba902b7");
        assert_eq!(t.flags(), "01");
    }

    #[test]
    fn the_sampled_flag_is_the_samplers_decision() {
        let sampler = |name: &str| Sampler::from_otel(Some(name), None).expect("sampler");
        let with = |flags: &str| {
            let mut h = HeaderMap::new();
            let v = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flags}");
            h.insert("traceparent", HeaderValue::from_str(&v).expect("value"));
            h
        };
        let flags = |h: &HeaderMap, s: &Sampler| {
            let t = TraceContext::from_headers(h, &mut rand::rng(), s);
            assert_eq!(
                t.sampled(),
                t.flags()
                    .ends_with(['1', '3', '5', '7', '9', 'b', 'd', 'f'])
            );
            t.flags().to_string()
        };
        let (off, on) = (sampler("parentbased_always_off"), sampler("always_on"));
        assert_eq!(
            flags(&HeaderMap::new(), &off),
            "00",
            "a new trace, not sampled"
        );
        assert_eq!(flags(&with("01"), &off), "01", "the caller's decision");
        assert_eq!(flags(&with("00"), &off), "00");
        assert_eq!(
            flags(&with("00"), &on),
            "01",
            "not parent-based: decides alone"
        );
        assert_eq!(
            flags(&with("02"), &sampler("always_off")),
            "02",
            "other flags kept"
        );
        assert_eq!(flags(&with("03"), &sampler("always_off")), "02");
        // A ratio decides on the id's last 16 hex digits (the header's own).
        let half = Sampler::from_otel(Some("traceidratio"), Some("0.5")).expect("sampler");
        let of = |id: &str| {
            let mut h = HeaderMap::new();
            let v = format!("00-{id}-00f067aa0ba902b7-01");
            h.insert("traceparent", HeaderValue::from_str(&v).expect("value"));
            TraceContext::from_headers(&h, &mut rand::rng(), &half).sampled()
        };
        assert!(of("ffffffffffffffff0000000000000002"));
        assert!(!of("0000000000000001ffffffffffffffff"));
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
