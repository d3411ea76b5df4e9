//! Tests of the whole subsystem in process: StatsD in, the store and `/metrics` out,
//! under a burst of names and values that would be infinite.

use std::time::Duration;

use super::*;

const T0: u64 = 1_700_000_000;

fn small(cap: usize) -> Arc<Metrics> {
    Metrics::new(MetricsConfig {
        max_statsd_series: cap,
        max_store_series: cap,
        ..MetricsConfig::default()
    })
}

/// The value of the exposition line that starts with `series ` (exact series text).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn names(m: &Metrics) -> Vec<String> {
    m.tsdb().names().into_iter().map(|n| n.name).collect()
}

#[test]
fn after_a_burst_new_names_and_platform_series_are_kept() {
    let m = small(20);
    m.observe_request("web", "1", 200, "gateway", Duration::from_millis(3));
    m.flush_requests(T0);
    for i in 0..300 {
        m.statsd().ingest(0, format!("burst.{i}:1|c").as_bytes());
    }
    m.flush_statsd(T0 + 1);
    m.statsd().ingest(0, b"after.burst:2|c");
    m.flush_statsd(T0 + 2);
    let text = m.render();
    assert_eq!(value(&text, "statsd_after_burst_total"), Some(2.0));
    let stored = names(&m);
    assert!(
        stored.contains(&"statsd_after_burst_total".to_string()),
        "{stored:?}"
    );
    assert!(
        stored.contains(&"shoal_requests_total".to_string()),
        "{stored:?}"
    );
    let statsd_held = stored.iter().filter(|n| n.starts_with("statsd_")).count();
    assert!(statsd_held <= 20, "{statsd_held}");
    let evicted = value(&text, r#"shoal_statsd_evicted_series_total{reason="cap"}"#);
    assert!(evicted.is_some_and(|v| v >= 280.0), "{text}");
    let app = r#"shoal_metrics_evicted_series_total{class="application",reason="cap"}"#;
    assert!(value(&text, app).is_some_and(|v| v >= 1.0), "{text}");
    let platform = r#"shoal_metrics_evicted_series_total{class="platform",reason="cap"}"#;
    assert_eq!(value(&text, platform), Some(0.0), "{text}");
    assert_eq!(
        value(&text, r#"shoal_metrics_series_cap{class="application"}"#),
        Some(20.0)
    );
    for family in [
        "shoal_statsd_evicted_series_total",
        "shoal_metrics_evicted_series_total",
        "shoal_statsd_refused_values_total",
    ] {
        assert!(text.contains(&format!("# HELP {family} ")), "{family}");
        assert!(
            text.contains(&format!("# TYPE {family} counter")),
            "{family}"
        );
    }
}

#[test]
fn infinities_are_refused_and_counted_in_the_exposition() {
    let m = small(100);
    for line in [
        "x:1|c|@1e-320",
        "x:1e308|c",
        "x:inf|g",
        "x:NaN|ms",
        "x:1|c|@0",
        "x:1|c|@1.5",
        "x:1|c|@-1",
        "big:1e300|g",
    ] {
        m.statsd().ingest(0, line.as_bytes());
    }
    m.flush_statsd(T0);
    // Sent again in a later interval, 1e308 would make the total infinite.
    m.statsd().ingest(0, b"x:1e308|c");
    m.flush_statsd(T0 + 1);
    let text = m.render();
    let refused = |r: &str| {
        value(
            &text,
            &format!("shoal_statsd_refused_values_total{{reason=\"{r}\"}}"),
        )
    };
    assert_eq!(
        (
            refused("non_finite"),
            refused("bad_rate"),
            refused("overflow")
        ),
        (Some(2.0), Some(4.0), Some(1.0)),
        "{text}"
    );
    assert_eq!(value(&text, "statsd_x_total"), Some(1e308));
    for l in text.lines().filter(|l| l.starts_with("statsd_")) {
        assert!(!l.contains("Inf") && !l.contains("NaN"), "{l}");
    }
    // The store keeps f32s: beyond their range a value saturates, it never turns infinite.
    let q = query::Query {
        name: "statsd_big".into(),
        matchers: Vec::new(),
        since: Duration::from_secs(60),
        step: Duration::from_secs(1),
        agg: query::Agg::Last,
        by: Vec::new(),
    };
    let points = match m.tsdb().query(&q, T0 + 2) {
        Ok(r) => r
            .series
            .into_iter()
            .flat_map(|s| s.points)
            .collect::<Vec<_>>(),
        Err(e) => panic!("{e}"),
    };
    assert!(
        points.iter().any(|p| p.1 == Some(f64::from(f32::MAX))),
        "{points:?}"
    );
}
