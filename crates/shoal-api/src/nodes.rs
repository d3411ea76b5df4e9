//! Nodes: `GET /api/v1/nodes` (every node with its status, capacity, labels and instance
//! count, and the cluster's leader) and `POST /api/v1/nodes/{name}/drain|undrain`. With
//! `shoal up` (one machine, no node records) the list is this machine alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};
use shoal_cluster::ClusterError;

use crate::error::ApiError;
use crate::openapi::{array, error, object, ok, path_param, string, uint, unavailable};
use crate::state::ApiState;

pub async fn list(State(st): State<Arc<ApiState>>) -> Result<Json<Value>, ApiError> {
    let fleet = st.fleet().await?;
    let mut per_node: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in fleet.instances.iter().filter(|r| !r.external) {
        let e = per_node.entry(r.node.as_str()).or_default();
        e.0 += 1;
        if r.health.serves_traffic() {
            e.1 += 1;
        }
    }
    let count = |name: &str| per_node.get(name).copied().unwrap_or((0, 0));
    let Some(grace) = st.cluster_grace else {
        let (instances, healthy) = count(&st.node);
        return Ok(Json(json!({
            "mode": "single",
            "leader": { "node": st.node },
            "nodes": [{
                "name": st.node, "status": "ready", "api": st.http.to_string(),
                "gateway": st.gateway.to_string(), "version": env!("CARGO_PKG_VERSION"),
                "instances": instances, "healthy": healthy,
            }],
        })));
    };
    let nodes = shoal_cluster::read_nodes(st.store.as_ref()).await?;
    let statuses = nodes.statuses(shoal_catalog::now_ms(), grace);
    let leader = shoal_cluster::current_leader(st.store.as_ref(), "controller").await?;
    let seen: BTreeMap<&str, u64> = nodes
        .seen
        .iter()
        .map(|s| (s.record.name.as_str(), s.last_seen_ms))
        .collect();
    let list: Vec<Value> = statuses
        .iter()
        .map(|n| {
            let record = nodes.records.iter().find(|r| r.name == n.name).or_else(|| {
                nodes
                    .seen
                    .iter()
                    .map(|s| &s.record)
                    .find(|r| r.name == n.name)
            });
            let (instances, healthy) = count(&n.name);
            json!({
                "name": n.name,
                "status": n.status,
                "address": record.map(|r| r.address.to_string()),
                "api": record.map(|r| r.api.to_string()),
                "gateway": record.map(|r| r.gateway.to_string()),
                "version": record.map(|r| r.version.clone()),
                "started_ms": record.map(|r| r.started_ms),
                "last_seen_ms": seen.get(n.name.as_str()),
                "capacity": n.capacity,
                "labels": n.labels,
                "instances": instances,
                "healthy": healthy,
            })
        })
        .collect();
    Ok(Json(json!({
        "mode": "cluster",
        "leader": leader.map(|(node, revision)| json!({ "node": node, "revision": revision })),
        "grace_seconds": grace.as_secs_f64(),
        "nodes": list,
    })))
}

pub async fn drain(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set(&st, &name, true).await
}

pub async fn undrain(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set(&st, &name, false).await
}

async fn set(st: &ApiState, name: &str, draining: bool) -> Result<Json<Value>, ApiError> {
    if st.cluster_grace.is_none() {
        // The request is fine; this platform (one machine) cannot carry it out.
        return Err(
            ApiError::new(axum::http::StatusCode::CONFLICT, "not a cluster").detail(
                "draining moves instances to other nodes: run `shoal agent` on each machine",
            ),
        );
    }
    shoal_cluster::set_draining(st.store.as_ref(), name, draining)
        .await
        .map_err(cluster_error)?;
    let what = if draining {
        "draining: its instances move to other nodes, each new one healthy before an old one stops"
    } else {
        "taking instances again"
    };
    st.events.emit(
        shoal_events::Kind::Scaled,
        "",
        name,
        format!("node {name} {what}"),
        json!({ "node": name, "draining": draining }),
    );
    Ok(Json(json!({ "node": name, "draining": draining })))
}

fn cluster_error(e: ClusterError) -> ApiError {
    match e {
        ClusterError::UnknownNode(name) => ApiError::not_found("no such node").detail(name),
        other => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "store unavailable",
        )
        .detail(other.to_string()),
    }
}

/// The OpenAPI paths of this file's endpoints.
pub fn openapi_paths() -> Value {
    let name = path_param(
        "name",
        json!({ "type": "string", "minLength": 1 }),
        "node name",
    );
    let opt_s = json!({ "type": ["string", "null"] });
    let node = json!({ "type": "object", "required": ["name", "status", "instances", "healthy"], "additionalProperties": false, "properties": {
        "name": string(), "status": { "enum": ["ready", "draining", "suspect", "lost"] },
        "address": opt_s, "api": opt_s, "gateway": opt_s, "version": opt_s,
        "started_ms": { "type": ["integer", "null"] }, "last_seen_ms": { "type": ["integer", "null"] },
        "capacity": { "description": "what the node offers (cluster mode)" },
        "labels": { "description": "the node's labels (cluster mode)" },
        "instances": uint(u64::MAX), "healthy": uint(u64::MAX) } });
    let changed = ok(
        "the node",
        object(
            &["node", "draining"],
            json!({ "node": string(), "draining": { "type": "boolean" } }),
        ),
    );
    let refused = |what: &str| {
        json!({ "post": { "summary": what, "parameters": [name.clone()],
        "responses": { "200": changed.clone(), "404": error("no such node"),
            "409": error("not a cluster: `shoal up` runs one machine (`shoal agent` runs a cluster)"), "503": unavailable() } } })
    };
    json!({
        "/api/v1/nodes": { "get": { "summary": "Every node (one with `shoal up`): status, addresses, capacity, labels, instances; and the cluster's leader",
            "responses": { "200": ok("nodes", json!({ "type": "object", "required": ["mode", "leader", "nodes"], "additionalProperties": false, "properties": {
                    "mode": { "enum": ["single", "cluster"] },
                    "leader": { "type": ["object", "null"], "description": "the leader's node (and its fencing revision in a cluster)" },
                    "grace_seconds": { "type": "number", "description": "cluster: how long a node without its lease is suspect before it is lost" },
                    "nodes": array(node) } })),
                "503": unavailable() } } },
        "/api/v1/nodes/{name}/drain": refused("Move a node's instances to the other nodes (new healthy before old stops); it takes no new ones"),
        "/api/v1/nodes/{name}/undrain": refused("Let a drained node take instances again")
    })
}
