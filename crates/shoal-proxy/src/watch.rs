//! Keeps the proxy's routing table in step with the store: a watch on the
//! catalog and the specs rebuilds the table and swaps it in whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use shoal_catalog::{decode, InstanceRecord, CATALOG_PREFIX, SPEC_PREFIX};
use shoal_spec::ServiceSpec;
use shoal_store::{Store, StoreError};
use tokio::sync::watch;

use crate::table::RouteTable;

/// Reads specs and instance records and builds the next table from `previous`.
pub async fn snapshot(
    store: &dyn Store,
    domains: &[String],
    previous: &RouteTable,
) -> Result<RouteTable, StoreError> {
    let mut specs = BTreeMap::new();
    for kv in store.range(SPEC_PREFIX).await?.kvs {
        match decode::<ServiceSpec>(&kv.key, &kv.value) {
            Ok(s) => {
                specs.insert(s.name.clone(), s);
            }
            Err(e) => tracing::warn!(key = %kv.key, error = %e, "skipping unreadable spec"),
        }
    }
    let records: Vec<InstanceRecord> = store
        .range(CATALOG_PREFIX)
        .await?
        .kvs
        .iter()
        .filter_map(|kv| decode(&kv.key, &kv.value).ok())
        .collect();
    Ok(RouteTable::build(&specs, &records, domains, previous))
}

/// Rebuilds `table` on every catalog or spec change until `shutdown` turns true
/// (or its sender is dropped).
pub async fn run(
    store: Arc<dyn Store>,
    table: Arc<ArcSwap<RouteTable>>,
    domains: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let mut catalog = store.watch(CATALOG_PREFIX, 0).await?;
    let mut specs = store.watch(SPEC_PREFIX, 0).await?;
    loop {
        let previous = table.load_full();
        table.store(Arc::new(
            snapshot(store.as_ref(), &domains, &previous).await?,
        ));
        tokio::select! {
            c = catalog.next() => if c.is_none() { return Ok(()) },
            s = specs.next() => if s.is_none() { return Ok(()) },
            r = shutdown.changed() => if r.is_err() || *shutdown.borrow() { return Ok(()) },
        }
    }
}
