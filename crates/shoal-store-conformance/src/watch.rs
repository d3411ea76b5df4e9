//! Watch conformance: live changes, replay from a revision, one batch per revision with only
//! the prefix's events, and compaction.

use std::sync::Arc;

use shoal_store::{EventKind, Op, Store, StoreError, Txn};

use crate::{keys, next, TestResult};

/// Start 0 = from the next change; puts carry the previous value, deletes the deletion
/// revision and nothing else.
pub async fn watch_from_now_sees_only_new_changes(s: Arc<dyn Store>) -> TestResult {
    s.put("a", b"old".to_vec(), 0).await?;
    let mut w = s.watch("", 0).await?;
    s.put("a", b"new".to_vec(), 0).await?;
    s.delete("a").await?;
    let b = next(&mut w).await?;
    assert_eq!(b.revision, 3);
    assert_eq!(keys(&b), [(EventKind::Put, "a")]);
    let e = &b.events[0];
    assert_eq!(e.kv.value, b"new");
    assert_eq!(
        (e.kv.create_revision, e.kv.mod_revision, e.kv.version),
        (2, 3, 2)
    );
    assert_eq!(
        e.prev.as_ref().map(|p| p.value.clone()),
        Some(b"old".to_vec())
    );
    let b = next(&mut w).await?;
    assert_eq!(b.revision, 4);
    assert_eq!(keys(&b), [(EventKind::Delete, "a")]);
    let kv = &b.events[0].kv;
    assert_eq!(kv.mod_revision, 4);
    assert!(kv.value.is_empty());
    assert_eq!((kv.create_revision, kv.version, kv.lease), (0, 0, 0));
    Ok(())
}

/// A start revision replays history from it (inclusive), then follows live changes.
pub async fn watch_replays_history_then_follows_live(s: Arc<dyn Store>) -> TestResult {
    for i in 0..10 {
        s.put(&format!("k{i}"), vec![i], 0).await?;
    }
    let mut w = s.watch("", 5).await?;
    for rev in 5..=11 {
        assert_eq!(next(&mut w).await?.revision, rev);
    }
    s.put("live", vec![], 0).await?;
    let b = next(&mut w).await?;
    assert_eq!((b.revision, keys(&b)), (12, vec![(EventKind::Put, "live")]));
    // From revision 1 (the empty store) replays everything.
    let mut w = s.watch("", 1).await?;
    assert_eq!(next(&mut w).await?.revision, 2);
    // A start in the future waits for it.
    let mut w = s.watch("", 14).await?;
    s.put("thirteen", vec![], 0).await?;
    s.put("fourteen", vec![], 0).await?;
    let b = next(&mut w).await?;
    assert_eq!(
        (b.revision, keys(&b)),
        (14, vec![(EventKind::Put, "fourteen")])
    );
    Ok(())
}

/// One txn is one batch with its events in op order; keys outside the prefix never appear.
pub async fn one_txn_is_one_batch_and_prefix_filters(s: Arc<dyn Store>) -> TestResult {
    let mut w = s.watch("svc/", 0).await?;
    s.put("other", vec![], 0).await?;
    s.txn(Txn::new().and_then([
        Op::put("svc/a", "1"),
        Op::put("zzz", "2"),
        Op::put("svc/b", "3"),
    ]))
    .await?;
    s.delete_prefix("svc/").await?;
    s.put("svc", vec![], 0).await?;
    s.put("svc/c", vec![], 0).await?;
    let b = next(&mut w).await?;
    assert_eq!(b.revision, 3);
    assert_eq!(
        keys(&b),
        [(EventKind::Put, "svc/a"), (EventKind::Put, "svc/b")]
    );
    let b = next(&mut w).await?;
    assert_eq!(b.revision, 4);
    assert_eq!(
        keys(&b),
        [(EventKind::Delete, "svc/a"), (EventKind::Delete, "svc/b")]
    );
    let b = next(&mut w).await?;
    assert_eq!((b.revision, keys(&b)), (6, vec![(EventKind::Put, "svc/c")]));
    Ok(())
}

/// Replaying many revisions at once still yields exactly one batch per revision, in order,
/// with no revision missing (etcd packs many revisions into one message).
pub async fn replay_of_many_revisions_is_one_batch_per_revision(s: Arc<dyn Store>) -> TestResult {
    const TXNS: i64 = 300;
    for i in 0..TXNS {
        s.txn(Txn::new().and_then([
            Op::put(format!("k/{i}/a"), "1"),
            Op::put(format!("x/{i}"), "2"),
            Op::put(format!("k/{i}/b"), "3"),
        ]))
        .await?;
    }
    let mut w = s.watch("k/", 1).await?;
    for rev in 2..TXNS + 2 {
        let b = next(&mut w).await?;
        assert_eq!(b.revision, rev, "one batch per revision, none missing");
        let i = rev - 2;
        let want = [format!("k/{i}/a"), format!("k/{i}/b")];
        let got: Vec<_> = b.events.iter().map(|e| e.kv.key.clone()).collect();
        assert_eq!(got, want);
    }
    s.put("k/last", vec![], 0).await?;
    assert_eq!(keys(&next(&mut w).await?), [(EventKind::Put, "k/last")]);
    Ok(())
}

/// After compaction at R, watches from before R fail with `Compacted` naming R, watches
/// from R work, and compacting at R (or before) again fails too.
pub async fn compaction_makes_old_revisions_unwatchable(s: Arc<dyn Store>) -> TestResult {
    for i in 0..5 {
        s.put("k", vec![i], 0).await?;
    }
    s.compact(4).await?;
    match s.watch("", 3).await {
        Err(StoreError::Compacted {
            requested: 3,
            compacted: 4,
        }) => {}
        other => return Err(format!("expected Compacted, got {:?}", other.map(|_| ())).into()),
    }
    let mut w = s.watch("", 4).await?;
    assert_eq!(next(&mut w).await?.revision, 4);
    assert_eq!(next(&mut w).await?.revision, 5);
    assert!(matches!(
        s.compact(4).await,
        Err(StoreError::Compacted {
            requested: 4,
            compacted: 4
        })
    ));
    assert!(matches!(
        s.compact(2).await,
        Err(StoreError::Compacted {
            requested: 2,
            compacted: 4
        })
    ));
    // Compaction keeps the data.
    assert_eq!(s.get("k").await?.map(|kv| kv.value), Some(vec![4]));
    assert_eq!(s.revision().await?, 6);
    Ok(())
}
