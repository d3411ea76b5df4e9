//! OFREP, the OpenFeature Remote Evaluation Protocol: `POST /ofrep/v1/evaluate/flags/{key}`
//! and the bulk `POST /ofrep/v1/evaluate/flags`, answered by `shoal_flags::ofrep` over the
//! stored flags, compiled once per change of them.
//!
//! Bulk answers carry an `ETag` (a hash of the answer's body, so it changes exactly when
//! the answer would); a request whose `If-None-Match` holds it gets 304 with no body.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use shoal_catalog::flag_key;
use shoal_flags::ofrep::{self, Context, ErrorBody, ErrorCode};
use shoal_flags::FlagSet;
use shoal_fleet::Fleet;
use shoal_store::{Revision, StoreError};

use crate::openapi::{array, json_body, object, ok, path_param, schema_ref, string};
use crate::state::ApiState;

/// What identifies the stored flags: the newest mod revision among their keys and how
/// many there are. Every put gives its key a revision above all others, and a delete
/// lowers the count, so any change of the flags changes the fingerprint.
type Fingerprint = (Revision, usize);

/// The state of the OFREP routes: the API's, and the flags compiled for evaluation.
struct Ofrep {
    api: Arc<ApiState>,
    compiled: Mutex<Option<(Fingerprint, Arc<FlagSet>)>>,
}

impl Ofrep {
    /// The flag set of the stored flags (read-your-writes), compiled again only when
    /// the flags changed since the last request.
    async fn flags(&self) -> Result<Arc<FlagSet>, StoreError> {
        let fleet = self.api.fleet().await?;
        let print = fingerprint(&fleet);
        let mut compiled = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((p, set)) = compiled.as_ref() {
            if *p == print {
                return Ok(set.clone());
            }
        }
        let set = Arc::new(FlagSet::new(fleet.flags.values()));
        *compiled = Some((print, set.clone()));
        Ok(set)
    }
}

fn fingerprint(fleet: &Fleet) -> Fingerprint {
    let newest = fleet
        .flags
        .keys()
        .map(|name| fleet.mod_revision(&flag_key(name)))
        .max()
        .unwrap_or(0);
    (newest, fleet.flags.len())
}

/// The OFREP routes, with their own state (the compiled flags) over the API's.
pub fn router<S: Clone + Send + Sync + 'static>(api: Arc<ApiState>) -> Router<S> {
    Router::new()
        .route("/ofrep/v1/evaluate/flags", post(bulk))
        .route("/ofrep/v1/evaluate/flags/{key}", post(one))
        .with_state(Arc::new(Ofrep {
            api,
            compiled: Mutex::new(None),
        }))
}

/// An OFREP error answer, with the status its code takes.
fn failure(e: ErrorBody) -> Response {
    let status =
        StatusCode::from_u16(e.error_code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(e)).into_response()
}

/// The store could not be read: a GENERAL error, 503.
fn unavailable(e: &StoreError) -> Response {
    let body = ErrorBody::new(ErrorCode::General, format!("store unavailable: {e}"));
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// The evaluation context of a request body (see [`ofrep::parse_context`]).
fn context(body: Result<Bytes, BytesRejection>) -> Result<Context, ErrorBody> {
    let bytes = body.map_err(|r| {
        ErrorBody::new(
            ErrorCode::ParseError,
            format!("the body could not be read: {}", r.body_text()),
        )
    })?;
    ofrep::parse_context(&bytes)
}

/// `POST /ofrep/v1/evaluate/flags/{key}`: 200 with the evaluation, or the error's status
/// (400 PARSE_ERROR / INVALID_CONTEXT / TARGETING_KEY_MISSING, 404 FLAG_NOT_FOUND).
async fn one(
    State(o): State<Arc<Ofrep>>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = match context(body) {
        Ok(ctx) => ctx,
        Err(e) => return failure(e.for_key(&key)),
    };
    let set = match o.flags().await {
        Ok(set) => set,
        Err(e) => return unavailable(&e),
    };
    match ofrep::evaluate_one(&set, &key, &ctx) {
        Ok(success) => Json(success).into_response(),
        Err(e) => failure(e),
    }
}

/// `POST /ofrep/v1/evaluate/flags`: 200 `{"flags": [...]}` (per-flag errors inside) with
/// an `ETag`; 304 when `If-None-Match` holds it; 400 for a body that does not parse.
async fn bulk(
    State(o): State<Arc<Ofrep>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let ctx = match context(body) {
        Ok(ctx) => ctx,
        Err(e) => return failure(e),
    };
    let set = match o.flags().await {
        Ok(set) => set,
        Err(e) => return unavailable(&e),
    };
    let answer = ofrep::evaluate_bulk(&set, &ctx);
    let bytes = match serde_json::to_vec(&answer) {
        Ok(b) => b,
        Err(e) => return failure(ErrorBody::new(ErrorCode::General, e.to_string())),
    };
    let etag = format!("\"{:016x}\"", fnv1a(&bytes));
    let Ok(etag_value) = HeaderValue::from_str(&etag) else {
        return failure(ErrorBody::new(ErrorCode::General, "unusable ETag"));
    };
    if none_match_holds(&headers, &etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag_value)]).into_response();
    }
    let json_type = HeaderValue::from_static("application/json");
    (
        [
            (header::ETAG, etag_value),
            (header::CONTENT_TYPE, json_type),
        ],
        bytes,
    )
        .into_response()
}

