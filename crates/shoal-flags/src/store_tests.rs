//! Tests of flag I/O against the in-memory store, with a wrapper that races writes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shoal_store::{EmbeddedStore, LeaseId, RangeResult, StoreError, TxnResponse, Watcher};

use super::*;
use crate::Origin;

async fn mem() -> Arc<EmbeddedStore> {
    match EmbeddedStore::open_in_memory().await {
        Ok(s) => s,
        Err(e) => panic!("in-memory store: {e}"),
    }
}

fn rollout(r: f64) -> FlagChange {
    FlagChange {
        rollout: Some(r),
        ..FlagChange::default()
    }
}

fn enable() -> FlagChange {
    FlagChange {
        enabled: Some(true),
        ..FlagChange::default()
    }
}

fn ok<T>(r: Result<T, FlagError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn set_creates_edits_and_counts_versions() {
    let store = mem().await;
    assert!(ok(list(&*store).await).is_empty());
    let f = ok(set(&*store, "beta", &enable(), true, 10).await);
    assert_eq!(
        (f.enabled, f.version, f.updated_ms, f.origin),
        (true, 1, 10, Origin::Api)
    );
    let f = ok(set(&*store, "beta", &rollout(25.0), false, 20).await);
    assert_eq!(
        (f.enabled, f.rollout, f.version, f.updated_ms),
        (true, 25.0, 2, 20)
    );
    assert_eq!(ok(get(&*store, "beta").await), Some(f.clone()));
    assert_eq!(
        ok(list(&*store).await).into_values().collect::<Vec<_>>(),
        [f]
    );
    // A change that changes nothing writes nothing.
    let rev = ok(store.revision().await.map_err(FlagError::from));
    let same = ok(set(&*store, "beta", &rollout(25.0), false, 30).await);
    assert_eq!((same.version, same.updated_ms), (2, 20));
    assert_eq!(ok(store.revision().await.map_err(FlagError::from)), rev);
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let store = mem().await;
    ok(set(&*store, "beta", &enable(), true, 1).await);
    let rev = store.revision().await;
    let err = set(&*store, "betta", &enable(), false, 2).await;
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("no flag named `betta` (did you mean `beta`?)".to_owned())
    );
    let err = set(&*store, "beta", &rollout(150.0), false, 2).await;
    assert!(
        matches!(&err, Err(FlagError::Invalid { problems, .. }) if problems == &["rollout must be a percent between 0 and 100, found 150"]),
        "{err:?}"
    );
    let err = set(&*store, "bad/name", &enable(), true, 2).await;
    assert!(matches!(err, Err(FlagError::Invalid { .. })), "{err:?}");
    assert_eq!(store.revision().await, rev);
    assert_eq!(
        ok(get(&*store, "beta").await).map(|f| f.rollout),
        Some(100.0)
    );
}

