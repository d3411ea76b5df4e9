//! OTLP/HTTP export: spans go into a bounded queue without waiting; a background
//! task posts them in batches (every second or 512 spans). Spans that do not fit the
//! queue, or whose batch the collector refused or never answered, are counted as dropped.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::TraceError;
use crate::otlp::encode;
use crate::span::Span;

/// The environment variable that turns export on, e.g. `http://127.0.0.1:4318`.
pub const ENDPOINT_ENV: &str = "SHOAL_OTLP_ENDPOINT";

/// Where and how to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpConfig {
    /// The full URL spans are posted to (ends in `/v1/traces`).
    pub url: Uri,
    pub batch_size: usize,
    pub interval: Duration,
    /// Spans waiting to be sent; more are dropped.
    pub queue: usize,
    /// For one POST, answer included.
    pub timeout: Duration,
}

impl OtlpConfig {
    /// From a collector's base address (`/v1/traces` is appended unless already there).
    pub fn from_endpoint(endpoint: &str) -> Result<Self, TraceError> {
        let bad = |reason: &str| TraceError::BadEndpoint {
            value: endpoint.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = endpoint.trim().trim_end_matches('/');
        let full = if trimmed.ends_with("/v1/traces") {
            trimmed.to_string()
        } else {
            format!("{trimmed}/v1/traces")
        };
        let url: Uri = full.parse().map_err(|_| bad("not a URL"))?;
        match url.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported; use a local collector over http",
                ))
            }
            _ => return Err(bad("the URL must start with http://")),
        }
        if url.host().is_none_or(str::is_empty) {
            return Err(bad("the URL has no host"));
        }
        Ok(Self {
            url,
            batch_size: 512,
            interval: Duration::from_secs(1),
            queue: 8192,
            timeout: Duration::from_secs(5),
        })
    }

    /// From [`ENDPOINT_ENV`]: `Ok(None)` when it is unset or empty.
    pub fn from_env() -> Result<Option<Self>, TraceError> {
        match std::env::var(ENDPOINT_ENV) {
            Ok(v) if !v.trim().is_empty() => Self::from_endpoint(&v).map(Some),
            _ => Ok(None),
        }
    }
}

/// Counters of the exporter.
#[derive(Debug, Default, Serialize)]
pub struct OtlpStats {
    pub exported: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_batches: AtomicU64,
}

/// The request path's handle: [`OtlpExporter::offer`] never waits.
#[derive(Clone)]
pub struct OtlpExporter {
    tx: mpsc::Sender<Span>,
    stats: Arc<OtlpStats>,
}

impl OtlpExporter {
    /// Starts the background task; it flushes what it holds when `shutdown` resolves.
    pub fn start(
        cfg: OtlpConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let stats = Arc::new(OtlpStats::default());
        let task = tokio::spawn(run(cfg, rx, stats.clone(), shutdown));
        (Self { tx, stats }, task)
    }

    /// Queues a span for export, or counts it as dropped when the queue is full.
    pub fn offer(&self, span: Span) {
        if self.tx.try_send(span).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> &OtlpStats {
        &self.stats
    }
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

async fn run(
    cfg: OtlpConfig,
    mut rx: mpsc::Receiver<Span>,
    stats: Arc<OtlpStats>,
    shutdown: impl Future<Output = ()>,
) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut sender = Sender {
        cfg: &cfg,
        client,
        stats: &stats,
        failing: false,
    };
    let mut batch: Vec<Span> = Vec::with_capacity(cfg.batch_size);
    let mut tick = tokio::time::interval(cfg.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            n = rx.recv_many(&mut batch, cfg.batch_size) => {
                if n == 0 {
                    break;
                }
                if batch.len() >= cfg.batch_size {
                    sender.send(&mut batch).await;
                }
            }
            _ = tick.tick() => {
                if !batch.is_empty() {
                    sender.send(&mut batch).await;
                }
            }
        }
    }
    // Flush what is left, once, without waiting for more.
    rx.close();
    while let Some(span) = rx.recv().await {
        batch.push(span);
        if batch.len() >= cfg.batch_size {
            sender.send(&mut batch).await;
        }
    }
    if !batch.is_empty() {
        sender.send(&mut batch).await;
    }
}

struct Sender<'a> {
    cfg: &'a OtlpConfig,
    client: HttpClient,
    stats: &'a OtlpStats,
    failing: bool,
}

impl Sender<'_> {
    /// Posts and empties `batch`; a failure drops it (counted) and is logged once per outage.
    async fn send(&mut self, batch: &mut Vec<Span>) {
        let n = batch.len() as u64;
        let body = Bytes::from(encode(batch.iter()).to_string());
        batch.clear();
        let result = tokio::time::timeout(self.cfg.timeout, self.post(body))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.cfg.timeout)));
        match result {
            Ok(()) => {
                self.stats.exported.fetch_add(n, Ordering::Relaxed);
                if std::mem::replace(&mut self.failing, false) {
                    tracing::info!(url = %self.cfg.url, "OTLP export works again");
                }
            }
            Err(e) => {
                self.stats.dropped.fetch_add(n, Ordering::Relaxed);
                self.stats.failed_batches.fetch_add(1, Ordering::Relaxed);
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(url = %self.cfg.url, error = %e, spans = n, "OTLP export failed; dropping spans until the collector answers");
                }
            }
        }
    }

    async fn post(&self, body: Bytes) -> Result<(), String> {
        let req = Request::builder()
            .method(Method::POST)
            .uri(self.cfg.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let answer = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(())
        } else {
            let text = String::from_utf8_lossy(&answer.to_bytes())
                .chars()
                .take(200)
                .collect::<String>();
            Err(format!("collector answered {status}: {text}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::test_span;

    #[test]
    fn endpoints_are_checked() {
        let c = OtlpConfig::from_endpoint("http://127.0.0.1:4318").expect("ok");
        assert_eq!(c.url.to_string(), "http://127.0.0.1:4318/v1/traces");
        let c = OtlpConfig::from_endpoint("http://collector:4318/v1/traces/").expect("ok");
        assert_eq!(c.url.to_string(), "http://collector:4318/v1/traces");
        for bad in [
            "https://x:4318",
            "127.0.0.1:4318",
            "",
            "http://",
            "not a url",
        ] {
            let e = OtlpConfig::from_endpoint(bad).expect_err(bad);
            assert!(e.to_string().contains("SHOAL_OTLP_ENDPOINT"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_without_waiting() {
        let (tx, _rx) = mpsc::channel(2);
        let x = OtlpExporter {
            tx,
            stats: Arc::new(OtlpStats::default()),
        };
        for _ in 0..5 {
            x.offer(test_span("t", "a", None, 0, 1));
        }
        assert_eq!(x.stats().dropped.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_collector_that_is_down_costs_dropped_spans_only() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut cfg = OtlpConfig::from_endpoint(&format!("http://127.0.0.1:{port}")).expect("cfg");
        cfg.timeout = Duration::from_secs(2);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (x, task) = OtlpExporter::start(cfg, async move {
            let _ = stop_rx.await;
        });
        for i in 0..3 {
            x.offer(test_span("t", &format!("s{i}"), None, 0, 1));
        }
        let _ = stop_tx.send(());
        task.await.expect("task");
        assert_eq!(x.stats().dropped.load(Ordering::Relaxed), 3);
        assert_eq!(x.stats().exported.load(Ordering::Relaxed), 0);
        assert!(x.stats().failed_batches.load(Ordering::Relaxed) >= 1);
    }
}
