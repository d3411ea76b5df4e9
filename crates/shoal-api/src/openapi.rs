//! The OpenAPI 3.1 document describing `/api/v1`.

use axum::Json;
use serde_json::{json, Value};

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn name_param(name: &str, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" }, "description": description })
}

fn query_param(name: &str, ty: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": { "type": ty }, "description": description })
}

pub fn spec() -> Value {
    let service = name_param("name", "service name");
    let instance_ref = json!({ "$ref": "#/components/schemas/Instance" });
    let log_params = vec![
        query_param("service", "string", "only this service"),
        query_param("instance", "string", "only this instance"),
        query_param(
            "since",
            "string",
            "a duration back from now (5m) or unix milliseconds",
        ),
        query_param("grep", "string", "substring the line must contain"),
        query_param(
            "trace",
            "string",
            "only lines carrying this W3C trace id (32 hex), across services",
        ),
        query_param(
            "field",
            "string",
            "KEY=VALUE: only JSON lines whose field KEY is VALUE (level=error)",
        ),
        query_param("limit", "integer", "most recent N lines (default 1000)"),
        query_param(
            "after",
            "integer",
            "only lines with a larger sequence number",
        ),
    ];
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "Shoal API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Shoal's native API. Tokens (when configured): X-Consul-Token, Authorization: Bearer, or ?token=. The Consul-compatible API lives under /v1/; OpenFeature's remote evaluation protocol (OFREP) under /ofrep/v1/." },
        "paths": {
            "/api/v1/agent": { "get": { "summary": "This agent", "responses": { "200": ok("agent", json!({ "type": "object" })) } } },
            "/api/v1/services": { "get": { "summary": "Every service with counts", "responses": {
                "200": ok("services", json!({ "type": "array", "items": { "$ref": "#/components/schemas/ServiceSummary" } })) } } },
            "/api/v1/services/{name}": { "get": { "summary": "One service: summary, spec, instances", "parameters": [service.clone()], "responses": {
                "200": ok("service", json!({ "type": "object" })), "404": error_response("no such service") } } },
            "/api/v1/services/{name}/scale": { "post": { "summary": "Set the instance count of the current version", "parameters": [service.clone()],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "required": ["instances"], "additionalProperties": false,
                    "properties": { "instances": { "type": "integer", "minimum": 0, "maximum": 10000 } } } } } },
                "responses": { "200": ok("scaled", json!({ "type": "object" })), "400": error_response("bad count"), "404": error_response("no such service"), "413": error_response("body too large") } } },
            "/api/v1/services/{name}/stop": { "post": { "summary": "Stop every instance of the current version (scale to 0)", "parameters": [service.clone()],
                "responses": { "200": ok("stopped", json!({ "type": "object" })), "404": error_response("no such service") } } },
            "/api/v1/services/{name}/start": { "post": { "summary": "Return to the spec's instance count", "parameters": [service],
                "responses": { "200": ok("started", json!({ "type": "object" })), "404": error_response("no such service") } } },
            "/api/v1/instances": { "get": { "summary": "Every instance", "parameters": [query_param("service", "string", "only this service")],
                "responses": { "200": ok("instances", json!({ "type": "array", "items": instance_ref })) } } },
            "/api/v1/instances/{id}/restart": { "post": { "summary": "Restart one instance in place", "parameters": [name_param("id", "instance id")],
                "responses": { "202": ok("requested", json!({ "type": "object" })), "404": error_response("no such instance") } } },
            "/api/v1/logs": { "get": { "summary": "Search the central log", "parameters": log_params.clone(),
                "responses": { "200": ok("lines, oldest first", json!({ "type": "array", "items": { "$ref": "#/components/schemas/LogLine" } })), "400": error_response("bad query") } } },
            "/api/v1/logs/stats": { "get": { "summary": "What the log store holds (lines, bytes, oldest, dropped, traces) and its limits",
                "responses": { "200": ok("stats and limits", json!({ "type": "object" })) } } },
            "/api/v1/logs/stream": { "get": { "summary": "Live tail as server-sent events, one JSON LogLine per event", "parameters": log_params,
                "responses": { "200": { "description": "event stream", "content": { "text/event-stream": {} } } } } },
            "/api/v1/errors": { "get": { "summary": "Errors grouped by service and cause: 5xx answers, crashes, error-level JSON log lines; most recently seen first",
                "parameters": [
                    query_param("service", "string", "only this service"),
                    query_param("source", "string", "http, crash or log"),
                    query_param("since", "string", "seen since: a duration back from now (1h) or unix milliseconds"),
                    query_param("limit", "integer", "at most N groups (default 100)")],
                "responses": { "200": ok("groups", json!({ "type": "object", "properties": {
                    "groups": { "type": "array", "items": { "$ref": "#/components/schemas/ErrorGroup" } },
                    "forgotten": { "type": "integer", "description": "groups dropped to stay within the bound" } } })),
                    "400": error_response("bad query") } } },
            "/api/v1/errors/{id}": { "get": { "summary": "One error group; with the log lines of its latest example's trace (`trace_logs`)",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": ok("the group", json!({ "$ref": "#/components/schemas/ErrorGroup" })), "404": error_response("unknown group") } } },
            "/api/v1/events": { "get": { "summary": "The event stream (oldest first)", "parameters": [
                    query_param("service", "string", "only this service"),
                    query_param("kind", "string", "instance_started, instance_exited, instance_stopped, start_failed, health_changed, restart, scaled, rollout, config_waiting, platform, circuit_changed, instance_ejected, deployment, flag"),
                    query_param("after", "integer", "only events with a larger sequence number"),
                    query_param("limit", "integer", "most recent N (default 1000)")],
                "responses": { "200": ok("events", json!({ "type": "array", "items": { "$ref": "#/components/schemas/Event" } })), "400": error_response("bad query") } } },
            "/api/v1/events/stream": { "get": { "summary": "Live events as server-sent events; with `after`, replays from there first",
                "parameters": [query_param("service", "string", "only this service"), query_param("after", "integer", "replay after this sequence number")],
                "responses": { "200": { "description": "event stream", "content": { "text/event-stream": {} } } } } },
            "/api/v1/secrets": { "get": { "summary": "Secrets with their versions (never values)",
                "responses": { "200": ok("secrets", json!({ "type": "array", "items": { "type": "object", "properties": {
                    "name": { "type": "string" }, "version": { "type": "integer" }, "versions": { "type": "array", "items": { "type": "integer" } }, "updated_ms": { "type": "integer" } } } })) } } },
            "/api/v1/secrets/{name}": {
                "get": { "summary": "A secret's value (needs the `secrets` right)", "parameters": [name_param("name", "secret name; may contain /"), query_param("version", "integer", "an older live version")],
                    "responses": { "200": ok("value", json!({ "type": "object", "properties": { "name": { "type": "string" }, "version": { "type": "integer" }, "value": { "type": "string" } } })), "404": error_response("no such secret") } },
                "put": { "summary": "Set a new current version (a rotation when it exists); services that use it roll", "parameters": [name_param("name", "secret name")],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "additionalProperties": false,
                        "properties": { "value": { "type": "string" }, "generate": { "type": "boolean" } } } } } },
                    "responses": { "200": ok("stored", json!({ "type": "object" })), "400": error_response("bad name or body") } },
                "delete": { "summary": "Delete a secret and every version", "parameters": [name_param("name", "secret name")],
                    "responses": { "200": ok("deleted", json!({ "type": "object" })), "404": error_response("no such secret") } } },
            "/api/v1/proxy": { "get": { "summary": "The data plane: per service circuit state, in-flight, requests, retries, shed, rate-limited, fallbacks, timeouts, ejections; per instance load and ejection; outbound listeners",
                "responses": { "200": ok("proxy state", json!({ "type": "object" })) } } },
            "/api/v1/metrics/names": { "get": { "summary": "Names of the stored metric series",
                "responses": { "200": ok("names", json!({ "type": "array", "items": { "type": "string" } })) } } },
            "/api/v1/metrics/query": { "get": { "summary": "Query stored metrics (1 s resolution for 1 h, 10 s for 24 h)",
                "parameters": [query_param("name", "string", "metric name"), query_param("labels", "string", "matchers, e.g. service=web,code!=200"),
                    query_param("since", "string", "how far back, e.g. 5m"), query_param("step", "string", "e.g. 10s"),
                    query_param("agg", "string", "sum, avg, max, min, last, rate, count, p50, p90, p95, p99"), query_param("by", "string", "group by this label")],
                "responses": { "200": ok("series", json!({ "type": "object" })), "400": error_response("bad query"), "404": error_response("unknown metric") } } },
            "/api/v1/nodes": { "get": { "summary": "Every node (one with `shoal up`): status (ready, draining, suspect, lost), addresses, capacity, labels, instances; and the cluster's leader",
                "responses": { "200": ok("nodes", json!({ "type": "object" })) } } },
            "/api/v1/nodes/{name}/drain": { "post": { "summary": "Move a node's instances to the other nodes (new healthy before old stops); it takes no new ones", "parameters": [name_param("name", "node")],
                "responses": { "200": ok("node", json!({ "type": "object" })), "400": error_response("not a cluster"), "404": error_response("no such node") } } },
            "/api/v1/nodes/{name}/undrain": { "post": { "summary": "Let a drained node take instances again", "parameters": [name_param("name", "node")],
                "responses": { "200": ok("node", json!({ "type": "object" })), "400": error_response("not a cluster"), "404": error_response("no such node") } } },
            "/api/v1/kv": { "get": { "summary": "The key/value entries under a prefix (text values up to 4 KiB, at most 1000 entries); [] when none",
                "parameters": [query_param("prefix", "string", "key prefix")], "responses": { "200": ok("entries", json!({ "type": "object" })) } } },
            "/api/v1/auth/self": { "get": { "summary": "Public: the presented token's name and rights (every right when no tokens are configured, none without a known token)",
                "responses": { "200": ok("token", token_schema()) } } },
            "/api/v1/openapi.json": { "get": { "summary": "This document", "responses": { "200": ok("OpenAPI", json!({ "type": "object" })) } } }
        },
        "components": { "schemas": {
            "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "string" }, "detail": {} } },
            "ServiceSummary": { "type": "object", "properties": {
                "name": { "type": "string" }, "version": { "type": "string" }, "desired": { "type": "integer" },
                "instances": { "type": "integer" }, "healthy": { "type": "integer" }, "restarts": { "type": "integer" },
                "crash_loop": { "type": "boolean" }, "routes": { "type": "array", "items": { "type": "string" } },
                "versions": { "type": "array", "items": { "type": "string" } }, "external": { "type": "boolean" } } },
            "Instance": { "type": "object", "properties": {
                "id": { "type": "string" }, "service": { "type": "string" }, "version": { "type": "string" },
                "node": { "type": "string" }, "address": { "type": "string" }, "port": { "type": "integer" },
                "pid": { "type": ["integer", "null"] },
                "state": { "enum": ["running", "backoff", "stopping", "failed"] },
                "health": { "enum": ["starting", "passing", "warning", "critical"] },
                "health_output": { "type": "string" }, "restarts": { "type": "integer" },
                "consecutive_failures": { "type": "integer" }, "crash_loop": { "type": "boolean" },
                "last_exit": { "type": ["string", "null"] }, "started_ms": { "type": "integer" }, "external": { "type": "boolean" } } },
            "Event": { "type": "object", "properties": {
                "seq": { "type": "integer" }, "time_ms": { "type": "integer" }, "kind": { "type": "string" },
                "service": { "type": "string" }, "instance": { "type": "string" }, "message": { "type": "string" },
                "fields": { "type": "object" } } },
            "ErrorGroup": { "type": "object", "properties": {
                "id": { "type": "string" }, "service": { "type": "string" },
                "source": { "enum": ["http", "crash", "log"] }, "cause": { "type": "string" },
                "count": { "type": "integer" }, "first_ms": { "type": "integer" }, "last_ms": { "type": "integer" },
                "instances": { "type": "array", "items": { "type": "string" } },
                "latest": { "type": "object", "description": "the latest occurrence: path/status/trace_id, exit and stderr tail, or the log line" } } },
            "LogLine": { "type": "object", "properties": {
                "seq": { "type": "integer" }, "time_ms": { "type": "integer" }, "service": { "type": "string" },
                "version": { "type": "string" }, "instance": { "type": "string" },
                "stream": { "enum": ["stdout", "stderr", "system"] }, "line": { "type": "string" },
                "trace_id": { "type": "string", "description": "W3C trace id the line carries, when it has one" },
                "fields": { "type": "object", "description": "a JSON object line, as its fields" } } }
        } }
    });
    merge(
        &mut doc["paths"],
        crate::traces::openapi_paths(ok, error_response, query_param),
    );
    merge(
        &mut doc["components"]["schemas"],
        crate::traces::openapi_schemas(),
    );
    merge(
        &mut doc["paths"],
        crate::deploy::openapi_paths(ok, error_response),
    );
    merge(
        &mut doc["components"]["schemas"],
        crate::deploy::openapi_schemas(),
    );
    merge(
        &mut doc["paths"],
        crate::flags::openapi_paths(ok, error_response),
    );
    merge(
        &mut doc["components"]["schemas"],
        crate::flags::openapi_schemas(),
    );
    merge(&mut doc["paths"], crate::ofrep::openapi_paths(ok));
    merge(
        &mut doc["components"]["schemas"],
        crate::ofrep::openapi_schemas(),
    );
    doc
}

/// Adds the entries of the object `more` to the object `into`.
fn merge(into: &mut Value, more: Value) {
    if let (Some(into), Value::Object(more)) = (into.as_object_mut(), more) {
        into.extend(more);
    }
}

pub async fn document() -> Json<Value> {
    Json(spec())
}

/// `/api/v1/auth/self`'s answer.
fn token_schema() -> Value {
    json!({ "type": "object", "required": ["tokens", "rights"], "properties": {
        "tokens": { "type": "boolean" }, "name": { "type": ["string", "null"] },
        "rights": { "type": "array", "items": { "type": "string", "enum": ["read", "write", "secrets"] } } } })
}
