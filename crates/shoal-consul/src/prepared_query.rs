//! `/v1/query`: prepared queries kept in the store (`shoal/consul/queries/<id>`) — create,
//! list, read, update, delete — and `GET /v1/query/<id or name>/execute`, which runs one
//! against the Consul view. DNS answers the same queries as `<name>.query.<domain>`.

use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use rand::seq::SliceRandom;
use serde_json::{json, Value};
use shoal_catalog::{
    decode, encode, prepared_query_key, resolve_query, PreparedQuery, PREPARED_QUERY_PREFIX,
};
use shoal_store::{CmpOp, Compare, KeyValue, Op, Revision, Txn};

use crate::blocking::{self, Scope};
use crate::body::parse_body;
use crate::error::{ConsulError, Result};
use crate::prepared_query_model::{health_of, name_clash, parse, render};
use crate::query::Endpoint;
use crate::render::health_entry;
use crate::state::{new_uuid, session_key, ConsulState, DATACENTER};
use crate::view::View;

const CREATE: Endpoint = Endpoint::plain("POST /v1/query", &[]);
const LIST: Endpoint = Endpoint::blocking("GET /v1/query", &[]);
const GET: Endpoint = Endpoint::blocking("GET /v1/query/<id>", &[]);
const UPDATE: Endpoint = Endpoint::plain("PUT /v1/query/<id>", &[]);
const DELETE: Endpoint = Endpoint::plain("DELETE /v1/query/<id>", &[]);
// `near` is read and sorts nothing (one node); `limit` caps the nodes returned.
const EXECUTE: Endpoint = Endpoint::plain("GET /v1/query/<id>/execute", &["near", "limit"]);

/// Every stored query with its store entry, and the revision read at.
async fn read_all(st: &ConsulState) -> Result<(Vec<(KeyValue, PreparedQuery)>, Revision)> {
    let r = st.store.range(PREPARED_QUERY_PREFIX).await?;
    let list = r
        .kvs
        .into_iter()
        .filter_map(|kv| {
            let q = decode::<PreparedQuery>(&kv.key, &kv.value).ok()?;
            Some((kv, q))
        })
        .collect();
    Ok((list, r.revision))
}

fn shown(kv: &KeyValue, q: &PreparedQuery) -> Value {
    render(q, kv.create_revision, kv.mod_revision)
}

/// Checks `q` against the stored queries and its session, then writes it: created only if
/// absent (`create`), else only if unchanged since read.
async fn store_query(st: &ConsulState, q: &PreparedQuery, create: bool) -> Result<()> {
    if !q.session.is_empty() && st.store.get(&session_key(&q.session)).await?.is_none() {
        return Err(ConsulError::bad(format!(
            "Invalid session {:?}: no such session",
            q.session
        )));
    }
    let (all, _) = read_all(st).await?;
    let others: Vec<PreparedQuery> = all.iter().map(|(_, o)| o.clone()).collect();
    if let Some(why) = name_clash(q, &others) {
        return Err(ConsulError::bad(why));
    }
    let key = prepared_query_key(&q.id);
    let guard = match all.iter().find(|(_, o)| o.id == q.id) {
        None if create => Compare::version(key.clone(), CmpOp::Equal, 0),
        None => {
            return Err(ConsulError::not_found(format!(
                "Query {:?} not found",
                q.id
            )))
        }
        Some((kv, _)) => Compare::mod_revision(key.clone(), CmpOp::Equal, kv.mod_revision),
    };
    let txn = Txn::new().when([guard]).and_then([Op::put(key, encode(q))]);
    if !st.store.txn(txn).await?.succeeded {
        return Err(ConsulError::Conflict(format!(
            "query {} changed while it was written; retry",
            q.id
        )));
    }
    Ok(())
}

pub async fn create(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    CREATE.params(q.as_deref())?;
    let query = parse(&parse_body(&body?)?, new_uuid())?;
    store_query(&st, &query, true).await?;
    tracing::info!(query = %query.id, name = %query.name, "consul prepared query created");
    Ok(Json(json!({ "ID": query.id })).into_response())
}

/// The stored queries (all, or the one with `id`) as a blocking read.
async fn list_where(
    st: &ConsulState,
    p: &crate::params::Params,
    id: Option<&str>,
) -> Result<Response> {
    let scope = Scope::prefix(PREPARED_QUERY_PREFIX);
    let (list, index) = blocking::run(st.store.as_ref(), p.blocking()?, &scope, || async {
        let (all, rev) = read_all(st).await?;
        let list: Vec<Value> = all
            .iter()
            .filter(|(_, q)| id.is_none_or(|id| q.id == id))
            .map(|(kv, q)| shown(kv, q))
            .collect();
        Ok((list, rev))
    })
    .await?;
    if let (Some(id), true) = (id, list.is_empty()) {
        return Err(ConsulError::not_found(format!("Query {id:?} not found")));
    }
    Ok((blocking::headers(index), Json(list)).into_response())
}

pub async fn list(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    let p = LIST.params(q.as_deref())?;
    list_where(&st, &p, None).await
}

pub async fn get(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = GET.params(q.as_deref())?;
    list_where(&st, &p, Some(&id)).await
}

pub async fn update(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    UPDATE.params(q.as_deref())?;
    let query = parse(&parse_body(&body?)?, id)?;
    store_query(&st, &query, false).await?;
    Ok(Json(true).into_response())
}

pub async fn delete(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    DELETE.params(q.as_deref())?;
    st.store.delete(&prepared_query_key(&id)).await?;
    Ok(Json(true).into_response())
}

pub async fn execute(
    State(st): State<Arc<ConsulState>>,
    Path(asked): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let p = EXECUTE.params(q.as_deref())?;
    let limit = p.u64("limit")?.unwrap_or(0);
    let (all, _) = read_all(&st).await?;
    let queries: Vec<PreparedQuery> = all.into_iter().map(|(_, q)| q).collect();
    let query = resolve_query(&queries, &asked)
        .ok_or_else(|| ConsulError::not_found(format!("Query {asked:?} not found")))?;
    let v = View::read(&st).await?;
    let mut nodes: Vec<Value> = v
        .instances
        .iter()
        .filter(|i| {
            let tags: Vec<&str> = i.tags.iter().map(String::as_str).collect();
            let health = health_of(v.checks_of(i).iter().map(|c| c.status));
            query.selects(&asked, &i.name, &tags, health)
        })
        .map(|i| health_entry(&v, i))
        .collect();
    // As Consul without `Near`: a random order (one node: nothing to sort by distance).
    nodes.shuffle(&mut rand::rng());
    if limit > 0 {
        nodes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let answer = json!({
        "Service": query.service_for(&asked),
        "Nodes": nodes,
        "DNS": {"TTL": query.dns_ttl},
        "Datacenter": DATACENTER,
        "Failovers": 0,
    });
    Ok((blocking::headers(v.revision), Json(answer)).into_response())
}
