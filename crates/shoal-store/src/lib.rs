//! Shoal's revisioned key/value store: the etcd v3 data model (revisions, leases, transactions,
//! watches) behind one [`Store`] trait, with a durable embedded backend on redb.
//!
//! Every write gets a new store revision (a transaction gets exactly one); a key remembers its
//! create and mod revision, its version and its lease. Readers can watch a prefix from any
//! revision still in history. [`EmbeddedStore`] acknowledges a write only after it is fsynced,
//! and commits concurrent writes together (group commit) so many writers share one fsync.
//!
//! # Layout
//!
//! - `lib.rs` — the [`Store`] trait and re-exports.
//! - `types.rs` — data model: [`KeyValue`], [`Txn`], [`Op`], [`Compare`], [`Event`], ...
//! - `error.rs` — [`StoreError`].
//! - `txn.rs` — pure compare/apply logic on an in-memory view (tests in `txn_tests.rs`).
//! - `codec.rs` — the stable binary encoding of key/values and events on disk.
//! - `disk.rs` — the redb tables, loading state on open, reading history for watches.
//! - `shared.rs` — committed state shared by the writer, readers and watchers.
//! - `request.rs` — requests to the writer and their replies.
//! - `writer.rs` — the single writer task: batch, apply, commit once, publish, ack.
//! - `watch.rs` — [`Watcher`]: history replay from disk, then live broadcast.
//! - `lease.rs` — lease deadlines and the expiry task.
//! - `embedded.rs` — [`EmbeddedStore`], wiring it all together.
#![forbid(unsafe_code)]

mod codec;
mod disk;
mod embedded;
mod error;
mod lease;
mod request;
mod shared;
mod space;
mod txn;
mod types;
mod watch;
mod writer;

use std::time::Duration;

pub use embedded::{EmbeddedOptions, EmbeddedStore, DB_FILE};
pub use error::StoreError;
pub use lease::MAX_LEASE_TTL;
pub use types::{
    CmpOp, CmpTarget, Compare, Event, EventKind, KeyValue, LeaseId, Op, OpResponse, RangeResult,
    Revision, Txn, TxnResponse, WatchBatch, MAX_KEY_LEN, MAX_TXN_OPS, MAX_VALUE_LEN,
    PORTABLE_TXN_OPS,
};
pub use watch::Watcher;

/// A revisioned key/value store with etcd v3 semantics.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The current state of one key.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// All keys starting with `prefix` ("" = everything), sorted by key, with the revision read.
    async fn range(&self, prefix: &str) -> Result<RangeResult, StoreError>;

    /// Writes a key (attached to `lease`, 0 = none); returns the write's revision.
    /// Fails with [`StoreError::LeaseNotFound`] if the lease does not exist.
    async fn put(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<Revision, StoreError>;

    /// Deletes a key; returns the deletion's revision, or `None` if the key did not exist
    /// (then no revision is used).
    async fn delete(&self, key: &str) -> Result<Option<Revision>, StoreError>;

    /// Deletes every key starting with `prefix` in one revision; returns how many.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, StoreError>;

    /// Runs a transaction atomically. A txn whose ops write nothing does not use a revision.
    /// For a txn to run on every backend, a branch must not put one key twice nor put a key
    /// that one of its deletes covers, and must stay within etcd's `--max-txn-ops` (128 by
    /// default): etcd rejects such txns with [`StoreError::InvalidArgument`].
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError>;

    /// Watches keys under `prefix`. `start_revision` 0 = from the next change; otherwise
    /// replays history from that revision (inclusive), then follows live changes. Fails with
    /// [`StoreError::Compacted`] if `start_revision` is older than the compacted revision.
    async fn watch(&self, prefix: &str, start_revision: Revision) -> Result<Watcher, StoreError>;

    /// Grants a lease that expires `ttl` after its last keepalive. A backend may lengthen the
    /// TTL (etcd rounds it up to whole seconds and to its minimum TTL) and chooses the id.
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError>;

    /// Resets a live lease's TTL and returns it.
    async fn lease_keepalive(&self, id: LeaseId) -> Result<Duration, StoreError>;

    /// Revokes a lease, deleting its keys in one revision.
    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError>;

    /// Drops watch history older than `revision`; watches can then start at `revision` or later.
    async fn compact(&self, revision: Revision) -> Result<(), StoreError>;

    /// The current store revision (1 for an empty store).
    async fn revision(&self) -> Result<Revision, StoreError>;
}
