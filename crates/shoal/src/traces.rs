//! Traces in `shoal up`: every proxied request is one span, read from its access
//! line in the log store (the request is kept once), and exported to an OTLP
//! collector too when `SHOAL_OTLP_ENDPOINT` is set.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use anyhow::Context;
use shoal_logs::{LazyLine, LogStore};
use shoal_proxy::AccessRecord;
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

/// Offers access records as spans to the exporter, when there is one.
#[derive(Clone)]
pub struct SpanSink {
    otlp: Option<OtlpExporter>,
}

impl SpanSink {
    pub fn record(&self, r: &AccessRecord) {
        if let Some(x) = &self.otlp {
            x.offer(span_of(r));
        }
    }
}

/// The spans of `shoal up`: the access lines the log store keeps, read back by
/// trace through its trace index. They are kept as long as the lines are.
pub struct LogSpans(pub Arc<LogStore>);

impl SpanSource for LogSpans {
    fn spans_of(&self, trace_id: &str) -> Vec<Span> {
        spans(&self.0.lazy_of_trace(trace_id))
    }

    fn recent_traces(&self, visit: &mut dyn FnMut(Vec<Span>) -> bool) {
        self.0.recent_traces(|lines| {
            let spans = spans(lines);
            spans.is_empty() || visit(spans)
        });
    }
}

/// The access records among `lines`, as spans.
fn spans(lines: &[Arc<dyn LazyLine>]) -> Vec<Span> {
    lines
        .iter()
        .filter_map(|l| {
            let any: &dyn Any = l.as_ref();
            any.downcast_ref::<AccessLine>()
        })
        .map(|a| span_of(&a.0))
        .collect()
}

/// The span of one proxied request.
fn span_of(r: &AccessRecord) -> Span {
    let t = r.texts();
    let text = |s: &str| s.to_string();
    Span {
        start_us: r
            .start
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
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
    }
}
