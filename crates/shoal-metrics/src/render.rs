//! `/metrics`: every family Shoal measures, in the Prometheus text format.

use crate::evict::Reason;
use crate::expo::{label_name, metric_name, Expo, Type};
use crate::line::Kind;
use crate::proxy::BUCKETS;
use crate::refuse::Refusal;
use crate::statsd::Exposed;
use crate::Metrics;

/// Renders the whole exposition.
pub fn render(m: &Metrics) -> String {
    let mut e = Expo::default();
    requests(m, &mut e);
    m.protection.render(&mut e);
    instances(m, &mut e);
    m.deploys.render(&mut e, shoal_catalog::now_ms());
    m.flags.render(&mut e);
    statsd(m, &mut e);
    internal(m, &mut e);
    e.render()
}

fn requests(m: &Metrics, e: &mut Expo) {
    const REQ: &str = "shoal_requests_total";
    const DUR: &str = "shoal_request_duration_seconds";
    e.family(REQ, "Requests answered by the proxy.", Type::Counter);
    e.family(
        DUR,
        "Time until the proxy had the answer's headers.",
        Type::Histogram,
    );
    m.requests.each(|service, version, st| {
        for c in &st.codes {
            let code = c.code.to_string();
            let labels = [
                ("service", service),
                ("version", version),
                ("code", code.as_str()),
                ("caller", &*c.caller),
            ];
            e.sample(REQ, REQ, &labels, c.total as f64);
        }
        let mut cumulative = 0;
        let mut les: Vec<String> = BUCKETS.iter().map(|b| b.to_string()).collect();
        les.push("+Inf".into());
        for (le, n) in les.iter().zip(st.buckets) {
            cumulative += n;
            let labels = [
                ("service", service),
                ("version", version),
                ("le", le.as_str()),
            ];
            e.sample(
                DUR,
                "shoal_request_duration_seconds_bucket",
                &labels,
                cumulative as f64,
            );
        }
        let labels = [("service", service), ("version", version)];
        e.sample(DUR, "shoal_request_duration_seconds_sum", &labels, st.sum);
        e.sample(
            DUR,
            "shoal_request_duration_seconds_count",
            &labels,
            st.count as f64,
        );
    });
}

fn instances(m: &Metrics, e: &mut Expo) {
    let view = m.instances.view();
    e.family(
        "shoal_instances",
        "Instances by service, version and state.",
        Type::Gauge,
    );
    for ((service, version, state), n) in &view.counts {
        let labels = [
            ("service", service.as_str()),
            ("version", version.as_str()),
            ("state", *state),
        ];
        e.sample("shoal_instances", "shoal_instances", &labels, *n as f64);
    }
    let families = [
        (
            "shoal_instance_cpu_seconds_total",
            "CPU time (user + system) of the instance's process group.",
            Type::Counter,
        ),
        (
            "shoal_instance_memory_bytes",
            "Resident memory of the instance's process group.",
            Type::Gauge,
        ),
        (
            "shoal_instance_threads",
            "Threads of the instance's process group.",
            Type::Gauge,
        ),
        (
            "shoal_instance_fds",
            "Open file descriptors of the instance's process group.",
            Type::Gauge,
        ),
    ];
    for (name, help, typ) in families {
        e.family(name, help, typ);
    }
    for p in &view.procs {
        let labels = [
            ("service", p.service.as_str()),
            ("version", p.version.as_str()),
            ("instance", p.instance.as_str()),
        ];
        let values = [
            p.stats.cpu_seconds,
            p.stats.rss_bytes as f64,
            f64::from(p.stats.threads),
            f64::from(p.stats.fds),
        ];
        for ((name, _, _), v) in families.iter().zip(values) {
            e.sample(name, name, &labels, v);
        }
    }
}

/// The Prometheus family name of a StatsD series.
pub fn statsd_family(kind: Kind, name: &str) -> String {
    let base = format!("statsd_{}", metric_name(name));
    match kind {
        Kind::Counter => format!("{base}_total"),
        _ => base,
    }
}

fn statsd(m: &Metrics, e: &mut Expo) {
    m.statsd.with_state(|st| {
        for (id, kept) in &st.series {
            let exposed = &kept.value;
            let family = statsd_family(id.kind, &id.name);
            let owned: Vec<(String, &str)> = id
                .tags
                .iter()
                .map(|(k, v)| {
                    (
                        label_name(k),
                        if v.is_empty() { "true" } else { v.as_str() },
                    )
                })
                .collect();
            let mut labels: Vec<(&str, &str)> = Vec::with_capacity(owned.len() + 1);
            for (k, v) in &owned {
                if !labels.iter().any(|(seen, _)| seen == k) {
                    labels.push((k.as_str(), v));
                }
            }
            let (typ, help) = match exposed {
                Exposed::Counter(_) => (Type::Counter, "StatsD counter (total since start)."),
                Exposed::Gauge(_) => (Type::Gauge, "StatsD gauge."),
                Exposed::Set(_) => (
                    Type::Gauge,
                    "StatsD set: distinct members in the last flush interval.",
                ),
                Exposed::Summary { .. } if id.kind == Kind::Timer => (
                    Type::Summary,
                    "StatsD timer in seconds (quantiles of the last flush interval).",
                ),
                Exposed::Summary { .. } => (
                    Type::Summary,
                    "StatsD histogram (quantiles of the last flush interval).",
                ),
            };
            if !e.family(&family, help, typ) {
                continue; // the name is taken by a series of another type
            }
            match *exposed {
                Exposed::Counter(v) | Exposed::Gauge(v) => e.sample(&family, &family, &labels, v),
                Exposed::Set(n) => e.sample(&family, &family, &labels, n as f64),
                Exposed::Summary { count, sum, last } => {
                    let unit = if id.kind == Kind::Timer { 1e-3 } else { 1.0 };
                    for (q, v) in [
                        ("0.5", last.p50),
                        ("0.9", last.p90),
                        ("0.95", last.p95),
                        ("0.99", last.p99),
                    ] {
                        let mut l = labels.clone();
                        l.push(("quantile", q));
                        e.sample(&family, &family, &l, v * unit);
                    }
                    e.sample(&family, &format!("{family}_sum"), &labels, sum * unit);
                    e.sample(&family, &format!("{family}_count"), &labels, count);
                }
            }
        }
    });
}

