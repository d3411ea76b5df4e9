//! Shoal's metrics: StatsD ingestion, aggregation, a bounded time-series store and `/metrics`.
//!
//! Feeds: StatsD lines from services ([`serve_statsd`]), the proxy's answers
//! ([`Metrics::observe_request`]) and the instance sampler (catalog + `/proc`). Every
//! flush lands in the [`Tsdb`] (1 s for 1 h, 10 s for 24 h) that [`router`] queries,
//! and in the running totals `/metrics` renders.
//!
//! Memory is bounded by series caps that evict the least recently updated series
//! rather than refuse new ones, and Shoal's own series (instances, requests) have
//! their own room in the store, so StatsD traffic cannot push them out. No series
//! ever holds an infinity or NaN: such values, and sums that would overflow, are
//! refused and counted by reason.
//!
//! # Layout
//! - `line.rs`: the StatsD line parser (pure, zero-copy, fuzzed).
//! - `refuse.rs`: why a value is refused (non-finite, bad sample rate, overflow).
//! - `evict.rs`: which series make room in a full table (least recently updated first).
//! - `agg.rs`: per-interval aggregates and the ingestion shard.
//! - `statsd.rs`: sharded StatsD aggregation, the flush, the state across flushes.
//! - `server.rs`: UDP and TCP StatsD listeners.
//! - `ring.rs`, `tsdb.rs`: rollup ring buffers and the bounded store;
//!   `tsdb_room.rs`: its caps per origin (platform, application) and evictions.
//! - `query.rs`, `query_eval.rs`: selectors and the pure query evaluation.
//! - `proxy.rs`: request counts and durations from the gateway.
//! - `protection.rs`: shed counts and circuit states (`shoal_shed_total`, `shoal_circuit_state`).
//! - `instances.rs`: instance states and `/proc` statistics, sampled every second.
//! - `deploys.rs`: each service's current deployment as `shoal_deploy_*` gauges.
//! - `flags.rs`: `shoal_flag_evaluations_total` and the last minute's counts.
//! - `expo.rs`, `render.rs`: the Prometheus text format and `/metrics`.
//! - `http.rs`: `/metrics`, `/api/v1/metrics/query`, `/api/v1/metrics/names`.
//! - `config.rs`: settings (`SHOAL_STATSD_FLUSH_MS`, `SHOAL_METRICS_MAX_SERIES`).
#![forbid(unsafe_code)]

mod agg;
mod config;
mod deploys;
mod evict;
mod expo;
mod flags;
mod http;
mod instances;
pub mod line;
mod protection;
mod proxy;
pub mod query;
mod refuse;
mod render;
mod ring;
mod server;
mod statsd;
mod tsdb;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shoal_store::Store;
use tokio::sync::watch;

pub use config::{MetricsConfig, FLUSH_ENV, MAX_SERIES_ENV};
pub use deploys::DeployMetrics;
pub use flags::{FlagMetrics, FlagSource};
pub use http::router;
pub use instances::InstanceMetrics;
pub use protection::{ProtectionMetrics, CIRCUIT_CLOSED, CIRCUIT_HALF_OPEN, CIRCUIT_OPEN};
pub use proxy::{RequestMetrics, BUCKETS};
pub use ring::Point;
pub use server::{serve as serve_statsd, BindError, StatsdListeners};
pub use statsd::{Flushed, SeriesId, Statsd, SummaryStats};
pub use tsdb::{Caps, Origin, OriginUsage, Sample, SeriesKey, SeriesKind, Tsdb, Usage};

use crate::expo::label_name;
use crate::render::statsd_family;
use crate::ring::to_f32;

