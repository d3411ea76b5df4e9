//! `shoal top` in cluster mode: `/api/v1/metrics/query` asked of one node also asked of
//! the others (a layer around `shoal-metrics`' router, which stays one node's), and the
//! series merged: sums where sums are exact, the largest node's value where not.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::fanout;
use crate::state::ApiState;

/// The path this layer gathers.
const QUERY: &str = "/api/v1/metrics/query";
/// The largest metrics answer read back from this node's own router.
const MAX_ANSWER: usize = 64 << 20;

/// One node's (or the merged) `/api/v1/metrics/query` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricAnswer {
    pub name: String,
    pub agg: String,
    pub step: u64,
    pub resolution: u64,
    pub series_matched: usize,
    pub series: Vec<MetricSeries>,
}

/// One result series: its labels and `[t, value]` per step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(u64, Option<f64>)>,
}

/// How one step's values from several nodes become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// Exact: each node counts its own requests, instances, bytes.
    Sum,
    /// Exact for `max`; for `avg` and percentiles the largest node's value, an upper
    /// bound (the cluster's value lies between the nodes' smallest and largest).
    Max,
    /// Exact for `min`.
    Min,
}

/// How `agg` merges across nodes, and whether the result is exact.
pub fn combine_for(agg: &str) -> (Combine, bool) {
    match agg {
        "sum" | "rate" | "count" | "last" => (Combine::Sum, true),
        "max" => (Combine::Max, true),
        "min" => (Combine::Min, true),
        _ => (Combine::Max, false),
    }
}

/// Every node's answer as one: series with the same labels combined step by step (a
/// step without data on a node does not count for it), series ordered by labels.
pub fn merge(answers: Vec<MetricAnswer>) -> Option<MetricAnswer> {
    let mut answers = answers.into_iter();
    let mut out = answers.next()?;
    let (how, _) = combine_for(&out.agg);
    let mut by_labels: BTreeMap<BTreeMap<String, String>, BTreeMap<u64, Option<f64>>> =
        BTreeMap::new();
    let mut add = |series: Vec<MetricSeries>| {
        for s in series {
            let points = by_labels.entry(s.labels).or_default();
            for (t, v) in s.points {
                let slot = points.entry(t).or_insert(None);
                *slot = match (*slot, v) {
                    (Some(a), Some(b)) => Some(match how {
                        Combine::Sum => a + b,
                        Combine::Max => a.max(b),
                        Combine::Min => a.min(b),
                    }),
                    (a, b) => a.or(b),
                };
            }
        }
    };
    add(std::mem::take(&mut out.series));
    for a in answers {
        out.series_matched += a.series_matched;
        out.resolution = out.resolution.max(a.resolution);
        add(a.series);
    }
    out.series = by_labels
        .into_iter()
        .map(|(labels, points)| MetricSeries {
            labels,
            points: points.into_iter().collect(),
        })
        .collect();
    Some(out)
}

/// The layer: in cluster mode, without `local=true`, the query answered here and by
/// every other node, merged, with `nodes`, `exact` and `X-Shoal-Nodes`. Anything else
/// passes through untouched.
pub async fn gather(State(st): State<Arc<ApiState>>, req: Request, next: Next) -> Response {
    let raw = req.uri().query().map(str::to_string);
    let local = crate::query::pairs(raw.as_deref())
        .is_ok_and(|p| p.iter().any(|(k, v)| k == fanout::LOCAL && v == "true"));
    if req.uri().path() != QUERY || st.cluster_grace.is_none() || local {
        return next.run(req).await;
    }
    let asked = req.headers().clone();
    let (here, others) = tokio::join!(
        next.run(req),
        fanout::gather(&st, QUERY, raw.as_deref(), &asked)
    );
    let Some(others) = others else {
        return here;
    };
    let status = here.status();
    let body = match axum::body::to_bytes(here.into_body(), MAX_ANSWER).await {
        Ok(b) => b,
        Err(e) => return crate::ApiError::internal(e).into_response(),
    };
    // A metric this node never saw is a 404 here, yet other nodes may hold it.
    let mine = match status {
        s if s.is_success() => serde_json::from_slice::<MetricAnswer>(&body).ok(),
        StatusCode::NOT_FOUND => None,
        _ => return (status, Body::from(body)).into_response(),
    };
    let (answers, report) = others.decode::<MetricAnswer>(true);
    let merged = merge(
        mine.into_iter()
            .chain(answers.into_iter().filter_map(|(_, a)| a))
            .collect(),
    );
    let Some(merged) = merged else {
        // No node knows the metric: this node's own 404.
        return (status, fanout::headers(&report), Body::from(body)).into_response();
    };
    let exact = combine_for(&merged.agg).1;
    let mut v = match serde_json::to_value(&merged) {
        Ok(v) => v,
        Err(e) => return crate::ApiError::internal(e).into_response(),
    };
    v["exact"] = exact.into();
    v["nodes"] = serde_json::to_value(&report).unwrap_or_default();
    (fanout::headers(&report), Json(v)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    type Points<'a> = &'a [(u64, Option<f64>)];

    fn answer(agg: &str, series: &[(&str, Points)]) -> MetricAnswer {
        MetricAnswer {
            name: "shoal_requests_total".into(),
            agg: agg.into(),
            step: 5,
            resolution: 1,
            series_matched: series.len(),
            series: series
                .iter()
                .map(|(svc, points)| MetricSeries {
                    labels: [("service".to_string(), svc.to_string())].into(),
                    points: points.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn rates_add_up_step_by_step() {
        let a = answer("rate", &[("web", &[(10, Some(2.0)), (15, Some(3.0))])]);
        let b = answer(
            "rate",
            &[
                ("web", &[(10, Some(1.5)), (15, None)]),
                ("api", &[(15, Some(4.0))]),
            ],
        );
        let m = merge(vec![a, b]).expect("merged");
        assert_eq!(m.series_matched, 3);
        assert_eq!(m.series.len(), 2);
        assert_eq!(m.series[0].labels["service"], "api");
        assert_eq!(m.series[1].points, [(10, Some(3.5)), (15, Some(3.0))]);
    }

    #[test]
    fn percentiles_are_the_largest_nodes_and_said_not_exact() {
        let a = answer("p99", &[("web", &[(10, Some(0.2)), (15, None)])]);
        let b = answer("p99", &[("web", &[(10, Some(0.5)), (15, None)])]);
        let m = merge(vec![a, b]).expect("merged");
        assert_eq!(m.series[0].points, [(10, Some(0.5)), (15, None)]);
        assert_eq!(combine_for("p99"), (Combine::Max, false));
        assert_eq!(combine_for("min"), (Combine::Min, true));
        assert_eq!(combine_for("last"), (Combine::Sum, true));
        let lo = merge(vec![
            answer("min", &[("web", &[(10, Some(0.2))])]),
            answer("min", &[("web", &[(10, Some(0.1))])]),
        ]);
        assert_eq!(
            lo.map(|m| m.series[0].points.clone()),
            Some(vec![(10, Some(0.1))])
        );
        assert!(merge(Vec::new()).is_none());
    }
}
