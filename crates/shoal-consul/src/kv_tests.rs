//! KV writes, locks, session invalidation and blocking reads on an in-memory store.

use std::sync::Arc;
use std::time::Duration;

use shoal_store::{EmbeddedStore, Store};

use super::*;
use crate::params::Blocking;
use crate::session::{Behavior, SessionRecord};
use crate::session_end::invalidate;

async fn store() -> Arc<dyn Store> {
    match EmbeddedStore::open_in_memory().await {
        Ok(s) => s,
        Err(e) => panic!("in-memory store: {e}"),
    }
}

async fn session(store: &dyn Store, id: &str, behavior: Behavior) {
    let rec = SessionRecord {
        id: id.into(),
        name: String::new(),
        node: "n".into(),
        lock_delay_ns: 0,
        behavior,
        ttl: String::new(),
        node_checks: vec![],
        service_checks: vec![],
    };
    store
        .put(&session_key(id), shoal_catalog::encode(&rec), 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

async fn entry(store: &dyn Store, key: &str) -> Option<KvEntry> {
    read(store, key, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .0
        .into_iter()
        .next()
}

async fn w(store: &dyn Store, key: &str, v: &str, kind: WriteKind) -> bool {
    write(store, key, v.as_bytes().to_vec(), &kind, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn values_stay_raw_and_metadata_is_beside_them() {
    let s = store().await;
    assert!(
        write(s.as_ref(), "a/b", vec![0, 255, 1], &WriteKind::Set, 42)
            .await
            .unwrap_or(false)
    );
    let kv = s.get("kv/a/b").await.ok().flatten().map(|kv| kv.value);
    assert_eq!(kv, Some(vec![0, 255, 1]));
    let e = entry(s.as_ref(), "a/b").await;
    assert_eq!(e.as_ref().map(|e| (e.flags, e.lock_index)), Some((42, 0)));
    // A plain put without flags resets them (Consul: flags default to 0) and drops the meta key.
    assert!(w(s.as_ref(), "a/b", "x", WriteKind::Set).await);
    assert_eq!(s.get("shoal/kvmeta/a/b").await.ok().flatten(), None);
}

#[tokio::test]
async fn cas_create_only_and_modify_index() {
    let s = store().await;
    assert!(w(s.as_ref(), "k", "1", WriteKind::Cas(0)).await);
    assert!(!w(s.as_ref(), "k", "2", WriteKind::Cas(0)).await);
    let idx = entry(s.as_ref(), "k")
        .await
        .map(|e| e.modify_index)
        .unwrap_or(0) as u64;
    assert!(!w(s.as_ref(), "k", "3", WriteKind::Cas(idx + 100)).await);
    assert!(w(s.as_ref(), "k", "4", WriteKind::Cas(idx)).await);
    assert_eq!(
        entry(s.as_ref(), "k").await.map(|e| e.raw),
        Some(b"4".to_vec())
    );
}

#[tokio::test]
async fn locks_follow_consul() {
    let s = store().await;
    let st = s.as_ref();
    assert!(
        write(st, "l", vec![], &WriteKind::Acquire("nope".into()), 0)
            .await
            .is_err()
    );
    session(st, "s1", Behavior::Release).await;
    session(st, "s2", Behavior::Delete).await;
    assert!(w(st, "l", "a", WriteKind::Acquire("s1".into())).await);
    assert!(w(st, "l", "a", WriteKind::Acquire("s1".into())).await);
    assert!(!w(st, "l", "b", WriteKind::Acquire("s2".into())).await);
    assert!(!w(st, "l", "b", WriteKind::Release("s2".into())).await);
    let e = entry(st, "l").await;
    assert_eq!(
        e.as_ref().map(|e| (e.lock_index, e.session.clone())),
        Some((1, Some("s1".into())))
    );
    assert!(w(st, "l", "c", WriteKind::Release("s1".into())).await);
    assert!(w(st, "l", "d", WriteKind::Acquire("s2".into())).await);
    let e = entry(st, "l").await;
    assert_eq!(
        e.as_ref().map(|e| (e.lock_index, e.session.clone())),
        Some((2, Some("s2".into())))
    );
    // Ending s2 (behavior delete) deletes the key; ending s1 does nothing more.
    assert_eq!(invalidate(st, "s2", Behavior::Delete).await.ok(), Some(1));
    assert!(entry(st, "l").await.is_none());
    assert_eq!(s.get("shoal/kvmeta/l").await.ok().flatten(), None);
}

#[tokio::test]
async fn release_behavior_keeps_value_and_lock_index() {
    let s = store().await;
    let st = s.as_ref();
    session(st, "s1", Behavior::Release).await;
    assert!(w(st, "r", "v", WriteKind::Acquire("s1".into())).await);
    let before = entry(st, "r").await.map(|e| e.modify_index).unwrap_or(0);
    assert_eq!(invalidate(st, "s1", Behavior::Release).await.ok(), Some(1));
    let e = entry(st, "r").await;
    assert_eq!(
        e.as_ref()
            .map(|e| (e.raw.clone(), e.lock_index, e.session.clone())),
        Some((b"v".to_vec(), 1, None))
    );
    assert!(
        e.map(|e| e.modify_index).unwrap_or(0) > before,
        "release bumps ModifyIndex"
    );
}

#[tokio::test]
async fn blocking_read_ignores_unrelated_keys_and_wakes_on_its_own() {
    let s = store().await;
    assert!(w(s.as_ref(), "watched", "1", WriteKind::Set).await);
    let index = s.revision().await.unwrap_or(0);
    let b = Blocking {
        index: Some(index),
        wait: Duration::from_secs(5),
    };
    let reader = {
        let s = s.clone();
        tokio::spawn(async move {
            let scope = Scope::Key(kv_key("watched"));
            let st = s.as_ref();
            blocking::run(st, b, &scope, || read(st, "watched", false))
                .await
                .map(|(e, i)| (e.into_iter().next().map(|e| e.raw), i))
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(w(s.as_ref(), "watched-not", "x", WriteKind::Set).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !reader.is_finished(),
        "an unrelated key must not wake the query"
    );
    assert!(w(s.as_ref(), "watched", "2", WriteKind::Set).await);
    let got = tokio::time::timeout(Duration::from_secs(3), reader)
        .await
        .ok()
        .and_then(|r| r.ok())
        .and_then(|r| r.ok());
    let (value, idx) = got.unwrap_or_else(|| panic!("blocking read did not wake"));
    assert_eq!(value, Some(b"2".to_vec()));
    assert!(idx > index);
}

#[tokio::test]
async fn blocking_read_answers_at_once_for_a_stale_index_and_times_out() {
    let s = store().await;
    assert!(w(s.as_ref(), "k", "1", WriteKind::Set).await);
    let old = s.revision().await.unwrap_or(0);
    assert!(w(s.as_ref(), "k", "2", WriteKind::Set).await);
    let st = s.as_ref();
    let scope = Scope::Key(kv_key("k"));
    let b = Blocking {
        index: Some(old),
        wait: Duration::from_secs(30),
    };
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        blocking::run(st, b, &scope, || read(st, "k", false)),
    )
    .await;
    assert!(matches!(r, Ok(Ok(_))), "stale index answers at once");
    let now = s.revision().await.unwrap_or(0);
    let b = Blocking {
        index: Some(now),
        wait: Duration::from_millis(200),
    };
    let started = std::time::Instant::now();
    let r = blocking::run(st, b, &scope, || read(st, "k", false)).await;
    assert!(r.is_ok() && started.elapsed() >= Duration::from_millis(200));
}
