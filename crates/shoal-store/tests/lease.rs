//! Lease tests on a paused tokio clock: expiry, keepalive, revoke, and persistence.

use std::time::Duration;

use shoal_store::{EmbeddedOptions, EmbeddedStore, EventKind, Store, StoreError};
use tokio::time::sleep;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test(start_paused = true)]
async fn expiry_deletes_attached_keys_in_one_revision() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    let lease = s.lease_grant(Duration::from_secs(10)).await?;
    s.put("svc/a", b"1".to_vec(), lease).await?;
    s.put("svc/b", b"2".to_vec(), lease).await?;
    s.put("svc/c", b"3".to_vec(), 0).await?;
    let mut w = s.watch("svc/", 0).await?;
    let rev = s.revision().await?;

    sleep(Duration::from_secs(9)).await;
    assert!(
        s.get("svc/a").await?.is_some(),
        "not expired before its TTL"
    );

    let batch = w.next().await.ok_or("watch ended")??;
    assert_eq!(batch.revision, rev + 1);
    let deleted: Vec<_> = batch
        .events
        .iter()
        .map(|e| (e.kind, e.kv.key.as_str()))
        .collect();
    assert_eq!(
        deleted,
        [(EventKind::Delete, "svc/a"), (EventKind::Delete, "svc/b")]
    );
    assert_eq!(s.get("svc/a").await?, None);
    assert_eq!(s.get("svc/b").await?, None);
    assert!(s.get("svc/c").await?.is_some());
    assert!(matches!(
        s.lease_keepalive(lease).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    assert!(matches!(
        s.put("svc/d", vec![], lease).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    s.close().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn keepalive_extends_the_lease() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    let lease = s.lease_grant(Duration::from_secs(10)).await?;
    s.put("k", vec![], lease).await?;
    for _ in 0..5 {
        sleep(Duration::from_secs(7)).await;
        assert_eq!(s.lease_keepalive(lease).await?, Duration::from_secs(10));
    }
    assert!(
        s.get("k").await?.is_some(),
        "kept alive for 35s on a 10s TTL"
    );
    let left = s.lease_time_to_live(lease).ok_or("lease gone")?;
    assert!(left <= Duration::from_secs(10) && left > Duration::from_secs(9));
    sleep(Duration::from_secs(11)).await;
    // Expiry goes through the writer; wait for it without wall-clock sleeps.
    let mut w = s.watch("k", s.revision().await?).await?;
    while s.get("k").await?.is_some() {
        w.next().await.ok_or("watch ended")??;
    }
    assert_eq!(s.lease_time_to_live(lease), None);
    s.close().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn revoke_deletes_keys_and_moving_a_key_detaches_it() -> TestResult {
    let s = EmbeddedStore::open_in_memory().await?;
    let l1 = s.lease_grant(Duration::from_secs(60)).await?;
    let l2 = s.lease_grant(Duration::from_secs(60)).await?;
    s.put("a", vec![], l1).await?;
    s.put("b", vec![], l1).await?;
    s.put("b", vec![], l2).await?; // b now belongs to l2
    s.put("c", vec![], l1).await?;
    s.put("c", vec![], 0).await?; // c no longer has a lease
    let rev = s.revision().await?;
    s.lease_revoke(l1).await?;
    assert_eq!(s.revision().await?, rev + 1);
    assert_eq!(s.get("a").await?, None);
    assert!(s.get("b").await?.is_some());
    assert!(s.get("c").await?.is_some());
    assert!(matches!(
        s.lease_revoke(l1).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    // Revoking a lease without keys uses no revision.
    let l3 = s.lease_grant(Duration::from_secs(60)).await?;
    s.lease_revoke(l3).await?;
    assert_eq!(s.revision().await?, rev + 1);
    s.close().await;
    Ok(())
}

#[tokio::test]
async fn leases_survive_reopen_with_a_full_ttl() -> TestResult {
    let dir = tempfile::tempdir()?;
    let s = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).await?;
    let lease = s.lease_grant(Duration::from_secs(30)).await?;
    s.put("k", vec![], lease).await?;
    s.close().await;
    drop(s);
    let s = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).await?;
    let left = s.lease_time_to_live(lease).ok_or("lease lost on reopen")?;
    assert!(left > Duration::from_secs(29));
    assert_eq!(s.get("k").await?.map(|kv| kv.lease), Some(lease));
    s.lease_revoke(lease).await?;
    assert_eq!(s.get("k").await?, None);
    s.close().await;
    Ok(())
}
