//! Lease conformance on the real clock: expiry deletes a lease's keys in one revision,
//! keepalive postpones it, revoke deletes at once; moving a key detaches it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_store::{EventKind, Store, StoreError};

use crate::{keys, next, TestResult};

/// A TTL every backend grants as is (etcd's minimum is 2 s with default timings).
const TTL: Duration = Duration::from_secs(2);

/// An expired lease deletes all its keys in one revision, and is then unknown.
pub async fn expiry_deletes_attached_keys_in_one_revision(s: Arc<dyn Store>) -> TestResult {
    let granted = Instant::now();
    let lease = s.lease_grant(TTL).await?;
    assert_ne!(lease, 0);
    s.put("svc/a", b"1".to_vec(), lease).await?;
    s.put("svc/b", b"2".to_vec(), lease).await?;
    s.put("svc/c", b"3".to_vec(), 0).await?;
    assert_eq!(s.get("svc/a").await?.map(|kv| kv.lease), Some(lease));
    let mut w = s.watch("svc/", 0).await?;
    let rev = s.revision().await?;

    let batch = next(&mut w).await?;
    assert!(
        granted.elapsed() >= TTL - Duration::from_millis(100),
        "expired after {:?}, before its TTL",
        granted.elapsed()
    );
    assert_eq!(batch.revision, rev + 1);
    assert_eq!(
        keys(&batch),
        [(EventKind::Delete, "svc/a"), (EventKind::Delete, "svc/b")]
    );
    assert_eq!(s.get("svc/a").await?, None);
    assert!(s.get("svc/c").await?.is_some());
    assert!(matches!(
        s.lease_keepalive(lease).await,
        Err(StoreError::LeaseNotFound(id)) if id == lease
    ));
    assert!(matches!(
        s.put("svc/d", vec![], lease).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    assert!(matches!(
        s.lease_revoke(lease).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    Ok(())
}

/// Keepalives before each TTL runs out keep the keys for twice the TTL; the lease then
/// expires a TTL after the last keepalive.
pub async fn keepalive_extends_the_lease(s: Arc<dyn Store>) -> TestResult {
    let lease = s.lease_grant(TTL).await?;
    s.put("k", vec![], lease).await?;
    let start = Instant::now();
    while start.elapsed() < TTL * 2 {
        tokio::time::sleep(TTL / 4).await;
        assert_eq!(s.lease_keepalive(lease).await?, TTL);
    }
    assert!(s.get("k").await?.is_some(), "kept alive for 2 TTLs");
    let last = Instant::now();
    let mut w = s.watch("k", 0).await?;
    let b = next(&mut w).await?;
    assert_eq!(keys(&b), [(EventKind::Delete, "k")]);
    assert!(last.elapsed() >= TTL - Duration::from_millis(100));
    Ok(())
}

/// Revoke deletes the lease's keys in one revision (none if it has no keys); a key put again
/// with another lease, or none, no longer belongs to the first.
pub async fn revoke_deletes_keys_and_moving_a_key_detaches_it(s: Arc<dyn Store>) -> TestResult {
    let l1 = s.lease_grant(Duration::from_secs(60)).await?;
    let l2 = s.lease_grant(Duration::from_secs(60)).await?;
    assert!(l1 != 0 && l2 != 0 && l1 != l2, "lease ids {l1} {l2}");
    s.put("a", vec![], l1).await?;
    s.put("b", vec![], l1).await?;
    s.put("b", vec![], l2).await?;
    s.put("c", vec![], l1).await?;
    s.put("c", vec![], 0).await?;
    assert_eq!(s.get("b").await?.map(|kv| kv.lease), Some(l2));
    assert_eq!(s.get("c").await?.map(|kv| kv.lease), Some(0));
    let rev = s.revision().await?;
    let mut w = s.watch("", 0).await?;
    s.lease_revoke(l1).await?;
    assert_eq!(s.revision().await?, rev + 1);
    let b = next(&mut w).await?;
    assert_eq!(
        (b.revision, keys(&b)),
        (rev + 1, vec![(EventKind::Delete, "a")])
    );
    assert_eq!(s.get("a").await?, None);
    assert!(s.get("b").await?.is_some());
    assert!(s.get("c").await?.is_some());
    assert!(matches!(
        s.lease_revoke(l1).await,
        Err(StoreError::LeaseNotFound(_))
    ));
    let l3 = s.lease_grant(Duration::from_secs(60)).await?;
    s.lease_revoke(l3).await?;
    assert_eq!(
        s.revision().await?,
        rev + 1,
        "revoking a lease without keys uses no revision"
    );
    assert_eq!(s.lease_keepalive(l2).await?, Duration::from_secs(60));
    Ok(())
}
