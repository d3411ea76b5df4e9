//! Embedded-only store tests: closing, reopening a data dir, exclusive opens. The semantics
//! every backend shares are in the conformance suite (tests/conformance.rs).

use std::time::Duration;

use shoal_store::{EmbeddedOptions, EmbeddedStore, Store, StoreError};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn a_closed_store_refuses_requests() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    s.put("k", vec![], 0).await?;
    s.close().await;
    assert!(matches!(
        s.put("k", vec![], 0).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(s.get("k").await, Err(StoreError::Closed)));
    assert!(matches!(s.revision().await, Err(StoreError::Closed)));
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
