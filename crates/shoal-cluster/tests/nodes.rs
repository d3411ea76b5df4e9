//! The node registry on both backends: listing, a dead node turning suspect then lost, a node
//! registering again after losing its lease, draining that survives re-registration.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{tokio_clock, until, until_async, Backend, TestResult, SLACK, TTL};
use shoal_catalog::node_key;
use shoal_cluster::{
    drain, forget, read_nodes, undrain, Clock, ClusterError, NodeRecord, Registered, Registration,
};
use shoal_schedule::{NodeStatus, Resources};
use shoal_store::Store;
use tokio::time::Instant;

const GRACE: Duration = Duration::from_secs(3);
const SEEN_EVERY: Duration = Duration::from_millis(500);

fn record(name: &str) -> NodeRecord {
    NodeRecord {
        name: name.into(),
        address: [127, 0, 0, 1].into(),
        api: ([127, 0, 0, 1], 8500).into(),
        gateway: ([127, 0, 0, 1], 8080).into(),
        capacity: Resources::new(2000, 4096),
        labels: BTreeMap::from([("zone".into(), "a".into())]),
        started_ms: 1,
        version: "0.1.0".into(),
        draining: false,
    }
}

async fn register(b: &Backend, name: &str, clock: &Clock) -> Result<Registered, common::Error> {
    let r = Registration::new(b.client().await?, record(name), TTL)
        .seen_every(SEEN_EVERY)
        .clock(Arc::clone(clock))
        .spawn();
    until(&format!("{name} registered"), 2 * TTL, || r.current()).await?;
    Ok(r)
}

/// Each node's status now, by name.
async fn statuses(
    store: &dyn Store,
    clock: &Clock,
) -> Result<Vec<(String, NodeStatus)>, common::Error> {
    let nodes = read_nodes(store).await?;
    Ok(nodes
        .statuses(clock(), GRACE)
        .into_iter()
        .map(|n| (n.name, n.status))
        .collect())
}

fn named(list: &[(&str, NodeStatus)]) -> Vec<(String, NodeStatus)> {
    list.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
}

async fn two_registered_nodes_are_listed(b: Backend) -> TestResult {
    let clock = tokio_clock();
    let _n1 = register(&b, "n1", &clock).await?;
    let n2 = register(&b, "n2", &clock).await?;
    let store = b.store();

    let nodes = read_nodes(&*store).await?;
    assert_eq!(nodes.records, [record("n1"), record("n2")]);
    let seen: Vec<_> = nodes.seen.iter().map(|s| s.record.clone()).collect();
    assert_eq!(
        seen, nodes.records,
        "the last-seen records copy the live ones"
    );
    assert_eq!(
        statuses(&*store, &clock).await?,
        named(&[("n1", NodeStatus::Ready), ("n2", NodeStatus::Ready)])
    );

    // Leaving: the live record goes at once, the node is remembered as gone.
    n2.deregister().await;
    assert_eq!(read_nodes(&*store).await?.records, [record("n1")]);
    assert_eq!(
        statuses(&*store, &clock).await?,
        named(&[("n1", NodeStatus::Ready), ("n2", NodeStatus::Suspect)])
    );
    assert!(forget(&*store, "n2").await?);
    assert_eq!(
        statuses(&*store, &clock).await?,
        named(&[("n1", NodeStatus::Ready)])
    );
    Ok(())
}

async fn a_dead_node_vanishes_after_its_ttl_then_is_suspect_then_lost(b: Backend) -> TestResult {
    let clock = tokio_clock();
    let n1 = register(&b, "n1", &clock).await?;
    let _n2 = register(&b, "n2", &clock).await?;
    let store = b.store();

    let t0 = Instant::now();
    n1.abort();
    until_async("n1's record to expire", 2 * TTL + SLACK, || {
        let store = Arc::clone(&store);
        async move { Ok(store.get(&node_key("n1")).await?.is_none().then_some(())) }
    })
    .await?;
    let vanished = t0.elapsed();
    assert_eq!(
        statuses(&*store, &clock).await?,
        named(&[("n1", NodeStatus::Suspect), ("n2", NodeStatus::Ready)])
    );
    until_async("n1 lost", GRACE + SEEN_EVERY + SLACK, || {
        let store = Arc::clone(&store);
        let clock = Arc::clone(&clock);
        async move {
            let now = statuses(&*store, &clock).await?;
            Ok(
                (now == named(&[("n1", NodeStatus::Lost), ("n2", NodeStatus::Ready)]))
                    .then_some(()),
            )
        }
    })
    .await?;
    eprintln!(
        "[{}] dead node: record gone after {vanished:?}, lost after {:?} (grace {GRACE:?})",
        b.name,
        t0.elapsed()
    );
    assert!(
        vanished >= TTL / 2,
        "vanished after {vanished:?}, before its lease could expire"
    );
    Ok(())
}

async fn a_node_registers_again_after_its_lease_is_revoked(b: Backend) -> TestResult {
    let clock = tokio_clock();
    let n1 = register(&b, "n1", &clock).await?;
    let first = n1.current().ok_or("not registered")?;
    let store = b.store();

    let t0 = Instant::now();
    store.lease_revoke(first).await?;
    let second = until("n1 on a new lease", 2 * TTL, || {
        n1.current().filter(|&l| l != first)
    })
    .await?;
    eprintln!("[{}] registered again after {:?}", b.name, t0.elapsed());
    let kv = store.get(&node_key("n1")).await?.ok_or("no record")?;
    assert_eq!(kv.lease, second, "the record hangs on the new lease");
    assert_eq!(
        statuses(&*store, &clock).await?,
        named(&[("n1", NodeStatus::Ready)])
    );
    Ok(())
}

async fn draining_outlives_a_lost_lease_and_undrain_clears_it(b: Backend) -> TestResult {
    let clock = tokio_clock();
    let n1 = register(&b, "n1", &clock).await?;
    let store = b.store();

    drain(&*store, "n1").await?;
    assert_eq!(
        statuses(&*store, &clock).await?,
        named(&[("n1", NodeStatus::Draining)])
    );
    let first = n1.current().ok_or("not registered")?;
    assert_eq!(
        store.get(&node_key("n1")).await?.map(|kv| kv.lease),
        Some(first),
        "kept its lease"
    );

    store.lease_revoke(first).await?;
    until("n1 on a new lease", 2 * TTL, || {
        n1.current().filter(|&l| l != first)
    })
    .await?;
    assert_eq!(
        statuses(&*store, &clock).await?,
        named(&[("n1", NodeStatus::Draining)])
    );

    undrain(&*store, "n1").await?;
    assert_eq!(
        statuses(&*store, &clock).await?,
        named(&[("n1", NodeStatus::Ready)])
    );
    assert!(
        matches!(drain(&*store, "nope").await, Err(ClusterError::UnknownNode(n)) if n == "nope")
    );
    Ok(())
}

on_both_backends!(
    two_registered_nodes_are_listed,
    a_dead_node_vanishes_after_its_ttl_then_is_suspect_then_lost,
    a_node_registers_again_after_its_lease_is_revoked,
    draining_outlives_a_lost_lease_and_undrain_clears_it,
);
