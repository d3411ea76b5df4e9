//! `/v1/kv/<key>`: GET (single, `recurse`, `keys` + `separator`, `raw`, blocking), PUT
//! (`flags`, `cas`, `acquire`, `release`) and DELETE (`recurse`, `cas`).
//!
//! `kv/<key>` holds exactly the raw value; flags, lock index and session live at
//! `shoal/kvmeta/<key>` and are written in the same transaction. Every KV write touches the
//! value key, so its mod revision is the entry's ModifyIndex and a watch on `kv/` sees all.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use shoal_catalog::{kv_key, KV_PREFIX};
use shoal_store::{CmpOp, Compare, KeyValue, Op, OpResponse, Revision, Store, Txn};

use crate::blocking::{self, Scope};
use crate::error::{ConsulError, Result};
use crate::kv_model::{
    list_keys, plan_delete_cas, plan_put, Existing, KvEntry, KvMeta, Plan, WriteKind,
};
use crate::params::Params;
use crate::query::Endpoint;
use crate::state::{kvmeta_key, session_key, ConsulState, KVMETA_PREFIX};

/// How often a write is retried when a concurrent writer changed the key in between.
const MAX_ATTEMPTS: usize = 32;
/// Longest key accepted.
const MAX_KEY: usize = 4096;

fn check_key(key: &str) -> Result<()> {
    if key.len() > MAX_KEY {
        return Err(ConsulError::bad(format!(
            "Key too long: at most {MAX_KEY} bytes"
        )));
    }
    Ok(())
}

fn meta_of(kv: Option<&KeyValue>) -> KvMeta {
    kv.and_then(|kv| serde_json::from_slice(&kv.value).ok())
        .unwrap_or_default()
}

/// Reads the entries of one key or a prefix, with their metadata, at one revision.
pub async fn read(store: &dyn Store, key: &str, recurse: bool) -> Result<(Vec<KvEntry>, Revision)> {
    let ops = if recurse {
        vec![Op::range(kv_key(key)), Op::range(kvmeta_key(key))]
    } else {
        vec![Op::get(kv_key(key)), Op::get(kvmeta_key(key))]
    };
    let resp = store.txn(Txn::new().and_then(ops)).await?;
    let mut values: Vec<KeyValue> = Vec::new();
    let mut metas: HashMap<String, KeyValue> = HashMap::new();
    for (i, r) in resp.responses.into_iter().enumerate() {
        let kvs = match r {
            OpResponse::Get(kv) => kv.into_iter().collect(),
            OpResponse::Range(kvs) => kvs,
            _ => Vec::new(),
        };
        if i == 0 {
            values = kvs;
        } else {
            metas.extend(kvs.into_iter().filter_map(|kv| {
                let k = kv.key.strip_prefix(KVMETA_PREFIX)?.to_string();
                Some((k, kv))
            }));
        }
    }
    let entries = values
        .into_iter()
        .filter_map(|kv| {
            let k = kv.key.strip_prefix(KV_PREFIX)?.to_string();
            let meta = meta_of(metas.get(&k));
            Some(KvEntry::new(
                k,
                kv.value,
                meta,
                kv.create_revision,
                kv.mod_revision,
            ))
        })
        .collect();
    Ok((entries, resp.revision))
}

pub async fn get_root(st: State<Arc<ConsulState>>, q: RawQuery) -> Result<Response> {
    get(st, Path(String::new()), q).await
}

pub async fn put_root() -> ConsulError {
    ConsulError::bad("Missing key name")
}

const GET: Endpoint =
    Endpoint::blocking("GET /v1/kv/<key>", &["recurse", "keys", "separator", "raw"]);
const PUT: Endpoint = Endpoint::plain("PUT /v1/kv/<key>", &["flags", "cas", "acquire", "release"]);
const DELETE: Endpoint = Endpoint::plain("DELETE /v1/kv/<key>", &["recurse", "cas"]);

pub async fn get(
    State(st): State<Arc<ConsulState>>,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    check_key(&key)?;
    let p = GET.params(q.as_deref())?;
    let b = p.blocking()?;
    let keys = p.flag("keys");
    let recurse = p.flag("recurse") || keys;
    let scope = if recurse {
        Scope::prefix(kv_key(&key))
    } else {
        Scope::Key(kv_key(&key))
    };
    let store = st.store.as_ref();
    let (entries, index) = blocking::run(store, b, &scope, || read(store, &key, recurse)).await?;
    let headers = blocking::headers(index);
    if entries.is_empty() {
        return Ok((StatusCode::NOT_FOUND, headers).into_response());
    }
    if keys {
        let sep = p.get("separator");
        let listed = list_keys(entries.iter().map(|e| e.key.as_str()), &key, sep);
        return Ok((headers, Json(listed)).into_response());
    }
    if p.flag("raw") {
        let raw = entries
            .into_iter()
            .next()
            .map(|e| e.raw)
            .unwrap_or_default();
        return Ok((
            headers,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            raw,
        )
            .into_response());
    }
    Ok((headers, Json(entries)).into_response())
}

fn write_kind(p: &Params) -> Result<WriteKind> {
    if let Some(s) = p.get("release") {
        return Ok(WriteKind::Release(s.to_string()));
    }
    if let Some(s) = p.get("acquire") {
        return Ok(WriteKind::Acquire(s.to_string()));
    }
    Ok(match p.u64("cas")? {
        Some(i) => WriteKind::Cas(i),
        None => WriteKind::Set,
    })
}

fn existing_of(value: Option<KeyValue>, meta: Option<KeyValue>) -> Option<Existing> {
    value.map(|v| Existing {
        modify_index: v.mod_revision,
        meta: meta_of(meta.as_ref()),
    })
}

