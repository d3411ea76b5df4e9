//! The etcd backend of Shoal's [`Store`](shoal_store::Store) trait: [`EtcdStore`] maps every
//! store call one to one onto etcd v3 (which the embedded store's data model copies), so
//! a Shoal cluster keeps its state in etcd and nothing in Shoal re-implements consensus.
//!
//! Requests are balanced over all members given and retried on another member when they
//! provably never arrived; every request is bounded by [`EtcdOptions::request_timeout`].
//! Watches re-establish themselves after a member fails, from the last revision delivered.
//!
//! # Where etcd differs from the embedded store
//!
//! - Lease TTLs are whole seconds (rounded up), and etcd raises very short TTLs to its
//!   minimum (1.5 × election timeout, 2 s with default settings). Lease ids are chosen by
//!   etcd, not counted up from 1. Expiry is checked by etcd about every 500 ms.
//! - etcd rejects a txn branch that puts one key twice or puts a key one of its deletes
//!   covers, and txns of more than `--max-txn-ops` (128 by default) compares and ops, and
//!   requests over `--max-request-bytes` (1.5 MiB by default): all
//!   [`StoreError::InvalidArgument`](shoal_store::StoreError::InvalidArgument).
//! - An unreachable cluster (no quorum, all members down) is
//!   [`StoreError::Io`](shoal_store::StoreError::Io) after the request timeout; a write that
//!   failed that way may or may not have been applied.
//! - Revisions are etcd's, shared by every namespace: a namespaced store sees revisions jump
//!   by the writes of other namespaces.
//! - A watch whose history is compacted while it catches up ends with
//!   [`StoreError::Compacted`](shoal_store::StoreError::Compacted) (as the embedded store's).
//!
//! # Layout
//!
//! - `store.rs` — [`EtcdStore`]: connecting, the bounded and retried request, the trait.
//! - `watch.rs` — the watch task that splits etcd's stream per revision and resumes it.
//! - `convert.rs` — namespace and data model translation (keys, txns, events).
//! - `validate.rs` — the embedded store's request checks, done before sending.
//! - `error.rs` — classifying etcd failures (retryable or not) into `StoreError`s.
//! - `options.rs` — [`EtcdOptions`].
//! - `url.rs` — [`parse_url`] for `etcd://h1:2379,h2:2379[/namespace]`.
#![forbid(unsafe_code)]

mod convert;
mod error;
mod options;
mod store;
mod url;
mod validate;
mod watch;

pub use options::EtcdOptions;
pub use store::EtcdStore;
pub use url::{parse_url, EtcdUrl, UrlError, DEFAULT_PORT};
