//! The fleet view and the table follower keep the proxy's table in step with specs
//! and the catalog: a new instance gets traffic, a removed one stops getting it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use shoal_catalog::{catalog_key, encode, spec_key};
use shoal_proxy::{Hooks, RouteTable};
use shoal_store::{EmbeddedStore, Store};

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn the_table_follows_the_store() {
    let store: Arc<dyn Store> = EmbeddedStore::open_in_memory().await.expect("store");
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    store
        .put(&spec_key("svc"), encode(&spec("svc", "1")), 0)
        .await
        .expect("put spec");
    store
        .put(&catalog_key("svc", "a"), encode(&record("svc", &a, "1")), 0)
        .await
        .expect("put a");
    let h = Harness::start(RouteTable::default(), Hooks::default()).await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let (fleet, view) = shoal_fleet::start(store.clone(), stopped());
    let view = tokio::spawn(view);
    let watcher = tokio::spawn(shoal_proxy::watch::follow(
        fleet.subscribe(),
        h.proxy.table().clone(),
        vec!["shoal".into()],
        stopped(),
    ));
    let table = h.proxy.table().clone();
    let count = move || {
        table
            .load()
            .services
            .get("svc")
            .map_or(0, |s| s.endpoints("1").len())
    };
    until("instance a in the table", || count() == 1).await;
    let c = client();
    assert_eq!(
        get(&c, h.gateway, "svc.service.shoal", "/").await.body["name"],
        "a"
    );

    store
        .put(&catalog_key("svc", "b"), encode(&record("svc", &b, "1")), 0)
        .await
        .expect("put b");
    until("instance b in the table", || count() == 2).await;
    store
        .delete(&catalog_key("svc", "a"))
        .await
        .expect("delete a");
    until("instance a gone", || count() == 1).await;
    let before = a.hits();
    for _ in 0..20 {
        assert_eq!(get(&c, h.gateway, "svc", "/").await.body["name"], "b");
    }
    assert_eq!(a.hits(), before, "a removed instance gets no request");
    stop_tx.send_replace(true);
    watcher.await.expect("follower task");
    view.await.expect("fleet view task");
}
