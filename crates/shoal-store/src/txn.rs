//! Pure transaction logic: evaluate compares and apply ops to an in-memory view, producing
//! responses and events. No I/O; the writer persists what this computes.

use std::collections::BTreeMap;

use crate::error::StoreError;
use crate::types::{
    CmpOp, CmpTarget, Compare, Event, EventKind, KeyValue, LeaseId, Op, OpResponse, Revision, Txn,
    MAX_KEY_LEN, MAX_TXN_OPS, MAX_VALUE_LEN,
};

/// A copy-on-write view over a sorted key map: reads fall through to `base` unless the key
/// was changed in this view; `changes` maps a key to its new state (`None` = deleted).
pub(crate) struct Overlay<'a> {
    base: &'a BTreeMap<String, KeyValue>,
    changes: BTreeMap<String, Option<KeyValue>>,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a BTreeMap<String, KeyValue>) -> Self {
        Self {
            base,
            changes: BTreeMap::new(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&KeyValue> {
        match self.changes.get(key) {
            Some(changed) => changed.as_ref(),
            None => self.base.get(key),
        }
    }

    /// All live keys starting with `prefix`, sorted.
    pub(crate) fn range(&self, prefix: &str) -> Vec<KeyValue> {
        let mut merged: BTreeMap<&str, &KeyValue> = prefixed(self.base, prefix)
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        for (key, change) in prefixed(&self.changes, prefix) {
            match change {
                Some(kv) => merged.insert(key.as_str(), kv),
                None => merged.remove(key.as_str()),
            };
        }
        merged.into_values().cloned().collect()
    }

    fn set(&mut self, kv: KeyValue) {
        self.changes.insert(kv.key.clone(), Some(kv));
    }

    fn remove(&mut self, key: &str) {
        self.changes.insert(key.to_owned(), None);
    }

    /// The final state of every key this view changed.
    pub(crate) fn into_changes(self) -> BTreeMap<String, Option<KeyValue>> {
        self.changes
    }
}

/// Entries of a sorted map whose key starts with `prefix`.
pub(crate) fn prefixed<'m, V>(
    map: &'m BTreeMap<String, V>,
    prefix: &'m str,
) -> impl Iterator<Item = (&'m String, &'m V)> + 'm {
    map.range::<str, _>((
        std::ops::Bound::Included(prefix),
        std::ops::Bound::Unbounded,
    ))
    .take_while(move |(k, _)| k.starts_with(prefix))
}

/// What applying one txn did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    pub succeeded: bool,
    pub responses: Vec<OpResponse>,
    /// Empty when the txn wrote nothing (then it takes no revision).
    pub events: Vec<Event>,
}

/// Evaluates one compare against the key's current state (etcd semantics).
pub(crate) fn compare(kv: Option<&KeyValue>, cmp: &Compare) -> bool {
    let ord = match (&cmp.target, kv) {
        // etcd: a value comparison on a missing key always fails.
        (CmpTarget::Value(_), None) => return false,
        (CmpTarget::Value(want), Some(kv)) => kv.value.as_slice().cmp(want.as_slice()),
        (CmpTarget::Version(want), kv) => kv.map_or(0, |kv| kv.version).cmp(want),
        (CmpTarget::CreateRevision(want), kv) => kv.map_or(0, |kv| kv.create_revision).cmp(want),
        (CmpTarget::ModRevision(want), kv) => kv.map_or(0, |kv| kv.mod_revision).cmp(want),
    };
    match cmp.op {
        CmpOp::Equal => ord.is_eq(),
        CmpOp::NotEqual => ord.is_ne(),
        CmpOp::Greater => ord.is_gt(),
        CmpOp::Less => ord.is_lt(),
    }
}

pub(crate) fn validate_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::InvalidArgument("key must not be empty".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::InvalidArgument(format!(
            "key is {} bytes, the limit is {MAX_KEY_LEN}",
            key.len()
        )));
    }
    Ok(())
}

