//! The proxy's protection at work: `shoal_shed_total{service,caller,reason}` and
//! `shoal_circuit_state{service}` (0 closed, 1 half-open, 2 open).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::expo::{Expo, Type};

/// Requests Shoal refused to protect a service, and each service's circuit.
#[derive(Debug, Default)]
pub struct ProtectionMetrics {
    shed: Mutex<BTreeMap<(String, String, String), u64>>,
    circuits: Mutex<BTreeMap<String, u8>>,
}

/// `shoal_circuit_state` values.
pub const CIRCUIT_CLOSED: u8 = 0;
pub const CIRCUIT_HALF_OPEN: u8 = 1;
pub const CIRCUIT_OPEN: u8 = 2;

impl ProtectionMetrics {
    /// Counts one request refused by Shoal (`shed`, `rate-limited`, `circuit-open`).
    pub fn observe_shed(&self, service: &str, caller: &str, reason: &str) {
        let mut m = self.shed.lock().unwrap_or_else(|p| p.into_inner());
        let key = (service.to_string(), caller.to_string(), reason.to_string());
        *m.entry(key).or_default() += 1;
    }

    /// Sets a service's circuit state; `None` removes it (no circuit configured).
    pub fn set_circuit(&self, service: &str, state: Option<u8>) {
        let mut m = self.circuits.lock().unwrap_or_else(|p| p.into_inner());
        match state {
            Some(s) => {
                m.insert(service.to_string(), s);
            }
            None => {
                m.remove(service);
            }
        }
    }

    pub(crate) fn render(&self, e: &mut Expo) {
        const SHED: &str = "shoal_shed_total";
        const CIRCUIT: &str = "shoal_circuit_state";
        e.family(
            SHED,
            "Requests Shoal refused to protect a service (shed, rate-limited, circuit-open).",
            Type::Counter,
        );
        for ((service, caller, reason), n) in
            self.shed.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            let labels = [
                ("service", service.as_str()),
                ("caller", caller),
                ("reason", reason),
            ];
            e.sample(SHED, SHED, &labels, *n as f64);
        }
        e.family(
            CIRCUIT,
            "Circuit breaker state per service: 0 closed, 1 half-open, 2 open.",
            Type::Gauge,
        );
        for (service, s) in self
            .circuits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            e.sample(CIRCUIT, CIRCUIT, &[("service", service)], f64::from(*s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shed_counts_and_circuits_render() {
        let p = ProtectionMetrics::default();
        p.observe_shed("web", "reports", "shed");
        p.observe_shed("web", "reports", "shed");
        p.set_circuit("web", Some(CIRCUIT_OPEN));
        p.set_circuit("gone", Some(CIRCUIT_CLOSED));
        p.set_circuit("gone", None);
        let mut e = Expo::default();
        p.render(&mut e);
        let text = e.render();
        assert!(
            text.contains(r#"shoal_shed_total{service="web",caller="reports",reason="shed"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"shoal_circuit_state{service="web"} 2"#),
            "{text}"
        );
        assert!(!text.contains("gone"), "{text}");
    }
}
