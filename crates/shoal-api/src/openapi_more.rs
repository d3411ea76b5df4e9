//! The OpenAPI paths of endpoints whose handlers do not document themselves: the metrics
//! queries (`shoal-metrics`' router, merged into the API's) and the chaos experiments
//! (`chaos.rs`, while it settles).

use serde_json::{json, Value};

use crate::openapi::{
    array, error, json_body, object, ok, path_param, pattern, query_param, string, uint,
    unavailable,
};

/// `shoal_metrics::parse_duration`'s grammar: seconds, or a number with `s`, `m`, `h`, `d`.
const METRICS_DURATION: &str = "^[0-9]+[smhd]?$";

/// `shoal_metrics::parse_matchers`' grammar: `label=value` or `label!=value`, comma separated.
const MATCHERS: &str = "^$|^ *[^,=! ]+ *!?=[^,]*(, *[^,=! ]+ *!?=[^,]*)*$";

/// `/api/v1/metrics/*` (served when the process keeps metrics).
pub fn metrics_paths() -> Value {
    let agg = [
        "sum", "avg", "mean", "max", "min", "last", "rate", "count", "p50", "p90", "p95", "p99",
    ];
    let point = json!({ "type": "array", "items": { "type": ["number", "null"] },
        "minItems": 2, "maxItems": 2, "description": "[unix seconds, value or null without data]" });
    json!({
        "/api/v1/metrics/names": { "get": { "summary": "The names of the stored metric series, with their kind and series count, and what the store holds",
            "responses": { "200": ok("names", json!({ "type": "object", "required": ["names", "series", "bytes"], "properties": {
                "names": array(object(&["name", "kind", "series"], json!({
                    "name": string(), "kind": { "enum": ["counter", "gauge", "summary"] }, "series": uint(u64::MAX) }))),
                "series": uint(u64::MAX), "bytes": uint(u64::MAX) } })) } } },
        "/api/v1/metrics/query": { "get": { "summary": "Query stored metrics (1 s resolution for 1 h, 10 s for 24 h)",
            "parameters": [
                { "name": "name", "in": "query", "required": true, "schema": { "type": "string", "minLength": 1 }, "description": "metric name" },
                query_param("labels", pattern(MATCHERS), "matchers, e.g. service=web,code!=200"),
                query_param("since", pattern(METRICS_DURATION), "how far back (default 5m); a plain number is seconds"),
                query_param("step", pattern(METRICS_DURATION), "one point per step (default 10s), rounded up to the resolution"),
                query_param("agg", json!({ "enum": agg }), "how points combine within a step (default avg)"),
                query_param("by", string(), "group by these labels, comma separated")],
            "responses": { "200": ok("series", object(&["name", "agg", "step", "resolution", "series_matched", "series"], json!({
                    "name": string(), "agg": { "enum": agg }, "step": uint(u64::MAX), "resolution": uint(u64::MAX),
                    "series_matched": uint(u64::MAX),
                    "series": array(object(&["labels", "points"], json!({
                        "labels": { "type": "object", "additionalProperties": string() }, "points": array(point) }))) }))),
                "400": error("bad query: no name, a bad matcher, duration or aggregation"),
                "404": error("no metric of that name") } } }
    })
}

/// `/api/v1/chaos`: off (403) unless the service file says `[platform] chaos = true`.
pub fn chaos_paths() -> Value {
    let experiment = json!({ "type": "object", "required": ["id", "service", "fault", "started_ms", "until_ms", "active", "remaining_ms", "target", "describe"],
        "properties": { "id": string(), "service": string(), "caller": string(), "fault": { "type": "object" },
            "started_ms": uint(u64::MAX), "until_ms": uint(u64::MAX), "active": { "type": "boolean" },
            "remaining_ms": uint(u64::MAX), "target": string(), "describe": string() } });
    let stopped = ok(
        "the experiments stopped",
        object(&["stopped"], json!({ "stopped": array(string()) })),
    );
    let request = json!({ "type": "object", "required": ["service", "fault", "duration"], "properties": {
        "service": string(), "caller": { "type": ["string", "null"] },
        "fault": { "type": "object", "required": ["kind"], "properties": {
            "kind": { "enum": ["kill", "latency", "error", "reset", "bandwidth"] } } },
        "duration": string() } });
    json!({
        "/api/v1/chaos": {
            "get": { "summary": "Whether chaos is allowed here, and every experiment",
                "responses": { "200": ok("experiments", object(&["enabled", "experiments"], json!({
                    "enabled": { "type": "boolean" }, "experiments": array(experiment.clone()) }))), "503": unavailable() } },
            "post": { "summary": "Start a bounded fault-injection experiment",
                "requestBody": json_body(request, true),
                "responses": { "201": ok("started", experiment), "400": error("an invalid experiment"),
                    "403": error("chaos is off on this platform, or the token lacks the `chaos` right"),
                    "404": error("no such service"), "503": unavailable() } },
            "delete": { "summary": "Stop every experiment now", "responses": { "200": stopped.clone(), "503": unavailable() } } },
        "/api/v1/chaos/{id}": { "delete": { "summary": "Stop one experiment now",
            "parameters": [path_param("id", json!({ "type": "string", "minLength": 1 }), "experiment id")],
            "responses": { "200": stopped, "404": error("no such chaos experiment"), "503": unavailable() } } }
    })
}
