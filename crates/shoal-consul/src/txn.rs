//! `PUT /v1/txn` (KV operations only): reads every key, prefix and session the operations
//! touch in one store transaction, plans with `txn_model`, then commits all writes in one
//! store transaction guarded by the mod revisions read, retrying when a writer got between.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use shoal_catalog::{kv_key, KV_PREFIX};
use shoal_store::{CmpOp, Compare, KeyValue, Op, OpResponse, Store, Txn};

use crate::body::{parse_body, Fields};
use crate::error::{ConsulError, Result};
use crate::kv_model::{KvEntry, KvMeta};
use crate::query::Endpoint;
use crate::state::{kvmeta_key, session_key, ConsulState, KVMETA_PREFIX};
use crate::txn_model::{plan, stamp, KvOp, OpError, Outcome, Slot, Verb, View, MAX_OPS};

/// How often the transaction is retried when a concurrent writer changed a key it read.
const MAX_ATTEMPTS: usize = 32;
/// Longest key accepted (as `/v1/kv`).
const MAX_KEY: usize = 4096;

/// Parses the body: a JSON array of at most [`MAX_OPS`] `{"KV": {...}}` operations.
pub fn parse_ops(body: &[u8]) -> Result<Vec<KvOp>> {
    let Value::Array(items) = parse_body(body)? else {
        return Err(ConsulError::bad(
            "Request decode failed: the body must be a JSON array of operations",
        ));
    };
    if items.len() > MAX_OPS {
        return Err(ConsulError::bad(format!(
            "Transaction contains too many operations ({} > {MAX_OPS})",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_op(i, item))
        .collect()
}

fn parse_op(i: usize, item: &Value) -> Result<KvOp> {
    let Some(obj) = item.as_object() else {
        return Err(ConsulError::bad(format!(
            "operation {i}: must be a JSON object like {{\"KV\": {{...}}}}"
        )));
    };
    let Some(kv) = obj.get("kv") else {
        return Err(ConsulError::bad(format!(
            "operation {i}: only KV operations are supported (Node, Service and Check are not)"
        )));
    };
    let what = format!("operation {i} KV");
    let f = Fields::new(kv, &what)?;
    let verb_name = f.string("verb")?.unwrap_or_default();
    let verb = Verb::parse(&verb_name).ok_or_else(|| {
        ConsulError::bad(format!(
            "operation {i}: unknown KV verb {verb_name:?}: use set, cas, lock, unlock, get, \
             get-tree, check-index, check-session, check-not-exists, delete, delete-tree or delete-cas"
        ))
    })?;
    let key = f
        .string("key")?
        .ok_or_else(|| ConsulError::bad(format!("operation {i}: missing Key")))?;
    if key.is_empty() && !verb.is_tree() {
        return Err(ConsulError::bad(format!("operation {i}: missing Key")));
    }
    if key.len() > MAX_KEY {
        return Err(ConsulError::bad(format!(
            "operation {i}: Key too long: at most {MAX_KEY} bytes"
        )));
    }
    let value = match f.string("value")? {
        None => Vec::new(),
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| ConsulError::bad(format!("operation {i}: Value must be base64: {e}")))?,
    };
    Ok(KvOp {
        verb,
        key,
        value,
        flags: f.u64("flags")?.unwrap_or(0),
        index: f.u64("index")?.unwrap_or(0),
        session: f.string("session")?.unwrap_or_default(),
    })
}

fn kvs(r: OpResponse) -> Vec<KeyValue> {
    match r {
        OpResponse::Get(kv) => kv.into_iter().collect(),
        OpResponse::Range(kvs) => kvs,
        _ => Vec::new(),
    }
}

/// Reads everything `ops` touch at one revision; returns the view and the guards that
/// keep it true until the commit.
async fn read_view(store: &dyn Store, ops: &[KvOp]) -> Result<(View, Vec<Compare>)> {
    let points: BTreeSet<&str> = ops
        .iter()
        .filter(|o| !o.verb.is_tree())
        .map(|o| o.key.as_str())
        .collect();
    let prefixes: BTreeSet<&str> = ops
        .iter()
        .filter(|o| o.verb.is_tree())
        .map(|o| o.key.as_str())
        .collect();
    let sessions: BTreeSet<&str> = ops
        .iter()
        .filter(|o| o.verb.needs_session() && !o.session.is_empty())
        .map(|o| o.session.as_str())
        .collect();
    let mut reads = Vec::new();
    for k in &points {
        reads.extend([Op::get(kv_key(k)), Op::get(kvmeta_key(k))]);
    }
    for p in &prefixes {
        reads.extend([Op::range(kv_key(p)), Op::range(kvmeta_key(p))]);
    }
    reads.extend(sessions.iter().map(|s| Op::get(session_key(s))));
    let resp = store.txn(Txn::new().and_then(reads)).await?;
    let mut values = Vec::new();
    let mut metas: HashMap<String, KvMeta> = HashMap::new();
    let mut view = View::default();
    let mut guards = Vec::new();
    for r in resp.responses {
        for kv in kvs(r) {
            if let Some(k) = kv.key.strip_prefix(KVMETA_PREFIX) {
                let meta = serde_json::from_slice(&kv.value).unwrap_or_default();
                metas.insert(k.to_string(), meta);
            } else if let Some(k) = kv.key.strip_prefix(KV_PREFIX) {
                values.push((k.to_string(), kv));
            } else if let Some(s) = sessions.iter().find(|s| session_key(s) == kv.key) {
                view.sessions.insert(s.to_string());
            }
        }
    }
    for s in &sessions {
        guards.push(if view.sessions.contains(*s) {
            Compare::version(session_key(s), CmpOp::Greater, 0)
        } else {
            Compare::missing(session_key(s))
        });
    }
    for k in &points {
        view.keys.insert(k.to_string(), None);
    }
    for (k, kv) in values {
        let meta = metas.remove(&k).unwrap_or_default();
        let slot = Slot {
            value: kv.value,
            meta,
            create: kv.create_revision,
            modify: kv.mod_revision,
        };
        view.keys.insert(k, Some(slot));
    }
    for (k, slot) in &view.keys {
        let rev = slot.as_ref().map_or(0, |s| s.modify);
        guards.push(Compare::mod_revision(kv_key(k), CmpOp::Equal, rev));
    }
    Ok((view, guards))
}

fn write_ops(writes: &BTreeMap<String, Option<Slot>>) -> Vec<Op> {
    let mut ops = Vec::new();
    for (k, slot) in writes {
        match slot {
            Some(s) => {
                ops.push(Op::put(kv_key(k), s.value.clone()));
                ops.push(if s.meta.is_default() {
                    Op::delete(kvmeta_key(k))
                } else {
                    Op::put(kvmeta_key(k), shoal_catalog::encode(&s.meta))
                });
            }
            None => ops.extend([Op::delete(kv_key(k)), Op::delete(kvmeta_key(k))]),
        }
    }
    ops
}

fn aborted(errors: Vec<OpError>) -> Response {
    let errors: Vec<Value> = errors
        .into_iter()
        .map(|e| json!({"OpIndex": e.op_index, "What": e.what}))
        .collect();
    (
        StatusCode::CONFLICT,
        Json(json!({"Results": null, "Errors": errors})),
    )
        .into_response()
}

/// Runs a parsed transaction: its results, or the failed operations (nothing written).
pub async fn run(
    store: &dyn Store,
    ops: &[KvOp],
) -> Result<std::result::Result<Vec<KvEntry>, Vec<OpError>>> {
    for _ in 0..MAX_ATTEMPTS {
        let (view, guards) = read_view(store, ops).await?;
        let (mut results, writes) = match plan(ops, view) {
            Outcome::Abort(errors) => return Ok(Err(errors)),
            Outcome::Commit { results, writes } => (results, writes),
        };
        if !writes.is_empty() {
            let txn = Txn::new().when(guards).and_then(write_ops(&writes));
            let resp = store.txn(txn).await?;
            if !resp.succeeded {
                continue;
            }
            stamp(&mut results, resp.revision);
        }
        return Ok(Ok(results));
    }
    Err(ConsulError::Conflict(
        "the transaction's keys kept changing; retry it".into(),
    ))
}

const PUT: Endpoint = Endpoint::plain("PUT /v1/txn", &[]);

pub async fn put(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    PUT.params(q.as_deref())?;
    let body = body?;
    let ops = parse_ops(&body)?;
    match run(st.store.as_ref(), &ops).await? {
        Err(errors) => Ok(aborted(errors)),
        Ok(results) => {
            let results: Vec<Value> = results.into_iter().map(|e| json!({ "KV": e })).collect();
            Ok(Json(json!({"Results": results, "Errors": null})).into_response())
        }
    }
}

#[cfg(test)]
#[path = "txn_store_tests.rs"]
mod tests;
