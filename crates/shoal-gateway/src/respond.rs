//! Shoal's own answers: a JSON body and an `X-Shoal-Reason` header, so callers can
//! tell the platform's 503 from a dependency's.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};

pub type Body = BoxBody<Bytes, hyper::Error>;

/// Why Shoal answered instead of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    NoRoute,
    NoHealthyInstance,
    UpstreamError,
    Timeout,
}

impl Reason {
    fn header(self) -> &'static str {
        match self {
            Reason::NoRoute => "no-route",
            Reason::NoHealthyInstance => "no-healthy-instance",
            Reason::UpstreamError => "upstream-error",
            Reason::Timeout => "timeout",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Reason::NoRoute => StatusCode::NOT_FOUND,
            Reason::NoHealthyInstance => StatusCode::SERVICE_UNAVAILABLE,
            Reason::UpstreamError => StatusCode::BAD_GATEWAY,
            Reason::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Builds Shoal's own answer for `reason` with a human-readable `detail`.
pub fn shoal_answer(reason: Reason, detail: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": reason.header(), "detail": detail });
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = reason.status();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-shoal-reason", HeaderValue::from_static(reason.header()));
    resp
}
