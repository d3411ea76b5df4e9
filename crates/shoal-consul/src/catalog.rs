//! `/v1/catalog/*` and `/v1/health/*`: read-only views of every service instance on this
//! node (supervised and registered), all blocking queries over the same [`View`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::blocking;
use crate::check_model::Status;
use crate::error::{ConsulError, Result};
use crate::params::Params;
use crate::render;
use crate::state::ConsulState;
use crate::view::{self, Instance, View};

/// Runs `render` over the view as a blocking query and answers with the index headers.
pub async fn view_query<F>(st: &ConsulState, q: Option<String>, render: F) -> Result<Response>
where
    F: Fn(&View, &Params) -> Result<Value>,
{
    let p = Params::parse(q.as_deref());
    let b = p.blocking()?;
    let scope = view::scope();
    let (value, index) = blocking::run(st.store.as_ref(), b, &scope, || async {
        let v = View::read(st).await?;
        Ok((render(&v, &p)?, v.revision))
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

pub async fn services(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    view_query(&st, q, |v, _| {
        let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for i in &v.instances {
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
    view_query(&st, q, |v, p| {
        let list: Vec<Value> = v
            .instances
            .iter()
            .filter(|i| i.name == name && has_tags(i, p))
            .map(|i| render::catalog_service(v, i))
            .collect();
        Ok(json!(list))
    })
    .await
}

pub async fn nodes(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    view_query(&st, q, |v, _| {
        Ok(json!(v
            .nodes
            .iter()
            .map(render::node_view)
            .collect::<Vec<_>>()))
    })
    .await
}

pub async fn node(
    State(st): State<Arc<ConsulState>>,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    view_query(&st, q, |v, _| {
        let Some(n) = v.node_named(&node) else {
            return Ok(Value::Null);
        };
        let services: BTreeMap<&str, Value> = v
            .instances
            .iter()
            .filter(|i| i.node == node)
            .map(|i| (i.id.as_str(), render::agent_service(i)))
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
    view_query(&st, q, |v, p| {
        let passing = p.flag("passing");
        let list: Vec<Value> = v
            .instances
            .iter()
            .filter(|i| i.name == name && has_tags(i, p))
            .filter(|i| !passing || v.checks_of(i).iter().all(|c| c.status == Status::Passing))
            .map(|i| render::health_entry(v, i))
            .collect();
        Ok(json!(list))
    })
    .await
}

pub async fn health_checks(
    State(st): State<Arc<ConsulState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    view_query(&st, q, |v, _| {
        let list: Vec<Value> = v
            .checks
            .iter()
            .filter(|c| c.service_name == name)
            .map(|c| render::check(v, c))
            .collect();
        Ok(json!(list))
    })
    .await
}

pub async fn health_state(
    State(st): State<Arc<ConsulState>>,
    Path(state): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let wanted = match state.as_str() {
        "any" => None,
        s => Some(Status::parse(s).ok_or_else(|| {
            ConsulError::bad(format!(
                "Invalid check state {s:?}: use any, passing, warning or critical"
            ))
        })?),
    };
    view_query(&st, q, |v, _| {
        let list: Vec<Value> = v
            .checks
            .iter()
            .filter(|c| wanted.is_none_or(|w| c.status == w))
            .map(|c| render::check(v, c))
            .collect();
        Ok(json!(list))
    })
    .await
}

pub async fn health_node(
    State(st): State<Arc<ConsulState>>,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    view_query(&st, q, |v, _| {
        Ok(json!(v
            .checks
            .iter()
            .filter(|c| c.node == node)
            .map(|c| render::check(v, c))
            .collect::<Vec<_>>()))
    })
    .await
}
