//! Integration tests of the embedded store: basic semantics, concurrency, reopen.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use shoal_store::{
    CmpOp, Compare, EmbeddedOptions, EmbeddedStore, Op, OpResponse, Store, StoreError, Txn,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn empty_store_is_at_revision_one() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    assert_eq!(s.revision().await?, 1);
    assert_eq!(s.get("k").await?, None);
    let r = s.range("").await?;
    assert!(r.kvs.is_empty());
    assert_eq!(r.revision, 1);
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn put_get_delete_track_revisions_and_versions() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    assert_eq!(s.put("a", b"1".to_vec(), 0).await?, 2);
    assert_eq!(s.put("a", b"2".to_vec(), 0).await?, 3);
    assert_eq!(s.put("b", b"3".to_vec(), 0).await?, 4);
    let a = s.get("a").await?.ok_or("a missing")?;
    assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 3, 2));
    assert_eq!(a.value, b"2");
    assert_eq!(s.delete("a").await?, Some(5));
    assert_eq!(
        s.delete("a").await?,
        None,
        "deleting a missing key uses no revision"
    );
    assert_eq!(s.revision().await?, 5);
    assert_eq!(s.put("a", b"again".to_vec(), 0).await?, 6);
    let a = s.get("a").await?.ok_or("a missing")?;
    assert_eq!((a.create_revision, a.mod_revision, a.version), (6, 6, 1));
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn range_and_delete_prefix() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    for k in ["svc/b", "svc/a", "svc2", "other"] {
        s.put(k, k.as_bytes().to_vec(), 0).await?;
    }
    let keys: Vec<_> = s
        .range("svc/")
        .await?
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(keys, ["svc/a", "svc/b"]);
    assert_eq!(s.range("").await?.kvs.len(), 4);
    let rev = s.revision().await?;
    assert_eq!(s.delete_prefix("svc").await?, 3);
    assert_eq!(
        s.revision().await?,
        rev + 1,
        "one revision for the whole prefix"
    );
    assert_eq!(s.delete_prefix("svc").await?, 0);
    assert_eq!(s.revision().await?, rev + 1);
    let keys: Vec<_> = s
        .range("")
        .await?
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(keys, ["other"]);
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn txn_cas_and_revision_rules() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    // Create-if-missing.
    let create = || {
        Txn::new()
            .when([Compare::missing("lock")])
            .and_then([Op::put("lock", "me")])
            .or_else([Op::get("lock")])
    };
    let r = s.txn(create()).await?;
    assert!(r.succeeded);
    assert_eq!(r.revision, 2);
    let r = s.txn(create()).await?;
    assert!(!r.succeeded);
    assert_eq!(r.revision, 2, "a txn that writes nothing uses no revision");
    let OpResponse::Get(Some(kv)) = &r.responses[0] else {
        return Err("expected a get".into());
    };
    assert_eq!(kv.value, b"me");
    // Compare on mod revision, several writes in one revision.
    let r = s
        .txn(
            Txn::new()
                .when([Compare::mod_revision("lock", CmpOp::Equal, 2)])
                .and_then([Op::put("x", "1"), Op::put("y", "2"), Op::delete("lock")]),
        )
        .await?;
    assert!(r.succeeded);
    assert_eq!(r.revision, 3);
    assert_eq!(s.get("x").await?.map(|kv| kv.mod_revision), Some(3));
    assert_eq!(s.get("y").await?.map(|kv| kv.create_revision), Some(3));
    // A read-only txn answers from memory.
    let r = s
        .txn(
            Txn::new()
                .when([Compare::value("x", CmpOp::Equal, "1")])
                .and_then([Op::range("")]),
        )
        .await?;
    assert!(r.succeeded);
    assert_eq!(r.revision, 3);
    assert!(matches!(&r.responses[0], OpResponse::Range(kvs) if kvs.len() == 2));
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn invalid_requests_are_errors() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    assert!(matches!(
        s.put("", vec![], 0).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.put("k", vec![], 42).await,
        Err(StoreError::LeaseNotFound(42))
    ));
    assert!(matches!(
        s.lease_grant(Duration::ZERO).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        s.compact(100).await,
        Err(StoreError::FutureRevision { .. })
    ));
    assert!(matches!(
        s.watch("", -1).await,
        Err(StoreError::InvalidArgument(_))
    ));
    assert_eq!(s.revision().await?, 1);
    s.close().await;
    assert!(matches!(
        s.put("k", vec![], 0).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(s.get("k").await, Err(StoreError::Closed)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_get_distinct_revisions() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    let mut tasks = Vec::new();
    for w in 0..64 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..100 {
                revs.push(s.put(&format!("w{w}/{i}"), vec![w as u8; 16], 0).await?);
            }
            Ok::<_, StoreError>(revs)
        }));
    }
    let mut all = HashSet::new();
    for t in tasks {
        for rev in t.await?? {
            assert!(all.insert(rev), "revision {rev} given twice");
        }
    }
    assert_eq!(all.len(), 6400);
    assert_eq!(s.revision().await?, 6401);
    assert_eq!(all.iter().min(), Some(&2));
    assert_eq!(all.iter().max(), Some(&6401));
    assert_eq!(s.range("").await?.kvs.len(), 6400);
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn reopen_preserves_data_revision_leases_and_compaction() -> TestResult {
    let dir = tempfile::tempdir()?;
    let opts = EmbeddedOptions::default();
    let s = EmbeddedStore::open(dir.path(), opts.clone()).await?;
    let lease = s.lease_grant(Duration::from_secs(3600)).await?;
    s.put("a", b"1".to_vec(), 0).await?;
    s.put("b", b"2".to_vec(), lease).await?;
    s.put("a", b"3".to_vec(), 0).await?;
    s.delete("gone").await?;
    s.compact(3).await?;
    let before = s.range("").await?;
    s.close().await;
    drop(s);

    let s = EmbeddedStore::open(dir.path(), opts).await?;
    assert_eq!(s.range("").await?, before);
    assert_eq!(s.revision().await?, 4);
    assert_eq!(s.compacted_revision(), 3);
    assert!(matches!(
        s.watch("", 2).await,
        Err(StoreError::Compacted {
            requested: 2,
            compacted: 3
        })
    ));
    assert_eq!(s.lease_keepalive(lease).await?, Duration::from_secs(3600));
    let next = s.lease_grant(Duration::from_secs(1)).await?;
    assert!(next > lease, "lease ids are not reused");
    // The lease still owns its key.
    s.lease_revoke(lease).await?;
    assert_eq!(s.get("b").await?, None);
    assert_eq!(s.revision().await?, 5);
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_fails_cleanly() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).await?;
    assert!(matches!(
        EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).await,
        Err(StoreError::Io(_))
    ));
    s.close().await;
    let again = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).await?;
    again.close().await;
    Ok(())
}
