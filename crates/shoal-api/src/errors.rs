//! The errors view over HTTP: `/api/v1/errors` (groups) and `/api/v1/errors/{id}` (one, with its logs).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_errors::{ErrorQuery, Errors, Source};
use shoal_logs::LogQuery;

use crate::error::ApiError;
use crate::state::ApiState;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ErrorParams {
    pub service: Option<String>,
    /// `http`, `crash` or `log`.
    pub source: Option<String>,
    /// A duration back from now (`1h`) or unix milliseconds.
    pub since: Option<String>,
    pub limit: Option<usize>,
}

type Params = Result<Query<ErrorParams>, axum::extract::rejection::QueryRejection>;

fn book(st: &ApiState) -> Result<&Arc<Errors>, ApiError> {
    st.errors
        .as_ref()
        .ok_or_else(|| ApiError::not_found("the errors view is not enabled on this node"))
}

fn to_query(p: ErrorParams) -> Result<ErrorQuery, ApiError> {
    let source = p
        .source
        .as_deref()
        .map(|s| {
            Source::parse(s).ok_or_else(|| {
                ApiError::bad_request("`source` must be one of http, crash, log")
                    .detail(s.to_string())
            })
        })
        .transpose()?;
    let since_ms = p
        .since
        .as_deref()
        .map(|s| crate::logs::parse_since(s, shoal_catalog::now_ms()))
        .transpose()?;
    Ok(ErrorQuery {
        service: p.service,
        source,
        since_ms,
        limit: p.limit.unwrap_or(100).min(10_000),
    })
}

/// Groups, most recently seen first.
pub async fn list(State(st): State<Arc<ApiState>>, p: Params) -> Result<Json<Value>, ApiError> {
    let Query(p) =
        p.map_err(|e| ApiError::bad_request("bad query string").detail(e.body_text()))?;
    let errors = book(&st)?;
    let groups = errors.list(&to_query(p)?);
    Ok(Json(
        json!({ "groups": groups, "forgotten": errors.forgotten() }),
    ))
}

/// One group; when its latest example carries a trace id, the log lines of that request too.
pub async fn show(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let group = book(&st)?
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("no error group {id}")))?;
    let trace = group.latest["trace_id"].as_str().map(str::to_string);
    let logs = match trace {
        Some(t) if shoal_logs::is_trace_id(&t) => {
            let q = LogQuery {
                trace: Some(t),
                limit: 50,
                ..Default::default()
            };
            crate::logs::blocking_query(&st, q).await?
        }
        _ => Vec::new(),
    };
    let mut out = serde_json::to_value(&group).map_err(ApiError::internal)?;
    out["trace_logs"] = serde_json::to_value(logs).map_err(ApiError::internal)?;
    Ok(Json(out))
}
