//! The errors view over HTTP: `/api/v1/errors` (groups) and `/api/v1/errors/{id}` (one, with its logs).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_errors::{ErrorQuery, Errors, Source};
use shoal_logs::LogQuery;

use crate::error::ApiError;
use crate::openapi::{array, error, object, ok, path_param, query_param, schema_ref, string, uint};
use crate::query::Params;
use crate::since::SINCE_PATTERN;
use crate::state::ApiState;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ErrorParams {
    pub service: Option<String>,
    /// `http`, `crash` or `log`.
    pub source: Option<Source>,
    /// A duration back from now (`1h`) or unix milliseconds.
    pub since: Option<String>,
    pub limit: Option<usize>,
}

fn book(st: &ApiState) -> Result<&Arc<Errors>, ApiError> {
    st.errors
        .as_ref()
        .ok_or_else(|| ApiError::not_found("the errors view is not enabled on this node"))
}

fn to_query(p: ErrorParams) -> Result<ErrorQuery, ApiError> {
    let since_ms = p
        .since
        .as_deref()
        .map(|s| crate::since::parse_since(s, shoal_catalog::now_ms()))
        .transpose()?;
    Ok(ErrorQuery {
        service: p.service,
        source: p.source,
        since_ms,
        limit: p.limit.unwrap_or(100).min(10_000),
    })
}

/// Groups, most recently seen first.
pub async fn list(
    State(st): State<Arc<ApiState>>,
    Params(p): Params<ErrorParams>,
) -> Result<Json<Value>, ApiError> {
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

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let off = "the errors view is not enabled on this node";
    json!({
        "/api/v1/errors": { "get": { "summary": "Errors grouped by service and cause: 5xx answers, crashes, error-level JSON log lines; most recently seen first",
            "parameters": [
                query_param("service", string(), "only this service"),
                query_param("source", json!({ "enum": ["http", "crash", "log"] }), "only errors seen there"),
                query_param("since", crate::openapi::pattern(SINCE_PATTERN), "seen since: a duration back from now (1h) or unix milliseconds"),
                query_param("limit", uint(u64::MAX), "at most N groups (default 100, at most 10000; 0: every one)")],
            "responses": { "200": ok("groups", object(&["groups", "forgotten"], json!({
                    "groups": array(schema_ref("ErrorGroup")),
                    "forgotten": { "type": "integer", "minimum": 0, "description": "groups dropped to stay within the bound" } }))),
                "400": error("bad query string"), "404": error(off) } } },
        "/api/v1/errors/{id}": { "get": { "summary": "One error group, with the log lines of its latest example's trace (`trace_logs`)",
            "parameters": [path_param("id", json!({ "type": "string", "minLength": 1 }), "the group's id")],
            "responses": { "200": ok("the group", json!({ "allOf": [schema_ref("ErrorGroup"), {
                    "type": "object", "required": ["trace_logs"], "properties": { "trace_logs": array(schema_ref("LogLine")) } }] })),
                "404": error("no such group, or the errors view is not enabled on this node") } } }
    })
}

/// The OpenAPI schemas of this file's answers.
pub fn openapi_schemas() -> Value {
    json!({
        "ErrorGroup": { "type": "object", "required": ["id", "service", "source", "cause", "count", "first_ms", "last_ms", "instances", "latest"],
            "properties": {
            "id": string(), "service": string(),
            "source": { "enum": ["http", "crash", "log"] }, "cause": string(),
            "count": uint(u64::MAX), "first_ms": uint(u64::MAX), "last_ms": uint(u64::MAX),
            "instances": array(string()),
            "latest": { "description": "the latest occurrence: path/status/trace_id, exit and stderr tail, or the log line" } } }
    })
}
