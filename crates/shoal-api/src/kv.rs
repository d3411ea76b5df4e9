//! The Consul KV endpoints (`/v1/kv/<key>`): get (raw, recurse, keys with a
//! separator), put and delete, with `X-Consul-Index` set to the store revision.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use shoal_catalog::{kv_key, KV_PREFIX};

use crate::error::ApiError;
use crate::state::ApiState;

/// Consul's query flags; presence matters (`?raw`, `?recurse`), so they are options.
#[derive(Debug, Deserialize, Default)]
pub struct KvParams {
    pub raw: Option<String>,
    pub recurse: Option<String>,
    pub keys: Option<String>,
    pub separator: Option<String>,
}

fn index_headers(revision: i64) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&revision.to_string()) {
        h.insert("x-consul-index", v);
    }
    h.insert("x-consul-knownleader", HeaderValue::from_static("true"));
    h
}

fn check_key(key: &str) -> Result<(), ApiError> {
    if key.len() > 4096 {
        return Err(ApiError::bad_request("key too long").detail("at most 4096 bytes"));
    }
    Ok(())
}

pub async fn get(
    State(st): State<Arc<ApiState>>,
    key: Option<Path<String>>,
    Query(q): Query<KvParams>,
) -> Result<Response, ApiError> {
    let key = key.map(|Path(k)| k).unwrap_or_default();
    check_key(&key)?;
    if q.keys.is_some() {
        let range = st.store.range(&kv_key(&key)).await?;
        let mut keys: Vec<String> = Vec::new();
        for kv in &range.kvs {
            let k = kv.key.trim_start_matches(KV_PREFIX);
            let shown = match q.separator.as_deref().filter(|s| !s.is_empty()) {
                Some(sep) => match k[key.len()..].find(sep) {
                    Some(i) => &k[..key.len() + i + sep.len()],
                    None => k,
                },
                None => k,
            };
            if keys.last().map(String::as_str) != Some(shown) {
                keys.push(shown.to_string());
            }
        }
        if keys.is_empty() {
            return Ok((StatusCode::NOT_FOUND, index_headers(range.revision)).into_response());
        }
        return Ok((index_headers(range.revision), Json(keys)).into_response());
    }
    let (kvs, revision) = if q.recurse.is_some() {
        let r = st.store.range(&kv_key(&key)).await?;
        (r.kvs, r.revision)
    } else {
        let rev = st.store.revision().await?;
        (
            st.store.get(&kv_key(&key)).await?.into_iter().collect(),
            rev,
        )
    };
    if kvs.is_empty() {
        return Ok((StatusCode::NOT_FOUND, index_headers(revision)).into_response());
    }
    if q.raw.is_some() {
        let value = kvs
            .into_iter()
            .next()
            .map(|kv| kv.value)
            .unwrap_or_default();
        return Ok((index_headers(revision), value).into_response());
    }
    let entries: Vec<serde_json::Value> = kvs
        .iter()
        .map(|kv| {
            json!({
                "LockIndex": 0,
                "Key": kv.key.trim_start_matches(KV_PREFIX),
                "Flags": 0,
                "Value": if kv.value.is_empty() { serde_json::Value::Null } else {
                    json!(base64::engine::general_purpose::STANDARD.encode(&kv.value))
                },
                "CreateIndex": kv.create_revision,
                "ModifyIndex": kv.mod_revision,
            })
        })
        .collect();
    Ok((index_headers(revision), Json(entries)).into_response())
}

pub async fn put(
    State(st): State<Arc<ApiState>>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    check_key(&key)?;
    if key.is_empty() {
        return Err(ApiError::bad_request("missing key"));
    }
    let body = body.map_err(|r| {
        ApiError::new(r.status(), "could not read the request body").detail(r.body_text())
    })?;
    let revision = st.store.put(&kv_key(&key), body.to_vec(), 0).await?;
    Ok((index_headers(revision), Json(true)).into_response())
}

pub async fn delete(
    State(st): State<Arc<ApiState>>,
    Path(key): Path<String>,
    Query(q): Query<KvParams>,
) -> Result<Response, ApiError> {
    check_key(&key)?;
    if q.recurse.is_some() {
        st.store.delete_prefix(&kv_key(&key)).await?;
    } else {
        st.store.delete(&kv_key(&key)).await?;
    }
    let revision = st.store.revision().await?;
    Ok((index_headers(revision), Json(true)).into_response())
}
