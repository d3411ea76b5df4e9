//! The proxy's state for the API (`/api/v1/proxy`): per service the breaker,
//! ejected instances, in-flight and the shed / rate-limited / retry counters.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::Serialize;
use tokio::time::Instant;

use crate::breaker::CircuitState;
use crate::server::Proxy;

/// Every service the proxy routes.
#[derive(Debug, Clone, Serialize)]
pub struct ProxySnapshot {
    pub services: BTreeMap<String, ServiceSnapshot>,
    /// Outbound listener address per calling service.
    pub outbound: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceSnapshot {
    pub current_version: String,
    /// `null` when the service has no circuit configured.
    pub circuit: Option<CircuitState>,
    pub inflight: u32,
    pub requests: u64,
    pub retries: u64,
    pub shed: u64,
    pub rate_limited: u64,
    pub circuit_rejected: u64,
    pub fallbacks: u64,
    pub timeouts: u64,
    pub ejections: u64,
    pub instances: Vec<InstanceSnapshot>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceSnapshot {
    pub id: String,
    pub version: String,
    pub address: String,
    pub inflight: usize,
    pub latency_ewma_ms: f64,
    /// Milliseconds of ejection left; absent when not ejected.
    pub ejected_ms: Option<u64>,
}

impl Proxy {
    /// The live state of every service, for the API.
    pub fn snapshot(&self) -> ProxySnapshot {
        let table = self.table.load_full();
        let now = Instant::now();
        let services = table
            .services
            .iter()
            .map(|(name, r)| {
                let c = &r.state.counters;
                let a = &r.state.admission;
                let instances = r
                    .versions
                    .values()
                    .flatten()
                    .map(|e| InstanceSnapshot {
                        id: e.instance.clone(),
                        version: e.version.clone(),
                        address: e.addr.to_string(),
                        inflight: e.stats.inflight(),
                        latency_ewma_ms: e.stats.ewma().as_secs_f64() * 1000.0,
                        ejected_ms: e.stats.ejected_for(now).map(|d| d.as_millis() as u64),
                    })
                    .collect();
                let snap = ServiceSnapshot {
                    current_version: r.current.clone(),
                    circuit: r.state.circuit_state(),
                    inflight: a.inflight(),
                    requests: c.requests.load(Ordering::Relaxed),
                    retries: c.retries.load(Ordering::Relaxed),
                    shed: a.shed.load(Ordering::Relaxed),
                    rate_limited: a.rate_limited.load(Ordering::Relaxed),
                    circuit_rejected: c.circuit_rejected.load(Ordering::Relaxed),
                    fallbacks: c.fallbacks.load(Ordering::Relaxed),
                    timeouts: c.timeouts.load(Ordering::Relaxed),
                    ejections: c.ejections.load(Ordering::Relaxed),
                    instances,
                };
                (name.clone(), snap)
            })
            .collect();
        let outbound = self
            .outbound_listeners()
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        ProxySnapshot { services, outbound }
    }
}
