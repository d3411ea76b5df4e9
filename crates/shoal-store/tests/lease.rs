//! Embedded-only lease tests: exact TTL accounting on a paused tokio clock, and persistence.
//! Expiry, keepalive and revoke on the real clock are in the conformance suite.

use std::time::Duration;

use shoal_store::{EmbeddedOptions, EmbeddedStore, Store};
use tokio::time::sleep;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test(start_paused = true)]
async fn keepalive_accounting_is_exact_on_a_paused_clock() -> TestResult {
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
