//! Shoal's own answers: a JSON `{error, detail}` body and `X-Shoal-Reason`, so
//! callers can tell the platform's 503 from a dependency's.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, StatusCode};
use shoal_spec::FallbackSpec;

pub use crate::body::Body;
use crate::fields::Fields;
use crate::message::Answer;

/// Why Shoal answered instead of an instance (the `X-Shoal-Reason` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NoRoute,
    NoHealthyInstance,
    UpstreamError,
    Timeout,
    CircuitOpen,
    RateLimited,
    Shed,
    Fallback,
    TooLarge,
    /// An error injected by a chaos experiment (`shoal chaos error`).
    Chaos,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NoRoute => "no-route",
            Reason::NoHealthyInstance => "no-healthy-instance",
            Reason::UpstreamError => "upstream-error",
            Reason::Timeout => "timeout",
            Reason::CircuitOpen => "circuit-open",
            Reason::RateLimited => "rate-limited",
            Reason::Shed => "shed",
            Reason::Fallback => "fallback",
            Reason::TooLarge => "too-large",
            Reason::Chaos => "chaos",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Reason::NoRoute => StatusCode::NOT_FOUND,
            Reason::UpstreamError => StatusCode::BAD_GATEWAY,
            Reason::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Reason::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Reason::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::NoHealthyInstance
            | Reason::CircuitOpen
            | Reason::Shed
            | Reason::Fallback
            | Reason::Chaos => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body::full(bytes)
}

/// Builds Shoal's own answer for `reason` with a human-readable `detail`.
pub(crate) fn shoal_answer(reason: Reason, detail: &str) -> Answer {
    let body = serde_json::json!({ "error": reason.as_str(), "detail": detail });
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-shoal-reason", HeaderValue::from_static(reason.as_str()));
    Answer::new(
        reason.status(),
        Fields::map(headers),
        full(body.to_string()),
    )
}

/// The answer a chaos experiment injects in place of an instance's: `status`,
/// with `X-Shoal-Reason: chaos` so nobody mistakes it for a real failure.
pub(crate) fn injected(status: u16) -> Answer {
    let mut a = shoal_answer(
        Reason::Chaos,
        "error injected by a chaos experiment (see `shoal chaos list`)",
    );
    a.status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    a
}

/// An answer's map (Shoal's own answers are made with one).
fn map(a: &mut Answer) -> Option<&mut HeaderMap> {
    match &mut a.fields {
        Fields::Map(m) => Some(m),
        Fields::Raw(_) => None,
    }
}

/// 429 with `Retry-After` in whole seconds (at least 1).
pub(crate) fn rate_limited(retry_after: Duration) -> Answer {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut resp = shoal_answer(
        Reason::RateLimited,
        &format!(
            "over the service's rps limit; retry after {}ms",
            retry_after.as_millis()
        ),
    );
    if let Some(h) = map(&mut resp) {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    resp
}

/// The service's configured fallback answer.
pub(crate) fn fallback(spec: &FallbackSpec) -> Answer {
    let mut headers = HeaderMap::with_capacity(4);
    if let Ok(ct) = HeaderValue::from_str(&spec.content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(
        "x-shoal-reason",
        HeaderValue::from_static(Reason::Fallback.as_str()),
    );
    let status = StatusCode::from_u16(spec.status).unwrap_or(StatusCode::OK);
    Answer::new(status, Fields::map(headers), full(spec.body.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::HeaderLookup;

    fn field<'a>(a: &'a Answer, name: &str) -> &'a [u8] {
        a.fields.header(name).unwrap_or_default()
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let r = rate_limited(Duration::from_millis(200));
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(field(&r, "retry-after"), b"1");
        assert_eq!(field(&r, "x-shoal-reason"), b"rate-limited");
        let r = rate_limited(Duration::from_millis(2100));
        assert_eq!(field(&r, "retry-after"), b"3");
    }

    #[test]
    fn fallback_uses_the_spec() {
        let spec = FallbackSpec {
            status: 200,
            body: "{}".into(),
            content_type: "application/json".into(),
        };
        let r = fallback(&spec);
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(field(&r, "x-shoal-reason"), b"fallback");
        assert_eq!(field(&r, "content-type"), b"application/json");
    }
}
