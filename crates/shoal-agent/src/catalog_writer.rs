//! Writes instance state changes into the catalog in the store, batching
//! whatever piled up while the previous write was being made durable.

use std::collections::BTreeMap;
use std::sync::Arc;

use shoal_catalog::{catalog_key, encode, InstanceRecord};
use shoal_store::{Op, Store, Txn};
use tokio::sync::mpsc;

use crate::instance::Update;

/// Runs until every sender is dropped; then returns.
pub async fn run(store: Arc<dyn Store>, mut updates: mpsc::UnboundedReceiver<Update>) {
    while let Some(first) = updates.recv().await {
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
        let ops = latest
            .into_iter()
            .map(|(key, rec)| match rec {
                Some(r) => Op::Put {
                    key,
                    value: encode(&r),
                    lease: 0,
                },
                None => Op::Delete { key },
            })
            .collect();
        let txn = Txn {
            compare: vec![],
            success: ops,
            failure: vec![],
        };
        if let Err(e) = store.txn(txn).await {
            tracing::error!(error = %e, "catalog write failed");
        }
    }
}
