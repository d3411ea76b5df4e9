//! The errors view over HTTP: `/api/v1/errors` (groups) and `/api/v1/errors/{id}` (one, with its logs).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_errors::{ErrorQuery, Errors, Group, Source};
use shoal_logs::LogQuery;

use crate::error::ApiError;
use crate::openapi::{array, error, object, ok, path_param, query_param, schema_ref, string, uint};
use crate::query::Params;
use crate::since::SINCE_PATTERN;
use crate::state::ApiState;
use crate::{fanout, fanout_merge};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ErrorParams {
    pub service: Option<String>,
    /// `http`, `crash` or `log`.
    pub source: Option<Source>,
    /// A duration back from now (`1h`) or unix milliseconds.
    pub since: Option<String>,
    pub limit: Option<usize>,
    /// This node's groups only (cluster mode; what a node asks the others).
    #[serde(default)]
    pub local: bool,
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

/// Groups, most recently seen first; in cluster mode every node's (see `fanout.rs`),
/// a group seen on several nodes merged, with `nodes`: which nodes answered.
pub async fn list(
    State(st): State<Arc<ApiState>>,
    asked: HeaderMap,
    RawQuery(raw): RawQuery,
    Params(p): Params<ErrorParams>,
) -> Result<(HeaderMap, Json<Value>), ApiError> {
    let errors = book(&st)?;
    let local = p.local;
    let q = to_query(p)?;
    let (groups, forgotten) = (errors.list(&q), errors.forgotten());
    let alone = |groups, forgotten| {
        let body = json!({ "groups": groups, "forgotten": forgotten });
        Ok((HeaderMap::new(), Json(body)))
    };
    if local {
        return alone(groups, forgotten);
    }
    let Some(others) = fanout::gather(&st, "/api/v1/errors", raw.as_deref(), &asked).await else {
        return alone(groups, forgotten);
    };
    let (answers, report) = others.decode::<Listing>(false);
    let answers: Vec<Listing> = answers.into_iter().filter_map(|(_, l)| l).collect();
    let forgotten = forgotten + answers.iter().map(|l| l.forgotten).sum::<u64>();
    let per_node = std::iter::once(groups)
        .chain(answers.into_iter().map(|l| l.groups))
        .collect();
    let groups = fanout_merge::error_groups(per_node, q.limit);
    let body = json!({ "groups": groups, "forgotten": forgotten, "nodes": report });
    Ok((fanout::headers(&report), Json(body)))
}

/// One node's `/api/v1/errors` answer.
#[derive(Deserialize)]
struct Listing {
    groups: Vec<Group>,
    #[serde(default)]
    forgotten: u64,
}

/// One group; when its latest example carries a trace id, the log lines of that request
/// too. In cluster mode the group as every node saw it and the request's lines from every
/// node, with `nodes`: which nodes answered.
pub async fn show(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
    asked: HeaderMap,
    RawQuery(raw): RawQuery,
    Params(p): Params<fanout::LocalParam>,
) -> Result<(HeaderMap, Json<Value>), ApiError> {
    let here = book(&st)?.get(&id);
    let no_group = || ApiError::not_found(format!("no error group {id}"));
    let gathered = match p.local {
        true => None,
        false => {
            let path = format!("/api/v1/errors/{}", encode(&id));
            fanout::gather(&st, &path, raw.as_deref(), &asked).await
        }
    };
    let Some(others) = gathered else {
        let group = here.ok_or_else(no_group)?;
        let logs = match trace_of(&group) {
            Some(t) => crate::logs::blocking_query(&st, trace_query(t)).await?,
            None => Vec::new(),
        };
        let mut out = serde_json::to_value(&group).map_err(ApiError::internal)?;
        out["trace_logs"] = serde_json::to_value(logs).map_err(ApiError::internal)?;
        return Ok((HeaderMap::new(), Json(out)));
    };
    let (answers, report) = others.decode::<Group>(true);
    let group = here
        .into_iter()
        .chain(answers.into_iter().filter_map(|(_, g)| g))
        .reduce(fanout_merge::group)
        .ok_or_else(no_group)?;
    let mut out = serde_json::to_value(&group).map_err(ApiError::internal)?;
    out["trace_logs"] = match trace_of(&group) {
        Some(t) => {
            let raw = format!("trace={t}&limit={TRACE_LINES}");
            match crate::logs::gathered(&st, trace_query(t), Some(&raw), &asked).await? {
                crate::logs::Gathered::Local(l) => serde_json::to_value(l),
                crate::logs::Gathered::Nodes(l, _) => serde_json::to_value(l),
            }
            .map_err(ApiError::internal)?
        }
        None => json!([]),
    };
    out["nodes"] = serde_json::to_value(&report).map_err(ApiError::internal)?;
    Ok((fanout::headers(&report), Json(out)))
}

/// Log lines shown with a group.
const TRACE_LINES: usize = 50;

/// The trace id of a group's latest example, if it has one.
fn trace_of(g: &Group) -> Option<String> {
    g.latest["trace_id"]
        .as_str()
        .filter(|t| shoal_logs::is_trace_id(t))
        .map(str::to_string)
}

fn trace_query(trace: String) -> LogQuery {
    LogQuery {
        trace: Some(trace),
        limit: TRACE_LINES,
        ..Default::default()
    }
}

/// A group id as a path segment (ids are hex; anything else is percent-encoded).
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
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
                query_param("limit", uint(u64::MAX), "at most N groups (default 100, at most 10000; 0: every one)"),
                fanout::openapi_local()],
            "responses": { "200": crate::fanout::openapi_with_header(ok("groups (in cluster mode every node's, one group seen on several merged)", object(&["groups", "forgotten"], json!({
                    "groups": array(schema_ref("ErrorGroup")),
                    "forgotten": { "type": "integer", "minimum": 0, "description": "groups dropped to stay within the bound" },
                    "nodes": fanout::openapi_report() })))),
                "400": error("bad query string"), "404": error(off) } } },
        "/api/v1/errors/{id}": { "get": { "summary": "One error group, with the log lines of its latest example's trace (`trace_logs`)",
            "parameters": [path_param("id", json!({ "type": "string", "minLength": 1 }), "the group's id"),
                fanout::openapi_local()],
            "responses": { "200": crate::fanout::openapi_with_header(ok("the group", json!({ "allOf": [schema_ref("ErrorGroup"), {
                    "type": "object", "required": ["trace_logs"], "properties": { "trace_logs": array(schema_ref("LogLine")),
                    "nodes": fanout::openapi_report() } }] }))),
                "400": error("bad query string (`local` not true or false)"),
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
