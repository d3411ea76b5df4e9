//! The store's error type: what went wrong and, where a caller can act, what to do about it.

use crate::types::{LeaseId, Revision};

/// Everything a [`Store`](crate::Store) operation can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The requested revision is older than the oldest revision still kept in history.
    #[error(
        "revision {requested} has been compacted (oldest available is {compacted}); \
         re-read the current state and watch from its revision"
    )]
    Compacted {
        /// The revision the caller asked for.
        requested: Revision,
        /// The store's compacted revision: history starts here.
        compacted: Revision,
    },
    /// The requested revision lies in the future.
    #[error("revision {requested} is in the future (current revision is {current})")]
    FutureRevision {
        /// The revision the caller asked for.
        requested: Revision,
        /// The store's current revision.
        current: Revision,
    },
    /// The lease does not exist (never granted, revoked or expired).
    #[error(
        "lease {0} not found (it was never granted, or was revoked or expired); grant a new lease"
    )]
    LeaseNotFound(LeaseId),
    /// The storage layer failed (disk error, corrupt data) or cannot be reached (etcd: no
    /// answer within the request timeout, no quorum); the store may be unusable. A write that
    /// failed so may or may not have been applied.
    #[error("storage error: {0}")]
    Io(String),
    /// The disk under the store is (nearly) full: the write was refused before anything
    /// was applied; reads go on, and writes succeed again once space is freed.
    #[error("no space left for the store: {0}")]
    NoSpace(String),
    /// The store was closed, or its writer stopped after a storage failure.
    #[error("store is closed")]
    Closed,
    /// The request itself is malformed (empty key, oversized value, zero TTL, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl StoreError {
    /// Wraps any storage-layer error (redb, I/O) as [`StoreError::Io`].
    pub(crate) fn io(err: impl std::fmt::Display) -> Self {
        StoreError::Io(err.to_string())
    }
}
