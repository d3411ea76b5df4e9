//! `/v1/session/*`: create, destroy, info, list, node, renew. A session with a TTL is a key
//! attached to a store lease (expiry = lease expiry, no 2x grace); what happens to its locks
//! when it ends is in `session_end.rs`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shoal_store::{KeyValue, Op, OpResponse, Revision, Store, StoreError, Txn};

use crate::blocking::{self, Scope};
use crate::body::{parse_body, Fields};
use crate::duration::format_go_duration;
use crate::error::{ConsulError, Result};
use crate::query::Endpoint;
use crate::session_end::invalidate;
use crate::state::{new_uuid, session_key, ConsulState, SESSION_PREFIX};

/// Consul's TTL bounds.
pub const MIN_TTL: Duration = Duration::from_secs(10);
pub const MAX_TTL: Duration = Duration::from_secs(86_400);
const DEFAULT_LOCK_DELAY: Duration = Duration::from_secs(15);

/// What happens to held locks when the session ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Behavior {
    #[default]
    Release,
    Delete,
}

/// A session as stored (`shoal/consul/sessions/<id>`); indexes come from the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub name: String,
    pub node: String,
    pub lock_delay_ns: u64,
    pub behavior: Behavior,
    /// Go duration text, empty without a TTL.
    pub ttl: String,
    pub node_checks: Vec<String>,
    #[serde(default)]
    pub service_checks: Vec<Value>,
}

/// Parses a create body (already normalised) into a record for `node` (the default node).
pub fn parse_create(
    body: &Value,
    id: String,
    node: &str,
) -> Result<(SessionRecord, Option<Duration>)> {
    let f = Fields::new(body, "session")?;
    let behavior = match f
        .string("behavior")?
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") | Some("release") => Behavior::Release,
        Some("delete") => Behavior::Delete,
        Some(other) => {
            return Err(ConsulError::bad(format!(
                "Invalid Behavior setting {other:?}: use \"release\" or \"delete\""
            )))
        }
    };
    let ttl = f.duration("ttl")?.filter(|d| !d.is_zero());
    if let Some(t) = ttl {
        if t < MIN_TTL || t > MAX_TTL {
            return Err(ConsulError::bad(format!(
                "Invalid Session TTL '{}', must be between [{}={}]",
                format_go_duration(t),
                format_go_duration(MIN_TTL),
                format_go_duration(MAX_TTL)
            )));
        }
    }
    let session_node = f
        .string("node")?
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| node.to_string());
    if session_node != node {
        return Err(ConsulError::bad(format!(
            "Missing node registration: unknown node {session_node:?} (this agent is {node:?})"
        )));
    }
    let mut node_checks = f.strings("checks")?;
    node_checks.extend(f.strings("nodechecks")?);
    if f.raw("checks").is_null() && f.raw("nodechecks").is_null() {
        node_checks.push("serfHealth".to_string());
    }
    let service_checks = match f.raw("servicechecks") {
        Value::Array(items) => items.clone(),
        _ => Vec::new(),
    };
    let record = SessionRecord {
        id,
        name: f.string("name")?.unwrap_or_default(),
        node: session_node,
        lock_delay_ns: f
            .duration("lockdelay")?
            .unwrap_or(DEFAULT_LOCK_DELAY)
            .as_nanos() as u64,
        behavior,
        // As the client wrote it (`60s` stays `60s`), as Consul keeps it; a number of
        // nanoseconds in Go's form.
        ttl: match (ttl, f.raw("ttl")) {
            (None, _) => String::new(),
            (Some(_), Value::String(text)) => text.trim().to_owned(),
            (Some(t), _) => format_go_duration(t),
        },
        node_checks,
        service_checks,
    };
    Ok((record, ttl))
}

/// The session's JSON as Consul returns it.
pub fn render(kv: &KeyValue) -> Option<Value> {
    let s: SessionRecord = serde_json::from_slice(&kv.value).ok()?;
    Some(json!({
        "ID": s.id, "Name": s.name, "Node": s.node, "LockDelay": s.lock_delay_ns,
        "Behavior": s.behavior, "TTL": s.ttl, "NodeChecks": s.node_checks,
        "ServiceChecks": if s.service_checks.is_empty() { Value::Null } else { Value::Array(s.service_checks) },
        "CreateIndex": kv.create_revision, "ModifyIndex": kv.mod_revision,
    }))
}

