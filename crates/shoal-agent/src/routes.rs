//! Keeps the gateway's routing table in step with the catalog: a watch on the
//! store rebuilds the table and swaps it in whole.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use arc_swap::ArcSwap;
use shoal_catalog::{decode, InstanceRecord, CATALOG_PREFIX, SPEC_PREFIX};
use shoal_gateway::{Backend, RouteTable, ServiceRoute};
use shoal_spec::ServiceSpec;
use shoal_store::{Store, StoreError};
use tokio::sync::watch;

/// Builds the routing table: each service's routable instances of its current
/// version (any version for services registered from outside), and route prefixes.
pub fn build(
    specs: &BTreeMap<String, ServiceSpec>,
    records: &[InstanceRecord],
    domains: &[String],
) -> RouteTable {
    let mut backends: HashMap<String, Vec<Backend>> = HashMap::new();
    for r in records.iter().filter(|r| r.is_routable()) {
        let current = specs.get(&r.service).map(|s| s.version.as_str());
        if current.is_some_and(|v| v != r.version) {
            continue;
        }
        let Ok(ip) = r.address.parse::<IpAddr>() else {
            continue;
        };
        backends
            .entry(r.service.clone())
            .or_default()
            .push(Backend {
                instance: r.id.clone(),
                addr: SocketAddr::new(ip, r.port),
            });
    }
    let mut services = HashMap::new();
    let mut prefixes = Vec::new();
    for (name, spec) in specs {
        let mut list = backends.remove(name).unwrap_or_default();
        list.sort_by(|a, b| a.instance.cmp(&b.instance));
        services.insert(name.clone(), ServiceRoute::new(spec.version.clone(), list));
        for route in &spec.routes {
            prefixes.push((route.clone(), name.clone()));
        }
    }
    for (name, mut list) in backends {
        list.sort_by(|a, b| a.instance.cmp(&b.instance));
        services.insert(name, ServiceRoute::new(String::new(), list));
    }
    RouteTable::new(services, prefixes, domains.to_vec())
}

async fn snapshot(store: &dyn Store, domains: &[String]) -> Result<RouteTable, StoreError> {
    let mut specs = BTreeMap::new();
    for kv in store.range(SPEC_PREFIX).await?.kvs {
        if let Ok(s) = decode::<ServiceSpec>(&kv.key, &kv.value) {
            specs.insert(s.name.clone(), s);
        }
    }
    let records: Vec<InstanceRecord> = store
        .range(CATALOG_PREFIX)
        .await?
        .kvs
        .iter()
        .filter_map(|kv| decode(&kv.key, &kv.value).ok())
        .collect();
    Ok(build(&specs, &records, domains))
}

/// Rebuilds `table` on every catalog or spec change until shutdown.
pub async fn run(
    store: Arc<dyn Store>,
    table: Arc<ArcSwap<RouteTable>>,
    domains: Vec<String>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let mut catalog = store.watch(CATALOG_PREFIX, 0).await?;
    let mut specs = store.watch(SPEC_PREFIX, 0).await?;
    loop {
        table.store(Arc::new(snapshot(store.as_ref(), &domains).await?));
        tokio::select! {
            c = catalog.next() => if c.is_none() { return Ok(()) },
            s = specs.next() => if s.is_none() { return Ok(()) },
            _ = shutdown.changed() => return Ok(()),
        }
    }
}
