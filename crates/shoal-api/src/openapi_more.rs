//! The OpenAPI paths of endpoints whose handlers do not document themselves: the metrics
//! queries (`shoal-metrics`' router, merged into the API's), the chaos experiments
//! (`chaos.rs`) and the CPU profiles (`profiles.rs`), while they settle.

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
                query_param("by", string(), "group by these labels, comma separated"),
                crate::fanout::openapi_local()],
            "responses": { "200": crate::fanout::openapi_with_header(ok("series (in cluster mode every node's: sum, rate, count and last added, max and min exact, avg and percentiles the largest node's value, `exact` false)", object(&["name", "agg", "step", "resolution", "series_matched", "series"], json!({
                    "name": string(), "agg": { "enum": agg }, "step": uint(u64::MAX), "resolution": uint(u64::MAX),
                    "series_matched": uint(u64::MAX),
                    "exact": { "type": "boolean", "description": "cluster mode: whether the merge across nodes is exact" },
                    "nodes": crate::fanout::openapi_report(),
                    "series": array(object(&["labels", "points"], json!({
                        "labels": { "type": "object", "additionalProperties": string() }, "points": array(point) }))) })))),
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

/// `/api/v1/profiles`: CPU profiles of this node's instances.
pub fn profiles_paths() -> Value {
    let num = json!({ "type": ["number", "null"] });
    let function = object(
        &["function", "self", "total", "self_pct", "total_pct"],
        json!({
        "function": string(), "self": uint(u64::MAX), "total": uint(u64::MAX),
        "self_pct": { "type": "number" }, "total_pct": { "type": "number" } }),
    );
    let summary = object(
        &[
            "id",
            "service",
            "version",
            "instance",
            "node",
            "pid",
            "language",
            "sampler",
            "event",
            "started_ms",
            "duration_ms",
            "seconds",
            "rate_hz",
            "samples",
            "stacks",
            "functions",
            "overhead",
            "flamegraph",
            "pprof",
            "top",
        ],
        json!({
        "id": string(), "service": string(), "version": string(), "instance": string(), "node": string(),
        "pid": uint(u32::MAX.into()), "language": { "enum": ["python", "native"] },
        "sampler": { "enum": ["perf", "py-spy"] }, "event": string(), "note": { "type": ["string", "null"] },
        "started_ms": uint(u64::MAX), "duration_ms": uint(u64::MAX), "seconds": uint(60),
        "rate_hz": uint(999), "samples": uint(u64::MAX), "stacks": uint(u64::MAX), "functions": uint(u64::MAX),
        "req_per_s": num.clone(), "p99_ms": num,
        "overhead": object(&["rate_hz", "max_rate_hz", "sampler_cpu_ms", "sampler_cores", "processing_ms"], json!({
            "rate_hz": uint(999), "max_rate_hz": uint(999), "sampler_cpu_ms": uint(u64::MAX),
            "sampler_cores": { "type": "number" }, "processing_ms": uint(u64::MAX) })),
        "flamegraph": string(), "pprof": string(), "top": array(function) }),
    );
    let list = object(&["profiles"], json!({ "profiles": array(summary.clone()) }));
    let request = json!({ "type": "object", "required": ["target"], "additionalProperties": false, "properties": {
        "target": { "type": "string", "description": "a service (its busiest instance here) or an instance id" },
        "seconds": { "type": "integer", "minimum": 1, "maximum": 60 },
        "rate": { "type": "integer", "minimum": 1, "maximum": 999 },
        "all": { "type": "boolean" } } });
    let id = || {
        path_param(
            "id",
            json!({ "type": "string", "minLength": 1 }),
            "profile id",
        )
    };
    let file = |mime: &str, what: &str| {
        json!({ "description": what,
        "content": { mime: { "schema": { "type": "string", "format": "binary" } } } })
    };
    let missing = || error("no such profile");
    let off = || error("profiling is not available on this node");
    json!({
        "/api/v1/profiles": {
            "get": { "summary": "The kept profiles, newest first",
                "parameters": [query_param("service", string(), "only this service's")],
                "responses": { "200": ok("profiles", list.clone()), "400": error("bad query string"), "501": off() } },
            "post": { "summary": "Sample an instance's CPU stacks for `seconds` (perf or py-spy) and keep the profile",
                "requestBody": json_body(request, true),
                "responses": { "201": ok("the profiles taken, with their top functions", list),
                    "400": error("an invalid request (seconds, rate, fields)"),
                    "404": error("no such service or instance"),
                    "409": error("the instance is not running here, or is being profiled already"),
                    "422": error("no sampler for this instance on this node (install linux-perf or py-spy)"),
                    "429": error("too many profiles being taken at once"),
                    "500": error("the sampler failed"), "501": off(), "503": unavailable() } } },
        "/api/v1/profiles/{id}": { "get": { "summary": "One profile with its top functions",
            "parameters": [id(), query_param("top", uint(u32::MAX.into()), "functions shown (default 30)")],
            "responses": { "200": ok("the profile", summary), "400": error("bad query string"), "404": missing(), "501": off() } } },
        "/api/v1/profiles/{id}/flamegraph.svg": { "get": { "summary": "The flame graph (interactive SVG)",
            "parameters": [id()],
            "responses": { "200": file("image/svg+xml", "the flame graph"), "404": missing(), "501": off() } } },
        "/api/v1/profiles/{id}/pprof": { "get": { "summary": "The profile in pprof's format (gzip'd protobuf)",
            "parameters": [id()],
            "responses": { "200": file("application/octet-stream", "the pprof profile"), "404": missing(), "501": off() } } },
        "/api/v1/profiles/{id}/folded": { "get": { "summary": "The folded stacks (`a;b;c COUNT` lines)",
            "parameters": [id()],
            "responses": { "200": file("text/plain", "folded stacks"), "404": missing(), "501": off() } } },
        "/api/v1/profiles/{a}/diff/{b}": { "get": { "summary": "Two profiles' function shares side by side, the biggest growth first",
            "parameters": [path_param("a", json!({ "type": "string", "minLength": 1 }), "profile A"),
                path_param("b", json!({ "type": "string", "minLength": 1 }), "profile B")],
            "responses": { "200": ok("the functions", object(&["a", "b", "functions"], json!({
                "a": { "type": "object" }, "b": { "type": "object" },
                "functions": array(object(&["function", "self_a", "self_b", "total_a", "total_b", "self_delta", "total_delta"], json!({
                    "function": string(), "self_a": { "type": "number" }, "self_b": { "type": "number" },
                    "total_a": { "type": "number" }, "total_b": { "type": "number" },
                    "self_delta": { "type": "number" }, "total_delta": { "type": "number" } }))) }))),
                "404": missing(), "501": off() } } }
    })
}
