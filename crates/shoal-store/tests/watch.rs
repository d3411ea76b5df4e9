//! Watch tests: live, replay from history, compaction, prefix filtering, falling behind.

use std::sync::Arc;

use shoal_store::{
    EmbeddedOptions, EmbeddedStore, EventKind, Op, Store, StoreError, Txn, WatchBatch, Watcher,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

async fn next(w: &mut Watcher) -> Result<WatchBatch, Box<dyn std::error::Error>> {
    Ok(w.next().await.ok_or("watch ended")??)
}

fn keys(b: &WatchBatch) -> Vec<(EventKind, &str)> {
    b.events
        .iter()
        .map(|e| (e.kind, e.kv.key.as_str()))
        .collect()
}

#[tokio::test]
async fn watch_from_now_sees_only_new_changes() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    s.put("a", b"old".to_vec(), 0).await?;
    let mut w = s.watch("", 0).await?;
    s.put("a", b"new".to_vec(), 0).await?;
    s.delete("a").await?;
    let b = next(&mut w).await?;
    assert_eq!(b.revision, 3);
    assert_eq!(b.events[0].kv.value, b"new");
    assert_eq!(
        b.events[0].prev.as_ref().map(|p| p.value.clone()),
        Some(b"old".to_vec())
    );
    let b = next(&mut w).await?;
    assert_eq!(b.revision, 4);
    assert_eq!(keys(&b), [(EventKind::Delete, "a")]);
    assert_eq!(b.events[0].kv.mod_revision, 4);
    assert!(b.events[0].kv.value.is_empty());
    s.close().await;
    assert!(w.next().await.is_none(), "closing the store ends watches");
    Ok(())
}

#[tokio::test]
async fn watch_replays_history_then_follows_live() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
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
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn one_txn_is_one_batch_and_prefix_filters() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    let mut w = s.watch("svc/", 0).await?;
    s.put("other", vec![], 0).await?;
    s.txn(Txn::new().and_then([
        Op::put("svc/a", "1"),
        Op::put("zzz", "2"),
        Op::put("svc/b", "3"),
    ]))
    .await?;
    s.delete_prefix("svc/").await?;
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
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn compaction_makes_old_revisions_unwatchable() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    for i in 0..5 {
        s.put("k", vec![i], 0).await?;
    }
    s.compact(4).await?;
    assert_eq!(s.compacted_revision(), 4);
    match s.watch("", 3).await {
        Err(StoreError::Compacted {
            requested: 3,
            compacted: 4,
        }) => {}
        other => return Err(format!("expected Compacted, got {:?}", other.map(|_| ())).into()),
    }
    let mut w = s.watch("", 4).await?;
    assert_eq!(next(&mut w).await?.revision, 4);
    assert!(matches!(
        s.compact(4).await,
        Err(StoreError::Compacted { .. })
    ));
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn automatic_compaction_keeps_the_configured_history() -> TestResult {
    let opts = EmbeddedOptions {
        history_revisions: 20,
        ..EmbeddedOptions::default()
    };
    let s = EmbeddedStore::open_in_memory_with(opts).await?;
    for i in 0..100u8 {
        s.put("k", vec![i], 0).await?;
    }
    let rev = s.revision().await?;
    let compacted = s.compacted_revision();
    assert!(compacted > 1, "history was compacted");
    assert!(
        rev - compacted >= 20,
        "at least 20 revisions kept (rev {rev}, compacted {compacted})"
    );
    let mut w = s.watch("", rev - 19).await?;
    assert_eq!(next(&mut w).await?.revision, rev - 19);
    s.close().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_watcher_catches_up_without_gaps() -> TestResult {
    let opts = EmbeddedOptions {
        history_revisions: 100_000,
        ..EmbeddedOptions::default()
    };
    let s = EmbeddedStore::open_in_memory_with(opts).await?;
    let mut w = s.watch("k/", 0).await?;
    // More revisions (4800) than the live buffer holds (4096), while the watcher does not read.
    let writers: Vec<_> = (0..8)
        .map(|t| {
            let s = Arc::clone(&s);
            tokio::spawn(async move {
                for i in 0..300 {
                    s.put(&format!("k/{t}/{i}"), vec![], 0).await?;
                    s.put(&format!("x/{t}/{i}"), vec![], 0).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for t in writers {
        t.await??;
    }
    let mut last = 1;
    let mut seen = 0;
    while seen < 2400 {
        let b = next(&mut w).await?;
        assert!(b.revision > last, "revisions increase");
        last = b.revision;
        assert!(b.events.iter().all(|e| e.kv.key.starts_with("k/")));
        seen += b.events.len();
    }
    assert_eq!(seen, 2400);
    s.put("k/last", vec![], 0).await?;
    assert_eq!(keys(&next(&mut w).await?), [(EventKind::Put, "k/last")]);
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn watchers_are_send_and_can_be_fed_by_a_channel() -> TestResult {
    fn assert_send<T: Send>(_: &T) {}
    let s = EmbeddedStore::open_in_memory().await?;
    let mut w = s.watch("", 0).await?;
    assert_send(&w);
    assert_send(&w.next());
    drop(w);
    s.close().await;

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut w = Watcher::from_channel(rx);
    tx.send(Ok(WatchBatch {
        revision: 7,
        events: vec![],
    }))
    .await?;
    drop(tx);
    assert_eq!(next(&mut w).await?.revision, 7);
    assert!(w.next().await.is_none());
    Ok(())
}
