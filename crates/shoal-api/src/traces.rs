//! Traces: `/api/v1/traces` (recent trace summaries) and `/api/v1/traces/{id}` (one assembled trace).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_traces::{SpanSource, Trace, TraceQuery, TraceSummary};

use crate::error::ApiError;
use crate::logs::TRACE_ID_PATTERN;
use crate::openapi::{
    array, error, object, ok, path_param, pattern, query_param, schema_ref, string, uint,
};
use crate::query::Params;
use crate::state::ApiState;
use crate::{fanout, fanout_merge};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TraceParams {
    /// Only traces in which this service answered a span.
    pub service: Option<String>,
    /// Only traces at least this many milliseconds long.
    pub min_ms: Option<u64>,
    /// Only traces with a 5xx or a Shoal reason.
    pub errors: Option<bool>,
    pub limit: Option<usize>,
    /// This node's spans only (cluster mode; what a node asks the others).
    #[serde(default)]
    pub local: bool,
}

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

fn source(st: &ApiState) -> Result<Arc<dyn SpanSource>, ApiError> {
    st.traces
        .clone()
        .ok_or_else(|| ApiError::not_found("this agent does not record traces"))
}

/// Recent traces; in cluster mode every node's (see `fanout.rs`), a trace seen on several
/// nodes one row, and `X-Shoal-Nodes` says which nodes answered.
pub async fn list(
    State(st): State<Arc<ApiState>>,
    asked: HeaderMap,
    RawQuery(raw): RawQuery,
    Params(p): Params<TraceParams>,
) -> Result<Response, ApiError> {
    let q = TraceQuery {
        service: p.service.filter(|s| !s.is_empty()),
        min_duration: p.min_ms.map(Duration::from_millis),
        errors_only: p.errors.unwrap_or(false),
        limit: p.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
    };
    let limit = q.limit;
    let source = source(&st)?;
    let here = crate::error::blocking(move || shoal_traces::list_traces(&*source, &q));
    if p.local {
        return Ok(Json(here.await?).into_response());
    }
    let (here, others) = tokio::join!(
        here,
        fanout::gather(&st, "/api/v1/traces", raw.as_deref(), &asked)
    );
    let here = here?;
    let Some(others) = others else {
        return Ok(Json(here).into_response());
    };
    let (answers, report) = others.decode::<Vec<TraceSummary>>(false);
    let per_node = std::iter::once(here)
        .chain(answers.into_iter().filter_map(|(_, l)| l))
        .collect();
    let list = fanout_merge::trace_summaries(per_node, limit);
    Ok((fanout::headers(&report), Json(list)).into_response())
}

