//! `GET /api/v1/kv`: the user's key/value entries under a prefix as one JSON list (`[]` when
//! there are none), for browsing; writes go through the Consul KV API (`/v1/kv`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use shoal_catalog::KV_PREFIX;

use crate::error::ApiError;
use crate::state::ApiState;

/// Most entries one answer lists; `truncated` says when there were more.
pub const MAX_KEYS: usize = 1000;
/// Longest value shown; longer ones are cut (`size` is the whole length).
const MAX_SHOWN: usize = 4096;

#[derive(Debug, Deserialize, Default)]
pub struct KvParams {
    #[serde(default)]
    pub prefix: String,
}

pub async fn list(
    State(st): State<Arc<ApiState>>,
    Query(q): Query<KvParams>,
) -> Result<Json<Value>, ApiError> {
    let range = st
        .store
        .range(&format!("{KV_PREFIX}{}", q.prefix))
        .await
        .map_err(ApiError::internal)?;
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
