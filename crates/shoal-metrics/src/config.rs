//! Settings of the metrics subsystem, with defaults and environment overrides.

use std::time::Duration;

/// Environment variable: the StatsD flush interval in milliseconds (default 10000).
pub const FLUSH_ENV: &str = "SHOAL_STATSD_FLUSH_MS";
/// Environment variable: the application (StatsD) series kept, both by the metrics
/// store (default 2000) and by StatsD across flushes and per interval (default
/// 10000). Past it, the least recently updated application series are evicted;
/// Shoal's own series have their own room ([`MetricsConfig::max_platform_series`]).
pub const MAX_SERIES_ENV: &str = "SHOAL_METRICS_MAX_SERIES";

/// How the metrics subsystem runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// StatsD aggregation interval.
    pub flush_interval: Duration,
    /// StatsD series kept (per interval and across flushes); past it the least
    /// recently updated are evicted.
    pub max_statsd_series: usize,
    /// Application (StatsD) series kept by the metrics store (each up to ~300 KB once
    /// it holds 24 h); past it the least recently updated are evicted.
    pub max_store_series: usize,
    /// Shoal's own series (instances, requests) kept by the metrics store, apart from
    /// the application's: StatsD traffic never evicts them.
    pub max_platform_series: usize,
    /// Distinct members counted per set per interval.
    pub max_set_members: usize,
    /// UDP receive threads (each with its own ingestion shard); one keeps up with ~3M lines/s.
    pub udp_workers: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_secs(10),
            max_statsd_series: 10_000,
            max_store_series: 2_000,
            max_platform_series: 5_000,
            max_set_members: 100_000,
            udp_workers: 1,
        }
    }
}

impl MetricsConfig {
    /// Defaults with [`FLUSH_ENV`] and [`MAX_SERIES_ENV`] applied (bad values are ignored, with a warning).
    pub fn from_env() -> Self {
        let mut c = Self::default();
        if let Some(ms) = env_number(FLUSH_ENV).filter(|ms| *ms >= 10) {
            c.flush_interval = Duration::from_millis(ms);
        }
        if let Some(n) = env_number(MAX_SERIES_ENV).filter(|n| *n > 0) {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            c.max_store_series = n;
            c.max_statsd_series = n;
        }
        c
    }
}

fn env_number(var: &str) -> Option<u64> {
    let raw = std::env::var(var).ok()?;
    match raw.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => {
            tracing::warn!(var, value = %raw, "ignored: not a whole number");
            None
        }
    }
}
