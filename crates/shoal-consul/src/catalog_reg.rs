//! `PUT /v1/catalog/register`, `PUT /v1/catalog/deregister` and `GET /v1/catalog/datacenters`,
//! plus the store side of catalog nodes: one node's records read and rewritten in one guarded
//! transaction together with their Shoal catalog mirror, and the runner's reconcile of every
//! mirror (after a restart, or anything that drifted).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use shoal_catalog::{decode, encode, InstanceRecord};
use shoal_store::{CmpOp, Compare, KeyValue, Op, OpResponse, Txn};

use crate::body::parse_body;
use crate::catalog_reg_model::{
    apply_deregister, apply_register, mirror, parse_deregister, parse_register, CheckRec, NodeRec,
    NodeState, ServiceRec,
};
use crate::error::{ConsulError, Result};
use crate::query::Endpoint;
use crate::state::{
    ConsulState, CATALOG_CHECK_PREFIX, CATALOG_NODE_PREFIX, CATALOG_SERVICE_PREFIX, DATACENTER,
};

const MAX_ATTEMPTS: usize = 32;

pub fn node_key(node: &str) -> String {
    format!("{CATALOG_NODE_PREFIX}{node}")
}
pub fn service_key(node: &str, id: &str) -> String {
    format!("{CATALOG_SERVICE_PREFIX}{node}/{id}")
}
pub fn check_key(node: &str, id: &str) -> String {
    format!("{CATALOG_CHECK_PREFIX}{node}/{id}")
}

const DATACENTERS: Endpoint = Endpoint::plain("GET /v1/catalog/datacenters", &[]);
// `node-meta`: py-consul sends a registration's node metadata as `node-meta=k:v`
// parameters (Consul drops them); Shoal takes them as the body's `NodeMeta` when the
// body has none, rather than ignore them.
const REGISTER: Endpoint = Endpoint::plain("PUT /v1/catalog/register", &["node-meta"]);
const DEREGISTER: Endpoint = Endpoint::plain("PUT /v1/catalog/deregister", &[]);

pub async fn datacenters(RawQuery(q): RawQuery) -> Result<Json<serde_json::Value>> {
    DATACENTERS.params(q.as_deref())?;
    Ok(Json(json!([DATACENTER])))
}

pub async fn register(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let p = REGISTER.params(q.as_deref())?;
    let mut body = parse_body(&body?)?;
    with_node_meta(&mut body, &crate::query::node_meta(&p));
    let r = parse_register(&body, &st.node, DATACENTER)?;
    if let Some(svc) = &r.service {
        crate::owned::check_outside_registration(&st, &svc.name).await?;
    }
    let (node, service) = (
        r.node.name.clone(),
        r.service.as_ref().map(|s| s.id.clone()),
    );
    update_node(&st, &node, |s| apply_register(s, r.clone())).await?;
    tracing::info!(node = %node, service = ?service, "consul catalog registration");
    Ok(Json(true).into_response())
}

pub async fn deregister(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    DEREGISTER.params(q.as_deref())?;
    let d = parse_deregister(&parse_body(&body?)?, &st.node, DATACENTER)?;
    update_node(&st, d.node(), |s| Ok(apply_deregister(s, &d))).await?;
    tracing::info!(what = ?d, "consul catalog deregistration");
    Ok(Json(true).into_response())
}

fn decoded<T: DeserializeOwned>(kv: &KeyValue) -> Option<T> {
    decode(&kv.key, &kv.value).ok()
}

