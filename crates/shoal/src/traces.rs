//! Traces in `shoal up`: every proxied request becomes a span in the trace store,
//! and goes to an OTLP collector too when `SHOAL_OTLP_ENDPOINT` is set.

use std::future::Future;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use anyhow::Context;
use shoal_proxy::AccessRecord;
use shoal_traces::{OtlpConfig, OtlpExporter, SpanRef, TraceLimits, TraceStore};
use tokio::task::JoinHandle;

/// The span store and the optional exporter with its background task.
pub struct Traces {
    pub store: Arc<TraceStore>,
    otlp: Option<(OtlpExporter, JoinHandle<()>)>,
}

/// Creates the store; starts OTLP export when the environment asks for it.
pub fn start(shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<Traces> {
    let store = Arc::new(TraceStore::new(TraceLimits::default()));
    let otlp = OtlpConfig::from_env()
        .context("cannot export traces")?
        .map(|cfg| {
            tracing::info!(url = %cfg.url, "exporting spans over OTLP/HTTP JSON");
            OtlpExporter::start(cfg, shutdown)
        });
    Ok(Traces { store, otlp })
}

impl Traces {
    /// Waits for the exporter's last flush (after shutdown was signalled).
    pub async fn finish(self) {
        if let Some((_, task)) = self.otlp {
            let _ = task.await;
        }
    }
}

/// Records access records as spans (and offers them to the exporter).
#[derive(Clone)]
pub struct SpanSink {
    store: Arc<TraceStore>,
    otlp: Option<OtlpExporter>,
}

impl SpanSink {
    pub fn record(&self, r: &AccessRecord) {
        let span = span_of(r);
        if let Some(x) = &self.otlp {
            x.offer(span.to_span());
        }
        self.store.record_ref(&span);
    }
}

impl Traces {
    /// Where the telemetry task sends each request's span.
    pub fn sink(&self) -> SpanSink {
        SpanSink {
            store: self.store.clone(),
            otlp: self.otlp.as_ref().map(|(x, _)| x.clone()),
        }
    }
}

fn span_of(r: &AccessRecord) -> SpanRef<'_> {
    let t = r.texts();
    SpanRef {
        start_us: r
            .start
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64),
        duration_us: r.duration.as_micros() as u64,
        trace_id: t.trace_id,
        span_id: t.span_id,
        parent_span_id: t.parent_span_id,
        method: t.method,
        path: t.path,
        status: r.status,
        caller: t.caller,
        service: t.service,
        version: t.version,
        instance: t.instance,
        retries: r.retries,
        reason: r.reason,
    }
}
