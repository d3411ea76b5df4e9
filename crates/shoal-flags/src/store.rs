//! Flags in the store (`shoal/flags/<name>`): one range to list, compare-and-swap to edit,
//! one transaction to seed.

use std::collections::BTreeMap;

use shoal_catalog::{decode, encode, flag_key, FLAG_PREFIX};
use shoal_spec::FlagSpec;
use shoal_store::{CmpOp, Compare, KeyValue, Op, Revision, Store, Txn};

use crate::error::closest;
use crate::seed::{seed, SeedOp};
use crate::{Flag, FlagChange, FlagError};

/// Read-modify-write attempts before [`FlagError::Conflict`].
pub const ATTEMPTS: u32 = 5;

/// Every stored flag, by name, from one range read. A record that does not decode is
/// skipped with a warning (so one bad record cannot hide the others).
pub async fn list<S: Store + ?Sized>(store: &S) -> Result<BTreeMap<String, Flag>, FlagError> {
    Ok(read_all(store).await?.flags)
}

/// The flag `name`, if stored.
pub async fn get<S: Store + ?Sized>(store: &S, name: &str) -> Result<Option<Flag>, FlagError> {
    match store.get(&flag_key(name)).await? {
        Some(kv) => decode_flag(name, &kv).map(Some),
        None => Ok(None),
    }
}

/// Applies `change` to the flag `name` and writes it if it changed: read → apply →
/// validate → compare-and-swap on the key's mod revision, retried [`ATTEMPTS`] times when
/// someone else wrote in between. A missing flag is created (disabled, origin API) when
/// `create`, else [`FlagError::Unknown`] with the closest name. An invalid result is
/// [`FlagError::Invalid`] and writes nothing. Returns the flag as stored.
pub async fn set<S: Store + ?Sized>(
    store: &S,
    name: &str,
    change: &FlagChange,
    create: bool,
    now_ms: u64,
) -> Result<Flag, FlagError> {
    let key = flag_key(name);
    for _ in 0..ATTEMPTS {
        let (current, rev) = match store.get(&key).await? {
            Some(kv) => (decode_flag(name, &kv)?, kv.mod_revision),
            None if create => (Flag::new(name), 0),
            None => return Err(unknown(store, name).await),
        };
        let mut next = change.apply(&current)?;
        if rev != 0 && next == current {
            return Ok(current);
        }
        next.version = current.version.saturating_add(1);
        next.updated_ms = now_ms;
        let txn = Txn::new()
            .when([Compare::mod_revision(&key, CmpOp::Equal, rev)])
            .and_then([Op::put(&key, encode(&next))]);
        if store.txn(txn).await?.succeeded {
            return Ok(next);
        }
    }
    Err(FlagError::Conflict {
        name: name.to_owned(),
        attempts: ATTEMPTS,
    })
}

/// Deletes the flag `name` (a flag from the service file comes back on the next seed).
/// A record that does not decode can be deleted too.
pub async fn delete<S: Store + ?Sized>(store: &S, name: &str) -> Result<(), FlagError> {
    match store.delete(&flag_key(name)).await? {
        Some(_) => Ok(()),
        None => Err(unknown(store, name).await),
    }
}

/// Writes `ops` in one transaction, unconditionally; returns the revision after it.
/// [`sync_file`] is the guarded form a seed should use.
pub async fn apply_seed<S: Store + ?Sized>(
    store: &S,
    ops: &[SeedOp],
) -> Result<Revision, FlagError> {
    let resp = store.txn(Txn::new().and_then(ops.iter().map(op))).await?;
    Ok(resp.revision)
}

/// Makes the stored flags follow the service file's `[flags.*]` ([`seed`]): reads them,
/// plans, and writes the plan in one transaction guarded by the mod revision of every
/// key it writes, re-planning when a flag changed meanwhile. Every flag written is
/// validated first; an invalid one fails the whole seed. Returns what was written.
pub async fn sync_file<S: Store + ?Sized>(
    store: &S,
    file_flags: &BTreeMap<String, FlagSpec>,
    now_ms: u64,
) -> Result<Vec<SeedOp>, FlagError> {
    for _ in 0..ATTEMPTS {
        let read = read_all(store).await?;
        let ops = seed(file_flags, &read.flags, now_ms);
        for o in &ops {
            if let SeedOp::Put(f) = o {
                f.validate()?;
            }
        }
        if ops.is_empty() {
            return Ok(ops);
        }
        let guards = ops.iter().map(|o| {
            let rev = read.revisions.get(o.name()).copied().unwrap_or(0);
            Compare::mod_revision(flag_key(o.name()), CmpOp::Equal, rev)
        });
        let txn = Txn::new().when(guards).and_then(ops.iter().map(op));
        if store.txn(txn).await?.succeeded {
            return Ok(ops);
        }
    }
    Err(FlagError::SeedConflict { attempts: ATTEMPTS })
}

fn op(o: &SeedOp) -> Op {
    match o {
        SeedOp::Put(f) => Op::put(flag_key(&f.name), encode(f)),
        SeedOp::Delete(name) => Op::delete(flag_key(name)),
    }
}

/// The decodable flags, and the mod revision of every flag key (decodable or not).
struct ReadAll {
    flags: BTreeMap<String, Flag>,
    revisions: BTreeMap<String, Revision>,
}

async fn read_all<S: Store + ?Sized>(store: &S) -> Result<ReadAll, FlagError> {
    let range = store.range(FLAG_PREFIX).await?;
    let mut out = ReadAll {
        flags: BTreeMap::new(),
        revisions: BTreeMap::new(),
    };
    for kv in range.kvs {
        let Some(name) = kv.key.strip_prefix(FLAG_PREFIX) else {
            continue;
        };
        out.revisions.insert(name.to_owned(), kv.mod_revision);
        match decode_flag(name, &kv) {
            Ok(flag) => {
                out.flags.insert(name.to_owned(), flag);
            }
            Err(e) => tracing::warn!(key = %kv.key, error = %e, "skipping a flag record"),
        }
    }
    Ok(out)
}

/// Decodes a stored flag; the key's name wins over the record's.
fn decode_flag(name: &str, kv: &KeyValue) -> Result<Flag, FlagError> {
    let mut flag: Flag = decode(&kv.key, &kv.value).map_err(|e| FlagError::Corrupt {
        key: kv.key.clone(),
        message: e.source.to_string(),
    })?;
    name.clone_into(&mut flag.name);
    Ok(flag)
}

/// [`FlagError::Unknown`] with the closest stored name (none if the store cannot be read).
async fn unknown<S: Store + ?Sized>(store: &S, name: &str) -> FlagError {
    let names: Vec<String> = match store.range(FLAG_PREFIX).await {
        Ok(r) => r
            .kvs
            .iter()
            .filter_map(|kv| kv.key.strip_prefix(FLAG_PREFIX).map(str::to_owned))
            .collect(),
        Err(_) => Vec::new(),
    };
    FlagError::Unknown {
        name: name.to_owned(),
        closest: closest(name, names.iter().map(String::as_str)),
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
