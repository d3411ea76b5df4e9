//! EtcdStore beyond the conformance suite, on a real single-member etcd: namespaces, URLs,
//! connection errors, and an etcd restart under a running watch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_store::{EventKind, Op, Store, StoreError, Txn};
use shoal_store_conformance::{keys, next};
use shoal_store_etcd::{EtcdOptions, EtcdStore};
use shoal_testkit::Etcd;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn start_etcd() -> Result<Etcd, Box<dyn std::error::Error + Send + Sync>> {
    Ok(tokio::task::spawn_blocking(Etcd::start).await??)
}

fn ns(namespace: &str) -> EtcdOptions {
    EtcdOptions {
        namespace: namespace.into(),
        ..EtcdOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_keep_two_clusters_apart() -> TestResult {
    let etcd = start_etcd().await?;
    let raw = EtcdStore::connect(&[etcd.endpoint()], ns("")).await?;
    let mut everything = raw.watch("", 0).await?;
    let a = EtcdStore::connect_url(&format!("{}/shoal-a", etcd.url()), ns("ignored/")).await?;
    let b = EtcdStore::connect(&[etcd.endpoint()], ns("shoal-b/")).await?;
    let mut wb = b.watch("", 0).await?;

    a.put("svc/x", b"a".to_vec(), 0).await?;
    a.put("svc/y", b"a".to_vec(), 0).await?;
    assert_eq!(b.get("svc/x").await?, None);
    assert!(b.range("").await?.kvs.is_empty());
    let rev = b.put("svc/x", b"b".to_vec(), 0).await?;
    assert_eq!(rev, 4, "revisions are etcd's, shared by all namespaces");
    let batch = next(&mut wb).await?;
    assert_eq!(
        (batch.revision, keys(&batch)),
        (4, vec![(EventKind::Put, "svc/x")])
    );
    assert_eq!(
        a.get("svc/x").await?.map(|kv| kv.value),
        Some(b"a".to_vec())
    );

    let first = next(&mut everything).await?;
    assert_eq!(
        (first.revision, keys(&first)),
        (2, vec![(EventKind::Put, "shoal-a/svc/x")])
    );
    let all: Vec<_> = raw
        .range("")
        .await?
        .kvs
        .into_iter()
        .map(|kv| kv.key)
        .collect();
    assert_eq!(all, ["shoal-a/svc/x", "shoal-a/svc/y", "shoal-b/svc/x"]);
    assert_eq!(
        a.delete_prefix("").await?,
        2,
        "\"\" is the namespace, not all of etcd"
    );
    assert_eq!(raw.range("").await?.kvs.len(), 1);
    assert_eq!(
        b.get("svc/x").await?.map(|kv| kv.value),
        Some(b"b".to_vec())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_urls_and_unreachable_members_fail_clearly() -> TestResult {
    let err = EtcdStore::connect_url("http://127.0.0.1:2379", EtcdOptions::default()).await;
    assert!(
        matches!(&err, Err(StoreError::InvalidArgument(m)) if m.contains("etcd://")),
        "{:?}",
        err.err()
    );
    let empty = EtcdStore::connect(&[], EtcdOptions::default()).await;
    assert!(matches!(empty, Err(StoreError::InvalidArgument(_))));

    // A port nobody listens on: the member that was just stopped.
    let mut etcd = start_etcd().await?;
    let endpoint = etcd.endpoint();
    etcd.stop();
    let opts = EtcdOptions {
        request_timeout: Duration::from_secs(1),
        ..EtcdOptions::default()
    };
    let started = Instant::now();
    let err = EtcdStore::connect(std::slice::from_ref(&endpoint), opts).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    match err {
        Err(StoreError::Io(m)) => assert!(m.contains(&endpoint) && m.contains("majority"), "{m}"),
        other => return Err(format!("expected Io, got {:?}", other.err()).into()),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_etcd_is_survived_by_requests_and_watches() -> TestResult {
    let mut etcd = start_etcd().await?;
    let opts = EtcdOptions {
        request_timeout: Duration::from_secs(1),
        ..EtcdOptions::default()
    };
    let s: Arc<dyn Store> = Arc::new(EtcdStore::connect(&[etcd.endpoint()], opts).await?);
    let lease = s.lease_grant(Duration::from_secs(60)).await?;
    let mut w = s.watch("k/", 0).await?;
    s.put("k/1", vec![1], lease).await?;

    etcd.stop();
    let started = Instant::now();
    let down = s.put("k/lost", vec![], 0).await;
    assert!(matches!(down, Err(StoreError::Io(_))), "{down:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    let _etcd = tokio::task::spawn_blocking(move || etcd.restart().map(|()| etcd)).await??;

    s.put("k/2", vec![2], 0).await?;
    s.delete("k/1").await?;
    let got: Vec<_> = [
        next(&mut w).await?,
        next(&mut w).await?,
        next(&mut w).await?,
    ]
    .iter()
    .map(|b| (b.revision, b.events[0].kind, b.events[0].kv.key.clone()))
    .collect();
    assert_eq!(
        got,
        [
            (2, EventKind::Put, "k/1".to_string()),
            (3, EventKind::Put, "k/2".to_string()),
            (4, EventKind::Delete, "k/1".to_string()),
        ],
        "the watch resumed after the restart with nothing lost or repeated"
    );
    assert_eq!(s.lease_keepalive(lease).await?, Duration::from_secs(60));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_limits_are_invalid_arguments_that_name_the_setting() -> TestResult {
    let etcd = start_etcd().await?;
    let s = EtcdStore::connect(&[etcd.endpoint()], EtcdOptions::default()).await?;
    let big = Txn::new().and_then((0..129).map(|i| Op::put(format!("k/{i}"), "v")));
    match s.txn(big).await {
        Err(StoreError::InvalidArgument(m)) => assert!(m.contains("--max-txn-ops"), "{m}"),
        other => return Err(format!("expected InvalidArgument, got {other:?}").into()),
    }
    let twice = Txn::new().and_then([Op::put("a", "1"), Op::put("a", "2")]);
    match s.txn(twice).await {
        Err(StoreError::InvalidArgument(m)) => assert!(m.contains("each key once"), "{m}"),
        other => return Err(format!("expected InvalidArgument, got {other:?}").into()),
    }
    let value = vec![0u8; 2 * 1024 * 1024];
    match s.put("big", value, 0).await {
        Err(StoreError::InvalidArgument(m)) => assert!(m.contains("--max-request-bytes"), "{m}"),
        other => return Err(format!("expected InvalidArgument, got {other:?}").into()),
    }
    assert_eq!(s.revision().await?, 1, "nothing was written");
    Ok(())
}
