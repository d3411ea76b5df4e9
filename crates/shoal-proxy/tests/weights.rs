//! Deployment weights through a real proxy: unpinned traffic goes to the version
//! the weights draw, which the instance receives as `X-Version` and the records
//! carry; pinned requests still reach the version they name.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use shoal_proxy::{Hooks, RequestRecord, RouteTable};

/// Service `svc` at version 1 on `u1`, with version 2 on `u2`, split by `weights`.
fn weighted(u1: &Upstream, u2: &Upstream, weights: &[(&str, u32)]) -> RouteTable {
    let specs = BTreeMap::from([("svc".to_owned(), spec("svc", "1"))]);
    let records = [record("svc", u1, "1"), record("svc", u2, "2")];
    let split = weights.iter().map(|(v, w)| ((*v).to_owned(), *w)).collect();
    let weights = BTreeMap::from([("svc".to_owned(), split)]);
    RouteTable::build_weighted(
        &specs,
        &records,
        &["shoal".into()],
        &weights,
        &RouteTable::default(),
    )
}

#[tokio::test]
async fn weights_choose_the_version_its_instance_and_records_see() {
    let (u1, u2) = (Upstream::start("u1").await, Upstream::start("u2").await);
    let versions: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = versions.clone();
    let hooks = Hooks {
        observer: Some(Arc::new(move |r: &RequestRecord<'_>| {
            sink.lock().expect("obs").push(r.version.to_owned());
        })),
        access_log: None,
        ..Hooks::default()
    };
    let h = Harness::start(weighted(&u1, &u2, &[("2", 100)]), hooks).await;
    let c = client();
    let a = get(&c, h.gateway, "svc", "/").await;
    assert_eq!((a.status, a.body["name"].as_str()), (200, Some("u2")));
    assert_eq!(a.seen("x-version"), "2");
    let pinned = send(&c, h.gateway, "GET", "svc", "/", &[("x-version", "1")]).await;
    assert_eq!(pinned.body["name"], "u1");
    assert_eq!(pinned.seen("x-version"), "1");
    assert_eq!(*versions.lock().expect("obs"), ["2", "1"]);

    // An even split reaches both versions.
    h.swap(weighted(&u1, &u2, &[("1", 50), ("2", 50)]));
    let (before1, before2) = (u1.hits(), u2.hits());
    for _ in 0..100 {
        assert_eq!(get(&c, h.gateway, "svc", "/").await.status, 200);
    }
    let (got1, got2) = (u1.hits() - before1, u2.hits() - before2);
    assert_eq!(got1 + got2, 100);
    assert!(got1 > 10 && got2 > 10, "1: {got1}, 2: {got2}");
}

/// A port nothing listens on: bound, then closed.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

#[tokio::test]
async fn unpinned_traffic_drawn_to_an_unreachable_version_is_served_by_another() {
    // Version 2's only instance is listed but gone (its host died; its record stays
    // until the node's lease ends): unpinned requests drawn to 2 fall back to 1; a
    // request pinned to 2 still gets 503, since it asked for 2 only.
    let u1 = Upstream::start("u1").await;
    let specs = BTreeMap::from([("svc".to_owned(), spec("svc", "1"))]);
    let mut dead = record("svc", &u1, "2");
    dead.id = "gone".into();
    dead.port = closed_port();
    let records = [record("svc", &u1, "1"), dead];
    let weights = BTreeMap::from([("svc".to_owned(), BTreeMap::from([("2".to_owned(), 100u32)]))]);
    let table = RouteTable::build_weighted(
        &specs,
        &records,
        &["shoal".into()],
        &weights,
        &RouteTable::default(),
    );
    let versions: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = versions.clone();
    let hooks = Hooks {
        observer: Some(Arc::new(move |r: &RequestRecord<'_>| {
            sink.lock().expect("obs").push(r.version.to_owned());
        })),
        ..Hooks::default()
    };
    let h = Harness::start(table, hooks).await;
    let c = client();
    for _ in 0..20 {
        let a = get(&c, h.gateway, "svc", "/").await;
        assert_eq!((a.status, a.body["name"].as_str()), (200, Some("u1")));
        // The instance and the records see the version that served it.
        assert_eq!(a.seen("x-version"), "1");
    }
    assert_eq!(*versions.lock().expect("obs"), vec!["1"; 20]);
    let pinned = send(&c, h.gateway, "GET", "svc", "/", &[("x-version", "2")]).await;
    assert_eq!(pinned.status, 503);
}