fn take_get(r: Option<OpResponse>) -> Option<KeyValue> {
    match r {
        Some(OpResponse::Get(kv)) => kv,
        _ => None,
    }
}

/// One PUT with Consul's semantics; `Ok(false)` when a `cas`/lock condition refused it.
pub async fn write(
    store: &dyn Store,
    key: &str,
    value: Vec<u8>,
    kind: &WriteKind,
    flags: u64,
) -> Result<bool> {
    let session = match kind {
        WriteKind::Acquire(s) | WriteKind::Release(s) => Some(session_key(s)),
        _ => None,
    };
    // A plain set of a key without metadata (no flags, no lock: most writes) is one
    // transaction, not a read and then a write (on etcd each is a round through raft).
    if matches!(kind, WriteKind::Set) {
        let meta = KvMeta {
            flags,
            ..KvMeta::default()
        };
        let mut ops = vec![Op::put(kv_key(key), value.clone())];
        if !meta.is_default() {
            ops.push(Op::put(kvmeta_key(key), shoal_catalog::encode(&meta)));
        }
        let txn = Txn::new()
            .when([Compare::version(kvmeta_key(key), CmpOp::Equal, 0)])
            .and_then(ops);
        if store.txn(txn).await?.succeeded {
            return Ok(true);
        }
    }
    for _ in 0..MAX_ATTEMPTS {
        let mut ops = vec![Op::get(kv_key(key)), Op::get(kvmeta_key(key))];
        ops.extend(session.clone().map(Op::get));
        let mut r = store
            .txn(Txn::new().and_then(ops))
            .await?
            .responses
            .into_iter();
        let (value_kv, meta_kv, session_kv) =
            (take_get(r.next()), take_get(r.next()), take_get(r.next()));
        let existing = existing_of(value_kv, meta_kv);
        let meta = match plan_put(existing.as_ref(), kind, flags, session_kv.is_some()) {
            Plan::Refuse => return Ok(false),
            Plan::InvalidSession => {
                return Err(ConsulError::bad(format!(
                "invalid session {:?}: it does not exist (create one with PUT /v1/session/create)",
                session
                    .as_deref()
                    .unwrap_or_default()
                    .trim_start_matches(crate::state::SESSION_PREFIX)
            )))
            }
            Plan::Write(meta) => meta,
        };
        let mut compare = vec![Compare::mod_revision(
            kv_key(key),
            CmpOp::Equal,
            existing.as_ref().map_or(0, |e| e.modify_index),
        )];
        if let (WriteKind::Acquire(_), Some(sk)) = (kind, &session) {
            compare.push(Compare::version(sk.clone(), CmpOp::Greater, 0));
        }
        let meta_op = if meta.is_default() {
            Op::delete(kvmeta_key(key))
        } else {
            Op::put(kvmeta_key(key), shoal_catalog::encode(&meta))
        };
        let txn = Txn::new()
            .when(compare)
            .and_then([Op::put(kv_key(key), value.clone()), meta_op]);
        if store.txn(txn).await?.succeeded {
            return Ok(true);
        }
    }
    Err(ConsulError::Conflict(format!(
        "key {key:?} kept changing; retry the write"
    )))
}

pub async fn put(
    State(st): State<Arc<ConsulState>>,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    check_key(&key)?;
    if key.is_empty() {
        return Err(ConsulError::bad("Missing key name"));
    }
    let p = PUT.params(q.as_deref())?;
    let kind = write_kind(&p)?;
    let flags = p.u64("flags")?.unwrap_or(0);
    let body = body?;
    let ok = write(st.store.as_ref(), &key, body.to_vec(), &kind, flags).await?;
    Ok(Json(ok).into_response())
}

pub async fn delete_root(st: State<Arc<ConsulState>>, q: RawQuery) -> Result<Response> {
    delete(st, Path(String::new()), q).await
}

pub async fn delete(
    State(st): State<Arc<ConsulState>>,
    Path(key): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    check_key(&key)?;
    let p = DELETE.params(q.as_deref())?;
    let store = st.store.as_ref();
    if let Some(cas) = p.u64("cas")? {
        for _ in 0..MAX_ATTEMPTS {
            let ops = vec![Op::get(kv_key(&key)), Op::get(kvmeta_key(&key))];
            let mut r = store
                .txn(Txn::new().and_then(ops))
                .await?
                .responses
                .into_iter();
            let existing = existing_of(take_get(r.next()), take_get(r.next()));
            let (answer, delete) = plan_delete_cas(existing.as_ref(), cas);
            if !delete {
                return Ok(Json(answer).into_response());
            }
            let rev = existing.as_ref().map_or(0, |e| e.modify_index);
            let txn = Txn::new()
                .when([Compare::mod_revision(kv_key(&key), CmpOp::Equal, rev)])
                .and_then([Op::delete(kv_key(&key)), Op::delete(kvmeta_key(&key))]);
            if store.txn(txn).await?.succeeded {
                return Ok(Json(true).into_response());
            }
        }
        return Err(ConsulError::Conflict(format!(
            "key {key:?} kept changing; retry the delete"
        )));
    }
    if key.is_empty() && !p.flag("recurse") {
        return Err(ConsulError::bad("Missing key name"));
    }
    let ops = if p.flag("recurse") {
        vec![
            Op::delete_prefix(kv_key(&key)),
            Op::delete_prefix(kvmeta_key(&key)),
        ]
    } else {
        vec![Op::delete(kv_key(&key)), Op::delete(kvmeta_key(&key))]
    };
    store.txn(Txn::new().and_then(ops)).await?;
    Ok(Json(true).into_response())
}

#[cfg(test)]
#[path = "kv_tests.rs"]
mod tests;
