//! Transactions against an in-memory store: metadata beside values, one revision per
//! commit, nothing written on failure, read-only transactions write nothing.

use std::sync::Arc;

use shoal_store::{EmbeddedStore, Store};

use super::*;
use crate::session::{Behavior, SessionRecord};

async fn store() -> Arc<dyn Store> {
    match EmbeddedStore::open_in_memory().await {
        Ok(s) => s,
        Err(e) => panic!("in-memory store: {e}"),
    }
}

async fn txn(store: &dyn Store, body: &str) -> std::result::Result<Vec<KvEntry>, Vec<usize>> {
    let ops = parse_ops(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    run(store, &ops)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .map_err(|errs| errs.into_iter().map(|e| e.op_index).collect())
}

async fn rev(store: &dyn Store) -> i64 {
    store
        .txn(Txn::new())
        .await
        .map(|r| r.revision)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn writes_commit_at_one_revision_with_their_metadata() {
    let s = store().await;
    let r = txn(
        s.as_ref(),
        r#"[{"KV": {"Verb": "set", "Key": "a", "Value": "MQ==", "Flags": 5}},
            {"KV": {"Verb": "set", "Key": "b", "Value": "Mg=="}}]"#,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(r[0].modify_index, r[1].modify_index);
    assert_eq!(r[0].modify_index, rev(s.as_ref()).await);
    let a = s.get("kv/a").await.ok().flatten().map(|kv| kv.value);
    assert_eq!(a, Some(b"1".to_vec()));
    assert!(s.get("shoal/kvmeta/a").await.ok().flatten().is_some());
    assert!(s.get("shoal/kvmeta/b").await.ok().flatten().is_none());
}

#[tokio::test]
async fn a_failure_writes_nothing_and_reads_write_nothing() {
    let s = store().await;
    let before = rev(s.as_ref()).await;
    let r = txn(
        s.as_ref(),
        r#"[{"KV": {"Verb": "set", "Key": "x", "Value": "MQ=="}},
            {"KV": {"Verb": "cas", "Key": "y", "Index": 3}}]"#,
    )
    .await;
    assert_eq!(r, Err(vec![1]));
    assert_eq!(rev(s.as_ref()).await, before);
    let r = txn(s.as_ref(), r#"[{"KV": {"Verb": "get-tree", "Key": ""}}]"#).await;
    assert_eq!(r, Ok(vec![]));
    assert_eq!(rev(s.as_ref()).await, before);
}

#[tokio::test]
async fn locks_read_the_session() {
    let s = store().await;
    let body = r#"[{"KV": {"Verb": "lock", "Key": "l", "Session": "s1"}}]"#;
    assert_eq!(txn(s.as_ref(), body).await, Err(vec![0]));
    let rec = SessionRecord {
        id: "s1".into(),
        name: String::new(),
        node: "n".into(),
        lock_delay_ns: 0,
        behavior: Behavior::Release,
        ttl: String::new(),
        node_checks: vec![],
        service_checks: vec![],
    };
    s.put(&session_key("s1"), shoal_catalog::encode(&rec), 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let r = txn(s.as_ref(), body)
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((r[0].session.as_deref(), r[0].lock_index), (Some("s1"), 1));
    let (entries, _) = crate::kv::read(s.as_ref(), "l", false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        entries.first().and_then(|e| e.session.clone()),
        Some("s1".into())
    );
}
