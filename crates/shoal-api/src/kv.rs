//! `GET /api/v1/kv`: the user's key/value entries under a prefix as one JSON list (`[]` when
//! there are none), for browsing; writes go through the Consul KV API (`/v1/kv`).

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_catalog::KV_PREFIX;

use crate::error::ApiError;
use crate::openapi::{array, error, object, ok, query_param, string, uint, unavailable};
use crate::query::Params;
use crate::state::ApiState;

/// Most entries one answer lists; `truncated` says when there were more.
pub const MAX_KEYS: usize = 1000;
/// Longest value shown; longer ones are cut (`size` is the whole length).
const MAX_SHOWN: usize = 4096;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KvParams {
    #[serde(default)]
    pub prefix: String,
}

pub async fn list(
    State(st): State<Arc<ApiState>>,
    Params(q): Params<KvParams>,
) -> Result<Json<Value>, ApiError> {
    let range = st.store.range(&format!("{KV_PREFIX}{}", q.prefix)).await?;
    let truncated = range.kvs.len() > MAX_KEYS;
    let entries: Vec<Value> = range
        .kvs
        .iter()
        .take(MAX_KEYS)
        .map(|kv| {
            let key = kv.key.strip_prefix(KV_PREFIX).unwrap_or(&kv.key);
            let shown = &kv.value[..kv.value.len().min(MAX_SHOWN)];
            // Text when it is UTF-8 (a cut inside a character shows as binary).
            let text = std::str::from_utf8(shown).ok();
            json!({
                "key": key,
                "value": text,
                "binary": text.is_none(),
                "size": kv.value.len(),
                "cut": kv.value.len() > MAX_SHOWN,
                "modify_index": kv.mod_revision,
                "create_index": kv.create_revision,
            })
        })
        .collect();
    Ok(Json(json!({
        "prefix": q.prefix,
        "entries": entries,
        "truncated": truncated,
        "index": range.revision,
    })))
}

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let n = uint(u64::MAX);
    let entry = object(
        &[
            "key",
            "value",
            "binary",
            "size",
            "cut",
            "modify_index",
            "create_index",
        ],
        json!({ "key": string(),
            "value": { "type": ["string", "null"], "description": "the text (its first 4 KiB); null when it is not UTF-8" },
            "binary": { "type": "boolean" }, "size": n, "cut": { "type": "boolean", "description": "longer than shown" },
            "modify_index": n, "create_index": n }),
    );
    json!({
        "/api/v1/kv": { "get": { "summary": "The key/value entries under a prefix (text values up to 4 KiB, at most 1000 entries), for browsing; writes go through /v1/kv",
            "parameters": [query_param("prefix", string(), "key prefix")],
            "responses": { "200": ok("entries", object(&["prefix", "entries", "truncated", "index"], json!({
                    "prefix": string(), "entries": array(entry), "truncated": { "type": "boolean", "description": "more than 1000 entries" },
                    "index": n }))),
                "400": error("bad query string"), "503": unavailable() } } }
    })
}
