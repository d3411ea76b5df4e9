//! Keeps the [`DnsTable`] in step with the store: range the specs and the catalog, build,
//! swap in whole, then wait for the next change (bursts are coalesced into one rebuild).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::FutureExt;
use shoal_catalog::{decode, InstanceRecord, CATALOG_PREFIX, SPEC_PREFIX};
use shoal_spec::ServiceSpec;
use shoal_store::{Store, StoreError, Watcher};

use crate::config::DnsConfig;
use crate::table::{build_table, DnsTable};

/// Wait before re-reading after a store error.
const RETRY: Duration = Duration::from_millis(500);

/// Rebuilds `table` on every catalog or spec change until `shutdown` completes or the store
/// closes. Store errors are logged and retried; the last good table keeps answering.
pub async fn run_table_updater(
    store: Arc<dyn Store>,
    table: Arc<ArcSwap<DnsTable>>,
    cfg: DnsConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            r = follow(store.as_ref(), &table, &cfg) => match r {
                Ok(()) => return,
                Err(e) => tracing::warn!(error = %e, "dns table: reading the store failed; retrying"),
            },
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Publishes a table per change; `Ok` when the store closed.
async fn follow(
    store: &dyn Store,
    table: &ArcSwap<DnsTable>,
    cfg: &DnsConfig,
) -> Result<(), StoreError> {
    // Watch first, then read: a change between the two is seen by the watch.
    let mut catalog = store.watch(CATALOG_PREFIX, 0).await?;
    let mut specs = store.watch(SPEC_PREFIX, 0).await?;
    loop {
        let t = snapshot(store, cfg).await?;
        tracing::debug!(services = t.services.len(), "dns table rebuilt");
        table.store(Arc::new(t));
        let open = tokio::select! {
            c = catalog.next() => c.transpose()?.is_some(),
            s = specs.next() => s.transpose()?.is_some(),
        };
        if !open || !drain(&mut catalog)? || !drain(&mut specs)? {
            return Ok(());
        }
    }
}

/// Consumes changes already waiting; `false` once the stream ended.
fn drain(w: &mut Watcher) -> Result<bool, StoreError> {
    while let Some(next) = w.next().now_or_never() {
        match next {
            None => return Ok(false),
            Some(r) => {
                r?;
            }
        }
    }
    Ok(true)
}

async fn snapshot(store: &dyn Store, cfg: &DnsConfig) -> Result<DnsTable, StoreError> {
    let mut specs = BTreeMap::new();
    for kv in store.range(SPEC_PREFIX).await?.kvs {
        match decode::<ServiceSpec>(&kv.key, &kv.value) {
            Ok(s) => {
                specs.insert(s.name.clone(), s);
            }
            Err(e) => tracing::warn!(error = %e, "dns table: skipping a spec"),
        }
    }
    let catalog = store.range(CATALOG_PREFIX).await?;
    let records: Vec<InstanceRecord> = catalog
        .kvs
        .iter()
        .filter_map(|kv| decode(&kv.key, &kv.value).ok())
        .collect();
    // SOA serials are 32-bit and wrap (RFC 1982); the low bits of the revision do.
    let serial = catalog.revision as u32;
    Ok(build_table(cfg, &specs, &records, serial))
}
