//! The pure rules of `PUT /v1/txn`: KV operations applied in order to an in-memory view of
//! the keys they touch, all-or-nothing, with Consul's results and error messages.

use std::collections::{BTreeMap, BTreeSet};

use crate::kv_model::{plan_delete_cas, plan_put, Existing, KvEntry, KvMeta, Plan, WriteKind};

/// Most operations in one transaction (Consul's limit).
pub const MAX_OPS: usize = 64;

/// A KV verb of a transaction operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Set,
    Cas,
    Lock,
    Unlock,
    Get,
    GetTree,
    CheckIndex,
    CheckSession,
    CheckNotExists,
    Delete,
    DeleteTree,
    DeleteCas,
}

impl Verb {
    /// The verb named `s` as Consul spells it.
    pub fn parse(s: &str) -> Option<Verb> {
        Some(match s {
            "set" => Verb::Set,
            "cas" => Verb::Cas,
            "lock" => Verb::Lock,
            "unlock" => Verb::Unlock,
            "get" => Verb::Get,
            "get-tree" => Verb::GetTree,
            "check-index" => Verb::CheckIndex,
            "check-session" => Verb::CheckSession,
            "check-not-exists" => Verb::CheckNotExists,
            "delete" => Verb::Delete,
            "delete-tree" => Verb::DeleteTree,
            "delete-cas" => Verb::DeleteCas,
            _ => return None,
        })
    }

    /// Whether the key is a prefix (the whole tree under it).
    pub fn is_tree(self) -> bool {
        matches!(self, Verb::GetTree | Verb::DeleteTree)
    }

    /// Whether the op names a session that must exist.
    pub fn needs_session(self) -> bool {
        matches!(self, Verb::Lock | Verb::CheckSession)
    }
}

/// One KV operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvOp {
    pub verb: Verb,
    pub key: String,
    pub value: Vec<u8>,
    pub flags: u64,
    pub index: u64,
    pub session: String,
}

/// A key as the transaction sees it; index 0 = written by this transaction (the commit's
/// revision, filled in afterwards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub value: Vec<u8>,
    pub meta: KvMeta,
    pub create: i64,
    pub modify: i64,
}

/// The keys a transaction touches, as read (complete for its point keys and prefixes),
/// and the sessions it names that exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub keys: BTreeMap<String, Option<Slot>>,
    pub sessions: BTreeSet<String>,
}

/// One failed operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError {
    pub op_index: usize,
    pub what: String,
}

/// The outcome of planning: either results and the keys to write (`None` = delete), or
/// the errors (and nothing is written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Commit {
        results: Vec<KvEntry>,
        writes: BTreeMap<String, Option<Slot>>,
    },
    Abort(Vec<OpError>),
}

fn entry(key: &str, slot: &Slot, with_value: bool) -> KvEntry {
    let raw = if with_value {
        slot.value.clone()
    } else {
        Vec::new()
    };
    KvEntry::new(
        key.to_string(),
        raw,
        slot.meta.clone(),
        slot.create,
        slot.modify,
    )
}

/// Applies `ops` in order to `view`; any failing op aborts the whole transaction (every
/// failure is reported, as Consul does).
pub fn plan(ops: &[KvOp], mut view: View) -> Outcome {
    let mut results = Vec::new();
    let mut errors = Vec::new();
    let mut writes: BTreeMap<String, Option<Slot>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        match apply(op, &mut view, &mut writes) {
            Ok(mut r) => results.append(&mut r),
            Err(what) => errors.push(OpError { op_index: i, what }),
        }
    }
    if errors.is_empty() {
        Outcome::Commit { results, writes }
    } else {
        Outcome::Abort(errors)
    }
}

