//! The autoscaler across a cluster: every node measures the scaled services where it
//! can (its proxy's rate and in-flight requests, its StatsD metrics, its instances' CPU,
//! requests held at its gateway) and publishes those signals once a second
//! (`shoal/scale-signals/<node>`); the leader decides on every node's combined. A node
//! whose signals were not rewritten for [`STALE`] counts with its last ones, and is named
//! in the decision's event.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shoal_cluster::Published;
use shoal_scale::Signals;
use shoal_store::KeyValue;
use tokio::time::Instant;

pub use shoal_cluster::{signals_key, SIGNALS_PREFIX};
/// A node's signals unchanged this long are stale (five passes missed).
pub const STALE: Duration = Duration::from_secs(5);

/// What one node publishes: its signals per scaled service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeSignals {
    /// Increases with every write, so each write is a change.
    pub seq: u64,
    pub services: BTreeMap<String, Signals>,
}

/// One service's signals as one node measured them, with that node's running
/// instances of it (the weight of its CPU).
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    pub signals: &'a Signals,
    pub instances: u32,
}

/// The service's signals over the nodes' `parts`: rates, in-flight requests and a
/// counter's rate add up; the p95 is the slowest node's (a quantile cannot be summed;
/// the slowest is the safe side); CPU is the mean per instance, weighted by each node's
/// instances; a gauge is the largest node's value (a gauge every node reports for one
/// shared quantity, a queue's depth say, is counted once); idle is the most recent
/// node's; a request held at any node wakes the service. `ready` and `starting` are
/// left at 0: they come from the fleet view, which already spans every node.
pub fn combine(parts: &[Part<'_>], gauge: bool) -> Signals {
    let sum = |f: fn(&Signals) -> Option<f64>| {
        let values: Vec<f64> = parts.iter().filter_map(|p| f(p.signals)).collect();
        (!values.is_empty()).then(|| values.iter().sum())
    };
    let max = |f: fn(&Signals) -> Option<f64>| {
        parts
            .iter()
            .filter_map(|p| f(p.signals))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let (cpu_sum, cpu_n) = parts
        .iter()
        .filter_map(|p| p.signals.cpu.map(|c| (c, p.instances.max(1))))
        .fold((0.0, 0u32), |(s, n), (c, k)| (s + c * f64::from(k), n + k));
    Signals {
        rps: sum(|s| s.rps),
        p95_ms: max(|s| s.p95_ms),
        cpu: (cpu_n > 0).then(|| cpu_sum / f64::from(cpu_n)),
        inflight: sum(|s| s.inflight),
        custom: if gauge {
            max(|s| s.custom)
        } else {
            sum(|s| s.custom)
        },
        ready: 0,
        starting: 0,
        idle_ms: parts.iter().filter_map(|p| p.signals.idle_ms).min(),
        wake: parts.iter().any(|p| p.signals.wake),
    }
}

/// Every node's signals as the leader last read them.
#[derive(Debug)]
pub struct ClusterSignals(Published<NodeSignals>);

impl Default for ClusterSignals {
    fn default() -> Self {
        Self(Published::new(SIGNALS_PREFIX, STALE))
    }
}

impl ClusterSignals {
    /// Takes the records read under [`SIGNALS_PREFIX`] at `now`.
    pub fn update(&mut self, kvs: &[KeyValue], now: Instant) {
        self.0.update(kvs, now);
    }

    /// Forgets every node's (this node no longer leads).
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// `service`'s signals combined over every node ([`combine`]), with each node's
    /// instances from `instances_on`, and the nodes (sorted) whose signals are stale.
    /// A node that is not `live` (its lease lapsed: its gateway and instances are gone
    /// or cut off) is left out; its last signals would hold the count up for good.
    pub fn combined(
        &self,
        service: &str,
        gauge: bool,
        instances_on: impl Fn(&str) -> u32,
        live: impl Fn(&str) -> bool,
        now: Instant,
    ) -> (Signals, Vec<String>) {
        let mut stale = Vec::new();
        let mut parts = Vec::new();
        for (node, record, is_stale) in self.0.records(now) {
            let Some(signals) = record.services.get(service).filter(|_| live(node)) else {
                continue;
            };
            if is_stale {
                stale.push(node.to_owned());
            }
            parts.push(Part {
                signals,
                instances: instances_on(node),
            });
        }
        stale.sort();
        (combine(&parts, gauge), stale)
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;