const CREATE: Endpoint = Endpoint::plain("PUT /v1/session/create", &[]);
const DESTROY: Endpoint = Endpoint::plain("PUT /v1/session/destroy/<id>", &[]);
const RENEW: Endpoint = Endpoint::plain("PUT /v1/session/renew/<id>", &[]);
const INFO: Endpoint = Endpoint::blocking("GET /v1/session/info/<id>", &[]);
const LIST: Endpoint = Endpoint::blocking("GET /v1/session/list|node/<node>", &[]);

pub async fn create(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    CREATE.params(q.as_deref())?;
    let body = body?;
    let value = parse_body(&body)?;
    let (record, ttl) = parse_create(&value, new_uuid(), &st.node)?;
    let lease = match ttl {
        Some(t) => st.store.lease_grant(t).await?,
        None => 0,
    };
    st.store
        .put(
            &session_key(&record.id),
            shoal_catalog::encode(&record),
            lease,
        )
        .await?;
    tracing::info!(session = %record.id, ttl = %record.ttl, "consul session created");
    Ok(Json(json!({ "ID": record.id })).into_response())
}

pub async fn destroy(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    DESTROY.params(q.as_deref())?;
    if let Some(kv) = st.store.get(&session_key(&id)).await? {
        let behavior = serde_json::from_slice::<SessionRecord>(&kv.value)
            .map(|s| s.behavior)
            .unwrap_or_default();
        match kv.lease {
            0 => {
                st.store.delete(&kv.key).await?;
            }
            lease => match st.store.lease_revoke(lease).await {
                Ok(()) | Err(StoreError::LeaseNotFound(_)) => {
                    st.store.delete(&kv.key).await?;
                }
                Err(e) => return Err(e.into()),
            },
        }
        invalidate(st.store.as_ref(), &id, behavior).await?;
    }
    Ok(Json(true).into_response())
}

async fn read_list(store: &dyn Store, node: Option<&str>) -> Result<(Vec<Value>, Revision)> {
    let r = store.range(SESSION_PREFIX).await?;
    let list = r
        .kvs
        .iter()
        .filter_map(render)
        .filter(|s| node.is_none_or(|n| s["Node"] == n))
        .collect();
    Ok((list, r.revision))
}

pub async fn info(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    let b = INFO.params(q.as_deref())?.blocking()?;
    let store = st.store.as_ref();
    let key = session_key(&id);
    let (list, index) = blocking::run(store, b, &Scope::Key(key.clone()), || async {
        let r = store
            .txn(Txn::new().and_then([Op::get(key.clone())]))
            .await?;
        let list: Vec<Value> = match r.responses.into_iter().next() {
            Some(OpResponse::Get(Some(kv))) => render(&kv).into_iter().collect(),
            _ => Vec::new(),
        };
        Ok((list, r.revision))
    })
    .await?;
    Ok((blocking::headers(index), Json(list)).into_response())
}

pub async fn list(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    list_for(st, None, q).await
}

pub async fn node(
    State(st): State<Arc<ConsulState>>,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    list_for(st, Some(node), q).await
}

async fn list_for(
    st: Arc<ConsulState>,
    node: Option<String>,
    q: Option<String>,
) -> Result<Response> {
    let b = LIST.params(q.as_deref())?.blocking()?;
    let store = st.store.as_ref();
    let scope = Scope::prefix(SESSION_PREFIX);
    let (list, index) =
        blocking::run(store, b, &scope, || read_list(store, node.as_deref())).await?;
    Ok((blocking::headers(index), Json(list)).into_response())
}

pub async fn renew(
    State(st): State<Arc<ConsulState>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    RENEW.params(q.as_deref())?;
    let missing = || ConsulError::not_found(format!("Session id '{id}' not found"));
    let kv = st.store.get(&session_key(&id)).await?.ok_or_else(missing)?;
    if kv.lease != 0 {
        match st.store.lease_keepalive(kv.lease).await {
            Ok(_) => {}
            Err(StoreError::LeaseNotFound(_)) => return Err(missing()),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Json(render(&kv).into_iter().collect::<Vec<_>>()).into_response())
}
