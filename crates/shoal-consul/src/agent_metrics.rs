//! `GET /v1/agent/metrics`: Shoal's own metrics (the Prometheus exposition `/metrics` serves)
//! in Consul's JSON shape (`Timestamp`, `Gauges`, `Points`, `Counters`, `Samples`), or as
//! Prometheus text with `?format=prometheus`. The conversion is pure and tested here.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::{ConsulError, Result};
use crate::query::Endpoint;
use crate::state::{now_ms, ConsulState};

const METRICS: Endpoint = Endpoint::plain("GET /v1/agent/metrics", &["format"]);

pub async fn metrics(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = METRICS.params(q.as_deref())?;
    let text = st.metrics.as_ref().map(|m| m()).unwrap_or_default();
    match p.get("format") {
        None | Some("") => {}
        Some("prometheus") => {
            return Ok((
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                text,
            )
                .into_response())
        }
        Some(other) => {
            return Err(ConsulError::bad(format!(
                "Invalid format {other:?}: the only format is prometheus (omit it for JSON)"
            )))
        }
    }
    Ok(Json(to_consul_json(&text, now_ms() / 1000)).into_response())
}

/// One sample line: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the sample lines and `# TYPE` comments of a Prometheus text exposition;
/// lines it cannot read are skipped.
pub fn parse_exposition(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(n), Some(t)) = (parts.next(), parts.next()) {
                types.insert(n.to_string(), t.to_string());
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(s) = parse_sample(line) {
                samples.push(s);
            }
        }
    }
    (types, samples)
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let (labels, rest) = match line[name_end..].strip_prefix('{') {
        Some(body) => parse_labels(body)?,
        None => (BTreeMap::new(), &line[name_end..]),
    };
    let value = match rest.split_whitespace().next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// `k="v",...}` (after the `{`): the labels and what follows the `}`.
fn parse_labels(body: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = rest.split_once('=')?;
        let quoted = after.strip_prefix('"')?;
        let mut chars = quoted.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()? {
                    (_, 'n') => value.push('\n'),
                    (_, c) => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim().to_string(), value);
        rest = &quoted[end + 1..];
    }
}

/// Consul's `Timestamp`: `2006-01-02 15:04:05 +0000 UTC`.
pub fn consul_timestamp(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A summary Consul's way: Prometheus keeps no interval minimum, maximum or deviation,
/// so `Min` = `Max` = `Mean` and `Stddev` = 0.
fn aggregate(name: &str, labels: &BTreeMap<String, String>, count: f64, sum: f64) -> Value {
    let mean = if count > 0.0 { sum / count } else { 0.0 };
    json!({
        "Name": name, "Count": count, "Rate": 0.0, "Sum": sum, "Min": mean, "Max": mean,
        "Mean": mean, "Stddev": 0.0, "Labels": labels,
    })
}

/// The exposition as Consul's `/v1/agent/metrics` JSON: gauges (and untyped) as `Gauges`;
/// counters as `Counters` with their total since start (Count 1, Sum = the total);
/// histograms and summaries as `Samples` from their `_count` and `_sum`.
pub fn to_consul_json(text: &str, unix_secs: u64) -> Value {
    let (types, samples) = parse_exposition(text);
    let mut gauges = Vec::new();
    let mut counters = Vec::new();
    type Key = (String, BTreeMap<String, String>);
    let mut agg: BTreeMap<Key, (f64, f64)> = BTreeMap::new();
    for s in samples {
        let base = |suffix: &str| {
            s.name
                .strip_suffix(suffix)
                .filter(|b| {
                    matches!(
                        types.get(*b).map(String::as_str),
                        Some("histogram" | "summary")
                    )
                })
                .map(str::to_string)
        };
        if let Some(b) = base("_count") {
            agg.entry((b, s.labels)).or_default().0 = s.value;
            continue;
        }
        if let Some(b) = base("_sum") {
            agg.entry((b, s.labels)).or_default().1 = s.value;
            continue;
        }
        match types.get(&s.name).map(String::as_str) {
            Some("counter") => counters.push(aggregate(&s.name, &s.labels, 1.0, s.value)),
            Some("histogram" | "summary") => {} // quantile lines
            _ if base("_bucket").is_some() => {}
            _ => gauges.push(json!({ "Name": s.name, "Value": s.value, "Labels": s.labels })),
        }
    }
    let samples: Vec<Value> = agg
        .iter()
        .map(|((name, labels), (count, sum))| aggregate(name, labels, *count, *sum))
        .collect();
    json!({
        "Timestamp": consul_timestamp(unix_secs), "Gauges": gauges, "Points": [],
        "Counters": counters, "Samples": samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP shoal_instances Instances.
# TYPE shoal_instances gauge
shoal_instances{service="web",version="1",state="running"} 2
# TYPE shoal_requests_total counter
shoal_requests_total{service="web",code="200",path="a\"b\\c"} 17
# TYPE shoal_request_duration_seconds histogram
shoal_request_duration_seconds_bucket{service="web",le="0.1"} 3
shoal_request_duration_seconds_bucket{service="web",le="+Inf"} 4
shoal_request_duration_seconds_sum{service="web"} 0.5
shoal_request_duration_seconds_count{service="web"} 4
untyped_thing 1.5e3
"#;

    #[test]
    fn the_exposition_becomes_consuls_json() {
        let v = to_consul_json(TEXT, 0);
        assert_eq!(v["Timestamp"], "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(v["Gauges"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["Gauges"][0]["Name"], "shoal_instances");
        assert_eq!(v["Gauges"][0]["Value"], 2.0);
        assert_eq!(v["Gauges"][0]["Labels"]["state"], "running");
        assert_eq!(v["Gauges"][1]["Value"], 1500.0);
        assert_eq!(v["Counters"][0]["Sum"], 17.0);
        assert_eq!(v["Counters"][0]["Labels"]["path"], "a\"b\\c");
        let s = &v["Samples"][0];
        assert_eq!(s["Name"], "shoal_request_duration_seconds");
        assert_eq!(
            (s["Count"].as_f64(), s["Sum"].as_f64()),
            (Some(4.0), Some(0.5))
        );
        assert_eq!(s["Mean"], 0.125);
        assert_eq!(v["Samples"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["Points"], json!([]));
    }

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(
            consul_timestamp(1_700_000_000),
            "2023-11-14 22:13:20 +0000 UTC"
        );
        assert_eq!(
            consul_timestamp(951_782_400),
            "2000-02-29 00:00:00 +0000 UTC"
        );
    }

    #[test]
    fn odd_lines_are_skipped() {
        let (_, s) = parse_exposition("x{a=\"1\" 2\ny{} 3\nz notanumber\n");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "y");
    }
}
