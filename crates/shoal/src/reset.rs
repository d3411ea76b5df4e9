//! Clears the catalog records of instances an earlier run on this node supervised (they were reaped), and no others.

use shoal_catalog::{decode, InstanceRecord, CATALOG_PREFIX};
use shoal_store::{KeyValue, Op, Store, StoreError, Txn, PORTABLE_TXN_OPS};

/// The keys of `node`'s supervised records, and of records that do not
/// decode (only Shoal writes the catalog: they are ours, and unreadable).
/// Other nodes' records and services registered from outside stay.
pub fn stale_keys(kvs: &[KeyValue], node: &str) -> Vec<String> {
    kvs.iter()
        .filter(|kv| match decode::<InstanceRecord>(&kv.key, &kv.value) {
            Ok(r) => r.node == node && !r.external,
            Err(_) => true,
        })
        .map(|kv| kv.key.clone())
        .collect()
}

/// Deletes [`stale_keys`] in transactions of at most [`PORTABLE_TXN_OPS`] ops; returns how many.
pub async fn clear_node_records(store: &dyn Store, node: &str) -> Result<usize, StoreError> {
    let keys = stale_keys(&store.range(CATALOG_PREFIX).await?.kvs, node);
    for chunk in keys.chunks(PORTABLE_TXN_OPS) {
        let deletes = chunk.iter().map(|k| Op::delete(k.as_str()));
        store.txn(Txn::new().and_then(deletes)).await?;
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_catalog::{catalog_key, encode};
    use shoal_store::EmbeddedStore;

    #[tokio::test]
    async fn only_this_nodes_supervised_and_unreadable_records_go() {
        let store = EmbeddedStore::open_in_memory().await.expect("store");
        let put = |id: &str, node: &str, external: bool| {
            let r = InstanceRecord {
                external,
                ..InstanceRecord::new(id, "web", "1", node, "127.0.0.1", 8000)
            };
            (catalog_key("web", id), encode(&r))
        };
        for (key, value) in [
            put("mine", "here", false),
            put("consul", "here", true),
            put("theirs", "there", false),
            (catalog_key("web", "garbled"), b"{not json".to_vec()),
        ] {
            store.put(&key, value, 0).await.expect("put");
        }
        let deleted = clear_node_records(store.as_ref(), "here")
            .await
            .expect("clear");
        assert_eq!(deleted, 2);
        let left: Vec<String> = store
            .range(CATALOG_PREFIX)
            .await
            .expect("range")
            .kvs
            .into_iter()
            .map(|kv| kv.key)
            .collect();
        assert_eq!(
            left,
            [catalog_key("web", "consul"), catalog_key("web", "theirs")]
        );
        store.close().await;
    }

    #[tokio::test]
    async fn more_records_than_one_transaction_holds_are_all_deleted() {
        let store = EmbeddedStore::open_in_memory().await.expect("store");
        let n = PORTABLE_TXN_OPS + 3;
        for chunk in (0..n).collect::<Vec<_>>().chunks(PORTABLE_TXN_OPS) {
            let puts = chunk.iter().map(|i| {
                let id = format!("web-{i}");
                let r = InstanceRecord::new(&id, "web", "1", "here", "127.0.0.1", 8000);
                Op::put(catalog_key("web", &id), encode(&r))
            });
            store.txn(Txn::new().and_then(puts)).await.expect("puts");
        }
        let deleted = clear_node_records(store.as_ref(), "here")
            .await
            .expect("clear");
        assert_eq!(deleted, n);
        let left = store.range(CATALOG_PREFIX).await.expect("range").kvs;
        assert!(left.is_empty(), "{} left", left.len());
        store.close().await;
    }
}
