//! The end of a session: its locks are released (session cleared, LockIndex kept,
//! ModifyIndex bumped) or their keys deleted, per its `Behavior`; the reaper does this for
//! sessions that end by TTL expiry or were left behind by a crash.

use std::sync::Arc;

use shoal_catalog::kv_key;
use shoal_store::{CmpOp, Compare, Op, OpResponse, Store, Txn};

use crate::error::{ConsulError, Result};
use crate::kv_model::KvMeta;
use crate::session::{Behavior, SessionRecord};
use crate::state::{kvmeta_key, session_key, KVMETA_PREFIX, SESSION_PREFIX};

/// Applies an ended session's behavior to every lock it holds: release (session cleared,
/// ModifyIndex bumped, LockIndex kept) or delete the key. Returns how many keys changed.
pub async fn invalidate(store: &dyn Store, id: &str, behavior: Behavior) -> Result<usize> {
    let metas = store.range(KVMETA_PREFIX).await?;
    let mut changed = 0;
    for kv in metas.kvs {
        let meta: KvMeta = serde_json::from_slice(&kv.value).unwrap_or_default();
        if meta.session != id {
            continue;
        }
        let Some(key) = kv.key.strip_prefix(KVMETA_PREFIX) else {
            continue;
        };
        if release_one(store, key, id, behavior).await? {
            changed += 1;
        }
    }
    if changed > 0 {
        tracing::info!(session = %id, keys = changed, ?behavior, "consul session ended: locks released");
    }
    Ok(changed)
}

async fn release_one(store: &dyn Store, key: &str, id: &str, behavior: Behavior) -> Result<bool> {
    for _ in 0..32 {
        let r = store
            .txn(Txn::new().and_then([Op::get(kv_key(key)), Op::get(kvmeta_key(key))]))
            .await?;
        let mut it = r.responses.into_iter();
        let (Some(OpResponse::Get(value)), Some(OpResponse::Get(Some(meta_kv)))) =
            (it.next(), it.next())
        else {
            return Ok(false);
        };
        let mut meta: KvMeta = serde_json::from_slice(&meta_kv.value).unwrap_or_default();
        if meta.session != id {
            return Ok(false);
        }
        let value_rev = value.as_ref().map_or(0, |v| v.mod_revision);
        let compare = [
            Compare::mod_revision(kv_key(key), CmpOp::Equal, value_rev),
            Compare::mod_revision(kvmeta_key(key), CmpOp::Equal, meta_kv.mod_revision),
        ];
        let ops = match (behavior, value) {
            (Behavior::Delete, _) | (_, None) => {
                vec![Op::delete(kv_key(key)), Op::delete(kvmeta_key(key))]
            }
            (Behavior::Release, Some(v)) => {
                meta.session.clear();
                let meta_op = if meta.is_default() {
                    Op::delete(kvmeta_key(key))
                } else {
                    Op::put(kvmeta_key(key), shoal_catalog::encode(&meta))
                };
                vec![Op::put(kv_key(key), v.value), meta_op]
            }
        };
        if store
            .txn(Txn::new().when(compare).and_then(ops))
            .await?
            .succeeded
        {
            return Ok(true);
        }
    }
    Err(ConsulError::Conflict(format!(
        "key {key:?} kept changing while releasing its lock"
    )))
}

/// Releases the locks of sessions that end without `destroy` (TTL expiry, or a crash before
/// the release): first those left by sessions that no longer exist, then every deletion seen
/// by a watch on the sessions. Runs until the store closes or `shutdown` fires.
pub async fn reap(
    store: Arc<dyn Store>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let start = store.revision().await?;
    let sessions = store.range(SESSION_PREFIX).await?;
    let metas = store.range(KVMETA_PREFIX).await?;
    let mut orphans: Vec<String> = metas
        .kvs
        .iter()
        .filter_map(|kv| serde_json::from_slice::<KvMeta>(&kv.value).ok())
        .map(|m| m.session)
        .filter(|s| !s.is_empty() && !sessions.kvs.iter().any(|kv| kv.key == session_key(s)))
        .collect();
    orphans.sort();
    orphans.dedup();
    for id in orphans {
        invalidate(store.as_ref(), &id, Behavior::Release).await?;
    }
    let mut watch = store.watch(SESSION_PREFIX, start + 1).await?;
    loop {
        let batch = tokio::select! {
            b = watch.next() => b,
            _ = shutdown.changed() => return Ok(()),
        };
        let Some(batch) = batch else { return Ok(()) };
        for ev in batch?.events {
            if ev.kind != shoal_store::EventKind::Delete {
                continue;
            }
            let Some(id) = ev.kv.key.strip_prefix(SESSION_PREFIX) else {
                continue;
            };
            let behavior = ev
                .prev
                .and_then(|p| serde_json::from_slice::<SessionRecord>(&p.value).ok())
                .map(|s| s.behavior)
                .unwrap_or_default();
            if let Err(e) = invalidate(store.as_ref(), id, behavior).await {
                tracing::warn!(session = %id, error = %e, "releasing the locks of an ended session failed");
            }
        }
    }
}