/// The listeners' connections, caps and refusals, and the descriptor budget they share.
fn listeners(budget: &shoal_listen::Budget, e: &mut Expo) {
    let rows = budget.listeners();
    let families = [
        (
            "shoal_listener_connections",
            "Connections open now, by listener (proxy: the gateway and every outbound listener).",
            Type::Gauge,
        ),
        (
            "shoal_listener_connection_cap",
            "Connections a listener may hold (its own cap, at most the descriptor budget).",
            Type::Gauge,
        ),
        (
            "shoal_listener_refused_total",
            "Connections accepted and closed at once because the listener or the budget was full.",
            Type::Counter,
        ),
    ];
    for (i, (name, help, typ)) in families.into_iter().enumerate() {
        e.family(name, help, typ);
        for r in &rows {
            let v = match i {
                0 => r.open as f64,
                1 => r.cap as f64,
                _ => r.refused as f64,
            };
            e.sample(name, name, &[("listener", r.name)], v);
        }
    }
    let totals = [
        (
            "shoal_fd_budget",
            "File descriptors the listeners may hold together (the open-file limit less a reserve).",
            Type::Gauge,
            budget.cap() as f64,
        ),
        (
            "shoal_fd_budget_used",
            "File descriptors the listeners hold now.",
            Type::Gauge,
            budget.used() as f64,
        ),
        (
            "shoal_idle_connections_reclaimed_total",
            "Idle keep-alive connections closed to make room near the budget.",
            Type::Counter,
            budget.reclaimed() as f64,
        ),
    ];
    for (name, help, typ, v) in totals {
        e.family(name, help, typ);
        e.sample(name, name, &[], v);
    }
}

fn internal(m: &Metrics, e: &mut Expo) {
    listeners(&shoal_listen::Budget::process(), e);
    let (lines, bad, evicted, refused, flushes) = m.statsd.with_state(|st| {
        (
            st.lines,
            st.bad_lines,
            st.evicted_series,
            st.refused,
            st.flushes,
        )
    });
    let usage = m.tsdb.usage();
    let rows = [
        (
            "shoal_statsd_lines_total",
            "StatsD lines received (flushed intervals).",
            Type::Counter,
            lines as f64,
        ),
        (
            "shoal_statsd_bad_lines_total",
            "StatsD lines refused by the parser and skipped (malformed, non-finite value or bad sample rate).",
            Type::Counter,
            bad as f64,
        ),
        (
            "shoal_statsd_flushes_total",
            "StatsD flush intervals completed.",
            Type::Counter,
            flushes as f64,
        ),
        (
            "shoal_metrics_series",
            "Series held by the metrics store.",
            Type::Gauge,
            usage.series as f64,
        ),
        (
            "shoal_metrics_store_bytes",
            "Bytes held by the metrics store's ring buffers.",
            Type::Gauge,
            usage.bytes as f64,
        ),
    ];
    for (name, help, typ, v) in rows {
        e.family(name, help, typ);
        e.sample(name, name, &[], v);
    }
    const EVICTED: &str = "shoal_statsd_evicted_series_total";
    e.family(
        EVICTED,
        "StatsD series evicted, least recently updated first, to make room for new ones (reason=\"cap\": the series cap was reached).",
        Type::Counter,
    );
    e.sample(EVICTED, EVICTED, &[("reason", "cap")], evicted as f64);
    const REFUSED: &str = "shoal_statsd_refused_values_total";
    e.family(
        REFUSED,
        "StatsD values refused so that no series holds an infinity or NaN: non_finite (inf/NaN sent), bad_rate (sample rate outside (0, 1] or with an infinite inverse), overflow (the series' value or total would overflow; it keeps its old value).",
        Type::Counter,
    );
    for r in Refusal::ALL {
        e.sample(
            REFUSED,
            REFUSED,
            &[("reason", r.as_str())],
            refused.get(r) as f64,
        );
    }
    const STORE_EVICTED: &str = "shoal_metrics_evicted_series_total";
    e.family(
        STORE_EVICTED,
        "Series evicted by the metrics store, by class (platform: Shoal's own; application: StatsD) and reason (cap: the class's cap was reached, least recently updated first; stale: no point in 24 h).",
        Type::Counter,
    );
    const CAP: &str = "shoal_metrics_series_cap";
    e.family(
        CAP,
        "Series the metrics store keeps per class before evicting.",
        Type::Gauge,
    );
    for o in &usage.origins {
        for r in Reason::ALL {
            let labels = [("class", o.origin.as_str()), ("reason", r.as_str())];
            e.sample(
                STORE_EVICTED,
                STORE_EVICTED,
                &labels,
                o.evicted.get(r) as f64,
            );
        }
        e.sample(CAP, CAP, &[("class", o.origin.as_str())], o.cap as f64);
    }
}
