//! Live cluster nodes in the fleet view: from the first read (a node that registered before
//! the view started is live) and then from the watch (a node whose record goes is not).

use std::sync::Arc;
use std::time::Duration;

use shoal_store::{EmbeddedStore, Store};

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[tokio::test]
async fn live_nodes_come_from_the_first_read_and_then_follow_changes() -> TestResult {
    let store = EmbeddedStore::open_in_memory().await?;
    store.put("shoal/nodes/a", b"{}".to_vec(), 0).await?;
    store.put("shoal/nodes-seen/b", b"{}".to_vec(), 0).await?;
    let first = shoal_fleet::read(store.as_ref()).await?;
    assert_eq!(first.nodes.iter().collect::<Vec<_>>(), ["a"]);
    assert!(first.node_is_live("a") && !first.node_is_live("b"));

    let dyn_store: Arc<dyn Store> = store.clone();
    let (reader, view) = shoal_fleet::start(dyn_store, std::future::pending());
    tokio::spawn(view);
    let fleet = reader.fresh(store.as_ref(), Duration::from_secs(5)).await?;
    assert!(
        fleet.node_is_live("a"),
        "registered before the view started"
    );
    store.put("shoal/nodes/c", b"{}".to_vec(), 0).await?;
    store.delete("shoal/nodes/a").await?;
    let fleet = reader.fresh(store.as_ref(), Duration::from_secs(5)).await?;
    assert_eq!(fleet.nodes.iter().collect::<Vec<_>>(), ["c"]);
    // With no node records at all (`shoal up`), every node counts as live.
    store.delete("shoal/nodes/c").await?;
    let fleet = reader.fresh(store.as_ref(), Duration::from_secs(5)).await?;
    assert!(fleet.node_is_live("anything"));
    store.close().await;
    Ok(())
}
