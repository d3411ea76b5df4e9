//! Embedded-only watch tests: closing ends watches, automatic compaction, a watcher that falls
//! behind the live buffer, channel-fed watchers. The shared semantics are in the conformance
//! suite (tests/conformance.rs).

use std::sync::Arc;

use shoal_store::{
    EmbeddedOptions, EmbeddedStore, EventKind, Store, StoreError, WatchBatch, Watcher,
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
async fn closing_the_store_ends_watches() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    let mut w = s.watch("", 0).await?;
    s.put("a", b"new".to_vec(), 0).await?;
    assert_eq!(next(&mut w).await?.revision, 2);
    s.close().await;
    assert!(w.next().await.is_none(), "closing the store ends watches");
    Ok(())
}

#[tokio::test]
async fn compaction_is_reported_by_the_compacted_revision() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    for i in 0..5 {
        s.put("k", vec![i], 0).await?;
    }
    s.compact(4).await?;
    assert_eq!(s.compacted_revision(), 4);
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
