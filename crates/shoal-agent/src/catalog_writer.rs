//! Writes instance state changes into the catalog in the store, batching
//! whatever piled up while the previous write was being made durable.
//!
//! Every record is attached to this node's lease, kept alive while the agent
//! runs: a node that stops renewing it (killed, cut off) loses its instances
//! from the catalog when the lease expires, which is what lets another node (or
//! the cluster's scheduler) see them gone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use shoal_catalog::{catalog_key, encode, InstanceRecord};
use shoal_store::{LeaseId, Op, Store, StoreError, Txn};
use tokio::sync::mpsc;

use crate::instance::Update;

/// The node lease's time to live; it is renewed every third of it.
pub const NODE_LEASE_TTL: Duration = Duration::from_secs(10);

/// Runs until every sender is dropped; then revokes the node lease and returns.
pub async fn run(store: Arc<dyn Store>, mut updates: mpsc::UnboundedReceiver<Update>) {
    let mut lease = grant(store.as_ref()).await;
    // What this node has in the catalog now, to write again under a new lease.
    let mut live: BTreeMap<String, InstanceRecord> = BTreeMap::new();
    let mut renew = tokio::time::interval(NODE_LEASE_TTL / 3);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            u = updates.recv() => match u {
                Some(u) => u,
                None => break,
            },
            _ = renew.tick() => {
                lease = renewed(store.as_ref(), lease, &live).await;
                continue;
            }
        };
        let mut latest: BTreeMap<String, Option<InstanceRecord>> = BTreeMap::new();
        let mut add = |u: Update| match u {
            Update::Upsert(r) => {
                latest.insert(catalog_key(&r.service, &r.id), Some(*r));
            }
            Update::Removed { service, id } => {
                latest.insert(catalog_key(&service, &id), None);
            }
        };
        add(first);
        while let Ok(more) = updates.try_recv() {
            add(more);
        }
        for (key, rec) in &latest {
            match rec {
                Some(r) => live.insert(key.clone(), r.clone()),
                None => live.remove(key),
            };
        }
        let ops = latest
            .into_iter()
            .map(|(key, rec)| match rec {
                Some(r) => put(key, &r, lease),
                None => Op::Delete { key },
            })
            .collect();
        write(store.as_ref(), ops).await;
    }
    if lease != 0 {
        if let Err(e) = store.lease_revoke(lease).await {
            tracing::debug!(error = %e, "cannot revoke the node lease");
        }
    }
}

fn put(key: String, r: &InstanceRecord, lease: LeaseId) -> Op {
    Op::Put {
        key,
        value: encode(r),
        lease,
    }
}

async fn write(store: &dyn Store, ops: Vec<Op>) {
    let txn = Txn {
        compare: vec![],
        success: ops,
        failure: vec![],
    };
    if let Err(e) = store.txn(txn).await {
        tracing::error!(error = %e, "catalog write failed");
    }
}

/// A new node lease; 0 (records without a lease) if the store refuses one.
async fn grant(store: &dyn Store) -> LeaseId {
    match store.lease_grant(NODE_LEASE_TTL).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "cannot take a node lease; catalog records are written without one");
            0
        }
    }
}

/// Renews the lease; one that expired (the agent stalled past its TTL) is
/// replaced and every live record written again under the new one.
async fn renewed(
    store: &dyn Store,
    lease: LeaseId,
    live: &BTreeMap<String, InstanceRecord>,
) -> LeaseId {
    if lease != 0 {
        match store.lease_keepalive(lease).await {
            Ok(_) => return lease,
            Err(StoreError::LeaseNotFound(_)) => {
                tracing::warn!(
                    lease,
                    "the node lease expired; taking a new one and writing the catalog again"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot renew the node lease");
                return lease;
            }
        }
    }
    let next = grant(store).await;
    if next != 0 && !live.is_empty() {
        let ops = live
            .iter()
            .map(|(key, r)| put(key.clone(), r, next))
            .collect::<Vec<_>>();
        for chunk in ops.chunks(shoal_store::PORTABLE_TXN_OPS) {
            write(store, chunk.to_vec()).await;
        }
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_store::{EmbeddedOptions, EmbeddedStore};

    fn record(id: &str) -> InstanceRecord {
        InstanceRecord::new(id, "web", "1", "node-a", "127.0.0.1", 20000)
    }

    #[tokio::test]
    async fn records_are_tied_to_the_node_lease_and_rewritten_under_a_new_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
            .await
            .expect("store");
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(run(store.clone(), rx));
        tx.send(Update::Upsert(Box::new(record("a"))))
            .expect("send");
        let key = catalog_key("web", "a");
        let kv = loop {
            if let Some(kv) = store.get(&key).await.expect("get") {
                break kv;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_ne!(kv.lease, 0, "written under the node lease");
        // The lease is gone (as after a stall past its TTL): the next renewal takes
        // a new one and writes the record again under it.
        store.lease_revoke(kv.lease).await.expect("revoke");
        assert!(store.get(&key).await.expect("get").is_none());
        let live = BTreeMap::from([(key.clone(), record("a"))]);
        let next = renewed(store.as_ref(), kv.lease, &live).await;
        assert_ne!(next, kv.lease);
        let again = store.get(&key).await.expect("get").expect("written again");
        assert_eq!(again.lease, next);
        // Every sender gone: the writer ends and revokes its lease.
        drop(tx);
        writer.await.expect("writer");
    }
}
