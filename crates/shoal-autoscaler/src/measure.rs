//! [`measure`]: what one service's last window says, as [`Signals`]: the request rate
//! and idle time from the proxy's own cumulative counts (read every pass into
//! [`Counters`]), in-flight requests sampled from the proxy each pass, p95 and CPU
//! and the custom StatsD metric from the metrics store, ready and starting
//! instances from the fleet view.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use shoal_catalog::{Health, InstanceRecord, InstanceState};
use shoal_metrics::query::{Agg, Matcher, Query};
use shoal_metrics::Metrics;
use shoal_scale::Signals;
use shoal_spec::{MetricKind, ScaleSpec};

/// Seconds of history each measurement covers.
pub const WINDOW_SECS: u64 = 5;

/// The request counts and in-flight samples of the last window, per service.
#[derive(Debug, Default)]
pub struct Counters {
    by_service: HashMap<String, Track>,
}

#[derive(Debug, Default)]
struct Track {
    /// (unix ms, cumulative requests) of the passes in the window.
    totals: VecDeque<(u64, u64)>,
    /// In-flight requests sampled at each pass in the window.
    inflight: VecDeque<(u64, u32)>,
    /// When the cumulative count last went up (first sight counts as a request: a
    /// service is not idle before it was watched for `idle_after`).
    last_request_ms: u64,
}

impl Counters {
    /// Records `service`'s cumulative request count and in-flight requests at `now_ms`.
    pub fn record(&mut self, service: &str, total: u64, inflight: Option<u32>, now_ms: u64) {
        let t = self
            .by_service
            .entry(service.to_owned())
            .or_insert_with(|| Track {
                last_request_ms: now_ms,
                ..Track::default()
            });
        if t.totals.back().is_some_and(|&(_, before)| total > before) {
            t.last_request_ms = now_ms;
        }
        t.totals.push_back((now_ms, total));
        if let Some(n) = inflight {
            t.inflight.push_back((now_ms, n));
        }
        let oldest = now_ms.saturating_sub(WINDOW_SECS * 1000);
        while t.totals.len() > 2 && t.totals.front().is_some_and(|&(at, _)| at < oldest) {
            t.totals.pop_front();
        }
        while t.inflight.front().is_some_and(|&(at, _)| at < oldest) {
            t.inflight.pop_front();
        }
    }

    /// Forgets services not in `keep`.
    pub fn retain(&mut self, keep: &BTreeSet<String>) {
        self.by_service.retain(|s, _| keep.contains(s));
    }

    /// Requests per second over the window; `None` until two readings a second apart.
    fn rps(&self, service: &str) -> Option<f64> {
        let t = self.by_service.get(service)?;
        let (&(t0, n0), &(t1, n1)) = (t.totals.front()?, t.totals.back()?);
        let ms = t1.checked_sub(t0).filter(|ms| *ms >= 900)?;
        Some(n1.saturating_sub(n0) as f64 * 1000.0 / ms as f64)
    }

    fn inflight(&self, service: &str) -> Option<f64> {
        let t = self.by_service.get(service)?;
        let n = t.inflight.len();
        (n > 0).then(|| t.inflight.iter().map(|&(_, v)| f64::from(v)).sum::<f64>() / n as f64)
    }

    fn idle_ms(&self, service: &str, now_ms: u64) -> Option<u64> {
        let t = self.by_service.get(service)?;
        Some(now_ms.saturating_sub(t.last_request_ms))
    }
}

/// The cumulative requests the proxy answered for `service` (all versions).
pub fn total_requests(metrics: &Metrics, service: &str) -> u64 {
    metrics
        .version_totals(service)
        .iter()
        .map(|(_, count, _, _)| *count)
        .sum()
}

/// `service`'s signals at `now_ms`: `instances` are its records in the fleet view,
/// `wake` whether a request is held for it.
pub fn measure(
    metrics: &Metrics,
    counters: &Counters,
    spec: &ScaleSpec,
    service: &str,
    instances: &[InstanceRecord],
    wake: bool,
    now_ms: u64,
) -> Signals {
    let main = instances
        .iter()
        .filter(|r| r.group.is_empty() && !r.external && r.state == InstanceState::Running);
    let (mut ready, mut starting) = (0u32, 0u32);
    for r in main {
        match r.health {
            Health::Passing | Health::Warning => ready += 1,
            Health::Starting => starting += 1,
            Health::Critical => {}
        }
    }
    let now_secs = now_ms / 1000;
    let target = spec.target.as_ref();
    let wanted = |f: fn(&shoal_spec::ScaleTarget) -> bool| target.is_some_and(f);
    Signals {
        rps: counters.rps(service),
        p95_ms: wanted(|t| t.p95_ms.is_some())
            .then(|| {
                windowed(
                    metrics,
                    "shoal_request_duration_seconds",
                    service,
                    Agg::P95,
                    now_secs,
                )
            })
            .flatten()
            .map(|s| s * 1000.0),
        cpu: wanted(|t| t.cpu.is_some())
            .then(|| cpu(metrics, service, now_secs))
            .flatten(),
        inflight: counters.inflight(service),
        custom: target
            .and_then(|t| t.metric.as_ref())
            .and_then(|m| custom(metrics, &m.name, m.kind, now_secs)),
        ready,
        starting,
        idle_ms: counters.idle_ms(service, now_ms),
        wake,
    }
}

