//! `GET /v1/snapshot` (save) and `PUT /v1/snapshot` (restore): the platform's state as
//! one archive ([`crate::snapshot_model`]), as `consul snapshot save/restore` and
//! `shoal snapshot save/restore` use them.
//!
//! Save reads every saved prefix in one store transaction (one revision). Restore
//! checks the whole archive before it changes anything, then deletes the saved keys the
//! archive does not hold and writes the ones it does, in store transactions of at most
//! [`BATCH`] operations: it is not atomic as a whole (a failure midway leaves a mix,
//! and running the restore again finishes it). A session that had a TTL gets a new
//! lease of its TTL, counted from the restore.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::json;
use shoal_store::{Op, OpResponse, Txn};

use crate::blocking;
use crate::duration::parse_go_duration;
use crate::error::{ConsulError, Result};
use crate::query::Endpoint;
use crate::session::SessionRecord;
use crate::snapshot_model::{decode, encode, Entry, SAVED_PREFIXES};
use crate::state::{now_ms, ConsulState, SESSION_PREFIX};

const SAVE: Endpoint = Endpoint::plain("GET /v1/snapshot", &["stale"]);
const RESTORE: Endpoint = Endpoint::plain("PUT /v1/snapshot", &[]);

/// Largest snapshot a restore accepts (256 MiB, compressed).
pub const MAX_SNAPSHOT: usize = 256 << 20;

/// Operations per store transaction of a restore (etcd takes at most 128).
pub const BATCH: usize = 64;

/// Every saved key, read at one revision.
pub async fn take(st: &ConsulState) -> Result<(Vec<Entry>, i64)> {
    let resp = st
        .store
        .txn(Txn::new().and_then(SAVED_PREFIXES.iter().map(|p| Op::range(*p))))
        .await?;
    let entries = resp
        .responses
        .into_iter()
        .flat_map(|r| match r {
            OpResponse::Range(kvs) => kvs,
            _ => Vec::new(),
        })
        .map(|kv| Entry {
            leased: kv.lease != 0,
            key: kv.key,
            value: kv.value,
        })
        .collect();
    Ok((entries, resp.revision))
}

pub async fn save(State(st): State<Arc<ConsulState>>, RawQuery(q): RawQuery) -> Result<Response> {
    SAVE.params(q.as_deref())?;
    let (entries, revision) = take(&st).await?;
    let count = entries.len();
    let archive = encode(entries, revision, now_ms());
    tracing::info!(
        keys = count,
        bytes = archive.len(),
        revision,
        "snapshot saved"
    );
    Ok((
        blocking::headers(revision),
        [(header::CONTENT_TYPE, "application/x-gzip")],
        archive,
    )
        .into_response())
}

pub async fn restore(
    State(st): State<Arc<ConsulState>>,
    RawQuery(q): RawQuery,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    RESTORE.params(q.as_deref())?;
    let (header, entries) =
        decode(&body?).map_err(|e| ConsulError::bad(format!("Snapshot refused: {e}")))?;
    let (removed, written) = apply(&st, entries).await?;
    tracing::info!(
        revision = header.revision,
        written,
        removed,
        "snapshot restored"
    );
    Ok(
        Json(json!({ "Restored": written, "Removed": removed, "SnapshotIndex": header.revision }))
            .into_response(),
    )
}

/// Makes the saved keys exactly `entries`: (keys removed, keys written).
pub async fn apply(st: &ConsulState, entries: Vec<Entry>) -> Result<(usize, usize)> {
    let keep: BTreeSet<&str> = entries.iter().map(|e| e.key.as_str()).collect();
    let (now, _) = take(st).await?;
    let gone: Vec<Op> = now
        .iter()
        .filter(|e| !keep.contains(e.key.as_str()))
        .map(|e| Op::delete(e.key.clone()))
        .collect();
    let removed = gone.len();
    let mut puts = Vec::with_capacity(entries.len());
    for e in &entries {
        let lease = if e.leased && e.key.starts_with(SESSION_PREFIX) {
            session_lease(st, &e.value).await?
        } else {
            0
        };
        puts.push(Op::put_with_lease(e.key.clone(), e.value.clone(), lease));
    }
    let written = puts.len();
    let ops: Vec<Op> = gone.into_iter().chain(puts).collect();
    for batch in ops.chunks(BATCH) {
        st.store.txn(Txn::new().and_then(batch.to_vec())).await?;
    }
    Ok((removed, written))
}

/// A new lease of the session's TTL (0: it has none, or it cannot be read).
async fn session_lease(st: &ConsulState, record: &[u8]) -> Result<i64> {
    let ttl = serde_json::from_slice::<SessionRecord>(record)
        .ok()
        .and_then(|s| parse_go_duration(&s.ttl).ok())
        .filter(|d| !d.is_zero());
    match ttl {
        Some(ttl) => Ok(st
            .store
            .lease_grant(ttl.max(Duration::from_secs(1)))
            .await?),
        None => Ok(0),
    }
}