/// The key-values of each read in a transaction's answer, in order (a `Get` as
/// zero or one).
pub(crate) fn ranges(resp: Vec<OpResponse>) -> Vec<Vec<KeyValue>> {
    resp.into_iter()
        .map(|r| match r {
            OpResponse::Range(kvs) => kvs,
            OpResponse::Get(kv) => kv.into_iter().collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// Reads one node's records; the guards hold if none of them changed since.
async fn read_node(st: &ConsulState, node: &str) -> Result<(NodeState, Vec<Compare>)> {
    let resp = st
        .store
        .txn(Txn::new().and_then([
            Op::get(node_key(node)),
            Op::range(format!("{CATALOG_SERVICE_PREFIX}{node}/")),
            Op::range(format!("{CATALOG_CHECK_PREFIX}{node}/")),
        ]))
        .await?;
    let mut r = ranges(resp.responses).into_iter();
    let (n, services, checks) = (
        r.next().unwrap_or_default(),
        r.next().unwrap_or_default(),
        r.next().unwrap_or_default(),
    );
    let mut guards = vec![Compare::mod_revision(
        node_key(node),
        CmpOp::Equal,
        n.first().map_or(0, |kv| kv.mod_revision),
    )];
    guards.extend(
        services
            .iter()
            .chain(&checks)
            .map(|kv| Compare::mod_revision(kv.key.clone(), CmpOp::Equal, kv.mod_revision)),
    );
    let state = NodeState {
        node: n.first().and_then(decoded::<NodeRec>),
        services: services
            .iter()
            .filter_map(decoded::<ServiceRec>)
            .map(|s| (s.id.clone(), s))
            .collect(),
        checks: checks
            .iter()
            .filter_map(decoded::<CheckRec>)
            .map(|c| (c.id.clone(), c))
            .collect(),
    };
    Ok((state, guards))
}

/// Puts for what is new or changed in `after`, deletes for what left it.
fn diff<T: PartialEq + Serialize>(
    before: &BTreeMap<String, T>,
    after: &BTreeMap<String, T>,
    ops: &mut Vec<Op>,
) {
    for (k, v) in after {
        if before.get(k) != Some(v) {
            ops.push(Op::put(k.clone(), encode(v)));
        }
    }
    ops.extend(
        before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .map(|k| Op::delete(k.clone())),
    );
}

fn json<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or_default()
}

/// Every stored record of a node state (node, services, checks), by key.
fn records(s: &NodeState) -> [BTreeMap<String, serde_json::Value>; 3] {
    let node = s
        .node
        .iter()
        .map(|n| (node_key(&n.name), json(n)))
        .collect();
    let services = s
        .services
        .values()
        .map(|v| (service_key(&v.node, &v.id), json(v)))
        .collect();
    let checks = s
        .checks
        .values()
        .map(|v| (check_key(&v.node, &v.id), json(v)))
        .collect();
    [node, services, checks]
}

/// Applies `change` to one node's records and rewrites them with their catalog mirror in
/// one transaction guarded by every key read (retried while concurrent writers win).
async fn update_node<F>(st: &ConsulState, node: &str, change: F) -> Result<()>
where
    F: Fn(NodeState) -> Result<NodeState>,
{
    for _ in 0..MAX_ATTEMPTS {
        let (before, guards) = read_node(st, node).await?;
        let after = change(before.clone())?;
        let mut ops = Vec::new();
        for (b, a) in records(&before).iter().zip(records(&after).iter()) {
            diff(b, a, &mut ops);
        }
        diff(&mirror(&before), &mirror(&after), &mut ops);
        if ops.is_empty() {
            return Ok(());
        }
        let txn = Txn::new().when(guards).and_then(ops);
        if st.store.txn(txn).await?.succeeded {
            return Ok(());
        }
    }
    Err(ConsulError::Conflict(format!(
        "catalog node {node:?} kept changing; retry"
    )))
}

/// Every catalog node's records, grouped by node.
pub fn group(nodes: &[KeyValue], services: &[KeyValue], checks: &[KeyValue]) -> Vec<NodeState> {
    let mut by: BTreeMap<String, NodeState> = BTreeMap::new();
    for n in nodes.iter().filter_map(decoded::<NodeRec>) {
        let name = n.name.clone();
        by.entry(name).or_default().node = Some(n);
    }
    for s in services.iter().filter_map(decoded::<ServiceRec>) {
        by.entry(s.node.clone())
            .or_default()
            .services
            .insert(s.id.clone(), s);
    }
    for c in checks.iter().filter_map(decoded::<CheckRec>) {
        by.entry(c.node.clone())
            .or_default()
            .checks
            .insert(c.id.clone(), c);
    }
    by.into_values().collect()
}

/// The prefixes of catalog registrations (nodes, services, checks), in the order
/// [`sync_mirrors`] takes them; the runner reads them in its pass's one read.
pub(crate) const PREFIXES: [&str; 3] = [
    CATALOG_NODE_PREFIX,
    CATALOG_SERVICE_PREFIX,
    CATALOG_CHECK_PREFIX,
];

/// Makes the Shoal catalog hold exactly the mirror of every catalog node's
/// services: the external records whose id is `<service id>@<node>` of a node other than
/// this agent's. (In a cluster, other Shoal nodes' agent registrations are external
/// records of another node too, under their plain service id: those are theirs.)
/// `registered` is what was read under [`PREFIXES`], `catalog` the Shoal catalog, both
/// in one read.
pub(crate) async fn sync_mirrors(
    st: &ConsulState,
    registered: [&[KeyValue]; 3],
    catalog: &[KeyValue],
) -> Result<()> {
    let [nodes, services, checks] = registered;
    let want: BTreeMap<String, InstanceRecord> = group(nodes, services, checks)
        .iter()
        .flat_map(mirror)
        .collect();
    let have: HashMap<&str, (&KeyValue, InstanceRecord)> = catalog
        .iter()
        .filter_map(|kv| decoded::<InstanceRecord>(kv).map(|r| (kv.key.as_str(), (kv, r))))
        .filter(|(_, (_, r))| r.external && r.node != st.node && is_mirror_id(&r.id, &r.node))
        .collect();
    let mut ops: Vec<(Compare, Op)> = Vec::new();
    for (key, rec) in &want {
        let seen = have.get(key.as_str());
        if seen.is_some_and(|(_, r)| r == rec) {
            continue;
        }
        let rev = seen.map_or(0, |(kv, _)| kv.mod_revision);
        ops.push((
            Compare::mod_revision(key.clone(), CmpOp::Equal, rev),
            Op::put(key.clone(), encode(rec)),
        ));
    }
    for (key, (kv, _)) in &have {
        if !want.contains_key(*key) {
            ops.push((
                Compare::mod_revision(key.to_string(), CmpOp::Equal, kv.mod_revision),
                Op::delete(key.to_string()),
            ));
        }
    }
    for (guard, op) in ops {
        // A guard that fails means a registration rewrote the record since: it is current.
        st.store
            .txn(Txn::new().when([guard]).and_then([op]))
            .await?;
    }
    Ok(())
}

/// Sets the (normalised) body's `nodemeta` to the `node-meta` pairs when it has none.
fn with_node_meta(body: &mut serde_json::Value, pairs: &[(&str, &str)]) {
    if let (Some(m), false) = (body.as_object_mut(), pairs.is_empty()) {
        m.entry("nodemeta").or_insert_with(|| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), json!(v)))
                .collect::<serde_json::Map<_, _>>()
                .into()
        });
    }
}

/// Whether `id` is a catalog mirror's instance id on `node`: `<service id>@<node>`.
fn is_mirror_id(id: &str, node: &str) -> bool {
    id.strip_suffix(node)
        .is_some_and(|rest| rest.len() > 1 && rest.ends_with('@'))
}

#[cfg(test)]
#[path = "catalog_reg_store_tests.rs"]
mod tests;
