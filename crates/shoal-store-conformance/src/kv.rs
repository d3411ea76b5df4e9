//! Key/value conformance: revisions and versions of puts and deletes, ranges, invalid
//! requests, and concurrent writers.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use shoal_store::{Store, StoreError, MAX_LEASE_TTL, MAX_VALUE_LEN};

use crate::TestResult;

/// An empty store is at revision 1 and reads nothing.
pub async fn empty_store_is_at_revision_one(s: Arc<dyn Store>) -> TestResult {
    assert_eq!(s.revision().await?, 1);
    assert_eq!(s.get("k").await?, None);
    let r = s.range("").await?;
    assert!(r.kvs.is_empty());
    assert_eq!(r.revision, 1);
    Ok(())
}

/// Each write takes the next revision; a key tracks create/mod revision and version, and
/// starts over after a deletion; deleting a missing key uses no revision.
pub async fn put_get_delete_track_revisions_and_versions(s: Arc<dyn Store>) -> TestResult {
    assert_eq!(s.put("a", b"1".to_vec(), 0).await?, 2);
    assert_eq!(s.put("a", b"2".to_vec(), 0).await?, 3);
    assert_eq!(s.put("b", b"3".to_vec(), 0).await?, 4);
    let a = s.get("a").await?.ok_or("a missing")?;
    assert_eq!((a.create_revision, a.mod_revision, a.version), (2, 3, 2));
    assert_eq!((a.value.as_slice(), a.lease), (&b"2"[..], 0));
    assert_eq!(s.delete("a").await?, Some(5));
    assert_eq!(
        s.delete("a").await?,
        None,
        "deleting a missing key uses no revision"
    );
    assert_eq!(s.revision().await?, 5);
    assert_eq!(s.get("a").await?, None);
    assert_eq!(s.put("a", b"again".to_vec(), 0).await?, 6);
    let a = s.get("a").await?.ok_or("a missing")?;
    assert_eq!((a.create_revision, a.mod_revision, a.version), (6, 6, 1));
    Ok(())
}

/// A range is sorted by key and reads at one revision; "" is everything; a prefix delete
/// takes one revision, and none when nothing matches.
pub async fn range_and_delete_prefix(s: Arc<dyn Store>) -> TestResult {
    for k in ["svc/b", "svc/a", "svc2", "other"] {
        s.put(k, k.as_bytes().to_vec(), 0).await?;
    }
    let r = s.range("svc/").await?;
    let keys: Vec<_> = r.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["svc/a", "svc/b"]);
    assert_eq!(r.revision, 5);
    let all: Vec<_> = s
        .range("")
        .await?
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(all, ["other", "svc/a", "svc/b", "svc2"]);
    assert!(s.range("nothing/").await?.kvs.is_empty());
    let rev = s.revision().await?;
    assert_eq!(s.delete_prefix("svc").await?, 3);
    assert_eq!(
        s.revision().await?,
        rev + 1,
        "one revision for the whole prefix"
    );
    assert_eq!(s.delete_prefix("svc").await?, 0);
    assert_eq!(
        s.revision().await?,
        rev + 1,
        "deleting nothing uses no revision"
    );
    let keys: Vec<_> = s
        .range("")
        .await?
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(keys, ["other"]);
    assert_eq!(s.delete_prefix("").await?, 1, "\"\" deletes everything");
    assert!(s.range("").await?.kvs.is_empty());
    Ok(())
}

/// Unicode keys, binary and empty values, and values of a few hundred KiB come back as written.
pub async fn keys_and_values_round_trip_exactly(s: Arc<dyn Store>) -> TestResult {
    let binary: Vec<u8> = (0..=255).collect();
    let big = vec![7u8; 512 * 1024];
    s.put("ünï/κλειδί", binary.clone(), 0).await?;
    s.put("empty", Vec::new(), 0).await?;
    s.put("big", big.clone(), 0).await?;
    s.put("with space/and\ttab", b"x".to_vec(), 0).await?;
    assert_eq!(s.get("ünï/κλειδί").await?.map(|kv| kv.value), Some(binary));
    let empty = s.get("empty").await?.ok_or("empty missing")?;
    assert!(empty.value.is_empty());
    assert_eq!(empty.version, 1);
    assert_eq!(
        s.get("big").await?.map(|kv| kv.value.len()),
        Some(big.len())
    );
    let keys: Vec<_> = s
        .range("")
        .await?
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(keys, ["big", "empty", "with space/and\ttab", "ünï/κλειδί"]);
    Ok(())
}

/// Malformed requests fail with the documented error and use no revision.
pub async fn invalid_requests_are_errors(s: Arc<dyn Store>) -> TestResult {
    let is_invalid = |r: &Result<_, StoreError>| matches!(r, Err(StoreError::InvalidArgument(_)));
    assert!(is_invalid(&s.put("", vec![], 0).await.map(|_| ())));
    assert!(is_invalid(&s.delete("").await.map(|_| ())));
    assert!(is_invalid(
        &s.put("k", vec![0; MAX_VALUE_LEN + 1], 0).await.map(|_| ())
    ));
    assert!(is_invalid(&s.lease_grant(Duration::ZERO).await.map(|_| ())));
    assert!(is_invalid(
        &s.lease_grant(MAX_LEASE_TTL + Duration::from_secs(1))
            .await
            .map(|_| ())
    ));
    assert!(is_invalid(&s.watch("", -1).await.map(|_| ())));
    assert!(matches!(
        s.put("k", vec![], 42).await,
        Err(StoreError::LeaseNotFound(42))
    ));
    assert!(matches!(
        s.lease_keepalive(42).await,
        Err(StoreError::LeaseNotFound(42))
    ));
    assert!(matches!(
        s.lease_revoke(42).await,
        Err(StoreError::LeaseNotFound(42))
    ));
    assert!(matches!(
        s.compact(100).await,
        Err(StoreError::FutureRevision {
            requested: 100,
            current: 1
        })
    ));
    assert_eq!(s.revision().await?, 1);
    assert_eq!(s.get("k").await?, None);
    Ok(())
}

/// Concurrent writers get distinct, gap-free revisions.
pub async fn concurrent_writers_get_distinct_revisions(s: Arc<dyn Store>) -> TestResult {
    const WRITERS: usize = 16;
    const EACH: usize = 40;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..EACH {
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
    let n = (WRITERS * EACH) as i64;
    assert_eq!(all.len() as i64, n);
    assert_eq!(all.iter().min(), Some(&2));
    assert_eq!(all.iter().max(), Some(&(n + 1)));
    assert_eq!(s.revision().await?, n + 1);
    assert_eq!(s.range("").await?.kvs.len() as i64, n);
    Ok(())
}