/// A query of the last window at one-second steps.
fn query(name: String, matchers: Vec<Matcher>, agg: Agg, by: Vec<String>) -> Query {
    Query {
        name,
        matchers,
        since: Duration::from_secs(WINDOW_SECS),
        step: Duration::from_secs(1),
        agg,
        by,
    }
}

fn service_is(service: &str) -> Vec<Matcher> {
    vec![Matcher {
        label: "service".into(),
        value: service.into(),
        equal: true,
    }]
}

/// The mean over the window's seconds that have a value; `None` when none has.
fn mean_of(points: &[(u64, Option<f64>)]) -> Option<f64> {
    let values: Vec<f64> = points.iter().filter_map(|(_, v)| *v).collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// `name{service}` aggregated by `agg` per second, averaged over the window.
fn windowed(metrics: &Metrics, name: &str, service: &str, agg: Agg, now: u64) -> Option<f64> {
    let q = query(name.into(), service_is(service), agg, Vec::new());
    let r = metrics.tsdb().query(&q, now).ok()?;
    r.series.first().and_then(|s| mean_of(&s.points))
}

/// Mean CPU per instance over the window, as a fraction of a core.
fn cpu(metrics: &Metrics, service: &str, now: u64) -> Option<f64> {
    let q = query(
        "shoal_instance_cpu_seconds_total".into(),
        service_is(service),
        Agg::Rate,
        vec!["instance".into()],
    );
    let r = metrics.tsdb().query(&q, now).ok()?;
    let per_instance: Vec<f64> = r.series.iter().filter_map(|s| mean_of(&s.points)).collect();
    (!per_instance.is_empty()).then(|| per_instance.iter().sum::<f64>() / per_instance.len() as f64)
}

/// The StatsD metric `name`: a gauge's latest value (summed over its tag sets), or a
/// counter's rate per second over the window.
fn custom(metrics: &Metrics, name: &str, kind: MetricKind, now: u64) -> Option<f64> {
    let (series, agg) = match kind {
        MetricKind::Gauge => (shoal_metrics::statsd_series(name, false), Agg::Last),
        MetricKind::Rate => (shoal_metrics::statsd_series(name, true), Agg::Rate),
    };
    let r = metrics
        .tsdb()
        .query(&query(series, Vec::new(), agg, Vec::new()), now)
        .ok()?;
    let points = &r.series.first()?.points;
    match kind {
        MetricKind::Gauge => points.iter().rev().find_map(|(_, v)| *v),
        MetricKind::Rate => mean_of(points),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_and_idle_time_come_from_the_counts_of_the_window() {
        let mut c = Counters::default();
        c.record("web", 100, Some(2), 10_000);
        assert_eq!(c.rps("web"), None, "one reading");
        c.record("web", 150, Some(4), 11_000);
        assert_eq!(c.rps("web"), Some(50.0));
        assert_eq!(c.inflight("web"), Some(3.0));
        for (i, at) in (12_000..=20_000).step_by(1000).enumerate() {
            c.record("web", 150 + 10 * i as u64, None, at);
        }
        // The window is the last 5 s: 10 requests a second.
        let rps = c.rps("web").expect("rate");
        assert!((rps - 10.0).abs() < 0.01, "{rps}");
        assert_eq!(c.inflight("web"), None, "no sample in the window");
        assert_eq!(c.idle_ms("web", 20_000), Some(0));
        // No request since 20 s (the count stays at 230).
        c.record("web", 230, None, 21_000);
        c.record("web", 230, None, 29_000);
        assert_eq!(c.idle_ms("web", 29_000), Some(9_000));
        assert_eq!(c.rps("web"), Some(0.0));
        c.retain(&BTreeSet::new());
        assert_eq!(c.rps("web"), None);
    }

    #[test]
    fn a_service_first_seen_is_not_idle_yet() {
        let mut c = Counters::default();
        c.record("q", 0, None, 5_000);
        assert_eq!(c.idle_ms("q", 5_000), Some(0));
        c.record("q", 0, None, 65_000);
        assert_eq!(c.idle_ms("q", 65_000), Some(60_000));
    }
}
