//! [`Wakes`]: the services a request held at the gateway asked to wake from zero.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

/// Set by the proxy (cheap, from the request path, only for a service at zero),
/// taken by the autoscaler's next pass.
#[derive(Debug, Clone, Default)]
pub struct Wakes(Arc<Mutex<BTreeSet<String>>>);

impl Wakes {
    /// A request for `service` waits for an instance.
    pub fn wake(&self, service: &str) {
        let mut set = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !set.contains(service) {
            set.insert(service.to_owned());
        }
    }

    /// The services asked for since the last call.
    pub fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}
