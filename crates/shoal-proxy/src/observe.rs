//! What the proxy reports per request: a small metrics record and the access log
//! record (with trace and span ids), each to an optional callback.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

/// One finished request, for metrics (`shoal_requests_total{service,version,code,caller}`).
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord<'a> {
    pub service: &'a str,
    pub version: &'a str,
    pub code: u16,
    /// Who called: `"gateway"` for outside traffic, else the calling service.
    pub caller: &'a str,
    /// Until the answer's headers were ready.
    pub duration: Duration,
    /// `X-Shoal-Reason` when Shoal answered itself (e.g. `shed`, `rate-limited`).
    pub reason: Option<&'static str>,
}

/// One access-log line; also one span of the trace (`span_id`, child of `parent_span_id`).
#[derive(Debug, Clone, Serialize)]
pub struct AccessRecord {
    pub start: SystemTime,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub duration: Duration,
    pub caller: String,
    pub service: String,
    pub version: String,
    /// The instance that answered (the last one tried), if any was.
    pub instance: Option<String>,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub retries: u32,
    pub reason: Option<&'static str>,
}

/// Called once per request with its metrics record; runs on the request path, keep it cheap.
pub type Observer = Arc<dyn Fn(&RequestRecord<'_>) + Send + Sync>;
/// Called once per request with its access-log record (moved: the hook may keep
/// it, e.g. hand it to a background task, without a copy). Runs on the request
/// path: it should only queue the record.
pub type AccessLog = Arc<dyn Fn(AccessRecord) + Send + Sync>;

/// The proxy's reporting callbacks; both optional.
#[derive(Clone, Default)]
pub struct Hooks {
    pub observer: Option<Observer>,
    pub access_log: Option<AccessLog>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("observer", &self.observer.is_some())
            .field("access_log", &self.access_log.is_some())
            .finish()
    }
}