/// Whether `If-None-Match` lists `etag` (weak or strong) or is `*`.
fn none_match_holds(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// 64-bit FNV-1a: stable across processes and versions, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The OpenAPI paths of OFREP.
pub fn openapi_paths() -> Value {
    let body = json_body(
        json!({ "type": "object", "description": "other members are ignored", "properties": {
        "context": { "type": ["object", "null"], "description": "targetingKey (the user key) and attributes: an attribute named like a header (X-Country) feeds header rules, `path` feeds path rules; string, number and boolean attributes are read, others ignored",
            "properties": { "targetingKey": { "type": ["string", "null"] } } } } }),
        false,
    );
    let failure = |description: &str| ok(description, schema_ref("OfrepError"));
    json!({
        "/ofrep/v1/evaluate/flags/{key}": { "post": { "summary": "OFREP: evaluate one flag for a context",
            "parameters": [path_param("key", json!({ "type": "string", "minLength": 1 }), "flag name")],
            "requestBody": body.clone(),
            "responses": { "200": ok("the evaluation", schema_ref("OfrepSuccess")),
                "400": failure("PARSE_ERROR, INVALID_CONTEXT, or TARGETING_KEY_MISSING (a flag rolled out to part of the users needs a targetingKey)"),
                "404": failure("FLAG_NOT_FOUND"), "503": failure("GENERAL: the store cannot be reached") } } },
        "/ofrep/v1/evaluate/flags": { "post": { "summary": "OFREP: evaluate every flag for a context; ETag / If-None-Match",
            "parameters": [{ "name": "If-None-Match", "in": "header", "required": false, "schema": string(), "description": "the ETag of a previous answer" }],
            "requestBody": body,
            "responses": { "200": { "description": "every flag, errors per flag inside",
                    "headers": { "ETag": { "required": true, "schema": string(), "description": "changes exactly when the answer would" } },
                    "content": { "application/json": { "schema": object(&["flags"], json!({
                        "flags": array(json!({ "oneOf": [schema_ref("OfrepSuccess"), schema_ref("OfrepError")] })) })) } } },
                "304": { "description": "unchanged since the ETag sent",
                    "headers": { "ETag": { "required": true, "schema": string() } } },
                "400": failure("PARSE_ERROR or INVALID_CONTEXT"), "503": failure("GENERAL: the store cannot be reached") } } }
    })
}

/// The OpenAPI schemas of OFREP's answers.
pub fn openapi_schemas() -> Value {
    let s = string();
    json!({
        "OfrepSuccess": { "type": "object", "required": ["key", "value", "reason", "variant"], "additionalProperties": false, "properties": {
            "key": s, "value": { "type": ["boolean", "string"], "description": "true/false, or the variant of a variant flag" },
            "reason": { "enum": ["STATIC", "TARGETING_MATCH", "SPLIT", "DISABLED", "DEFAULT", "UNKNOWN", "ERROR"] },
            "variant": s, "metadata": { "type": "object" } } },
        "OfrepError": { "type": "object", "required": ["errorCode", "errorDetails"], "additionalProperties": false, "properties": {
            "key": s, "errorCode": { "enum": ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "FLAG_NOT_FOUND", "GENERAL"] },
            "errorDetails": s } }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists_and_wildcards() {
        let mut h = HeaderMap::new();
        assert!(!none_match_holds(&h, "\"a\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"b\", W/\"a\""),
        );
        assert!(none_match_holds(&h, "\"a\""));
        assert!(!none_match_holds(&h, "\"c\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match_holds(&h, "\"c\""));
    }

    #[test]
    fn any_change_of_the_flags_changes_the_fingerprint() {
        let mut fleet = Fleet::default();
        assert_eq!(fingerprint(&fleet), (0, 0));
        let put = |fleet: &mut Fleet, name: &str, rev: Revision| {
            fleet
                .flags
                .insert(name.to_owned(), shoal_flags::Flag::new(name));
            let r = shoal_fleet::KeyRevisions {
                create: rev,
                modified: rev,
            };
            fleet.revisions.insert(flag_key(name), r);
        };
        put(&mut fleet, "a", 5);
        put(&mut fleet, "b", 7);
        let before = fingerprint(&fleet);
        assert_eq!(before, (7, 2));
        put(&mut fleet, "a", 9);
        assert_eq!(fingerprint(&fleet), (9, 2));
        fleet.flags.remove("b");
        assert_eq!(fingerprint(&fleet), (9, 1));
    }

    #[test]
    fn the_etag_hash_is_fnv1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
