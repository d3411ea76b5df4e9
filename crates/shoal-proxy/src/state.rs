//! A service's live resilience state (breaker, retry budget, admission, counters),
//! built from its `resilience` spec and kept across table swaps while the spec is unchanged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use shoal_spec::ResilienceSpec;
use tokio::time::Instant;

use crate::admission::Admission;
use crate::breaker::{Breaker, CircuitState, Permit};
use crate::budget::RetryBudget;

/// Counters shown by the API snapshot.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub circuit_rejected: AtomicU64,
    pub fallbacks: AtomicU64,
    pub timeouts: AtomicU64,
    pub ejections: AtomicU64,
}

impl Counters {
    pub fn bump(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// One service's resilience state.
#[derive(Debug)]
pub struct ServiceState {
    pub spec: ResilienceSpec,
    breaker: Option<Mutex<Breaker>>,
    budget: Mutex<RetryBudget>,
    pub admission: Arc<Admission>,
    pub counters: Counters,
}

impl ServiceState {
    pub fn new(spec: Option<&ResilienceSpec>) -> Self {
        let spec = spec.cloned().unwrap_or_default();
        let ratio = spec.retries.as_ref().map_or(0.2, |r| r.budget);
        Self {
            breaker: spec
                .circuit
                .clone()
                .map(|c| Mutex::new(Breaker::new(c, Instant::now()))),
            budget: Mutex::new(RetryBudget::new(ratio)),
            admission: Arc::new(Admission::new(spec.limits.as_ref(), &spec.callers)),
            counters: Counters::default(),
            spec,
        }
    }

    /// The breaker's verdict (always `Allow` without a circuit spec).
    pub fn check_circuit(&self) -> Permit {
        match &self.breaker {
            Some(b) => b
                .lock()
                .map_or(Permit::Allow, |mut b| b.check(Instant::now())),
            None => Permit::Allow,
        }
    }

    pub fn record_circuit(&self, permit: Permit, ok: bool) {
        if let Some(Ok(mut b)) = self.breaker.as_ref().map(|b| b.lock()) {
            let before = b.state();
            b.record(permit, ok, Instant::now());
            if b.state() != before {
                tracing::info!(from = ?before, to = ?b.state(), "circuit changed state");
            }
        }
    }

    pub fn circuit_state(&self) -> Option<CircuitState> {
        self.breaker
            .as_ref()
            .and_then(|b| b.lock().ok().map(|b| b.state()))
    }

    /// Counts a request (arriving at `now`) and feeds the retry budget.
    pub fn deposit(&self, now: Instant) {
        Counters::bump(&self.counters.requests);
        if let Ok(mut b) = self.budget.lock() {
            b.deposit(now);
        }
    }

    /// Takes a retry from the budget.
    pub fn withdraw(&self) -> bool {
        self.budget
            .lock()
            .is_ok_and(|mut b| b.withdraw(Instant::now()))
    }

    /// Retries after the first attempt (0 without a `retries` spec, except for
    /// requests that never reached an instance, which always get 2).
    pub fn max_retries(&self) -> u32 {
        self.spec.retries.as_ref().map_or(0, |r| r.attempts)
    }
}
