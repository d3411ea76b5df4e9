//! Cluster-wide request numbers for the leader's canary judgement. Each node publishes
//! its own proxy's per-service, per-version totals once a second
//! (`shoal/numbers/<node>`); the leader sums every node's. A node whose record has not
//! been rewritten for [`STALE`] (by the leader's clock: no clocks are compared) still
//! counts with its last totals, never as zero, and is named in the judgement's step.
//! A lost node's record is deleted with its placements.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shoal_cluster::Published;
use shoal_deploy::Totals;
use shoal_fleet::FleetReader;
use shoal_store::{KeyValue, Store};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::rollout::{Traffic, TrafficSource};

pub use shoal_cluster::{numbers_key, signals_key, NUMBERS_PREFIX};
/// How often a node publishes (the bounded rate: one small write per node per period).
pub const PERIOD: Duration = Duration::from_secs(1);
/// A node's numbers unchanged this long are stale (five periods missed).
pub const STALE: Duration = Duration::from_secs(5);

/// What one node publishes: its proxy's totals by service, then version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeNumbers {
    /// Increases with every write, so each write is a change even when no total moved.
    pub seq: u64,
    pub services: BTreeMap<String, BTreeMap<String, Totals>>,
}

/// The node's numbers now: every service of the fleet with any totals.
fn measure(fleet: &shoal_fleet::Fleet, local: &TrafficSource, seq: u64) -> NodeNumbers {
    let services = fleet
        .specs
        .keys()
        .map(|s| (s.clone(), local(s).totals))
        .filter(|(_, by_version)| !by_version.is_empty())
        .collect();
    NodeNumbers { seq, services }
}

/// Publishes this node's numbers every [`PERIOD`] until `stop` says so. A failed write is
/// logged once per run of failures and tried again next period.
pub async fn publish(
    store: std::sync::Arc<dyn Store>,
    node: String,
    fleet: FleetReader,
    local: TrafficSource,
    mut stop: watch::Receiver<bool>,
) {
    let key = numbers_key(&node);
    let mut ticks = tokio::time::interval(PERIOD);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut seq, mut failing, mut said_nothing) = (0u64, false, false);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        let numbers = measure(&fleet.current(), &local, seq + 1);
        // A node that served nothing says so once, not every second.
        let nothing = numbers.services.is_empty();
        if nothing && said_nothing {
            continue;
        }
        seq += 1;
        let value = serde_json::to_vec(&numbers).unwrap_or_default();
        match store.put(&key, value, 0).await {
            Ok(_) => (failing, said_nothing) = (false, nothing),
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot publish this node's request numbers; the leader will name them stale");
            }
            Err(_) => {}
        }
    }
}

/// Every node's numbers as the leader last read them.
#[derive(Debug)]
pub struct ClusterNumbers(Published<NodeNumbers>);

impl Default for ClusterNumbers {
    fn default() -> Self {
        Self(Published::new(NUMBERS_PREFIX, STALE))
    }
}

impl ClusterNumbers {
    /// Takes the records read under [`NUMBERS_PREFIX`] at `now` ([`Published::update`]).
    pub fn update(&mut self, kvs: &[KeyValue], now: Instant) {
        self.0.update(kvs, now);
    }

    /// Whether `node` has numbers here.
    pub fn has(&self, node: &str) -> bool {
        self.0.has(node)
    }

    /// `service`'s totals by version summed over every node, and the nodes (sorted) whose
    /// numbers are older than [`STALE`] at `now` (counted with their last totals).
    pub fn traffic(&self, service: &str, now: Instant) -> Traffic {
        let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
        let mut stale = Vec::new();
        for (node, numbers, is_stale) in self.0.records(now) {
            let Some(by_version) = numbers.services.get(service) else {
                continue; // nothing of it there, stale or not
            };
            if is_stale {
                stale.push(node.to_owned());
            }
            for (version, t) in by_version {
                totals.entry(version.clone()).or_default().add(t);
            }
        }
        stale.sort();
        Traffic { totals, stale }
    }
}

#[cfg(test)]
#[path = "numbers_tests.rs"]
mod tests;
