//! Traces in `shoal up`: every proxied request is one span, read from its access
//! line in the log store (the request is kept once; after a restart, from the
//! line's fields reloaded from disk), and exported to an OTLP collector too
//! when `SHOAL_OTLP_ENDPOINT` is set.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;
use shoal_logs::{LogStore, TraceLine};
use shoal_proxy::{AccessRecord, Sampler};
use shoal_traces::{OtlpConfig, OtlpExporter, Span, SpanSource};
use tokio::task::JoinHandle;

use crate::telemetry::AccessLine;

/// The optional exporter with its background task.
pub struct Traces {
    otlp: Option<(OtlpExporter, JoinHandle<()>)>,
}

/// Starts OTLP export when the environment asks for it.
pub fn start(shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<Traces> {
    let otlp = OtlpConfig::from_env()
        .context("cannot export traces")?
        .map(|cfg| {
            tracing::info!(url = %cfg.url, "exporting spans over OTLP/HTTP JSON");
            OtlpExporter::start(cfg, shutdown)
        });
    Ok(Traces { otlp })
}

impl Traces {
    /// Waits for the exporter's last flush (after shutdown was signalled).
    pub async fn finish(self) {
        if let Some((_, task)) = self.otlp {
            let _ = task.await;
        }
    }

    /// Where the telemetry task offers each request's span for export.
    pub fn sink(&self) -> SpanSink {
        SpanSink {
            otlp: self.otlp.as_ref().map(|(x, _)| x.clone()),
        }
    }
}

/// The sampler `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` name; as
/// OpenTelemetry's SDKs do, one that is not understood is reported and the
/// default (`parentbased_always_on`) used instead.
pub fn sampler_from_env() -> Sampler {
    let var = |k: &str| std::env::var(k).ok();
    let (name, arg) = (var("OTEL_TRACES_SAMPLER"), var("OTEL_TRACES_SAMPLER_ARG"));
    match Sampler::from_otel(name.as_deref(), arg.as_deref()) {
        Ok(s) => {
            if name.is_some() {
                tracing::info!(sampler = %s.describe(), "trace sampling");
            }
            s
        }
        Err(e) => {
            let fallback = Sampler::default();
            tracing::warn!(error = %e, using = %fallback.describe(), "OTEL_TRACES_SAMPLER ignored");
            fallback
        }
    }
}

/// Offers access records as spans to the exporter, when there is one.
#[derive(Clone)]
pub struct SpanSink {
    otlp: Option<OtlpExporter>,
}

impl SpanSink {
    /// Offers `r`'s span for export when its trace is sampled.
    pub fn record(&self, r: &AccessRecord) {
        match &self.otlp {
            Some(x) if r.sampled => x.offer(span_of(r)),
            _ => {}
        }
    }
}

/// The spans of `shoal up`: the access lines the log store keeps, read back by
/// trace from the ring (a scan of its trace keys). They are kept as long as the lines are, and
/// the lines reloaded after a restart are read from their fields.
pub struct LogSpans(pub Arc<LogStore>);

impl SpanSource for LogSpans {
    fn spans_of(&self, trace_id: &str) -> Vec<Span> {
        spans(&self.0.lines_of_trace(trace_id))
    }

    fn recent_traces(&self, visit: &mut dyn FnMut(Vec<Span>) -> bool) {
        self.0.recent_traces(|lines| {
            let spans = spans(lines);
            spans.is_empty() || visit(spans)
        });
    }
}

/// The access lines among `lines`, as spans.
fn spans(lines: &[TraceLine]) -> Vec<Span> {
    lines
        .iter()
        .filter_map(|l| match l {
            TraceLine::Lazy(l) => {
                let any: &dyn Any = l.as_ref();
                any.downcast_ref::<AccessLine>().map(|a| span_of(&a.0))
            }
            TraceLine::Fields { time_ms, json } => stored_span(*time_ms, json),
        })
        .collect()
}

/// An access line's fields as written by `AccessLine::write_fields`.
#[derive(Deserialize)]
struct StoredAccess {
    kind: String,
    trace_id: String,
    span_id: String,
    parent_span_id: Option<String>,
    /// Missing in lines written before 2026-11-27.
    start_us: Option<u64>,
    duration_ms: f64,
    method: String,
    path: String,
    status: u16,
    caller: String,
    service: String,
    version: String,
    instance: Option<String>,
    retries: u32,
    reason: Option<String>,
    /// Missing in lines written before flags were (December 2026).
    #[serde(default)]
    flags: Option<String>,
}

/// The span of an access line reloaded from disk (its fields); `None` for
/// other lines. Without `start_us`, the request started its duration before
/// the line was logged.
fn stored_span(time_ms: u64, json: &str) -> Option<Span> {
    let a: StoredAccess = serde_json::from_str(json).ok()?;
    if a.kind != "access" {
        return None;
    }
    let duration_us = (a.duration_ms * 1000.0).round().max(0.0) as u64;
    Some(Span {
        start_us: a
            .start_us
            .unwrap_or_else(|| time_ms.saturating_mul(1000).saturating_sub(duration_us)),
        duration_us,
        trace_id: a.trace_id,
        span_id: a.span_id,
        parent_span_id: a.parent_span_id,
        method: a.method,
        path: a.path,
        status: a.status,
        caller: a.caller,
        service: a.service,
        version: a.version,
        instance: a.instance,
        retries: a.retries,
        reason: a.reason,
        flags: a.flags,
    })
}

/// The span of one proxied request.
fn span_of(r: &AccessRecord) -> Span {
    let t = r.texts();
    let text = |s: &str| s.to_string();
    Span {
        start_us: crate::telemetry::start_us(r),
        duration_us: r.duration.as_micros() as u64,
        trace_id: text(t.trace_id),
        span_id: text(t.span_id),
        parent_span_id: t.parent_span_id.map(text),
        method: text(t.method),
        path: text(t.path),
        status: r.status,
        caller: text(t.caller),
        service: text(t.service),
        version: text(t.version),
        instance: t.instance.map(text),
        retries: r.retries,
        reason: r.reason.map(text),
        flags: r.flags.as_ref().map(|f| f.as_str().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record() -> AccessRecord {
        let mut r = AccessRecord::new(shoal_proxy::AccessTexts {
            method: "POST",
            path: "/orders?x=\"1\"",
            caller: "web",
            service: "api",
            version: "2",
            instance: Some("api-1"),
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            span_id: "00f067aa0ba902b7",
            parent_span_id: Some("00f067aa0ba902b8"),
        });
        r.start = std::time::UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456);
        (r.status, r.duration, r.retries, r.reason) =
            (503, Duration::from_micros(1250), 1, Some("timeout"));
        r
    }

    /// After a restart the access line is its fields: the span read from them
    /// is the span read from the record.
    #[test]
    fn a_span_reads_the_same_from_the_record_and_from_its_fields() {
        let line = AccessLine(record());
        let mut json = Vec::new();
        shoal_logs::LazyLine::write_fields(&line, &mut json);
        let json: Arc<str> = String::from_utf8(json).expect("utf-8").into();
        let from_record = spans(&[TraceLine::Lazy(Arc::new(line))]);
        let from_fields = spans(&[TraceLine::Fields {
            time_ms: 1_764_000_000_200,
            json,
        }]);
        assert_eq!(from_record.len(), 1);
        assert_eq!(from_fields, from_record);
        assert_eq!(from_record[0].start_us, 1_764_000_000_123_456);
        assert_eq!(from_record[0].duration_us, 1250);
    }

    /// Lines written before `start_us` was a field start their duration before
    /// the line's time; fields of other lines are not spans.
    #[test]
    fn older_and_other_fields() {
        let old = r#"{"caller":"gateway","duration_ms":2.5,"instance":null,"kind":"access","method":"GET","parent_span_id":null,"path":"/","reason":null,"retries":0,"service":"web","span_id":"00f067aa0ba902b7","status":200,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","version":"1"}"#;
        let s = stored_span(1_000, old).expect("a span");
        assert_eq!((s.start_us, s.duration_us), (1_000_000 - 2_500, 2_500));
        assert_eq!(stored_span(1_000, r#"{"kind":"app","msg":"hi"}"#), None);
        assert_eq!(stored_span(1_000, "not json"), None);
    }
}
