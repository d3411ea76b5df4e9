//! State changes of the data plane worth an event: circuits opening and closing,
//! instances ejected and returned. A pure diff of two snapshots, and the loop that
//! takes snapshots and reports the differences.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::breaker::CircuitState;
use crate::server::Proxy;
use crate::snapshot::ProxySnapshot;

/// One change between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    Circuit {
        service: String,
        from: CircuitState,
        to: CircuitState,
    },
    Ejected {
        service: String,
        instance: String,
        for_ms: u64,
    },
    Returned {
        service: String,
        instance: String,
    },
}

impl Change {
    pub fn service(&self) -> &str {
        match self {
            Change::Circuit { service, .. }
            | Change::Ejected { service, .. }
            | Change::Returned { service, .. } => service,
        }
    }

    /// The instance it concerns, if any.
    pub fn instance(&self) -> Option<&str> {
        match self {
            Change::Circuit { .. } => None,
            Change::Ejected { instance, .. } | Change::Returned { instance, .. } => Some(instance),
        }
    }

    /// One line for the event stream.
    pub fn message(&self) -> String {
        match self {
            Change::Circuit { service, from, to } => {
                format!("circuit of {service}: {} -> {}", name(*from), name(*to))
            }
            Change::Ejected {
                instance, for_ms, ..
            } => format!(
                "{instance} ejected from load balancing for {:.1}s after consecutive failures",
                *for_ms as f64 / 1000.0
            ),
            Change::Returned { instance, .. } => {
                format!("{instance} back in load balancing")
            }
        }
    }
}

/// The kebab-case name of a circuit state, as in the API.
pub fn name(s: CircuitState) -> &'static str {
    match s {
        CircuitState::Closed => "closed",
        CircuitState::Open => "open",
        CircuitState::HalfOpen => "half-open",
    }
}

/// What changed from `prev` to `next`. Services or instances that appear or
/// vanish are the catalog's business (it has its own events), not changes here.
pub fn diff(prev: &ProxySnapshot, next: &ProxySnapshot) -> Vec<Change> {
    let mut out = Vec::new();
    for (service, n) in &next.services {
        let Some(p) = prev.services.get(service) else {
            continue;
        };
        if let (Some(from), Some(to)) = (p.circuit, n.circuit) {
            if from != to {
                out.push(Change::Circuit {
                    service: service.clone(),
                    from,
                    to,
                });
            }
        }
        for i in &n.instances {
            let Some(before) = p.instances.iter().find(|x| x.id == i.id) else {
                continue;
            };
            match (before.ejected_ms, i.ejected_ms) {
                (None, Some(ms)) => out.push(Change::Ejected {
                    service: service.clone(),
                    instance: i.id.clone(),
                    for_ms: ms,
                }),
                (Some(_), None) => out.push(Change::Returned {
                    service: service.clone(),
                    instance: i.id.clone(),
                }),
                _ => {}
            }
        }
    }
    out
}

/// Takes a snapshot every `every` and calls `on` with it and what changed since
/// the last one, until `stop` turns true.
pub async fn watch_changes(
    proxy: Arc<Proxy>,
    every: Duration,
    on: impl Fn(&ProxySnapshot, &[Change]) + Send,
    mut stop: watch::Receiver<bool>,
) {
    let mut prev = proxy.snapshot();
    on(&prev, &[]);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let next = proxy.snapshot();
        let changes = diff(&prev, &next);
        on(&next, &changes);
        prev = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{InstanceSnapshot, ServiceSnapshot};
    use std::collections::BTreeMap;

    fn inst(id: &str, ejected_ms: Option<u64>) -> InstanceSnapshot {
        InstanceSnapshot {
            id: id.into(),
            version: "1".into(),
            address: "127.0.0.1:1".into(),
            inflight: 0,
            latency_ewma_ms: 0.0,
            ejected_ms,
        }
    }

    fn snap(circuit: Option<CircuitState>, instances: Vec<InstanceSnapshot>) -> ProxySnapshot {
        let s = ServiceSnapshot {
            current_version: "1".into(),
            circuit,
            inflight: 0,
            requests: 0,
            retries: 0,
            shed: 0,
            rate_limited: 0,
            circuit_rejected: 0,
            fallbacks: 0,
            timeouts: 0,
            ejections: 0,
            instances,
        };
        ProxySnapshot {
            services: BTreeMap::from([("web".to_string(), s)]),
            outbound: BTreeMap::new(),
        }
    }

    #[test]
    fn circuit_transitions_are_changes() {
        let a = snap(Some(CircuitState::Closed), vec![]);
        let b = snap(Some(CircuitState::Open), vec![]);
        let c = diff(&a, &b);
        assert_eq!(
            c,
            [Change::Circuit {
                service: "web".into(),
                from: CircuitState::Closed,
                to: CircuitState::Open
            }]
        );
        assert_eq!(c[0].message(), "circuit of web: closed -> open");
        assert!(diff(&b, &b).is_empty());
    }

    #[test]
    fn ejections_and_returns_are_changes_new_instances_are_not() {
        let a = snap(None, vec![inst("web-1", None)]);
        let b = snap(
            None,
            vec![inst("web-1", Some(5_000)), inst("web-2", Some(1))],
        );
        let c = diff(&a, &b);
        assert_eq!(
            c,
            [Change::Ejected {
                service: "web".into(),
                instance: "web-1".into(),
                for_ms: 5_000
            }]
        );
        assert_eq!(c[0].instance(), Some("web-1"));
        let back = diff(&b, &a);
        assert_eq!(
            back,
            [Change::Returned {
                service: "web".into(),
                instance: "web-1".into()
            }]
        );
        // Still ejected, with less time left: no change.
        let later = snap(None, vec![inst("web-1", Some(4_000))]);
        assert!(diff(&b, &later).is_empty());
    }
}
