//! The crate's errors, each saying what was wrong and what to do.

/// What can go wrong with trace ids and the OTLP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("`{0}` is not a trace id (expected 32 hex digits, as in X-Trace-Id or traceparent)")]
    BadTraceId(String),
    #[error(
        "SHOAL_OTLP_ENDPOINT `{value}`: {reason} (expected http://HOST:PORT, e.g. http://127.0.0.1:4318)"
    )]
    BadEndpoint { value: String, reason: String },
}
