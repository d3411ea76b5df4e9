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

/// Parses a JSON body, turning every failure (too large, not JSON, wrong shape) into a 4xx.
pub fn parse_json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|r| {
        ApiError::new(r.status(), "could not read the request body").detail(r.body_text())
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request("request body is not valid JSON for this endpoint")
            .detail(e.to_string())
    })
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found("no such endpoint").detail(uri.path().to_string())
}