fn apply(
    op: &KvOp,
    view: &mut View,
    writes: &mut BTreeMap<String, Option<Slot>>,
) -> Result<Vec<KvEntry>, String> {
    let key = op.key.as_str();
    let cur = view.keys.get(key).cloned().flatten();
    let missing = || format!("key {key:?} doesn't exist");
    match op.verb {
        Verb::Set | Verb::Cas | Verb::Lock | Verb::Unlock => {
            let kind = match op.verb {
                Verb::Set => WriteKind::Set,
                Verb::Cas => WriteKind::Cas(op.index),
                Verb::Lock => WriteKind::Acquire(op.session.clone()),
                _ => WriteKind::Release(op.session.clone()),
            };
            if op.verb == Verb::Lock && op.session.is_empty() {
                return Err("missing session".into());
            }
            let existing = cur.as_ref().map(|s| Existing {
                modify_index: s.modify,
                meta: s.meta.clone(),
            });
            let exists = view.sessions.contains(&op.session);
            let meta = match plan_put(existing.as_ref(), &kind, op.flags, exists) {
                Plan::Write(meta) => meta,
                Plan::InvalidSession => return Err(format!("invalid session {:?}", op.session)),
                Plan::Refuse => {
                    return Err(match op.verb {
                        Verb::Cas => format!("failed to set key {key:?}, index is stale"),
                        Verb::Lock => format!("failed to lock key {key:?}, lock is already held"),
                        _ => format!(
                            "failed to unlock key {key:?}, lock isn't held, or is held by another session"
                        ),
                    })
                }
            };
            let slot = Slot {
                value: op.value.clone(),
                meta,
                create: cur.map_or(0, |s| s.create),
                modify: 0,
            };
            view.keys.insert(key.to_string(), Some(slot.clone()));
            writes.insert(key.to_string(), Some(slot.clone()));
            Ok(vec![entry(key, &slot, false)])
        }
        Verb::Get => cur.map(|s| vec![entry(key, &s, true)]).ok_or_else(missing),
        Verb::GetTree => Ok(view
            .keys
            .range(key.to_string()..)
            .take_while(|(k, _)| k.starts_with(key))
            .filter_map(|(k, s)| s.as_ref().map(|s| entry(k, s, true)))
            .collect()),
        Verb::CheckIndex => match cur {
            None => Err(missing()),
            Some(s) if s.modify == op.index as i64 => Ok(vec![entry(key, &s, false)]),
            Some(s) => Err(format!("current modify index {} != {}", s.modify, op.index)),
        },
        Verb::CheckSession => match cur {
            None => Err(missing()),
            Some(s) if s.meta.session != op.session => Err(format!(
                "current session {:?} != {:?}",
                s.meta.session, op.session
            )),
            Some(_) if !view.sessions.contains(&op.session) => {
                Err(format!("invalid session {:?}", op.session))
            }
            Some(s) => Ok(vec![entry(key, &s, false)]),
        },
        Verb::CheckNotExists => match cur {
            Some(_) => Err(format!("key {key:?} exists")),
            None => Ok(Vec::new()),
        },
        Verb::Delete => {
            delete(view, writes, key);
            Ok(Vec::new())
        }
        Verb::DeleteCas => {
            let existing = cur.as_ref().map(|s| Existing {
                modify_index: s.modify,
                meta: s.meta.clone(),
            });
            match plan_delete_cas(existing.as_ref(), op.index) {
                (true, true) => delete(view, writes, key),
                (true, false) => {}
                _ => return Err(format!("failed to delete key {key:?}, index is stale")),
            }
            Ok(Vec::new())
        }
        Verb::DeleteTree => {
            let doomed: Vec<String> = view
                .keys
                .range(key.to_string()..)
                .take_while(|(k, _)| k.starts_with(key))
                .filter(|(_, s)| s.is_some())
                .map(|(k, _)| k.clone())
                .collect();
            for k in doomed {
                delete(view, writes, &k);
            }
            Ok(Vec::new())
        }
    }
}

fn delete(view: &mut View, writes: &mut BTreeMap<String, Option<Slot>>, key: &str) {
    if matches!(view.keys.get(key), Some(Some(_))) {
        view.keys.insert(key.to_string(), None);
        writes.insert(key.to_string(), None);
    }
}

/// Fills the indexes of keys written by the transaction (0) with the commit's revision.
pub fn stamp(results: &mut [KvEntry], revision: i64) {
    for e in results {
        if e.modify_index == 0 {
            e.modify_index = revision;
        }
        if e.create_index == 0 {
            e.create_index = revision;
        }
    }
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod tests;
