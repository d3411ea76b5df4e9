//! Secret endpoints: list (names and versions only), put/rotate, get, delete.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_secrets::SecretError;

use crate::error::{parse_json, ApiError};
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
    Query(q): Query<GetParams>,
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
