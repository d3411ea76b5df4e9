//! This agent as a Serf member and a Vivaldi coordinate: `GET /v1/agent/members` (one member,
//! alive), the `Member` of `agent/self`, and `GET /v1/coordinate/{nodes,node/<node>,datacenters}`
//! (the coordinate of a fresh node: Shoal measures no round-trip times).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::agent::CONSUL_VERSION;
use crate::blocking;
use crate::error::{ConsulError, Result};
use crate::query::Endpoint;
use crate::state::{ConsulState, DATACENTER};

/// Serf's LAN port, reported as Consul's default (Shoal runs no gossip).
const SERF_LAN_PORT: u16 = 8301;
const SERF_WAN_PORT: u16 = 8302;

/// This agent as a Serf member (`wan`: as a WAN member, named `<node>.<dc>`).
pub fn member(st: &ConsulState, wan: bool) -> Value {
    let (name, port) = if wan {
        (format!("{}.{DATACENTER}", st.node), SERF_WAN_PORT)
    } else {
        (st.node.clone(), SERF_LAN_PORT)
    };
    json!({
        "Name": name, "Addr": st.address.to_string(), "Port": port,
        "Tags": {
            "dc": DATACENTER, "role": "consul", "build": format!("{CONSUL_VERSION}:shoal"),
            "port": "8300", "vsn": "2", "vsn_min": "2", "vsn_max": "3", "id": st.node_id(),
            "bootstrap": "1", "segment": "",
        },
        "Status": 1,
        "ProtocolMin": 1, "ProtocolMax": 5, "ProtocolCur": 2,
        "DelegateMin": 2, "DelegateMax": 5, "DelegateCur": 4,
    })
}

/// The coordinate Serf gives a node before any measurement (`coordinate.NewCoordinate`):
/// the origin of 8 dimensions, the maximum error 1.5, the minimum height 1e-5.
pub fn fresh_coordinate() -> Value {
    json!({ "Vec": vec![0.0; 8], "Error": 1.5, "Adjustment": 0.0, "Height": 1.0e-5 })
}

const MEMBERS: Endpoint = Endpoint::plain("GET /v1/agent/members", &["wan", "segment"]);
const COORD_NODES: Endpoint = Endpoint::blocking("GET /v1/coordinate/nodes", &["segment"]);
const COORD_NODE: Endpoint = Endpoint::blocking("GET /v1/coordinate/node/<node>", &["segment"]);
const COORD_DCS: Endpoint = Endpoint::plain("GET /v1/coordinate/datacenters", &[]);

pub async fn members(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>> {
    let p = MEMBERS.params(q.as_deref())?;
    // One node has one (the default) network segment.
    if p.get("segment").is_some_and(|s| !s.is_empty()) {
        return Err(ConsulError::bad(
            "network segments are a Consul Enterprise feature Shoal does not provide",
        ));
    }
    Ok(Json(json!([member(&st, p.flag("wan"))])))
}

fn node_coordinate(st: &ConsulState) -> Value {
    json!({ "Node": st.node, "Segment": "", "Partition": "", "Coord": fresh_coordinate() })
}

/// Answers `value` with the index headers of the current store revision (blocking with an
/// `index` is not needed: the coordinate never changes).
async fn with_index(st: &ConsulState, value: Value) -> Result<Response> {
    let rev = st.store.revision().await?;
    Ok((blocking::headers(rev), Json(value)).into_response())
}

pub async fn nodes(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    COORD_NODES.params(q.as_deref())?;
    with_index(&st, json!([node_coordinate(&st)])).await
}

pub async fn node(
    State(st): State<Arc<ConsulState>>,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    COORD_NODE.params(q.as_deref())?;
    if node != st.node {
        return Err(ConsulError::not_found(format!(
            "no coordinates for node {node:?}"
        )));
    }
    with_index(&st, json!([node_coordinate(&st)])).await
}

pub async fn datacenters(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>> {
    COORD_DCS.params(q.as_deref())?;
    Ok(Json(json!([{
        "Datacenter": DATACENTER, "AreaID": "wan",
        "Coordinates": [{ "Node": format!("{}.{DATACENTER}", st.node), "Coord": fresh_coordinate() }],
    }])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_coordinate_is_serfs() {
        let c = fresh_coordinate();
        assert_eq!(c["Vec"].as_array().map(Vec::len), Some(8));
        assert_eq!(
            (c["Error"].as_f64(), c["Height"].as_f64()),
            (Some(1.5), Some(1.0e-5))
        );
    }
}
