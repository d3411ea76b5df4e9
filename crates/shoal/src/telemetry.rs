//! What the proxy reports per request, off the request path: the hook only
//! queues the record; one task takes the queued records every few milliseconds
//! and turns each into the access log line, the span and, for a 5xx, an entry
//! in the errors view.
//!
//! The queue is a vector behind a short lock, not a channel: a channel wakes
//! the task for each record (a cross-thread wake-up, often a futex call, per
//! request); the task here wakes on its own tick and takes the whole batch.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use shoal_logs::LogStore;
use shoal_proxy::{AccessLog, AccessRecord};

/// Records queued before new ones are dropped (and counted).
const QUEUE: usize = 64 * 1024;
/// How often the task takes what was queued (the most an access line, span or
/// error waits before it can be read).
const TICK: Duration = Duration::from_millis(20);

/// Where access records go.
pub struct Sinks {
    pub logs: Arc<LogStore>,
    pub errors: Arc<shoal_errors::Errors>,
    pub traces: crate::traces::SpanSink,
}

/// Access records waiting for [`run`].
pub struct Queue {
    records: Mutex<Vec<AccessRecord>>,
}

impl Queue {
    fn take(&self, into: &mut Vec<AccessRecord>) {
        let mut q = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *q, into);
    }
}

/// The proxy's access-log hook (a push under a short lock) and the queue [`run`] takes from.
pub fn channel() -> (AccessLog, Arc<Queue>, Arc<AtomicU64>) {
    let queue = Arc::new(Queue {
        records: Mutex::new(Vec::with_capacity(1024)),
    });
    let dropped = Arc::new(AtomicU64::new(0));
    let (q, counter) = (queue.clone(), dropped.clone());
    let hook: AccessLog = Arc::new(move |r: AccessRecord| {
        let mut records = q.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.len() < QUEUE {
            records.push(r);
        } else {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    (hook, queue, dropped)
}

/// Handles queued records every [`TICK`] until the proxy's hook is gone (then
/// what is left is handled too).
pub async fn run(queue: Arc<Queue>, sinks: Sinks, dropped: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(1024);
    let mut line = String::with_capacity(256);
    let mut warned = (0u64, Instant::now());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // The hook holds the only other reference: once it is gone nothing more comes.
        let last = Arc::strong_count(&queue) == 1;
        queue.take(&mut batch);
        for r in batch.drain(..) {
            record(&sinks, r, &mut line);
        }
        let d = dropped.load(Ordering::Relaxed);
        if d > warned.0 && warned.1.elapsed() > Duration::from_secs(10) {
            tracing::warn!(
                dropped = d,
                "access records dropped: the telemetry task fell behind the proxy"
            );
            warned = (d, Instant::now());
        }
        if last {
            return;
        }
    }
}

/// Hands one record to the sinks; `line` is scratch space for the access line's text.
fn record(s: &Sinks, r: AccessRecord, line: &mut String) {
    s.errors.record_http(shoal_errors::HttpError {
        time_ms: shoal_catalog::now_ms(),
        service: &r.service,
        version: &r.version,
        instance: r.instance.as_deref(),
        caller: &r.caller,
        method: &r.method,
        path: &r.path,
        status: r.status,
        reason: r.reason,
        trace_id: &r.trace_id,
        duration_ms: r.duration.as_secs_f64() * 1000.0,
    });
    line.clear();
    let _ = write!(
        line,
        "access {} {} {} {:.1}ms caller={} instance={} trace={} span={} retries={}",
        r.method,
        r.path,
        r.status,
        r.duration.as_secs_f64() * 1000.0,
        r.caller,
        r.instance.as_deref().unwrap_or("-"),
        r.trace_id,
        r.span_id,
        r.retries,
    );
    if let Some(reason) = r.reason {
        let _ = write!(line, " reason={reason}");
    }
    let entry = shoal_logs::Entry {
        service: &r.service,
        version: &r.version,
        instance: "proxy",
        stream: shoal_logs::Stream::System,
        line,
        trace_id: Some(&r.trace_id),
        fields: None,
    };
    s.logs.append_entry_json(entry, &AccessFields::of(&r));
    s.traces.record(r);
}

/// The access record as log fields, so `--field status=503` and the API can
/// filter on them: its own fields (but `start` and `duration`), `duration_ms`
/// and `kind = "access"`, serialized straight to JSON text.
#[derive(Serialize)]
struct AccessFields<'a> {
    caller: &'a str,
    duration_ms: f64,
    instance: Option<&'a str>,
    kind: &'static str,
    method: &'a str,
    parent_span_id: Option<&'a str>,
    path: &'a str,
    reason: Option<&'static str>,
    retries: u32,
    service: &'a str,
    span_id: &'a str,
    status: u16,
    trace_id: &'a str,
    version: &'a str,
}

impl<'a> AccessFields<'a> {
    fn of(r: &'a AccessRecord) -> Self {
        Self {
            caller: &r.caller,
            duration_ms: r.duration.as_secs_f64() * 1000.0,
            instance: r.instance.as_deref(),
            kind: "access",
            method: &r.method,
            parent_span_id: r.parent_span_id.as_deref(),
            path: &r.path,
            reason: r.reason,
            retries: r.retries,
            service: &r.service,
            span_id: &r.span_id,
            status: r.status,
            trace_id: &r.trace_id,
            version: &r.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields are what `serde_json::to_value` of the record gave, with
    /// `start` and `duration` replaced by `duration_ms` and `kind` added.
    #[test]
    fn access_fields_match_the_record() {
        let r = AccessRecord {
            start: std::time::SystemTime::UNIX_EPOCH,
            method: "GET".into(),
            path: "/x?y=1".into(),
            status: 503,
            duration: Duration::from_millis(12),
            caller: "web".into(),
            service: "api".into(),
            version: "2".into(),
            instance: None,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            span_id: "00f067aa0ba902b7".into(),
            parent_span_id: Some("00f067aa0ba902b8".into()),
            retries: 1,
            reason: Some("timeout"),
        };
        let mut want = match serde_json::to_value(&r) {
            Ok(serde_json::Value::Object(m)) => m,
            other => panic!("not an object: {other:?}"),
        };
        want.remove("start");
        want.remove("duration");
        want.insert("kind".into(), "access".into());
        want.insert("duration_ms".into(), 12.0.into());
        let got: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&AccessFields::of(&r)).expect("json"))
                .expect("parse");
        assert_eq!(got, serde_json::Value::Object(want));
    }
}
