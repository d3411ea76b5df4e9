//! Fuzz target: the StatsD line parser and the whole ingest → flush → `/metrics` path on
//! arbitrary bytes. Any panic is a bug; accepted lines carry finite values and a rate in (0, 1].
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal_metrics::line::{lines, parse_line};
use shoal_metrics::{Metrics, MetricsConfig};

fuzz_target!(|data: &[u8]| {
    for raw in lines(data) {
        if let Ok(line) = parse_line(raw) {
            assert!(!line.name.is_empty());
            assert!(line.rate > 0.0 && line.rate <= 1.0);
            assert!(line.numbers().all(f64::is_finite));
            let _ = line.tag_pairs().count();
        }
    }
    let metrics = Metrics::new(MetricsConfig::default());
    metrics.statsd().ingest(0, data);
    metrics.flush_statsd(1_700_000_000);
    let text = metrics.render();
    assert!(text.lines().all(|l| !l.is_empty()));
});
