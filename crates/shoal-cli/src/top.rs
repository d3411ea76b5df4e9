//! `shoal top`: a live terminal view of every service's traffic, errors, latency,
//! instances, CPU and memory, refreshed from the metrics query API.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::client::{Client, ClientError, MissingNode};
use crate::table::{now_ms, Table};

pub struct TopArgs {
    pub interval: Duration,
    /// Print one view and exit (also the behaviour of `--json` without `--follow`).
    pub once: bool,
    pub json: bool,
}

/// One service's line of the view.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TopRow {
    pub service: String,
    pub healthy: u64,
    pub instances: u64,
    pub req_per_s: f64,
    /// Share of answers that were 5xx, 0..1.
    pub error_rate: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// CPU of all instances, in cores (1.0 = one core busy).
    pub cpu_cores: Option<f64>,
    pub memory_bytes: Option<f64>,
}

/// Width of the metric window read for each refresh.
const STEP_S: u64 = 5;

pub async fn top(client: &Client, args: TopArgs) -> Result<(), ClientError> {
    let clear = !args.once && !args.json && std::io::stdout().is_terminal();
    loop {
        let (rows, missing) = snapshot(client).await?;
        let now = now_ms();
        let text = match (&missing, args.json) {
            (None, true) => {
                serde_json::json!({ "time_ms": now, "services": rows }).to_string() + "\n"
            }
            (Some(missing), true) => {
                let missing: Vec<Value> = missing
                    .iter()
                    .map(|m| serde_json::json!({ "node": m.node, "error": m.error }))
                    .collect();
                let nodes = serde_json::json!({ "missing": missing });
                serde_json::json!({ "time_ms": now, "services": rows, "nodes": nodes }).to_string()
                    + "\n"
            }
            (None, false) => render(&rows, now, args.interval),
            (Some(_), false) => render(&rows, now, args.interval) + CLUSTER_NOTE,
        };
        let mut out = std::io::stdout().lock();
        if clear {
            // Home and clear: redraw in place like top(1).
            let _ = out.write_all(b"\x1b[H\x1b[2J");
        }
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        drop(out);
        if let Some(missing) = &missing {
            crate::client::warn_missing(missing, "numbers");
        }
        if args.once {
            return Ok(());
        }
        tokio::time::sleep(args.interval).await;
    }
}

/// Under the table in cluster mode: what the latency columns are.
const CLUSTER_NOTE: &str = "every node's numbers: REQ/S, ERR%, CPU and MEM added up; \
P50/P99 the largest node's (a percentile cannot be merged exactly)\n";

/// Reads the services and the last complete window of each metric; in cluster mode also
/// the nodes whose numbers are missing (`None` with `shoal up`).
pub async fn snapshot(
    client: &Client,
) -> Result<(Vec<TopRow>, Option<Vec<MissingNode>>), ClientError> {
    let services: Value = client.get("/api/v1/services").await?;
    let q = |name: &str, agg: &str, by: &str| {
        format!(
            "/api/v1/metrics/query?name={name}&since={}s&step={STEP_S}s&agg={agg}&by={by}",
            STEP_S * 3
        )
    };
    let now_s = now_ms() / 1000;
    // A metric nobody has reported yet is an error from the query API: read it as no data.
    let read = |v: Result<Value, ClientError>| v.unwrap_or(Value::Null);
    let (codes, missing) = match client
        .get_gathered::<Value>(&q("shoal_requests_total", "rate", "service,code"))
        .await
    {
        Ok((v, missing)) => (v, missing),
        Err(_) => (Value::Null, None),
    };
    let p50 = read(
        client
            .get(&q("shoal_request_duration_seconds", "p50", "service"))
            .await,
    );
    let p99 = read(
        client
            .get(&q("shoal_request_duration_seconds", "p99", "service"))
            .await,
    );
    let cpu = read(
        client
            .get(&q("shoal_instance_cpu_seconds_total", "rate", "service"))
            .await,
    );
    let mem = read(
        client
            .get(&q("shoal_instance_memory_bytes", "last", "service"))
            .await,
    );
    Ok((
        rows(&services, &codes, [&p50, &p99, &cpu, &mem], now_s),
        missing,
    ))
}

/// Builds the rows from the API answers (pure; `now_s` picks the last complete step).
pub fn rows(
    services: &Value,
    codes: &Value,
    [p50, p99, cpu, mem]: [&Value; 4],
    now_s: u64,
) -> Vec<TopRow> {
    let mut out: BTreeMap<String, TopRow> = BTreeMap::new();
    for s in services.as_array().map_or(&[][..], |a| a) {
        let name = s["name"].as_str().unwrap_or("?").to_string();
        out.insert(
            name.clone(),
            TopRow {
                service: name,
                healthy: s["healthy"].as_u64().unwrap_or(0),
                instances: s["instances"].as_u64().unwrap_or(0),
                ..Default::default()
            },
        );
    }
    let mut errors: BTreeMap<String, f64> = BTreeMap::new();
    for (labels, v) in series(codes, now_s) {
        let Some(row) = out.get_mut(&labels["service"]) else {
            continue;
        };
        row.req_per_s += v;
        if labels.get("code").is_some_and(|c| c.starts_with('5')) {
            *errors.entry(row.service.clone()).or_default() += v;
        }
    }
    for row in out.values_mut() {
        if row.req_per_s > 0.0 {
            row.error_rate = errors.get(&row.service).copied().unwrap_or(0.0) / row.req_per_s;
        }
    }
    let mut put = |data: &Value, scale: f64, set: fn(&mut TopRow, f64)| {
        for (labels, v) in series(data, now_s) {
            if let Some(row) = out.get_mut(&labels["service"]) {
                set(row, v * scale);
            }
        }
    };
    put(p50, 1000.0, |r, v| r.p50_ms = Some(v));
    put(p99, 1000.0, |r, v| r.p99_ms = Some(v));
    put(cpu, 1.0, |r, v| r.cpu_cores = Some(v));
    put(mem, 1.0, |r, v| r.memory_bytes = Some(v));
    out.into_values().collect()
}

