//! The crate's error answer: JSON `{ "error": ..., "detail": ... }` with a fitting status
//! (DESIGN §6), the same shape as the native API's errors.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Everything a Consul endpoint can fail with, classified by cause.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// The request is malformed (bad body, bad parameter); the message says what to fix.
    #[error("{0}")]
    BadRequest(String),
    /// The named thing (service, check, session) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The store could not answer; retry later.
    #[error("store unavailable: {0}")]
    Store(#[from] shoal_store::StoreError),
    /// A write kept conflicting with concurrent writers.
    #[error("{0}")]
    Conflict(String),
    /// `dc` names a datacenter Shoal does not serve: 500, Consul's answer for a
    /// datacenter it has no path to (clients recognise "No path to datacenter").
    #[error("{0}")]
    NoDatacenter(String),
    /// A Consul endpoint Shoal answers but deliberately does not carry out (501).
    #[error("{0}")]
    Unsupported(String),
}

/// A body that could not be read (too large, cut off) is a 400 saying why.
impl From<axum::extract::rejection::BytesRejection> for ConsulError {
    fn from(r: axum::extract::rejection::BytesRejection) -> Self {
        ConsulError::bad(format!(
            "could not read the request body: {}",
            r.body_text()
        ))
    }
}

impl ConsulError {
    /// A 400 with `msg`.
    pub fn bad(msg: impl Into<String>) -> Self {
        ConsulError::BadRequest(msg.into())
    }

    /// A 404 with `msg`.
    pub fn not_found(msg: impl Into<String>) -> Self {
        ConsulError::NotFound(msg.into())
    }

    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ConsulError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ConsulError::NotFound(_) => StatusCode::NOT_FOUND,
            ConsulError::Store(shoal_store::StoreError::NoSpace(_)) => {
                StatusCode::INSUFFICIENT_STORAGE
            }
            ConsulError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ConsulError::Conflict(_) => StatusCode::CONFLICT,
            ConsulError::NoDatacenter(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ConsulError::Unsupported(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }
}

impl IntoResponse for ConsulError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (error, detail) = match &self {
            ConsulError::Store(shoal_store::StoreError::NoSpace(why)) => {
                ("disk full: write refused".to_string(), why.clone())
            }
            ConsulError::Store(e) => ("store unavailable".to_string(), e.to_string()),
            other => (other.to_string(), String::new()),
        };
        let detail = if detail.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::Value::String(detail)
        };
        (
            status,
            Json(serde_json::json!({ "error": error, "detail": detail })),
        )
            .into_response()
    }
}

/// Result of a handler.
pub type Result<T, E = ConsulError> = std::result::Result<T, E>;
