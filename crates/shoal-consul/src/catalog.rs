//! `/v1/catalog/*` and `/v1/health/*`: read-only views of every service instance (this
//! node's, supervised and agent-registered, and other nodes' registered through
//! `/v1/catalog/register`), all blocking queries over the same [`View`], with Consul's
//! `filter` (over each entry of the answer) and `node-meta` (over the entry's node).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::blocking;
use crate::check_model::Status;
use crate::error::{ConsulError, Result};
use crate::filter::{passes, schema};
use crate::params::Params;
use crate::query::{self, Endpoint};
use crate::render;
use crate::state::ConsulState;
use crate::view::{self, Instance, View};

const SERVICES: Endpoint = Endpoint::blocking("GET /v1/catalog/services", &["node-meta", "filter"]);
const SERVICE: Endpoint = Endpoint::blocking(
    "GET /v1/catalog/service/<name>",
    &["tag", "near", "node-meta", "filter", "merge-central-config"],
);
const NODES: Endpoint =
    Endpoint::blocking("GET /v1/catalog/nodes", &["near", "node-meta", "filter"]);
const NODE: Endpoint = Endpoint::blocking("GET /v1/catalog/node/<node>", &["filter"]);
const HEALTH_SERVICE: Endpoint = Endpoint::blocking(
    "GET /v1/health/service/<name>",
    &[
        "tag",
        "near",
        "node-meta",
        "passing",
        "filter",
        "merge-central-config",
    ],
);
const HEALTH_CHECKS: Endpoint = Endpoint::blocking(
    "GET /v1/health/checks/<name>",
    &["near", "node-meta", "filter"],
);
const HEALTH_STATE: Endpoint = Endpoint::blocking(
    "GET /v1/health/state/<state>",
    &["near", "node-meta", "filter"],
);
const HEALTH_NODE: Endpoint = Endpoint::blocking("GET /v1/health/node/<node>", &["filter"]);

/// Runs `render` over the view as a blocking query and answers with the index headers.
pub async fn view_query<F>(st: &ConsulState, p: &Params, render: F) -> Result<Response>
where
    F: Fn(&View) -> Result<Value>,
{
    let b = p.blocking()?;
    let scope = view::scope();
    let (value, index) = blocking::run(st.store.as_ref(), b, &scope, || async {
        let v = View::read(st).await?;
        Ok((render(&v)?, v.revision))
    })
    .await?;
    Ok((blocking::headers(index), Json(value)).into_response())
}

/// Whether an instance carries every `tag` asked for.
fn has_tags(i: &Instance, p: &Params) -> bool {
    p.all("tag")
        .iter()
        .all(|t| i.tags.iter().any(|have| have == t))
}

/// Whether the node named `node` has every `node-meta` pair asked for (an unknown node
/// has no metadata: it matches only when none is asked for).
fn node_matches(v: &View, p: &Params, node: &str) -> bool {
    let asked = query::node_meta(p);
    asked.is_empty()
        || v.node_named(node)
            .is_some_and(|n| query::node_meta_matches(&asked, &n.meta))
}

pub async fn services(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = SERVICES.params(q.as_deref())?;
    let filter = query::filter(&p, &schema::CATALOG_SERVICE)?;
    view_query(&st, &p, |v| {
        let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for i in v.instances.iter().filter(|i| node_matches(v, &p, &i.node)) {
            if !passes(filter.as_ref(), &render::catalog_service(v, i)) {
                continue;
            }
            let tags = out.entry(i.name.as_str()).or_default();
            tags.extend(i.tags.iter().map(String::as_str));
            tags.sort_unstable();
            tags.dedup();
        }
        Ok(json!(out))
    })
    .await
}

pub async fn service(
    State(st): State<Arc<ConsulState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = SERVICE.params(q.as_deref())?;
    let filter = query::filter(&p, &schema::CATALOG_SERVICE)?;
    view_query(&st, &p, |v| {
        let list: Vec<Value> = v
            .instances
            .iter()
            .filter(|i| i.name == name && has_tags(i, &p) && node_matches(v, &p, &i.node))
            .map(|i| render::catalog_service(v, i))
            .filter(|s| passes(filter.as_ref(), s))
            .collect();
        Ok(json!(list))
    })
    .await
}

