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
        query_param("limit", "integer", "most recent N lines (default 1000)"),
        query_param(
            "after",
            "integer",
            "only lines with a larger sequence number",
        ),
    ];
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Shoal API", "version": env!("CARGO_PKG_VERSION") },
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
            "/api/v1/logs/stream": { "get": { "summary": "Live tail as server-sent events, one JSON LogLine per event", "parameters": log_params,
                "responses": { "200": { "description": "event stream", "content": { "text/event-stream": {} } } } } },
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
            "LogLine": { "type": "object", "properties": {
                "seq": { "type": "integer" }, "time_ms": { "type": "integer" }, "service": { "type": "string" },
                "version": { "type": "string" }, "instance": { "type": "string" },
                "stream": { "enum": ["stdout", "stderr", "system"] }, "line": { "type": "string" } } }
        } }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}
