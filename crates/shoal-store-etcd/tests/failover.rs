//! Failover on a real three-member etcd cluster: writes with a member down, a watch that
//! outlives the member it was on, and writes that fail in bounded time without quorum.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_store::{EventKind, Revision, Store, StoreError, Watcher};
use shoal_store_conformance::next;
use shoal_store_etcd::{EtcdOptions, EtcdStore};
use shoal_testkit::EtcdCluster;

type Error = Box<dyn std::error::Error + Send + Sync>;
type TestResult = Result<(), Error>;
/// What a watch delivered: per revision, the kind and key of each event.
type Seen = Vec<(Revision, Vec<(EventKind, String)>)>;

/// How long the cluster may take to get a leader again after a member stops.
const RECOVERY: Duration = Duration::from_secs(20);

async fn start_cluster() -> Result<EtcdCluster, Error> {
    Ok(tokio::task::spawn_blocking(|| EtcdCluster::start(3)).await??)
}

/// Starts member `i` again and waits until it is healthy (the cluster has a quorum).
async fn restart(mut c: EtcdCluster, i: usize) -> Result<EtcdCluster, Error> {
    Ok(tokio::task::spawn_blocking(move || {
        c.start_member(i)?;
        c.wait_healthy(i).map(|()| c)
    })
    .await??)
}

async fn connect(c: &EtcdCluster, request_timeout: Duration) -> Result<Arc<EtcdStore>, Error> {
    let opts = EtcdOptions {
        request_timeout,
        ..EtcdOptions::default()
    };
    Ok(Arc::new(EtcdStore::connect(&c.endpoints(), opts).await?))
}

/// Puts until one put succeeds (the cluster may be electing a leader); returns the failures.
async fn put_until_accepted(s: &EtcdStore, key: &str) -> Result<Vec<StoreError>, Error> {
    let started = Instant::now();
    let mut failures = Vec::new();
    loop {
        match s.put(key, vec![], 0).await {
            Ok(_) => return Ok(failures),
            Err(e) if started.elapsed() < RECOVERY => failures.push(e),
            Err(e) => return Err(format!("no write accepted within {RECOVERY:?}: {e}").into()),
        }
    }
}

/// Reads `w` until a batch has an event for `key`; appends every batch to `seen`.
async fn read_until(w: &mut Watcher, key: &str, seen: &mut Seen) -> TestResult {
    loop {
        let b = next(w).await?;
        let events: Vec<_> = b
            .events
            .iter()
            .map(|e| (e.kind, e.kv.key.clone()))
            .collect();
        let done = events.iter().any(|(_, k)| k == key);
        seen.push((b.revision, events));
        if done {
            return Ok(());
        }
    }
}

/// The watch's deliveries equal a replay of history from revision 1: no gap, no duplicate,
/// same order.
async fn assert_matches_history(
    s: &EtcdStore,
    prefix: &str,
    seen: &Seen,
    last: &str,
) -> TestResult {
    let mut replay = s.watch(prefix, 1).await?;
    let mut history = Vec::new();
    read_until(&mut replay, last, &mut history).await?;
    let first = seen.first().map_or(0, |(rev, _)| *rev);
    history.retain(|(rev, _)| *rev >= first);
    assert_eq!(seen.len(), history.len(), "batches seen vs in history");
    assert!(seen == &history, "the live watch differs from history");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_keep_working_with_one_member_stopped() -> TestResult {
    let mut c = start_cluster().await?;
    let s = connect(&c, Duration::from_secs(3)).await?;
    for i in 0..c.len() {
        c.stop_member(i);
        // Stopping the leader costs an election; a write in that window may fail.
        let failures = put_until_accepted(&s, &format!("k/{i}/first")).await?;
        eprintln!(
            "member {i} stopped: {} write(s) failed before one was accepted: {failures:?}",
            failures.len()
        );
        for j in 0..25 {
            s.put(&format!("k/{i}/{j}"), vec![j], 0).await?;
            assert_eq!(
                s.get(&format!("k/{i}/{j}")).await?.map(|kv| kv.value),
                Some(vec![j])
            );
        }
        c = restart(c, i).await?;
    }
    assert_eq!(s.range("k/").await?.kvs.len(), 3 * 26);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_keeps_delivering_in_order_while_each_member_stops() -> TestResult {
    let mut c = start_cluster().await?;
    let s = connect(&c, Duration::from_secs(3)).await?;
    let mut w = s.watch("w/", 0).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, stop) = (Arc::clone(&s), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut failed = 0;
            for j in 0u32.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if s.put(&format!("w/{j:06}"), j.to_be_bytes().to_vec(), 0)
                    .await
                    .is_err()
                {
                    failed += 1;
                }
                // Writes outside the prefix the watch must skip.
                let _ = s.put(&format!("other/{j}"), vec![], 0).await;
            }
            failed
        })
    };
    let mut seen = Seen::new();
    // Every member stops once, so the one serving the watch certainly does.
    for i in 0..c.len() {
        c.stop_member(i);
        let before = seen.len();
        while seen.len() < before + 20 {
            let b = next(&mut w).await?;
            seen.push((
                b.revision,
                b.events
                    .iter()
                    .map(|e| (e.kind, e.kv.key.clone()))
                    .collect(),
            ));
        }
        c = restart(c, i).await?;
    }
    stop.store(true, Ordering::Relaxed);
    let failed = writer.await?;
    eprintln!("writer: {failed} put(s) failed while members stopped");
    s.put("w/end", vec![], 0).await?;
    read_until(&mut w, "w/end", &mut seen).await?;
    assert!(
        seen.windows(2).all(|p| p[0].0 < p[1].0),
        "revisions increase"
    );
    assert!(seen
        .iter()
        .flat_map(|(_, e)| e)
        .all(|(_, k)| k.starts_with("w/")));
    assert_matches_history(&s, "w/", &seen, "w/end").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_quorum_writes_fail_in_bounded_time_and_recover_with_it() -> TestResult {
    let mut c = start_cluster().await?;
    let timeout = Duration::from_secs(2);
    let s = connect(&c, timeout).await?;
    let mut w = s.watch("q/", 0).await?;
    s.put("q/before", vec![], 0).await?;

    c.stop_member(1);
    c.stop_member(2);
    for attempt in 0..2 {
        let started = Instant::now();
        let put = s.put(&format!("q/during{attempt}"), vec![], 0).await;
        let took = started.elapsed();
        eprintln!("put without quorum: {put:?} after {took:?}");
        assert!(took < timeout + Duration::from_secs(1), "took {took:?}");
        match put {
            Err(StoreError::Io(m)) => assert!(m.contains("etcd"), "{m}"),
            other => return Err(format!("expected an Io error, got {other:?}").into()),
        }
    }
    let started = Instant::now();
    let get = s.get("q/before").await;
    assert!(
        matches!(get, Err(StoreError::Io(_))),
        "a linearizable read needs quorum too"
    );
    assert!(started.elapsed() < timeout + Duration::from_secs(1));

    c = restart(c, 1).await?;
    put_until_accepted(&s, "q/after").await?;
    assert!(s.get("q/before").await?.is_some());
    let mut seen = Seen::new();
    read_until(&mut w, "q/after", &mut seen).await?;
    assert_eq!(seen[0].1, [(EventKind::Put, "q/before".to_string())]);
    assert_matches_history(&s, "q/", &seen, "q/after").await?;
    drop(c);
    Ok(())
}