/// The metrics store's series name of StatsD metric `name`: `statsd_<name>`, with
/// `_total` for a counter.
pub fn statsd_series(name: &str, counter: bool) -> String {
    let kind = if counter {
        line::Kind::Counter
    } else {
        line::Kind::Gauge
    };
    render::statsd_family(kind, name)
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Everything the metrics subsystem holds.
pub struct Metrics {
    pub config: MetricsConfig,
    pub(crate) statsd: Statsd,
    pub(crate) tsdb: Tsdb,
    pub(crate) requests: RequestMetrics,
    pub(crate) instances: InstanceMetrics,
    pub(crate) deploys: DeployMetrics,
    /// The proxy's flag evaluation counters, read once a second.
    pub flags: FlagMetrics,
    pub protection: ProtectionMetrics,
}

impl Metrics {
    pub fn new(config: MetricsConfig) -> Arc<Self> {
        Arc::new(Self {
            statsd: Statsd::new(
                config.udp_workers.max(1) + 1,
                config.max_statsd_series,
                config.max_set_members,
            ),
            tsdb: Tsdb::new(Caps {
                platform: config.max_platform_series,
                application: config.max_store_series,
            }),
            requests: RequestMetrics::default(),
            instances: InstanceMetrics::default(),
            deploys: DeployMetrics::default(),
            flags: FlagMetrics::default(),
            protection: ProtectionMetrics::default(),
            config,
        })
    }

    /// Records one request answered by the proxy (`caller` is "gateway" at the edge).
    pub fn observe_request(
        &self,
        service: &str,
        version: &str,
        code: u16,
        caller: &str,
        d: Duration,
    ) {
        self.requests.observe(service, version, code, caller, d);
    }

    /// One service's cumulative request counts per version since start:
    /// (requests, 5xx answers, requests per bucket of [`proxy::BUCKETS`] then +Inf).
    pub fn version_totals(&self, service: &str) -> Vec<(String, u64, u64, Vec<u64>)> {
        let mut out = Vec::new();
        self.requests.each(|s, version, stats| {
            if s == service {
                let errors = stats
                    .codes
                    .iter()
                    .filter(|c| c.code >= 500)
                    .map(|c| c.total)
                    .sum();
                out.push((
                    version.to_string(),
                    stats.count,
                    errors,
                    stats.buckets.to_vec(),
                ));
            }
        });
        out
    }

    pub fn statsd(&self) -> &Statsd {
        &self.statsd
    }

    pub fn tsdb(&self) -> &Tsdb {
        &self.tsdb
    }

    /// The Prometheus exposition of everything.
    pub fn render(&self) -> String {
        render::render(self)
    }

    /// Ends a StatsD interval: aggregates into the store at unix second `now`.
    pub fn flush_statsd(&self, now: u64) -> usize {
        let flushed = self.statsd.flush(self.config.flush_interval);
        let n = flushed.len();
        let samples = flushed
            .into_iter()
            .map(|(id, f)| statsd_sample(&id, &f))
            .collect();
        self.tsdb.record(now, Origin::Application, samples);
        n
    }

    /// Ends a one-second proxy interval: request counts and latencies into the store.
    pub fn flush_requests(&self, now: u64) {
        let mut samples = Vec::new();
        for s in self.requests.take_interval() {
            for (code, caller, n) in &s.codes {
                let code = code.to_string();
                let labels = [
                    ("service", s.service.as_str()),
                    ("version", s.version.as_str()),
                    ("code", code.as_str()),
                    ("caller", caller.as_str()),
                ];
                samples.push(Sample {
                    key: SeriesKey::new("shoal_requests_total", &labels),
                    kind: SeriesKind::Counter,
                    point: Point::one(*n as f64),
                    quantiles: None,
                });
            }
            let labels = [
                ("service", s.service.as_str()),
                ("version", s.version.as_str()),
            ];
            samples.push(Sample {
                key: SeriesKey::new("shoal_request_duration_seconds", &labels),
                kind: SeriesKind::Summary,
                point: Point {
                    n: s.count as f32,
                    sum: to_f32(s.sum),
                    min: to_f32(s.min),
                    max: to_f32(s.max),
                    last: to_f32(s.sum / s.count.max(1) as f64),
                },
                quantiles: Some(s.quantiles.map(to_f32)),
            });
        }
        self.tsdb.record(now, Origin::Platform, samples);
    }
}

/// A flushed StatsD series as a store sample (timers in seconds, like `/metrics`).
fn statsd_sample(id: &SeriesId, f: &Flushed) -> Sample {
    let labels: Vec<(String, String)> = id
        .tags
        .iter()
        .map(|(k, v)| {
            (
                label_name(k),
                if v.is_empty() {
                    "true".into()
                } else {
                    v.clone()
                },
            )
        })
        .collect();
    let labels: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let key = SeriesKey::new(statsd_family(id.kind, &id.name), &labels);
    let (kind, point, quantiles) = match *f {
        Flushed::Counter { count, .. } => (SeriesKind::Counter, Point::one(count), None),
        Flushed::Gauge(v) => (SeriesKind::Gauge, Point::one(v), None),
        Flushed::Set(n) => (SeriesKind::Gauge, Point::one(n as f64), None),
        Flushed::Summary(s) => {
            let u = if id.kind == line::Kind::Timer {
                1e-3
            } else {
                1.0
            };
            let p = Point {
                n: to_f32(s.count),
                sum: to_f32(s.sum * u),
                min: to_f32(s.min * u),
                max: to_f32(s.max * u),
                last: to_f32(s.mean * u),
            };
            let q = [s.p50, s.p90, s.p95, s.p99].map(|v| to_f32(v * u));
            (SeriesKind::Summary, p, Some(q))
        }
    };
    Sample {
        key,
        kind,
        point,
        quantiles,
    }
}

/// Runs StatsD, the flush loops and the instance sampler until `stop` turns true.
pub async fn run(
    metrics: Arc<Metrics>,
    listeners: StatsdListeners,
    store: Arc<dyn Store>,
    stop: watch::Receiver<bool>,
) {
    let server = tokio::spawn(serve_statsd(listeners, metrics.clone(), stop.clone()));
    let mut stop_rx = stop;
    let mut flush = tokio::time::interval(metrics.config.flush_interval);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush.tick().await;
    loop {
        tokio::select! {
            _ = flush.tick() => {
                let n = metrics.flush_statsd(unix_now());
                tracing::debug!(series = n, "statsd flushed");
            }
            _ = second.tick() => {
                let now = unix_now();
                metrics.flush_requests(now);
                let samples = metrics.instances.sample(store.as_ref()).await;
                metrics.tsdb.record(now, Origin::Platform, samples);
                metrics.deploys.sample(store.as_ref()).await;
                metrics.flags.sample(now);
            }
            _ = stop_rx.changed() => {
                if *stop_rx.borrow() {
                    break;
                }
            }
        }
    }
    // What arrived in the last partial interval still counts.
    metrics.flush_statsd(unix_now());
    let _ = server.await;
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
