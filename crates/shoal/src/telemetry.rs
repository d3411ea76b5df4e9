//! What the proxy reports per request, off the request path: the hook only
//! queues the record; one task turns it into the access log line, the span and,
//! for a 5xx, an entry in the errors view.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_logs::LogStore;
use shoal_proxy::{AccessLog, AccessRecord};
use tokio::sync::mpsc;

/// Records queued before new ones are dropped (and counted).
const QUEUE: usize = 16 * 1024;

/// Where access records go.
pub struct Sinks {
    pub logs: Arc<LogStore>,
    pub errors: Arc<shoal_errors::Errors>,
    pub traces: crate::traces::SpanSink,
}

/// The proxy's access-log hook (a `try_send`) and the receiving end for [`run`].
pub fn channel() -> (AccessLog, mpsc::Receiver<AccessRecord>, Arc<AtomicU64>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    let hook: AccessLog = Arc::new(move |r: AccessRecord| {
        if tx.try_send(r).is_err() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    (hook, rx, dropped)
}

/// Handles records until every sender (the proxy's hook) is gone.
pub async fn run(mut rx: mpsc::Receiver<AccessRecord>, sinks: Sinks, dropped: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(256);
    let mut warned = (0u64, Instant::now());
    while rx.recv_many(&mut batch, 256).await > 0 {
        for r in batch.drain(..) {
            record(&sinks, r);
        }
        let d = dropped.load(Ordering::Relaxed);
        if d > warned.0 && warned.1.elapsed() > Duration::from_secs(10) {
            tracing::warn!(
                dropped = d,
                "access records dropped: the telemetry task fell behind the proxy"
            );
            warned = (d, Instant::now());
        }
    }
}

fn record(s: &Sinks, r: AccessRecord) {
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
    let line = format!(
        "access {} {} {} {:.1}ms caller={} instance={} trace={} span={} retries={}{}",
        r.method,
        r.path,
        r.status,
        r.duration.as_secs_f64() * 1000.0,
        r.caller,
        r.instance.as_deref().unwrap_or("-"),
        r.trace_id,
        r.span_id,
        r.retries,
        r.reason.map(|x| format!(" reason={x}")).unwrap_or_default(),
    );
    s.logs.append_entry(shoal_logs::Entry {
        service: &r.service,
        version: &r.version,
        instance: "proxy",
        stream: shoal_logs::Stream::System,
        line: &line,
        trace_id: Some(&r.trace_id),
        fields: access_fields(&r),
    });
    s.traces.record(r);
}

/// The access record as log fields, so `--field status=503` and the API can filter on them.
fn access_fields(r: &AccessRecord) -> Option<shoal_logs::Fields> {
    match serde_json::to_value(r) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.insert("kind".into(), "access".into());
            m.insert(
                "duration_ms".into(),
                (r.duration.as_secs_f64() * 1000.0).into(),
            );
            m.remove("duration");
            m.remove("start");
            Some(m)
        }
        _ => None,
    }
}
