//! Keeps the proxy's routing table in step with the fleet view (`shoal-fleet`): each
//! snapshot it publishes (specs, instance records, deployment weights, flags, decoded once)
//! rebuilds the table, which is swapped in whole. The store, its failures and retries
//! are the view's business; the request path only ever reads the swapped-in table.

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use shoal_catalog::InstanceState;
use shoal_fleet::Fleet;
use tokio::sync::watch;

use crate::table::{FlagsRoute, RouteTable};

/// The table for `fleet`, carrying live state (breakers, limits, instance load) over
/// from `previous`; unpinned traffic is weighted by each service's deployment.
/// In a cluster, instances of a node whose lease lapsed get nothing.
pub fn build(fleet: &Fleet, domains: &[String], previous: &RouteTable) -> RouteTable {
    let live;
    let records = if fleet.nodes.is_empty() {
        &fleet.instances[..]
    } else {
        live = fleet
            .instances
            .iter()
            .filter(|r| r.external || fleet.node_is_live(&r.node))
            .cloned()
            .collect::<Vec<_>>();
        &live[..]
    };
    let mut table =
        RouteTable::build_weighted(&fleet.specs, records, domains, &fleet.weights(), previous);
    // Flags are compiled again only when they changed, counts carried over.
    if previous.flags.defs != fleet.flags {
        table.flags = Arc::new(FlagsRoute::new(fleet.flags.clone(), &previous.flags));
    }
    withdraw_failed(previous, fleet);
    for e in fleet.chaos.values() {
        if matches!(e.fault, shoal_chaos::Fault::Kill { .. }) {
            continue;
        }
        if let Some(route) = table.services.get_mut(&e.service) {
            route.chaos.push(e.clone());
        }
    }
    table
}

/// Tells every endpoint of `previous` whose instance failed its health check (or
/// whose node's lease lapsed) that it left: requests in flight on it give up and
/// are retried elsewhere (see `forward::attempt`). An instance stopping or
/// draining keeps its requests: they finish where they are.
fn withdraw_failed(previous: &RouteTable, fleet: &Fleet) {
    let failed: std::collections::HashSet<&str> = fleet
        .instances
        .iter()
        .filter(|r| {
            let unhealthy = r.state == InstanceState::Running && !r.health.serves_traffic();
            let lost = !r.external && !fleet.node_is_live(&r.node);
            unhealthy || lost
        })
        .map(|r| r.id.as_str())
        .collect();
    if failed.is_empty() {
        return;
    }
    for ep in previous
        .services
        .values()
        .flat_map(|s| s.versions.values().flatten())
    {
        if failed.contains(ep.instance.as_str()) {
            ep.stats.withdraw();
        }
    }
}

/// Builds `table` from the current snapshot, then again on every new one, until
/// `shutdown` completes. Returns early, with an error in the log, only if the view's
/// sender is gone (no snapshot can come any more; the last table stays in place).
pub async fn follow(
    mut fleet: watch::Receiver<Arc<Fleet>>,
    table: Arc<ArcSwap<RouteTable>>,
    domains: Vec<String>,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let current = fleet.borrow_and_update().clone();
        let next = build(&current, &domains, &table.load_full());
        tracing::debug!(
            revision = current.revision,
            services = next.services.len(),
            "route table rebuilt"
        );
        table.store(Arc::new(next));
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            changed = fleet.changed() => {
                if changed.is_err() {
                    tracing::error!("route table: the fleet view is gone; keeping the last table");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
