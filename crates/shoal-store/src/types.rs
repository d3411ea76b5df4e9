//! The etcd v3 data model: key/values, comparisons, operations, transactions and watch events.

use serde::{Deserialize, Serialize};

/// A store revision. An empty store is at revision 1 (like etcd); 0 means "none".
pub type Revision = i64;
/// A lease id; 0 means "no lease".
pub type LeaseId = i64;

/// Longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 8 * 1024;
/// Largest accepted value, in bytes.
pub const MAX_VALUE_LEN: usize = 4 * 1024 * 1024;
/// Most compares plus ops accepted in one transaction.
pub const MAX_TXN_OPS: usize = 10_000;
/// Most ops a transaction may have to run on every backend: etcd's default `--max-txn-ops`.
/// Callers that split work into several transactions split at this size.
pub const PORTABLE_TXN_OPS: usize = 128;

/// One key with its value and metadata, as of some revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value (empty in a delete event).
    pub value: Vec<u8>,
    /// Revision that created the key (since its last deletion).
    pub create_revision: Revision,
    /// Revision of the last write to the key (for a delete event: the deletion revision).
    pub mod_revision: Revision,
    /// Number of writes since creation; 1 after the first put, 0 for a deleted key.
    pub version: i64,
    /// Attached lease, 0 for none.
    pub lease: LeaseId,
}

/// What a [`Compare`] looks at, with the operand to compare against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpTarget {
    /// The value, compared byte-wise (lexicographically).
    Value(Vec<u8>),
    /// The version (0 for a missing key).
    Version(i64),
    /// The create revision (0 for a missing key).
    CreateRevision(Revision),
    /// The mod revision (0 for a missing key).
    ModRevision(Revision),
}

/// How a [`Compare`] compares: `key's field <op> operand`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `==`
    Equal,
    /// `!=`
    NotEqual,
    /// `>`
    Greater,
    /// `<`
    Less,
}

/// One guard of a [`Txn`], with etcd semantics: a missing key has version, create and mod
/// revision 0, and any `Value` comparison on a missing key is false (also `NotEqual`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// The key to look at.
    pub key: String,
    /// The comparison.
    pub op: CmpOp,
    /// The field and the operand.
    pub target: CmpTarget,
}

impl Compare {
    /// `key`'s value `op` `value`.
    pub fn value(key: impl Into<String>, op: CmpOp, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            op,
            target: CmpTarget::Value(value.into()),
        }
    }
    /// `key`'s version `op` `version` (0 = missing).
    pub fn version(key: impl Into<String>, op: CmpOp, version: i64) -> Self {
        Self {
            key: key.into(),
            op,
            target: CmpTarget::Version(version),
        }
    }
    /// `key`'s create revision `op` `rev` (0 = missing).
    pub fn create_revision(key: impl Into<String>, op: CmpOp, rev: Revision) -> Self {
        Self {
            key: key.into(),
            op,
            target: CmpTarget::CreateRevision(rev),
        }
    }
    /// `key`'s mod revision `op` `rev` (0 = missing).
    pub fn mod_revision(key: impl Into<String>, op: CmpOp, rev: Revision) -> Self {
        Self {
            key: key.into(),
            op,
            target: CmpTarget::ModRevision(rev),
        }
    }
    /// True when `key` does not exist (version == 0).
    pub fn missing(key: impl Into<String>) -> Self {
        Self::version(key, CmpOp::Equal, 0)
    }
}

/// One operation of a [`Txn`] branch. Ops run in order; later ops see earlier writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Read one key.
    Get { key: String },
    /// Read all keys starting with `prefix`, sorted by key.
    Range { prefix: String },
    /// Write a key, optionally attached to a lease (0 = none).
    Put {
        key: String,
        value: Vec<u8>,
        lease: LeaseId,
    },
    /// Delete one key (nothing happens if it is missing).
    Delete { key: String },
    /// Delete all keys starting with `prefix` ("" = everything).
    DeletePrefix { prefix: String },
}

impl Op {
    /// [`Op::Get`].
    pub fn get(key: impl Into<String>) -> Self {
        Op::Get { key: key.into() }
    }
    /// [`Op::Range`].
    pub fn range(prefix: impl Into<String>) -> Self {
        Op::Range {
            prefix: prefix.into(),
        }
    }
    /// [`Op::Put`] without a lease.
    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease: 0,
        }
    }
    /// [`Op::Put`] attached to `lease`.
    pub fn put_with_lease(
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        lease: LeaseId,
    ) -> Self {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease,
        }
    }
    /// [`Op::Delete`].
    pub fn delete(key: impl Into<String>) -> Self {
        Op::Delete { key: key.into() }
    }
    /// [`Op::DeletePrefix`].
    pub fn delete_prefix(prefix: impl Into<String>) -> Self {
        Op::DeletePrefix {
            prefix: prefix.into(),
        }
    }
    /// Whether this op can change the store.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Op::Put { .. } | Op::Delete { .. } | Op::DeletePrefix { .. }
        )
    }
}

/// The result of one [`Op`], in the same position as the op.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResponse {
    /// Result of [`Op::Get`].
    Get(Option<KeyValue>),
    /// Result of [`Op::Range`].
    Range(Vec<KeyValue>),
    /// Result of [`Op::Put`]: the key before the write.
    Put { prev: Option<KeyValue> },
    /// Result of [`Op::Delete`] / [`Op::DeletePrefix`]: the deleted keys.
    Delete { deleted: Vec<KeyValue> },
}

/// An atomic transaction: if every compare holds run `success`, else run `failure`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Txn {
    /// Guards; all must hold (an empty list holds).
    pub compare: Vec<Compare>,
    /// Ops run when all compares hold.
    pub success: Vec<Op>,
    /// Ops run otherwise.
    pub failure: Vec<Op>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds guards.
    pub fn when(mut self, compare: impl IntoIterator<Item = Compare>) -> Self {
        self.compare.extend(compare);
        self
    }
    /// Adds ops to the success branch.
    pub fn and_then(mut self, ops: impl IntoIterator<Item = Op>) -> Self {
        self.success.extend(ops);
        self
    }
    /// Adds ops to the failure branch.
    pub fn or_else(mut self, ops: impl IntoIterator<Item = Op>) -> Self {
        self.failure.extend(ops);
        self
    }
    /// Whether no op in either branch can write.
    pub fn is_read_only(&self) -> bool {
        !self.success.iter().chain(&self.failure).any(Op::is_write)
    }
}

/// The outcome of a [`Txn`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    /// Whether the compares held (the success branch ran).
    pub succeeded: bool,
    /// Store revision after the txn: its own revision if it wrote, else the current one.
    pub revision: Revision,
    /// One response per op of the branch that ran.
    pub responses: Vec<OpResponse>,
}

/// Kind of a watch [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A key was created or updated.
    Put,
    /// A key was deleted.
    Delete,
}

/// One change to one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// For a put, the new key/value; for a delete, the key with `mod_revision` set to the
    /// deletion revision and everything else empty/zero.
    pub kv: KeyValue,
    /// The key before this change, if it existed.
    pub prev: Option<KeyValue>,
}

/// All events of one revision (one txn) that match a watch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchBatch {
    /// The revision of every event in the batch.
    pub revision: Revision,
    /// The events, in the order the txn applied them.
    pub events: Vec<Event>,
}

/// Keys under a prefix, read at one revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResult {
    /// The keys, sorted.
    pub kvs: Vec<KeyValue>,
    /// The store revision the read saw.
    pub revision: Revision,
}
