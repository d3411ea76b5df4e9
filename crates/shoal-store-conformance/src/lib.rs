//! The store conformance suite: backend-independent tests of the [`Store`] trait's promises,
//! run unchanged against every backend (the embedded redb store and etcd).
//!
//! Each test is an `async fn(Arc<dyn Store>) -> TestResult` that expects a fresh, empty store
//! (revision 1) and uses the real clock (lease tests wait a few seconds). A backend's test
//! file instantiates all of them with [`conformance_tests!`], given an async function that
//! opens a fresh store and returns it with a guard (e.g. the etcd process) dropped after the
//! test.
//!
//! # Layout
//!
//! - `kv.rs` — revisions, versions, get/put/delete/range, invalid requests, concurrency.
//! - `txn.rs` — compares, branches, op responses, revision rules of transactions.
//! - `watch.rs` — live watches, replay from history, batching per revision, compaction.
//! - `lease.rs` — expiry, keepalive and revoke on the real clock.
#![forbid(unsafe_code)]

pub mod kv;
pub mod lease;
pub mod txn;
pub mod watch;

use std::time::Duration;

use shoal_store::{EventKind, WatchBatch, Watcher};

/// What every conformance test returns.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Longest a test waits for a watch batch that must come.
pub const WATCH_WAIT: Duration = Duration::from_secs(15);

/// The next batch of a watch, failing if the watch ends, errs or stays silent too long.
pub async fn next(w: &mut Watcher) -> Result<WatchBatch, Box<dyn std::error::Error + Send + Sync>> {
    match tokio::time::timeout(WATCH_WAIT, w.next()).await {
        Err(_) => Err(format!("no watch batch within {WATCH_WAIT:?}").into()),
        Ok(None) => Err("watch ended".into()),
        Ok(Some(b)) => Ok(b?),
    }
}

/// The (kind, key) of each event of a batch.
pub fn keys(b: &WatchBatch) -> Vec<(EventKind, &str)> {
    b.events
        .iter()
        .map(|e| (e.kind, e.kv.key.as_str()))
        .collect()
}

/// Instantiates every conformance test as a `#[tokio::test]` in the calling module. `$open`
/// is an async fn returning `Result<(Arc<dyn Store>, Guard), E>`; the guard is dropped after
/// the test.
#[macro_export]
macro_rules! conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            kv::empty_store_is_at_revision_one,
            kv::put_get_delete_track_revisions_and_versions,
            kv::range_and_delete_prefix,
            kv::keys_and_values_round_trip_exactly,
            kv::invalid_requests_are_errors,
            kv::concurrent_writers_get_distinct_revisions,
            txn::txn_cas_and_revision_rules,
            txn::txn_op_responses_carry_previous_values,
            txn::txn_compares_follow_etcd_rules_for_missing_keys,
            txn::txn_put_with_unknown_lease_changes_nothing,
            watch::watch_from_now_sees_only_new_changes,
            watch::watch_replays_history_then_follows_live,
            watch::one_txn_is_one_batch_and_prefix_filters,
            watch::replay_of_many_revisions_is_one_batch_per_revision,
            watch::compaction_makes_old_revisions_unwatchable,
            lease::expiry_deletes_attached_keys_in_one_revision,
            lease::keepalive_extends_the_lease,
            lease::revoke_deletes_keys_and_moving_a_key_detaches_it,
        );
    };
    (@each $open:path; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() -> $crate::TestResult {
                let (store, guard) = $open().await?;
                let result = $crate::$module::$name(store).await;
                drop(guard);
                result
            }
        )*
    };
}
