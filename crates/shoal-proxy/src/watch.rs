//! Keeps the proxy's routing table in step with the store: a watch on the
//! catalog, the specs and the deployments rebuilds the table and swaps it in
//! whole; a store failure is logged and retried after a backoff, never the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use shoal_catalog::{decode, InstanceRecord, CATALOG_PREFIX, DEPLOY_PREFIX, SPEC_PREFIX};
use shoal_deploy::Deployment;
use shoal_spec::ServiceSpec;
use shoal_store::{Store, StoreError, Watcher};
use tokio::sync::watch;

use crate::table::RouteTable;

/// Reads specs, instance records and deployment weights and builds the next
/// table from `previous`.
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
    let mut weights = BTreeMap::new();
    for kv in store.range(DEPLOY_PREFIX).await?.kvs {
        match decode::<Deployment>(&kv.key, &kv.value) {
            Ok(d) if d.weights.is_empty() => {}
            Ok(d) => {
                weights.insert(d.service, d.weights);
            }
            Err(e) => tracing::warn!(key = %kv.key, error = %e, "skipping unreadable deployment"),
        }
    }
    Ok(RouteTable::build_weighted(
        &specs, &records, domains, &weights, previous,
    ))
}

/// Rebuilds `table` on every catalog, spec or deployment change until `shutdown`
/// turns true (or its sender is dropped). A failed read or watch keeps the last
/// table, is logged, and is retried after a backoff (100 ms doubling to 5 s) with fresh watches; the
/// result is `Ok` once shut down (the `Result` stays for callers that match on it).
pub async fn run(
    store: Arc<dyn Store>,
    table: Arc<ArcSwap<RouteTable>>,
    domains: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let mut backoff = Backoff::default();
    loop {
        let Err(Failed { source, error }) = follow(
            store.as_ref(),
            &table,
            &domains,
            &mut shutdown,
            &mut backoff,
        )
        .await
        else {
            return Ok(());
        };
        let wait = backoff.fail();
        tracing::error!(
            source,
            error = %error,
            retry_in = ?wait,
            "routing table cannot follow the store; serving the last table until it can"
        );
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        }
    }
}

/// A read of the store, or a watch, failed (or the watch ended).
struct Failed {
    /// `read`, or the prefix watched.
    source: &'static str,
    error: StoreError,
}

/// Watches the prefixes, then rebuilds the table now and after every change;
/// `Ok` on shutdown (asked for, or its sender dropped).
async fn follow(
    store: &dyn Store,
    table: &ArcSwap<RouteTable>,
    domains: &[String],
    shutdown: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Result<(), Failed> {
    // Watching first: a change between the watch and the read is seen again.
    let mut catalog = watching(store, CATALOG_PREFIX).await?;
    let mut specs = watching(store, SPEC_PREFIX).await?;
    let mut deploys = watching(store, DEPLOY_PREFIX).await?;
    loop {
        let previous = table.load_full();
        let next = snapshot(store, domains, &previous)
            .await
            .map_err(|error| Failed {
                source: "read",
                error,
            })?;
        table.store(Arc::new(next));
        let (source, change) = tokio::select! {
            c = catalog.next() => (CATALOG_PREFIX, c),
            s = specs.next() => (SPEC_PREFIX, s),
            d = deploys.next() => (DEPLOY_PREFIX, d),
            _ = shutdown.wait_for(|stop| *stop) => return Ok(()),
        };
        match change {
            Some(Ok(_)) => backoff.reset(),
            Some(Err(error)) => return Err(Failed { source, error }),
            None => {
                return Err(Failed {
                    source,
                    error: StoreError::Closed,
                })
            }
        }
    }
}

async fn watching(store: &dyn Store, prefix: &'static str) -> Result<Watcher, Failed> {
    store.watch(prefix, 0).await.map_err(|error| Failed {
        source: prefix,
        error,
    })
}

/// The wait after consecutive store failures: 100 ms, doubling up to 5 s; back
/// to 100 ms once a watch delivers again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub(crate) const FIRST: Duration = Duration::from_millis(100);
    pub(crate) const MAX: Duration = Duration::from_secs(5);

    /// The wait before the next attempt after one more failure.
    pub(crate) fn fail(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }

    /// Forgets past failures.
    pub(crate) fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

#[cfg(test)]
mod tests;
