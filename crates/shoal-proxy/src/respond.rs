//! Shoal's own answers: a JSON `{error, detail}` body and `X-Shoal-Reason`, so
//! callers can tell the platform's 503 from a dependency's.

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use shoal_spec::FallbackSpec;

pub use crate::body::Body;

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
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Reason::NoRoute => StatusCode::NOT_FOUND,
            Reason::UpstreamError => StatusCode::BAD_GATEWAY,
            Reason::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Reason::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Reason::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::NoHealthyInstance | Reason::CircuitOpen | Reason::Shed | Reason::Fallback => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body::full(bytes)
}

/// Builds Shoal's own answer for `reason` with a human-readable `detail`.
pub fn shoal_answer(reason: Reason, detail: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": reason.as_str(), "detail": detail });
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = reason.status();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-shoal-reason", HeaderValue::from_static(reason.as_str()));
    resp
}

/// 429 with `Retry-After` in whole seconds (at least 1).
pub fn rate_limited(retry_after: Duration) -> Response<Body> {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut resp = shoal_answer(
        Reason::RateLimited,
        &format!(
            "over the service's rps limit; retry after {}ms",
            retry_after.as_millis()
        ),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    resp
}

/// The service's configured fallback answer.
pub fn fallback(spec: &FallbackSpec) -> Response<Body> {
    let mut resp = Response::new(full(spec.body.clone()));
    *resp.status_mut() = StatusCode::from_u16(spec.status).unwrap_or(StatusCode::OK);
    let headers = resp.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&spec.content_type) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(
        "x-shoal-reason",
        HeaderValue::from_static(Reason::Fallback.as_str()),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let r = rate_limited(Duration::from_millis(200));
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(r.headers()["x-shoal-reason"], "rate-limited");
        assert_eq!(
            rate_limited(Duration::from_millis(2100)).headers()[header::RETRY_AFTER],
            "3"
        );
    }

    #[test]
    fn fallback_uses_the_spec() {
        let spec = FallbackSpec {
            status: 200,
            body: "{}".into(),
            content_type: "application/json".into(),
        };
        let r = fallback(&spec);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-shoal-reason"], "fallback");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
