//! Traces: `/api/v1/traces` (recent trace summaries) and `/api/v1/traces/{id}` (one assembled trace).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_traces::{SpanSource, Trace, TraceQuery, TraceSummary};

use crate::error::ApiError;
use crate::state::ApiState;

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
}

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

type Params = Result<Query<TraceParams>, axum::extract::rejection::QueryRejection>;

fn source(st: &ApiState) -> Result<Arc<dyn SpanSource>, ApiError> {
    st.traces
        .clone()
        .ok_or_else(|| ApiError::not_found("this agent does not record traces"))
}

pub async fn list(
    State(st): State<Arc<ApiState>>,
    p: Params,
) -> Result<Json<Vec<TraceSummary>>, ApiError> {
    let Query(p) =
        p.map_err(|e| ApiError::bad_request("bad query string").detail(e.body_text()))?;
    let q = TraceQuery {
        service: p.service.filter(|s| !s.is_empty()),
        min_duration: p.min_ms.map(Duration::from_millis),
        errors_only: p.errors.unwrap_or(false),
        limit: p.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT),
    };
    let source = source(&st)?;
    let list = crate::error::blocking(move || shoal_traces::list_traces(&*source, &q)).await?;
    Ok(Json(list))
}

pub async fn show(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> Result<Json<Trace>, ApiError> {
    let id = shoal_traces::parse_trace_id(&id)
        .map_err(|e| ApiError::bad_request("bad trace id").detail(e.to_string()))?;
    // A trace older than the memory ring is looked for in the disk log.
    let source = source(&st)?;
    let found = {
        let id = id.clone();
        crate::error::blocking(move || shoal_traces::find_trace(&*source, &id)).await?
    };
    found.map(Json).ok_or_else(|| {
        ApiError::not_found("no such trace").detail(format!(
            "{id}: no span of it is kept (spans are the access lines, in memory \
             and in the disk log, oldest dropped first)"
        ))
    })
}

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths(
    ok: impl Fn(&str, Value) -> Value,
    error: impl Fn(&str) -> Value,
    query: impl Fn(&str, &str, &str) -> Value,
) -> Value {
    json!({
        "/api/v1/traces": { "get": { "summary": "Recent traces from the proxy's spans, newest first",
            "parameters": [
                query("service", "string", "only traces in which this service answered a span"),
                query("min_ms", "integer", "only traces at least this many milliseconds long"),
                query("errors", "boolean", "only traces with a 5xx or a Shoal reason (X-Shoal-Reason)"),
                query("limit", "integer", "at most N (default 100)")],
            "responses": { "200": ok("trace summaries", json!({ "type": "array", "items": { "$ref": "#/components/schemas/TraceSummary" } })),
                "400": error("bad query"), "404": error("this agent does not record traces") } } },
        "/api/v1/traces/{id}": { "get": { "summary": "One trace: its spans in tree order (parent before children) with depth",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" }, "description": "trace id, 32 hex digits (X-Trace-Id)" }],
            "responses": { "200": ok("trace", json!({ "$ref": "#/components/schemas/Trace" })),
                "400": error("bad trace id"), "404": error("no such trace") } } }
    })
}

/// The OpenAPI schemas of this file's answers.
pub fn openapi_schemas() -> Value {
    let s = json!({ "type": "string" });
    let n = json!({ "type": "integer" });
    let opt = json!({ "type": ["string", "null"] });
    json!({
        "TraceSummary": { "type": "object", "properties": {
            "trace_id": s, "root_service": s, "root_name": s, "start_us": n, "duration_us": n,
            "span_count": n, "services": { "type": "array", "items": s }, "error": { "type": "boolean" } } },
        "Trace": { "type": "object", "properties": {
            "trace_id": s, "start_us": n, "duration_us": n, "services": { "type": "array", "items": s },
            "error": { "type": "boolean" }, "spans": { "type": "array", "items": { "$ref": "#/components/schemas/TraceSpan" } } } },
        "TraceSpan": { "type": "object", "properties": {
            "trace_id": s, "span_id": s, "parent_span_id": opt, "depth": n,
            "start_us": n, "duration_us": n, "method": s, "path": s, "status": n,
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
