//! Leader election on a real three-member etcd: stopping the member the leader talks to moves
//! leadership to a candidate on another member, never with two leaders at once, and the old
//! leader's fencing guard fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shoal_cluster::{Election, Leadership};
use shoal_store::{Op, Store, Txn};
use shoal_store_etcd::{EtcdOptions, EtcdStore};
use shoal_testkit::EtcdCluster;
use tokio::sync::watch;
use tokio::time::Instant;

type Error = Box<dyn std::error::Error + Send + Sync>;

const TTL: Duration = Duration::from_secs(2);
/// Time for the cluster to elect a raft leader again, then for the lease to expire.
const RECOVERY: Duration = Duration::from_secs(20);

fn leaders(views: &[watch::Receiver<Option<Leadership>>]) -> Vec<usize> {
    (0..views.len())
        .filter(|&i| views[i].borrow().is_some())
        .collect()
}

async fn fenced_write(store: &dyn Store, l: &Leadership) -> Result<bool, Error> {
    let txn = l.fence(Txn::new().and_then([Op::put("shoal/test/owner", l.node.as_bytes())]));
    Ok(store.txn(txn).await?.succeeded)
}

/// Polls every 5 ms until `check` is `Some`; fails after `within`.
async fn until<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, Error> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if start.elapsed() > within {
            return Err(format!("timed out after {within:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_leaders_member_never_makes_two_leaders() -> Result<(), Error> {
    let mut cluster = tokio::task::spawn_blocking(|| EtcdCluster::start(3)).await??;
    // Candidate i talks only to member i.
    let mut campaigns = Vec::new();
    let mut views = Vec::new();
    for i in 0..3 {
        let store = EtcdStore::connect(&[cluster.endpoint(i)], EtcdOptions::default()).await?;
        let c = Election::new(Arc::new(store), "scheduler", &format!("n{i}"), TTL).spawn();
        views.push(c.leadership());
        campaigns.push(c);
    }
    let observer = EtcdStore::connect(&cluster.endpoints(), EtcdOptions::default()).await?;

    let first = until("one leader", 3 * TTL, || match leaders(&views)[..] {
        [i] => Some(i),
        _ => None,
    })
    .await?;
    let old = views[first].borrow().clone().ok_or("no leadership")?;

    // Count leaders every 5 ms from here on.
    let max = Arc::new(AtomicUsize::new(1));
    let sampler = {
        let (views, max) = (views.clone(), Arc::clone(&max));
        tokio::spawn(async move {
            loop {
                max.fetch_max(leaders(&views).len(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let t0 = Instant::now();
    cluster.stop_member(first);
    let stepped_down = until("the old leader to step down", RECOVERY, || {
        views[first].borrow().is_none().then(|| t0.elapsed())
    })
    .await?;
    let next = until("a new leader", RECOVERY, || {
        leaders(&views).into_iter().find(|&i| i != first)
    })
    .await?;
    let took = t0.elapsed();
    sampler.abort();
    eprintln!(
        "[etcd x3] member of leader n{first} stopped: n{first} stepped down after \
         {stepped_down:?}, n{next} leads after {took:?}"
    );
    assert_eq!(
        max.load(Ordering::SeqCst),
        1,
        "two leaders at one sampled moment"
    );
    assert!(stepped_down < took);

    let new = views[next].borrow().clone().ok_or("no leadership")?;
    assert!(new.revision > old.revision);
    assert!(
        !fenced_write(&observer, &old).await?,
        "the old leader is fenced"
    );
    assert!(fenced_write(&observer, &new).await?);
    drop(campaigns);
    Ok(())
}
