//! The Consul-compatible endpoints (`/v1/...`) that exist so far.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

use crate::state::ApiState;

/// Consul answers with the leader's server RPC address; clients only check it is non-empty.
pub async fn leader(State(st): State<Arc<ApiState>>) -> (HeaderMap, Json<String>) {
    (HeaderMap::new(), Json(format!("{}:8300", st.http.ip())))
}

pub async fn peers(State(st): State<Arc<ApiState>>) -> Json<Vec<String>> {
    Json(vec![format!("{}:8300", st.http.ip())])
}
