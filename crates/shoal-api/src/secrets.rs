//! Secret endpoints: list (names and versions only), put/rotate, get, delete.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_secrets::SecretError;

use crate::error::{parse_json, ApiError};
use crate::openapi::{
    array, error, json_body, object, ok, path_param, query_param, string, uint, unavailable,
};
use crate::query::Params;
use crate::state::ApiState;

/// How long a rotated-out version stays readable.
const ROTATION_GRACE_MS: u64 = 10 * 60 * 1000;

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        let status = match &e {
            SecretError::NotFound(_) => StatusCode::NOT_FOUND,
            SecretError::BadName(_) | SecretError::TooLarge(_) => StatusCode::BAD_REQUEST,
            SecretError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // SecretError never carries a value, so its text is safe to show.
        ApiError::new(status, e.to_string())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// The new value; absent with `generate: true` for a random one.
    pub value: Option<String>,
    #[serde(default)]
    pub generate: bool,
}

#[derive(Debug, Deserialize, Default)]
pub struct GetParams {
    pub version: Option<u32>,
}

pub async fn list(State(st): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(shoal_secrets::list(st.store.as_ref()).await?)))
}

/// Sets a new current version (a rotation when it exists); dependent services roll.
pub async fn put(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: PutBody = parse_json(body)?;
    let value = match (body.value, body.generate) {
        (Some(v), false) => v.into_bytes(),
        (None, true) => {
            let raw: [u8; 24] = rand::random();
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(raw)
                .into_bytes()
        }
        _ => {
            return Err(ApiError::bad_request(
                "give either `value` or `generate: true`",
            ))
        }
    };
    let version = shoal_secrets::put(
        st.store.as_ref(),
        &st.keyring,
        &name,
        &value,
        ROTATION_GRACE_MS,
    )
    .await?;
    Ok(Json(json!({ "name": name, "version": version })))
}

pub async fn get(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    Params(q): Params<GetParams>,
) -> Result<Json<Value>, ApiError> {
    let (version, plain) =
        shoal_secrets::get(st.store.as_ref(), &st.keyring, &name, q.version).await?;
    let value =
        String::from_utf8(plain).map_err(|_| ApiError::internal("secret is not UTF-8 text"))?;
    Ok(Json(
        json!({ "name": name, "version": version, "value": value }),
    ))
}

pub async fn delete(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if shoal_secrets::delete(st.store.as_ref(), &name).await? {
        Ok(Json(json!({ "name": name, "deleted": true })))
    } else {
        Err(SecretError::NotFound(name).into())
    }
}

/// A secret name: `/`-separated segments of letters, digits, `.`, `_`, `-`, none `.` or
/// `..` (`shoal_secrets::check_name`), at most 256 bytes.
const NAME_PATTERN: &str = "^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.\\.[A-Za-z0-9._-]+)(?:/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\\.\\.[A-Za-z0-9._-]+))*$";

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let name = path_param(
        "name",
        json!({ "type": "string", "pattern": NAME_PATTERN, "maxLength": 256 }),
        "secret name; may contain `/`",
    );
    let version = uint(u32::MAX.into());
    let bad_name = "invalid secret name";
    let unreadable = "the stored secret cannot be decrypted with this key, or is corrupt";
    let value =
        json!({ "type": "string", "maxLength": 65536, "description": "at most 64 KiB of UTF-8" });
    let body = json!({ "oneOf": [
        object(&["value"], json!({ "value": value, "generate": { "const": false } })),
        object(&["generate"], json!({ "generate": { "const": true, "description": "a random value (24 bytes, base64url)" },
            "value": { "type": "null" } })) ] });
    json!({
        "/api/v1/secrets": { "get": { "summary": "Secrets with their versions (never values)",
            "responses": { "200": ok("secrets", array(object(&["name", "version", "versions", "updated_ms"], json!({
                    "name": string(), "version": version, "versions": array(version.clone()), "updated_ms": uint(u64::MAX) })))),
                "500": error(unreadable), "503": unavailable() } } },
        "/api/v1/secrets/{name}": {
            "get": { "summary": "A secret's value", "parameters": [name.clone(), query_param("version", version.clone(), "an older live version")],
                "responses": { "200": ok("value", object(&["name", "version", "value"], json!({ "name": string(), "version": version, "value": string() }))),
                    "400": error("invalid secret name, or bad query string"), "404": error("no such secret (or version)"),
                    "500": error(unreadable), "503": unavailable() } },
            "put": { "summary": "Set a new current version (a rotation when it exists: the previous one stays readable for 10 minutes); services that use it roll",
                "parameters": [name.clone()], "requestBody": json_body(body, true),
                "responses": { "200": ok("stored", object(&["name", "version"], json!({ "name": string(), "version": version }))),
                    "400": error("invalid secret name, a body that is not one of the two forms, or a value over 64 KiB"),
                    "500": error(unreadable), "503": unavailable() } },
            "delete": { "summary": "Delete a secret and every version", "parameters": [name],
                "responses": { "200": ok("deleted", object(&["name", "deleted"], json!({ "name": string(), "deleted": { "const": true } }))),
                    "400": error(bad_name), "404": error("no such secret"), "503": unavailable() } } }
    })
}
