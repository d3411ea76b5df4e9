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

/// One access-log line; also one span of the trace (`span_id`, child of
/// `parent_span_id`). Its nine texts share one allocation: the record is made
/// on a serving thread for every request and freed on the thread that reads it.
#[derive(Debug, Clone)]
pub struct AccessRecord {
    pub start: SystemTime,
    pub status: u16,
    pub duration: Duration,
    pub retries: u32,
    pub reason: Option<&'static str>,
    /// The trace's `sampled` flag as sent on (spans of unsampled traces are
    /// kept in the log but not exported).
    pub sampled: bool,
    /// The feature flags the request was sent on with, if the proxy has any.
    pub flags: Option<SentFlags>,
    text: Box<str>,
    /// Where each of the texts ends in `text`, in [`AccessTexts`] order.
    ends: [u32; TEXTS],
    /// Which optional texts (instance, parent span) are set, by bit.
    set: u16,
}

const TEXTS: usize = 9;
const INSTANCE: usize = 5;
const PARENT: usize = 8;

/// The texts of an [`AccessRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessTexts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub caller: &'a str,
    pub service: &'a str,
    pub version: &'a str,
    /// The instance that answered (the last one tried), if any was.
    pub instance: Option<&'a str>,
    pub trace_id: &'a str,
    pub span_id: &'a str,
    pub parent_span_id: Option<&'a str>,
}

impl AccessRecord {
    /// A record of `texts` with `start`, `status`, `duration`, `retries` and
    /// `reason` zero or none, sampled.
    pub fn new(t: AccessTexts<'_>) -> Self {
        let texts = [
            Some(t.method),
            Some(t.path),
            Some(t.caller),
            Some(t.service),
            Some(t.version),
            t.instance,
            Some(t.trace_id),
            Some(t.span_id),
            t.parent_span_id,
        ];
        let mut text = String::with_capacity(texts.iter().flatten().map(|t| t.len()).sum());
        let (mut ends, mut set) = ([0u32; TEXTS], 0u16);
        for (i, t) in texts.iter().enumerate() {
            if let Some(t) = t {
                text.push_str(t);
                set |= 1 << i;
            }
            // One request's head: far below 4 GiB.
            ends[i] = u32::try_from(text.len()).unwrap_or(u32::MAX);
        }
        AccessRecord {
            start: SystemTime::UNIX_EPOCH,
            status: 0,
            duration: Duration::ZERO,
            retries: 0,
            reason: None,
            sampled: true,
            flags: None,
            text: text.into_boxed_str(),
            ends,
            set,
        }
    }

    /// The bytes its texts take (on the heap, beside the record).
    pub fn text_bytes(&self) -> usize {
        self.text.len()
    }

    /// The record's texts.
    pub fn texts(&self) -> AccessTexts<'_> {
        let get = |i: usize| {
            let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
            self.text.get(start..self.ends[i] as usize).unwrap_or("")
        };
        let opt = |i: usize| (self.set & (1 << i) != 0).then(|| get(i));
        AccessTexts {
            method: get(0),
            path: get(1),
            caller: get(2),
            service: get(3),
            version: get(4),
            instance: opt(INSTANCE),
            trace_id: get(6),
            span_id: get(7),
            parent_span_id: opt(PARENT),
        }
    }
}

/// The feature flags a request was sent on with: `name=value` pairs joined by `,`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentFlags(String);

impl SentFlags {
    /// `name=value,name=value`.
    pub fn new(text: String) -> Self {
        SentFlags(text)
    }

    /// The bytes kept on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.0.capacity()
    }

    /// `name=value,name=value`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Called once per request with its metrics record; runs on the request path, keep it cheap.
pub type Observer = Arc<dyn Fn(&RequestRecord<'_>) + Send + Sync>;
/// Called once per request with its access-log record (moved: the hook may keep
/// it, e.g. hand it to a background task, without a copy). Runs on the request
/// path: it should only queue the record.
pub type AccessLog = Arc<dyn Fn(AccessRecord) + Send + Sync>;

/// Called (from the request path, for a service at zero instances that scales
/// from zero) with the service a request waits for: start an instance.
pub type Wake = Arc<dyn Fn(&str) + Send + Sync>;

/// The proxy's reporting callbacks; all optional.
#[derive(Clone, Default)]
pub struct Hooks {
    pub observer: Option<Observer>,
    pub access_log: Option<AccessLog>,
    pub wake: Option<Wake>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("observer", &self.observer.is_some())
            .field("access_log", &self.access_log.is_some())
            .field("wake", &self.wake.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_access_record_gives_back_its_texts() {
        for t in [
            AccessTexts {
                method: "GET",
                path: "/ü/x?y=1",
                caller: "gateway",
                service: "api",
                version: "2",
                instance: Some("api-1"),
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
                span_id: "00f067aa0ba902b7",
                parent_span_id: Some("00f067aa0ba902b8"),
            },
            AccessTexts {
                method: "",
                path: "",
                caller: "web",
                service: "",
                version: "",
                instance: Some(""),
                trace_id: "t",
                span_id: "",
                parent_span_id: None,
            },
        ] {
            assert_eq!(AccessRecord::new(t).texts(), t);
        }
    }
}