/// One trace; in cluster mode its spans from every node joined, with `nodes` (which
/// nodes answered) in the answer and in `X-Shoal-Nodes`.
pub async fn show(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
    asked: HeaderMap,
    RawQuery(raw): RawQuery,
    Params(p): Params<fanout::LocalParam>,
) -> Result<Response, ApiError> {
    let id = shoal_traces::parse_trace_id(&id)
        .map_err(|e| ApiError::bad_request("bad trace id").detail(e.to_string()))?;
    // A trace older than the memory ring is looked for in the disk log.
    let source = source(&st)?;
    let here = {
        let id = id.clone();
        crate::error::blocking(move || shoal_traces::find_trace(&*source, &id))
    };
    let not_found = |id: &str, missing: &str| {
        ApiError::not_found("no such trace").detail(format!(
            "{id}: no span of it is kept (spans are the access lines, in memory \
             and in the disk log, oldest dropped first){missing}"
        ))
    };
    if p.local {
        return here
            .await?
            .map(|t| Json(t).into_response())
            .ok_or_else(|| not_found(&id, ""));
    }
    let path = format!("/api/v1/traces/{id}");
    let (here, others) = tokio::join!(here, fanout::gather(&st, &path, raw.as_deref(), &asked));
    let here = here?;
    let Some(others) = others else {
        return here
            .map(|t| Json(t).into_response())
            .ok_or_else(|| not_found(&id, ""));
    };
    let (answers, report) = others.decode::<Trace>(true);
    let parts = here
        .into_iter()
        .chain(answers.into_iter().filter_map(|(_, t)| t))
        .collect();
    let Some(trace) = fanout_merge::trace(parts) else {
        let missing: Vec<String> = report
            .missing
            .iter()
            .map(|m| format!("{} ({})", m.node, m.error))
            .collect();
        let missing = match missing.is_empty() {
            true => String::new(),
            false => format!("; not asked or no answer: {}", missing.join(", ")),
        };
        return Err(not_found(&id, &missing));
    };
    let mut body = serde_json::to_value(&trace).map_err(ApiError::internal)?;
    body["nodes"] = serde_json::to_value(&report).map_err(ApiError::internal)?;
    Ok((fanout::headers(&report), Json(body)).into_response())
}

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let off = "this agent does not record traces";
    json!({
        "/api/v1/traces": { "get": { "summary": "Recent traces from the proxy's spans, newest first",
            "parameters": [
                query_param("service", string(), "only traces in which this service answered a span (empty: every one)"),
                query_param("min_ms", uint(u64::MAX), "only traces at least this many milliseconds long"),
                query_param("errors", json!({ "type": "boolean" }), "only traces with a 5xx or a Shoal reason (X-Shoal-Reason)"),
                query_param("limit", uint(u64::MAX), "at most N (default 100; 0 is 1, above 10000 is 10000)"),
                fanout::openapi_local()],
            "responses": { "200": fanout::openapi_with_header(ok("trace summaries (in cluster mode every node's, a trace seen on several one row)", array(schema_ref("TraceSummary")))),
                "400": error("bad query string"), "404": error(off) } } },
        "/api/v1/traces/{id}": { "get": { "summary": "One trace: its spans in tree order (parent before children) with depth",
            "parameters": [path_param("id", pattern(TRACE_ID_PATTERN), "trace id, 32 hex digits (X-Trace-Id)"),
                fanout::openapi_local()],
            "responses": { "200": fanout::openapi_with_header(ok("trace (in cluster mode its spans from every node, and `nodes`)", schema_ref("Trace"))),
                "400": error("bad trace id"), "404": error("no such trace, or this agent does not record traces") } } }
    })
}

/// The OpenAPI schemas of this file's answers.
pub fn openapi_schemas() -> Value {
    let s = string();
    let n = uint(u64::MAX);
    let opt = json!({ "type": ["string", "null"] });
    let strings = array(s.clone());
    json!({
        "TraceSummary": object(&["trace_id", "root_service", "root_name", "start_us", "duration_us", "span_count", "services", "error"], json!({
            "trace_id": s, "root_service": s, "root_name": s, "start_us": n, "duration_us": n,
            "span_count": n, "services": strings, "error": { "type": "boolean" } })),
        "Trace": object(&["trace_id", "start_us", "duration_us", "services", "error", "spans"], json!({
            "trace_id": s, "start_us": n, "duration_us": n, "services": strings,
            "error": { "type": "boolean" }, "spans": array(schema_ref("TraceSpan")),
            "nodes": fanout::openapi_report() })),
        "TraceSpan": { "type": "object", "required": ["trace_id", "span_id", "depth", "start_us", "duration_us", "method", "path", "status", "service"],
            "properties": {
            "trace_id": s, "span_id": s, "parent_span_id": opt, "depth": n,
            "start_us": n, "duration_us": n, "method": s, "path": s, "status": uint(u16::MAX.into()),
            "caller": s, "service": s, "version": s, "instance": opt, "retries": n, "reason": opt } }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_describes_traces() {
        let doc = crate::openapi::spec();
        for path in ["/api/v1/traces", "/api/v1/traces/{id}"] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        let schemas = &doc["components"]["schemas"];
        for name in ["Trace", "TraceSpan", "TraceSummary", "Error"] {
            assert!(schemas[name].is_object(), "{name}");
        }
        assert_eq!(
            doc["paths"]["/api/v1/traces/{id}"]["get"]["responses"]["404"]["content"]
                ["application/json"]["schema"]["$ref"],
            "#/components/schemas/Error"
        );
    }
}