pub async fn nodes(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    let p = NODES.params(q.as_deref())?;
    let filter = query::filter(&p, &schema::NODE)?;
    view_query(&st, &p, |v| {
        let list: Vec<Value> = v
            .nodes
            .iter()
            .filter(|n| node_matches(v, &p, &n.name))
            .map(render::node_view)
            .filter(|n| passes(filter.as_ref(), n))
            .collect();
        Ok(json!(list))
    })
    .await
}

pub async fn node(
    State(st): State<Arc<ConsulState>>,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = NODE.params(q.as_deref())?;
    // Consul filters the node's services here, not the node.
    let filter = query::filter(&p, &schema::AGENT_SERVICE)?;
    view_query(&st, &p, |v| {
        let Some(n) = v.node_named(&node) else {
            return Ok(Value::Null);
        };
        let services: BTreeMap<&str, Value> = v
            .instances
            .iter()
            .filter(|i| i.node == node)
            .map(|i| (i.id.as_str(), render::agent_service(i)))
            .filter(|(_, s)| passes(filter.as_ref(), s))
            .collect();
        Ok(json!({ "Node": render::node_view(n), "Services": services }))
    })
    .await
}

pub async fn health_service(
    State(st): State<Arc<ConsulState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = HEALTH_SERVICE.params(q.as_deref())?;
    let filter = query::filter(&p, &schema::HEALTH_ENTRY)?;
    let passing = p.flag("passing");
    view_query(&st, &p, |v| {
        let list: Vec<Value> = v
            .instances
            .iter()
            .filter(|i| i.name == name && has_tags(i, &p) && node_matches(v, &p, &i.node))
            .filter(|i| !passing || v.checks_of(i).iter().all(|c| c.status == Status::Passing))
            .map(|i| render::health_entry(v, i))
            .filter(|e| passes(filter.as_ref(), e))
            .collect();
        Ok(json!(list))
    })
    .await
}

/// The checks passing `keep`, `filter` and `node-meta` (of their node), as Consul shows
/// them (`/v1/health/checks`, `/state`, `/node`).
fn checks_where(
    v: &View,
    p: &Params,
    filter: Option<&crate::filter::Filter>,
    keep: impl Fn(&crate::view::CheckView) -> bool,
) -> Value {
    let list: Vec<Value> = v
        .checks
        .iter()
        .filter(|c| keep(c) && node_matches(v, p, &c.node))
        .map(|c| render::check(v, c))
        .filter(|c| passes(filter, c))
        .collect();
    json!(list)
}

pub async fn health_checks(
    State(st): State<Arc<ConsulState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = HEALTH_CHECKS.params(q.as_deref())?;
    let filter = query::filter(&p, &schema::CHECK)?;
    view_query(&st, &p, |v| {
        Ok(checks_where(v, &p, filter.as_ref(), |c| {
            c.service_name == name
        }))
    })
    .await
}

pub async fn health_state(
    State(st): State<Arc<ConsulState>>,
    Path(state): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = HEALTH_STATE.params(q.as_deref())?;
    let wanted = match state.as_str() {
        "any" => None,
        s => Some(Status::parse(s).ok_or_else(|| {
            ConsulError::bad(format!(
                "Invalid check state {s:?}: use any, passing, warning or critical"
            ))
        })?),
    };
    let filter = query::filter(&p, &schema::CHECK)?;
    view_query(&st, &p, |v| {
        Ok(checks_where(v, &p, filter.as_ref(), |c| {
            wanted.is_none_or(|w| c.status == w)
        }))
    })
    .await
}

pub async fn health_node(
    State(st): State<Arc<ConsulState>>,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = HEALTH_NODE.params(q.as_deref())?;
    let filter = query::filter(&p, &schema::CHECK)?;
    view_query(&st, &p, |v| {
        Ok(checks_where(v, &p, filter.as_ref(), |c| c.node == node))
    })
    .await
}