#[tokio::test]
async fn delete_removes_and_names_unknown_flags() {
    let store = mem().await;
    ok(set(&*store, "beta", &enable(), true, 1).await);
    let err = delete(&*store, "beat").await;
    assert!(
        matches!(&err, Err(FlagError::Unknown { closest: Some(c), .. }) if c == "beta"),
        "{err:?}"
    );
    ok(delete(&*store, "beta").await);
    assert_eq!(ok(get(&*store, "beta").await), None);
    let err = delete(&*store, "beta").await;
    assert!(
        matches!(&err, Err(FlagError::Unknown { closest: None, .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn corrupt_records_are_skipped_reported_and_deletable() {
    let store = mem().await;
    ok(set(&*store, "good", &enable(), true, 1).await);
    ok(store
        .put(&flag_key("bad"), b"{nope".to_vec(), 0)
        .await
        .map_err(FlagError::from));
    let names: Vec<String> = ok(list(&*store).await).into_keys().collect();
    assert_eq!(names, ["good"]);
    assert!(matches!(
        get(&*store, "bad").await,
        Err(FlagError::Corrupt { .. })
    ));
    assert!(matches!(
        set(&*store, "bad", &enable(), true, 2).await,
        Err(FlagError::Corrupt { .. })
    ));
    ok(delete(&*store, "bad").await);
    // The record's own name does not matter: the key's does.
    let mut other = Flag::new("other");
    other.enabled = true;
    ok(store
        .put(&flag_key("renamed"), encode(&other), 0)
        .await
        .map_err(FlagError::from));
    assert_eq!(
        ok(get(&*store, "renamed").await).map(|f| f.name),
        Some("renamed".to_owned())
    );
}

fn file(pairs: &[(&str, f64)]) -> BTreeMap<String, FlagSpec> {
    pairs
        .iter()
        .map(|&(n, r)| {
            let spec = FlagSpec {
                enabled: true,
                rollout: r,
                ..FlagSpec::default()
            };
            (n.to_owned(), spec)
        })
        .collect()
}

#[tokio::test]
async fn sync_follows_the_file_and_keeps_runtime_edits() {
    let store = mem().await;
    let ops = ok(sync_file(&*store, &file(&[("a", 10.0), ("b", 10.0)]), 1).await);
    assert_eq!(ops.len(), 2);
    ok(set(&*store, "a", &rollout(50.0), false, 2).await);
    ok(set(&*store, "api", &enable(), true, 2).await);
    // Same file: nothing written, the edit stays.
    let rev = store.revision().await;
    assert_eq!(
        ok(sync_file(&*store, &file(&[("a", 10.0), ("b", 10.0)]), 3).await),
        []
    );
    assert_eq!(store.revision().await, rev);
    assert_eq!(ok(get(&*store, "a").await).map(|f| f.rollout), Some(50.0));
    // `b` changed in the file, `a` removed from it: replaced and deleted; `api` stays.
    let ops = ok(sync_file(&*store, &file(&[("b", 20.0)]), 4).await);
    assert_eq!(ops.iter().map(SeedOp::name).collect::<Vec<_>>(), ["a", "b"]);
    let all = ok(list(&*store).await);
    assert_eq!(all.keys().collect::<Vec<_>>(), ["api", "b"]);
    assert_eq!((all["b"].rollout, all["b"].version), (20.0, 2));
}

#[tokio::test]
async fn apply_seed_writes_in_one_revision() {
    let store = mem().await;
    let before = ok(store.revision().await.map_err(FlagError::from));
    let ops = seed(
        &file(&[("a", 1.0), ("b", 2.0), ("c", 3.0)]),
        &BTreeMap::new(),
        1,
    );
    let after = ok(apply_seed(&*store, &ops).await);
    assert_eq!(after, before + 1);
    assert_eq!(ok(list(&*store).await).len(), 3);
}

/// A store that, before each of its first `races` transactions, writes a flag `a` with
/// `enabled = true` and rollout 7, as a concurrent editor would.
struct Racing {
    inner: Arc<EmbeddedStore>,
    races: AtomicU32,
}

#[async_trait::async_trait]
impl Store for Racing {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.inner.get(key).await
    }
    async fn range(&self, prefix: &str) -> Result<RangeResult, StoreError> {
        self.inner.range(prefix).await
    }
    async fn put(&self, key: &str, value: Vec<u8>, lease: LeaseId) -> Result<Revision, StoreError> {
        self.inner.put(key, value, lease).await
    }
    async fn delete(&self, key: &str) -> Result<Option<Revision>, StoreError> {
        self.inner.delete(key).await
    }
    async fn delete_prefix(&self, prefix: &str) -> Result<usize, StoreError> {
        self.inner.delete_prefix(prefix).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let raced = self
            .races
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if raced {
            let mut f = Flag::new("a");
            f.enabled = true;
            f.rollout = 7.0;
            f.version = 100;
            self.inner.put(&flag_key("a"), encode(&f), 0).await?;
        }
        self.inner.txn(txn).await
    }
    async fn watch(&self, prefix: &str, start: Revision) -> Result<Watcher, StoreError> {
        self.inner.watch(prefix, start).await
    }
    async fn lease_grant(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        self.inner.lease_grant(ttl).await
    }
    async fn lease_keepalive(&self, id: LeaseId) -> Result<Duration, StoreError> {
        self.inner.lease_keepalive(id).await
    }
    async fn lease_revoke(&self, id: LeaseId) -> Result<(), StoreError> {
        self.inner.lease_revoke(id).await
    }
    async fn compact(&self, revision: Revision) -> Result<(), StoreError> {
        self.inner.compact(revision).await
    }
    async fn revision(&self) -> Result<Revision, StoreError> {
        self.inner.revision().await
    }
}

async fn racing(races: u32) -> Racing {
    Racing {
        inner: mem().await,
        races: AtomicU32::new(races),
    }
}

#[tokio::test]
async fn a_concurrent_write_is_not_lost_set_retries_on_top_of_it() {
    let store = racing(1).await;
    ok(set(&store, "a", &FlagChange::default(), true, 1).await);
    // The first attempt saw no flag; the racer wrote one; the retry applies on top.
    let store = racing(1).await;
    let f = ok(set(&store, "a", &rollout(30.0), true, 1).await);
    assert_eq!((f.enabled, f.rollout, f.version), (true, 30.0, 101));
}

#[tokio::test]
async fn endless_conflicts_give_up() {
    let store = racing(100).await;
    let err = set(&store, "a", &rollout(30.0), true, 1).await;
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("flag `a` kept changing while it was being written (5 attempts); try again".to_owned())
    );
}

#[tokio::test]
async fn sync_replans_when_a_flag_changed_meanwhile() {
    let store = racing(1).await;
    // The racer creates `a` (origin API) between the read and the write: the retry sees
    // it and replaces it with the file's definition.
    let ops = ok(sync_file(&store, &file(&[("a", 40.0)]), 5).await);
    let [SeedOp::Put(f)] = ops.as_slice() else {
        panic!("expected one put, got {ops:?}");
    };
    assert_eq!((f.rollout, f.version, f.origin), (40.0, 101, Origin::File));
    assert_eq!(ok(get(&store, "a").await).map(|f| f.rollout), Some(40.0));
}

#[tokio::test]
async fn a_seed_gives_up_when_flags_never_settle() {
    let store = racing(100).await;
    let err = sync_file(&store, &file(&[("a", 40.0)]), 5).await;
    assert_eq!(err, Err(FlagError::SeedConflict { attempts: ATTEMPTS }));
}

#[tokio::test]
async fn futures_are_send_for_a_shared_dyn_store() {
    fn assert_send<T: Send>(_: &T) {}
    let store: Arc<dyn Store> = mem().await;
    let change = enable();
    let file = file(&[("a", 1.0)]);
    assert_send(&set(&*store, "a", &change, true, 1));
    assert_send(&sync_file(&*store, &file, 1));
    assert_send(&list(&*store));
    assert_send(&delete(&*store, "a"));
}
