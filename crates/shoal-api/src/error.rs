//! The API's JSON error type and request-body parsing with size limits.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::de::DeserializeOwned;

/// An error answer: `{ "error": ..., "detail": ... }`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub detail: serde_json::Value,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        Self {
            status,
            error: error.into(),
            detail: serde_json::Value::Null,
        }
    }

    pub fn detail(mut self, detail: impl Into<serde_json::Value>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error)
    }

    /// 413: a request body over `limit` bytes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large").detail(format!(
            "at most {limit} bytes are accepted; send a smaller body"
        ))
    }

    /// 408: a request body that stopped arriving.
    pub fn body_timeout(waited: std::time::Duration) -> Self {
        Self::new(StatusCode::REQUEST_TIMEOUT, "request body timed out").detail(format!(
            "nothing of the body arrived for {}; send it without pausing",
            humantime::format_duration(waited)
        ))
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").detail(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.error, "detail": self.detail });
        (self.status, Json(body)).into_response()
    }
}

impl From<shoal_store::StoreError> for ApiError {
    fn from(e: shoal_store::StoreError) -> Self {
        if let shoal_store::StoreError::NoSpace(why) = &e {
            return ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "disk full: write refused")
                .detail(why.clone());
        }
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store unavailable").detail(e.to_string())
    }
}

/// Runs `work` on the blocking pool (it may read the disk log) and waits for it
/// without holding up an async thread; a panic in it is a 500.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(ApiError::internal)
}

/// Parses a JSON body, turning every failure (too large, not JSON, wrong shape) into a 4xx
/// (bodies over [`crate::MAX_BODY`] are answered 413 before any handler: `body_limit.rs`).
pub fn parse_json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        ApiError::new(r.status(), "could not read the request body").detail(r.body_text())
    })?;
    let bad = |e: serde_json::Error| {
        ApiError::bad_request("request body is not valid JSON for this endpoint")
            .detail(e.to_string())
    };
    let mut value: serde_json::Value = serde_json::from_slice(&bytes).map_err(bad)?;
    // Every body is an object; serde would also read a struct from an array (`[1, 2]`).
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    integral_numbers(&mut value);
    serde_json::from_value(value).map_err(bad)
}

/// Writes every number with no fraction (`3.0`, `1e3`) as an integer: JSON (and its
/// schemas) make no difference between them, serde's integer fields do.
fn integral_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64() else { return };
            if f.fract() != 0.0 {
                return;
            }
            // Within the range of i64 (or, above it, of u64) the conversion is exact.
            if (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
                *n = serde_json::Number::from(f as i64);
            } else if (0.0..1.844_674_407_370_955_2e19).contains(&f) {
                *n = serde_json::Number::from(f as u64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("no such endpoint").detail(uri.path().to_string())
}