fn validate_op(op: &Op) -> Result<(), StoreError> {
    match op {
        Op::Get { key } | Op::Delete { key } => validate_key(key),
        Op::Put { key, value, lease } => {
            validate_key(key)?;
            if value.len() > MAX_VALUE_LEN {
                return Err(StoreError::InvalidArgument(format!(
                    "value of {key:?} is {} bytes, the limit is {MAX_VALUE_LEN}",
                    value.len()
                )));
            }
            if *lease < 0 {
                return Err(StoreError::InvalidArgument(format!(
                    "negative lease id {lease}"
                )));
            }
            Ok(())
        }
        Op::Range { .. } | Op::DeletePrefix { .. } => Ok(()),
    }
}

/// Checks the shape of a txn (keys, sizes) without looking at any state.
pub(crate) fn validate(txn: &Txn) -> Result<(), StoreError> {
    let n = txn.compare.len() + txn.success.len() + txn.failure.len();
    if n > MAX_TXN_OPS {
        return Err(StoreError::InvalidArgument(format!(
            "transaction has {n} compares and ops, the limit is {MAX_TXN_OPS}; split it"
        )));
    }
    for cmp in &txn.compare {
        validate_key(&cmp.key)?;
    }
    txn.success
        .iter()
        .chain(&txn.failure)
        .try_for_each(validate_op)
}

/// Applies `txn` to `view`. `current` is the store revision before the txn; its writes get
/// revision `current + 1`. Fails (changing nothing) if a put names a lease that does not exist.
pub(crate) fn apply(
    view: &mut Overlay<'_>,
    current: Revision,
    txn: &Txn,
    lease_exists: impl Fn(LeaseId) -> bool,
) -> Result<Applied, StoreError> {
    validate(txn)?;
    let succeeded = txn.compare.iter().all(|c| compare(view.get(&c.key), c));
    let ops = if succeeded {
        &txn.success
    } else {
        &txn.failure
    };
    for op in ops {
        if let Op::Put { lease, .. } = op {
            if *lease != 0 && !lease_exists(*lease) {
                return Err(StoreError::LeaseNotFound(*lease));
            }
        }
    }
    let rev = current + 1;
    let mut responses = Vec::with_capacity(ops.len());
    let mut events = Vec::new();
    for op in ops {
        let response = match op {
            Op::Get { key } => OpResponse::Get(view.get(key).cloned()),
            Op::Range { prefix } => OpResponse::Range(view.range(prefix)),
            Op::Put { key, value, lease } => {
                let prev = view.get(key).cloned();
                let kv = KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                    create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
                    mod_revision: rev,
                    version: prev.as_ref().map_or(0, |p| p.version) + 1,
                    lease: *lease,
                };
                view.set(kv.clone());
                events.push(Event {
                    kind: EventKind::Put,
                    kv,
                    prev: prev.clone(),
                });
                OpResponse::Put { prev }
            }
            Op::Delete { key } => {
                let deleted: Vec<KeyValue> = view.get(key).cloned().into_iter().collect();
                delete_all(view, rev, &deleted, &mut events);
                OpResponse::Delete { deleted }
            }
            Op::DeletePrefix { prefix } => {
                let deleted = view.range(prefix);
                delete_all(view, rev, &deleted, &mut events);
                OpResponse::Delete { deleted }
            }
        };
        responses.push(response);
    }
    Ok(Applied {
        succeeded,
        responses,
        events,
    })
}

fn delete_all(view: &mut Overlay<'_>, rev: Revision, kvs: &[KeyValue], events: &mut Vec<Event>) {
    for prev in kvs {
        view.remove(&prev.key);
        events.push(Event {
            kind: EventKind::Delete,
            kv: tombstone(&prev.key, rev),
            prev: Some(prev.clone()),
        });
    }
}

/// The `kv` of a delete event: the key and the deletion revision, nothing else.
pub(crate) fn tombstone(key: &str, rev: Revision) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Vec::new(),
        create_revision: 0,
        mod_revision: rev,
        version: 0,
        lease: 0,
    }
}

#[cfg(test)]
#[path = "txn_tests.rs"]
mod tests;
