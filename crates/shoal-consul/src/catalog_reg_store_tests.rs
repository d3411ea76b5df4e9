//! Catalog registration against an in-memory store: the handlers' writes, the view's nodes,
//! the Shoal catalog mirror, and the runner's reconcile of that mirror.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use shoal_catalog::{catalog_key, CATALOG_PREFIX};
use shoal_store::EmbeddedStore;

use super::*;
use crate::view::View;

async fn state() -> Arc<ConsulState> {
    let store: Arc<dyn shoal_store::Store> = match EmbeddedStore::open_in_memory().await {
        Ok(s) => s,
        Err(e) => panic!("in-memory store: {e}"),
    };
    let addr = "127.0.0.1:8500".parse().unwrap_or_else(|e| panic!("{e}"));
    Arc::new(ConsulState::new(store, "me", addr))
}

async fn put(st: &Arc<ConsulState>, path: &str, body: serde_json::Value) -> u16 {
    let body = Ok(Bytes::from(body.to_string()));
    let r = match path {
        "register" => register(State(st.clone()), RawQuery(None), body).await,
        _ => deregister(State(st.clone()), RawQuery(None), body).await,
    };
    match r {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.into_response().status().as_u16(),
    }
}

async fn mirrored(st: &ConsulState, key: &str) -> Option<InstanceRecord> {
    let kv = st.store.get(key).await.unwrap_or_else(|e| panic!("{e}"))?;
    decode(&kv.key, &kv.value).ok()
}

async fn view(st: &ConsulState) -> View {
    View::read(st).await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn registered_nodes_are_read_mirrored_and_removed() {
    let st = state().await;
    let body = json!({
        "Node": "ext-db", "Address": "10.0.0.7", "NodeMeta": {"external-node": "true"},
        "Service": {"ID": "db-1", "Service": "db", "Port": 5432, "Tags": ["v2"]},
        "Check": {"CheckID": "db-alive", "ServiceID": "db-1", "Status": "passing"}
    });
    assert_eq!(put(&st, "register", body).await, 200);
    let v = view(&st).await;
    assert_eq!(
        v.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        vec!["me", "ext-db"]
    );
    let db = v
        .instances
        .iter()
        .find(|i| i.id == "db-1")
        .unwrap_or_else(|| panic!("db-1 in {:?}", v.instances));
    assert!(!v.is_local(db) && db.node == "ext-db");
    let checks: Vec<&str> = v.checks_of(db).iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        checks,
        vec!["db-alive"],
        "the agent's serfHealth is not ext-db's"
    );
    let key = catalog_key("db", "db-1@ext-db");
    let rec = mirrored(&st, &key)
        .await
        .unwrap_or_else(|| panic!("mirror"));
    assert_eq!((rec.address.as_str(), rec.port), ("10.0.0.7", 5432));
    assert!(rec.is_routable());

    // consul-esm's status update: SkipNodeUpdate, the check only.
    let update = json!({"Node": "ext-db", "SkipNodeUpdate": true,
        "Check": {"CheckID": "db-alive", "ServiceID": "db-1", "Status": "critical"}});
    assert_eq!(put(&st, "register", update).await, 200);
    let rec = mirrored(&st, &key)
        .await
        .unwrap_or_else(|| panic!("mirror"));
    assert!(!rec.is_routable(), "a critical check withdraws it");

    // The runner restores a lost mirror and removes one of a node nobody registered; the
    // agent's own mirrors (node "me") are left to the agent pass.
    let stray = catalog_key("x", "x@gone");
    let mut r = InstanceRecord::new("x@gone", "x", "1", "gone", "10.0.0.9", 1);
    r.external = true;
    let mut own = InstanceRecord::new("a", "a", "1", "me", "127.0.0.1", 2);
    own.external = true;
    // In a cluster: another Shoal node's agent registration, under its plain id.
    let mut peers = InstanceRecord::new("b", "b", "1", "peer", "10.0.0.5", 3);
    peers.external = true;
    for (k, rec) in [
        (&stray, &r),
        (&catalog_key("a", "a"), &own),
        (&catalog_key("b", "b"), &peers),
    ] {
        st.store
            .put(k, encode(rec), 0)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    st.store
        .delete(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    reconcile_mirrors(&st)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(mirrored(&st, &key).await.is_some());
    assert!(mirrored(&st, &stray).await.is_none());
    assert!(mirrored(&st, &catalog_key("a", "a")).await.is_some());
    assert!(
        mirrored(&st, &catalog_key("b", "b")).await.is_some(),
        "another Shoal node's agent registration is not a catalog mirror"
    );

    // A check for a service the node lacks is a 400; removing the node removes everything.
    let orphan = json!({"Node": "ext-db", "Address": "10.0.0.7",
        "Check": {"CheckID": "c", "ServiceID": "nope"}});
    assert_eq!(put(&st, "register", orphan).await, 400);
    assert_eq!(put(&st, "deregister", json!({"Node": "ext-db"})).await, 200);
    assert!(mirrored(&st, &key).await.is_none());
    let v = view(&st).await;
    assert_eq!(v.nodes.len(), 1);
    assert!(v.instances.is_empty() && v.checks.len() == 1);
    // Idempotent, as Consul: removing what is gone is fine; the agent's node is refused.
    assert_eq!(put(&st, "deregister", json!({"Node": "ext-db"})).await, 200);
    assert_eq!(put(&st, "deregister", json!({"Node": "me"})).await, 400);
}

/// The runner's mirror step on its own: reads the registrations and the Shoal catalog,
/// then [`sync_mirrors`].
async fn reconcile_mirrors(st: &ConsulState) -> Result<()> {
    let [nodes, services, checks] = PREFIXES.map(Op::range);
    let resp = st
        .store
        .txn(Txn::new().and_then([nodes, services, checks, Op::range(CATALOG_PREFIX)]))
        .await?;
    let mut r = ranges(resp.responses).into_iter();
    let [nodes, services, checks, catalog] =
        [r.next(), r.next(), r.next(), r.next()].map(Option::unwrap_or_default);
    sync_mirrors(st, [&nodes, &services, &checks], &catalog).await
}
