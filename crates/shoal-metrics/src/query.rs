//! Queries over the metrics store: a selector (name + label matchers), a time range,
//! a step and an aggregation; [`evaluate`] is the pure part.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::ring::{Point, Quantiles};
use crate::tsdb::SeriesKind;

/// How points of the selected series are combined within each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    /// Counters: total increase; gauges: sum over series of each one's mean; summaries: sum of values.
    Sum,
    /// Mean value (summaries: mean observation).
    Avg,
    Max,
    Min,
    /// Sum over series of each one's last value.
    Last,
    /// Counters: increase per second; gauges and summaries: observations per second.
    Rate,
    /// Observations (a counter's increase).
    Count,
    /// Percentiles of summaries (observation-weighted mean of the buckets' percentiles).
    P50,
    P90,
    P95,
    P99,
}

impl FromStr for Agg {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, QueryError> {
        Ok(match s {
            "sum" => Agg::Sum,
            "avg" | "mean" => Agg::Avg,
            "max" => Agg::Max,
            "min" => Agg::Min,
            "last" => Agg::Last,
            "rate" => Agg::Rate,
            "count" => Agg::Count,
            "p50" => Agg::P50,
            "p90" => Agg::P90,
            "p95" => Agg::P95,
            "p99" => Agg::P99,
            _ => return Err(QueryError::BadAgg(s.to_string())),
        })
    }
}

/// What a query got wrong, said so that the caller can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("no metric named `{0}` (GET /api/v1/metrics/names lists them)")]
    UnknownName(String),
    #[error(
        "unknown aggregation `{0}` (sum, avg, max, min, last, rate, count, p50, p90, p95, p99)"
    )]
    BadAgg(String),
    #[error("bad label matcher `{0}` (expected name=value or name!=value, comma separated)")]
    BadMatcher(String),
    #[error("bad duration `{0}` (e.g. 90s, 5m, 1h)")]
    BadDuration(String),
    #[error("`name` is required")]
    NoName,
}

/// One label matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub label: String,
    pub value: String,
    pub equal: bool,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub name: String,
    pub matchers: Vec<Matcher>,
    pub since: Duration,
    pub step: Duration,
    pub agg: Agg,
    /// Labels to group by (one result series per distinct combination).
    pub by: Vec<String>,
}

impl Query {
    /// Whether a series' labels satisfy every matcher (a missing label is "").
    pub fn matches(&self, labels: &[(String, String)]) -> bool {
        self.matchers.iter().all(|m| {
            let v = labels
                .iter()
                .find(|(k, _)| *k == m.label)
                .map_or("", |(_, v)| v.as_str());
            (v == m.value) == m.equal
        })
    }
}

/// Parses `a=1,b!=2`: comma-separated `label=value` or `label!=value`, spaces allowed
/// around the label; a label has no `,`, `=`, `!` or space; the value runs to the next
/// comma (surrounding spaces and quotes dropped). Exactly the strings the API's document
/// gives as this parameter's pattern; an empty string is no matcher.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, QueryError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|m| {
            let bad = || QueryError::BadMatcher(m.to_string());
            let eq = m.find('=').ok_or_else(bad)?;
            let (label, equal) = match m[..eq].strip_suffix('!') {
                Some(label) => (label, false),
                None => (&m[..eq], true),
            };
            let label = label.trim_matches(' ');
            if label.is_empty() || label.contains([',', '=', '!', ' ']) {
                return Err(bad());
            }
            let value = m[eq + 1..].trim().trim_matches('"');
            Ok(Matcher {
                label: label.to_string(),
                value: value.to_string(),
                equal,
            })
        })
        .collect()
}

/// Parses `90s`, `5m`, `1h`, `1d` or plain seconds: digits (large numbers saturate) and
/// at most one unit, nothing else.
pub fn parse_duration(s: &str) -> Result<Duration, QueryError> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    let mult = match unit {
        _ if num.is_empty() => return Err(QueryError::BadDuration(s.to_string())),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(QueryError::BadDuration(s.to_string())),
    };
    let n = num.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Ok(Duration::from_secs(n.saturating_mul(mult)))
}

/// The points of one selected series in the queried range.
#[derive(Debug, Clone)]
pub struct SeriesData {
    pub labels: Vec<(String, String)>,
    pub kind: SeriesKind,
    pub points: Vec<(u64, Point, Option<Quantiles>)>,
}

/// One result series: the grouping labels and `[t, value]` per step (`null` without data).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ResultSeries {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(u64, Option<f64>)>,
}

/// A query's answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryResult {
    pub name: String,
    pub agg: Agg,
    pub step: u64,
    /// Resolution of the tier read (1 or 10 s).
    pub resolution: u64,
    pub series_matched: usize,
    pub series: Vec<ResultSeries>,
}

#[path = "query_eval.rs"]
mod eval;
pub use eval::{align, evaluate};
