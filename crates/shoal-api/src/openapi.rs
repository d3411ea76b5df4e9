//! The OpenAPI 3.1 document of `/api/v1` (and OFREP's `/ofrep/v1`): each handler file
//! describes its own endpoints (`openapi_paths`, `openapi_schemas`); this file puts them
//! together and adds what every operation shares in one place: the token schemes, and
//! 401/403 wherever `auth::required_right` (the rule the auth layer applies) asks for a
//! right, 413 wherever a body is taken (`body_limit.rs`).
//!
//! `openapi_tests.rs` checks the document against the router (every route documented,
//! every documented operation routed); `tests/python/test_openapi.py` runs schemathesis
//! against a live `shoal up` with it.

use axum::http::Method;
use axum::Json;
use serde_json::{json, Value};

/// A JSON answer with `schema`.
pub fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// A JSON error answer (`{"error": ..., "detail": ...}`).
pub fn error(description: &str) -> Value {
    ok(description, json!({ "$ref": "#/components/schemas/Error" }))
}

/// 503: the store did not answer (etcd without quorum, a store I/O error).
pub fn unavailable() -> Value {
    error("the store cannot be reached; try again")
}

/// A path parameter.
pub fn path_param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": schema, "description": description })
}

/// An optional query parameter.
pub fn query_param(name: &str, schema: Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

/// A JSON request body.
pub fn json_body(schema: Value, required: bool) -> Value {
    json!({ "required": required, "content": { "application/json": { "schema": schema } } })
}

/// A string.
pub fn string() -> Value {
    json!({ "type": "string" })
}

/// A string matching `pattern`.
pub fn pattern(pattern: &str) -> Value {
    json!({ "type": "string", "pattern": pattern })
}

/// An unsigned integer up to `max` (a Rust `u64`/`usize` is `u64::MAX`).
pub fn uint(max: u64) -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": max })
}

/// `uint(u64::MAX)`, or `null`.
pub fn opt_uint() -> Value {
    json!({ "type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX })
}

/// An object with exactly these `properties`, the `required` ones always present.
pub fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties, "additionalProperties": false })
}

/// An array of `items`.
pub fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

/// One server-sent event (OpenAPI 3.1: an event stream's `schema` describes each event):
/// `message` events carry `message` (a schema) as JSON in `data`; `others` are the other
/// event names with the pattern of their `data`.
pub fn sse_event(message: Value, others: &[(&str, Value)]) -> Value {
    let mut forms = vec![
        json!({ "type": "object", "required": ["event", "data"], "properties": {
        "event": { "const": "message" },
        "data": { "type": "string", "contentMediaType": "application/json", "contentSchema": message } } }),
    ];
    for (event, data) in others {
        forms.push(
            json!({ "type": "object", "required": ["event", "data"], "properties": {
            "event": { "const": event }, "data": data } }),
        );
    }
    json!({ "oneOf": forms })
}

/// A reference to `#/components/schemas/{name}`.
pub fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The whole document.
pub fn spec() -> Value {
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": { "title": "Shoal API", "version": env!("CARGO_PKG_VERSION"),
            "description": "Shoal's native API. When tokens are configured, every operation but the public ones needs a token with the right it names (X-Consul-Token, Authorization: Bearer, or ?token=); without tokens (Shoal then listens on loopback only) the API is open. Errors are JSON {\"error\": ..., \"detail\": ...}. The Consul-compatible API lives under /v1/ and is not described here; OpenFeature's remote evaluation protocol (OFREP) is, under /ofrep/v1/." },
        "security": [{ "consulToken": [] }, { "bearer": [] }, { "queryToken": [] }],
        "paths": {
            "/api/v1/auth/self": { "get": { "summary": "Public: the presented token's name and rights (every right when no tokens are configured, none without a known token)",
                "responses": { "200": ok("token", token_schema()) } } },
            "/api/v1/openapi.json": { "get": { "summary": "Public: this document",
                "responses": { "200": ok("OpenAPI 3.1", json!({ "type": "object" })) } } }
        },
        "components": {
            "securitySchemes": {
                "consulToken": { "type": "apiKey", "in": "header", "name": "X-Consul-Token" },
                "bearer": { "type": "http", "scheme": "bearer" },
                "queryToken": { "type": "apiKey", "in": "query", "name": "token" } },
            "schemas": {
                "Error": object(&["error", "detail"], json!({
                    "error": { "type": "string", "description": "what was wrong" },
                    "detail": { "description": "more: the value refused, every problem found, what to do" } })) } }
    });
    let parts = [
        (
            crate::services::openapi_paths(),
            crate::services::openapi_schemas(),
        ),
        (
            crate::deploy::openapi_paths(),
            crate::deploy::openapi_schemas(),
        ),
        (
            crate::flags::openapi_paths(),
            crate::flags::openapi_schemas(),
        ),
        (
            crate::ofrep::openapi_paths(),
            crate::ofrep::openapi_schemas(),
        ),
        (crate::secrets::openapi_paths(), json!({})),
        (
            crate::events::openapi_paths(),
            crate::events::openapi_schemas(),
        ),
        (crate::logs::openapi_paths(), crate::logs::openapi_schemas()),
        (
            crate::errors::openapi_paths(),
            crate::errors::openapi_schemas(),
        ),
        (
            crate::traces::openapi_paths(),
            crate::traces::openapi_schemas(),
        ),
        (crate::nodes::openapi_paths(), json!({})),
        (crate::kv::openapi_paths(), json!({})),
        (crate::openapi_more::metrics_paths(), json!({})),
        (crate::openapi_more::chaos_paths(), json!({})),
        (crate::openapi_more::profiles_paths(), json!({})),
    ];
    for (paths, schemas) in parts {
        merge(&mut doc["paths"], paths);
        merge(&mut doc["components"]["schemas"], schemas);
    }
    shared_answers(&mut doc["paths"]);
    doc
}

/// Adds the answers every operation shares: `security: []` on public ones, 401 and 403
/// on the others (by the right the auth layer asks of them), 413 where a body is taken.
fn shared_answers(paths: &mut Value) {
    let Some(paths) = paths.as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Ok(m) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            if op.get("requestBody").is_some() && op["responses"].get("413").is_none() {
                op["responses"]["413"] = error("the body is larger than 1 MiB");
            }
            match crate::auth::required_right(&m, path) {
                None => op["security"] = json!([]),
                Some(right) => {
                    let right = format!("{right:?}").to_ascii_lowercase();
                    let responses = &mut op["responses"];
                    if responses.get("401").is_none() {
                        responses["401"] =
                            error("tokens are configured and no token was presented");
                    }
                    if responses.get("403").is_none() {
                        responses["403"] = error(&format!(
                            "the token is unknown, or lacks the `{right}` right this operation needs"
                        ));
                    }
                }
            }
        }
    }
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
    let right = json!({ "type": "string", "enum": ["read", "write", "secrets", "chaos"] });
    object(
        &["tokens", "name", "rights"],
        json!({
            "tokens": { "type": "boolean", "description": "whether tokens are configured" },
            "name": { "type": ["string", "null"], "description": "the token's name; null without a known token" },
            "rights": array(right) }),
    )
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