/// Each result series' labels and its value in the last complete step
/// (or the latest value when no step is complete yet).
fn series(result: &Value, now_s: u64) -> Vec<(BTreeMap<String, String>, f64)> {
    let step = result["step"].as_u64().unwrap_or(STEP_S).max(1);
    let mut out = Vec::new();
    for s in result["series"].as_array().map_or(&[][..], |a| a) {
        let labels: BTreeMap<String, String> = s["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if !labels.contains_key("service") {
            continue;
        }
        let points: Vec<(u64, f64)> = s["points"]
            .as_array()
            .map_or(&[][..], |a| a)
            .iter()
            .filter_map(|p| Some((p[0].as_u64()?, p[1].as_f64()?)))
            .collect();
        let complete = points.iter().rev().find(|(t, _)| t + step <= now_s);
        if let Some((_, v)) = complete.or(points.last()) {
            out.push((labels, *v));
        }
    }
    out
}

/// The view as text: a header line and one table row per service.
pub fn render(rows: &[TopRow], now_ms: u64, interval: Duration) -> String {
    let secs = now_ms / 1000;
    let mut out = format!(
        "shoal top  {:02}:{:02}:{:02} UTC  every {}s, last {STEP_S}s window  (Ctrl-C to quit)\n\n",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
        interval.as_secs_f64()
    );
    let mut t = Table::new(&[
        "SERVICE", "INST", "REQ/S", "ERR%", "P50 MS", "P99 MS", "CPU%", "MEM",
    ]);
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map_or_else(|| "-".to_string(), f);
    for r in rows {
        t.row(vec![
            r.service.clone(),
            format!("{}/{}", r.healthy, r.instances),
            format!("{:.1}", r.req_per_s),
            format!("{:.1}", r.error_rate * 100.0),
            opt(r.p50_ms, |v| format!("{v:.1}")),
            opt(r.p99_ms, |v| format!("{v:.1}")),
            opt(r.cpu_cores, |v| format!("{:.1}", v * 100.0)),
            opt(r.memory_bytes, human_bytes),
        ]);
    }
    out.push_str(&t.render());
    out
}

fn human_bytes(b: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if b >= 1024.0 * MIB {
        format!("{:.1} GiB", b / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", b / MIB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_combine_services_codes_latency_cpu_and_memory() {
        let services = json!([{ "name": "web", "healthy": 2, "instances": 2 },
                              { "name": "idle", "healthy": 1, "instances": 1 }]);
        // Steps at 90 and 95 are complete at now=101, 100 is still filling.
        let codes = json!({ "step": 5, "series": [
            { "labels": { "service": "web", "code": "200" }, "points": [[90, 1.0], [95, 90.0], [100, 3.0]] },
            { "labels": { "service": "web", "code": "503" }, "points": [[95, 10.0], [100, null]] }]});
        let p50 = json!({ "step": 5, "series": [{ "labels": { "service": "web" }, "points": [[95, 0.002]] }]});
        let p99 = json!({ "step": 5, "series": [{ "labels": { "service": "web" }, "points": [[95, 0.040]] }]});
        let cpu = json!({ "step": 5, "series": [{ "labels": { "service": "web" }, "points": [[95, 0.25]] }]});
        let mem = json!({ "step": 5, "series": [{ "labels": { "service": "web" }, "points": [[95, 52428800.0]] }]});
        let r = rows(&services, &codes, [&p50, &p99, &cpu, &mem], 101);
        assert_eq!(r.len(), 2);
        let idle = &r[0];
        assert_eq!(
            (idle.service.as_str(), idle.req_per_s, idle.p50_ms),
            ("idle", 0.0, None)
        );
        let web = &r[1];
        assert_eq!(web.req_per_s, 100.0);
        assert!((web.error_rate - 0.1).abs() < 1e-9);
        assert_eq!(web.p50_ms, Some(2.0));
        assert_eq!(web.p99_ms, Some(40.0));
        assert_eq!(web.cpu_cores, Some(0.25));
        let text = render(&r, 3_723_000, Duration::from_secs(2));
        assert!(text.starts_with("shoal top  01:02:03 UTC"), "{text}");
        assert!(
            text.contains("web      2/2   100.0  10.0  2.0     40.0    25.0  50.0 MiB"),
            "{text}"
        );
        assert!(
            text.contains("idle     1/1   0.0    0.0   -       -       -     -"),
            "{text}"
        );
    }

    #[test]
    fn missing_metrics_read_as_no_data() {
        let services = json!([{ "name": "web", "healthy": 1, "instances": 1 }]);
        let r = rows(&services, &Value::Null, [&Value::Null; 4], 0);
        assert_eq!(r[0].req_per_s, 0.0);
        assert_eq!(r[0].memory_bytes, None);
    }
}
