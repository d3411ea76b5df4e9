//! Catalog records and the key layout Shoal keeps in its revisioned store.
//!
//! Everything the platform knows is a key in one store (DESIGN §2). This crate
//! fixes where each kind of record lives and what its JSON looks like, so the
//! agent, the API, the gateway and the CLI agree without sharing code paths.
//!
//! # Layout
//! - `keys.rs`: the key prefixes and the functions that build and parse keys.
//! - `record.rs`: the instance record (catalog entry) and its states.
//! - `desired.rs`: desired-state records written by the API (scale, restarts).
//! - `placement.rs`: placements (cluster mode): which instance runs on which node.
//! - `prepared_query.rs`: Consul prepared queries and the rules that resolve and run them.
#![forbid(unsafe_code)]

mod desired;
mod keys;
mod placement;
mod prepared_query;
mod record;

pub use desired::{RestartRequest, ScaleOverride, ScaleSource};
pub use keys::{
    autoscale_key, catalog_key, catalog_prefix, catalog_service_prefix, deploy_key, flag_key,
    history_key, history_prefix, kv_key, parse_catalog_key, restart_key, scale_key, spec_key,
    APPLIED_KEY, CATALOG_PREFIX, CHECK_PREFIX, CONSUL_PREFIX, DEPLOY_PREFIX, FLAG_PREFIX,
    HISTORY_PREFIX, KVMETA_PREFIX, KV_PREFIX, RESTART_PREFIX, SCALE_PREFIX, SECRET_PREFIX,
    SERVICE_PREFIX, SESSION_PREFIX, SPEC_PREFIX,
};
pub use keys::{chaos_key, CHAOS_PREFIX};
pub use keys::{
    leader_key, node_key, node_seen_key, parse_node_key, LEADER_PREFIX, NODE_PREFIX,
    NODE_SEEN_PREFIX,
};
pub use keys::{prepared_query_key, PREPARED_QUERY_PREFIX};
pub use keys::{CATALOG_CHECK_PREFIX, CATALOG_NODE_PREFIX, CATALOG_SERVICE_PREFIX, EVENT_PREFIX};
pub use placement::{
    parse_placement_key, placement_key, placement_node_prefix, PlacementRecord, PLACEMENT_PREFIX,
};
pub use prepared_query::{resolve_query, PreparedQuery};
pub use record::{Health, InstanceRecord, InstanceState, Weights};

/// An error decoding a record read from the store.
#[derive(Debug, thiserror::Error)]
#[error("record at `{key}` is not valid JSON: {source}")]
pub struct DecodeError {
    pub key: String,
    #[source]
    pub source: serde_json::Error,
}

/// Decodes a JSON record stored under `key`.
pub fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).map_err(|source| DecodeError {
        key: key.to_string(),
        source,
    })
}

/// Unix milliseconds now: the wall-clock stamp records carry (it survives restarts).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Encodes a record as JSON bytes for the store.
pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Serialising our own plain structs cannot fail; fall back to `null` to stay panic-free.
    serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec())
}
