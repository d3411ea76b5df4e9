//! HTTP endpoints: `/metrics` (Prometheus text), `/api/v1/metrics/query` and
//! `/api/v1/metrics/names` (JSON). Merged into the API router.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query as QueryParams, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::query::{parse_duration, parse_matchers, Agg, Query, QueryError};
use crate::{unix_now, Metrics};

/// The routes, with their own state; merge into any router.
pub fn router<S: Clone + Send + Sync + 'static>(metrics: Arc<Metrics>) -> Router<S> {
    Router::new()
        .route("/metrics", get(exposition))
        .route("/api/v1/metrics/query", get(query))
        .route("/api/v1/metrics/names", get(names))
        .with_state(metrics)
}

async fn exposition(State(m): State<Arc<Metrics>>) -> Response {
    let body = m.render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, e: &QueryError) -> Response {
    let detail =
        "GET /api/v1/metrics/query?name=NAME&labels=k=v,k2!=v2&since=5m&step=10s&agg=rate&by=label";
    (
        status,
        Json(json!({ "error": e.to_string(), "detail": detail })),
    )
        .into_response()
}

/// Parses the query string: `name` (required), `labels`, `since` (default 5m),
/// `step` (default 10s), `agg` (default avg), `by` (comma separated).
pub fn parse_params(p: &HashMap<String, String>) -> Result<Query, QueryError> {
    let name = p
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or(QueryError::NoName)?;
    let get = |k: &str, default: &'static str| p.get(k).map_or(default, String::as_str);
    Ok(Query {
        name: name.clone(),
        matchers: parse_matchers(get("labels", ""))?,
        since: parse_duration(get("since", "5m"))?,
        step: parse_duration(get("step", "10s"))?,
        agg: get("agg", "avg").parse::<Agg>()?,
        by: get("by", "")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

async fn query(
    State(m): State<Arc<Metrics>>,
    QueryParams(p): QueryParams<HashMap<String, String>>,
) -> Response {
    let q = match parse_params(&p) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match m.tsdb.query(&q, unix_now()) {
        Ok(r) => Json(r).into_response(),
        Err(e @ QueryError::UnknownName(_)) => error(StatusCode::NOT_FOUND, &e),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn names(State(m): State<Arc<Metrics>>) -> Response {
    let usage = m.tsdb.usage();
    Json(json!({
        "names": m.tsdb.names(),
        "series": usage.series,
        "classes": usage.origins,
        "bytes": usage.bytes,
    }))
    .into_response()
}
