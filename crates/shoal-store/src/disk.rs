//! The redb schema (tables and meta keys), loading the state on open, and reading history.

use std::collections::BTreeMap;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::codec;
use crate::error::StoreError;
use crate::types::{KeyValue, LeaseId, Revision, WatchBatch};

/// key -> encoded [`KeyValue`] (without the key).
pub(crate) const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// revision -> encoded events of that revision.
pub(crate) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// lease id -> TTL in milliseconds.
pub(crate) const LEASES: TableDefinition<i64, u64> = TableDefinition::new("leases");
/// named counters, see `META_*`.
pub(crate) const META: TableDefinition<&str, i64> = TableDefinition::new("meta");

pub(crate) const META_REVISION: &str = "revision";
pub(crate) const META_COMPACTED: &str = "compacted";
pub(crate) const META_NEXT_LEASE: &str = "next_lease";

/// Table key of a revision (revisions are always positive).
pub(crate) fn rev_key(rev: Revision) -> u64 {
    u64::try_from(rev).unwrap_or(0)
}

/// Everything the store keeps in memory, as found on disk.
pub(crate) struct Loaded {
    pub kvs: BTreeMap<String, KeyValue>,
    pub revision: Revision,
    pub compacted: Revision,
    pub next_lease: LeaseId,
    /// (id, TTL in ms)
    pub leases: Vec<(LeaseId, u64)>,
}

/// Creates missing tables, then reads the whole state.
pub(crate) fn load(db: &Database) -> Result<Loaded, StoreError> {
    let w = db.begin_write().map_err(StoreError::io)?;
    {
        w.open_table(KV).map_err(StoreError::io)?;
        w.open_table(LOG).map_err(StoreError::io)?;
        w.open_table(LEASES).map_err(StoreError::io)?;
        w.open_table(META).map_err(StoreError::io)?;
    }
    w.commit().map_err(StoreError::io)?;

    let r = db.begin_read().map_err(StoreError::io)?;
    let meta = r.open_table(META).map_err(StoreError::io)?;
    let get_meta = |name: &str, default: i64| -> Result<i64, StoreError> {
        Ok(meta
            .get(name)
            .map_err(StoreError::io)?
            .map_or(default, |v| v.value()))
    };
    let revision = get_meta(META_REVISION, 1)?;
    let compacted = get_meta(META_COMPACTED, 0)?;
    let next_lease = get_meta(META_NEXT_LEASE, 1)?;

    let mut kvs = BTreeMap::new();
    for entry in r
        .open_table(KV)
        .map_err(StoreError::io)?
        .iter()
        .map_err(StoreError::io)?
    {
        let (k, v) = entry.map_err(StoreError::io)?;
        let kv = codec::decode_kv(k.value(), v.value())?;
        kvs.insert(kv.key.clone(), kv);
    }
    let mut leases = Vec::new();
    for entry in r
        .open_table(LEASES)
        .map_err(StoreError::io)?
        .iter()
        .map_err(StoreError::io)?
    {
        let (id, ttl) = entry.map_err(StoreError::io)?;
        leases.push((id.value(), ttl.value()));
    }
    Ok(Loaded {
        kvs,
        revision,
        compacted,
        next_lease,
        leases,
    })
}

/// Reads up to `limit` logged revisions starting at `from` (inclusive), oldest first, and the
/// store revision of the same snapshot. Fails with [`StoreError::Compacted`] if `from` is
/// older than the compacted revision.
pub(crate) fn read_history(
    db: &Database,
    from: Revision,
    limit: usize,
) -> Result<(Vec<WatchBatch>, Revision), StoreError> {
    let r = db.begin_read().map_err(StoreError::io)?;
    let meta = r.open_table(META).map_err(StoreError::io)?;
    let get_meta = |name: &str, default: i64| -> Result<i64, StoreError> {
        Ok(meta
            .get(name)
            .map_err(StoreError::io)?
            .map_or(default, |v| v.value()))
    };
    let compacted = get_meta(META_COMPACTED, 0)?;
    let head = get_meta(META_REVISION, 1)?;
    if from < compacted {
        return Err(StoreError::Compacted {
            requested: from,
            compacted,
        });
    }
    let log = r.open_table(LOG).map_err(StoreError::io)?;
    let mut out = Vec::new();
    for entry in log
        .range(rev_key(from)..)
        .map_err(StoreError::io)?
        .take(limit)
    {
        let (rev, bytes) = entry.map_err(StoreError::io)?;
        let revision = i64::try_from(rev.value()).map_err(StoreError::io)?;
        out.push(WatchBatch {
            revision,
            events: codec::decode_events(bytes.value())?,
        });
    }
    Ok((out, head))
}
