//! [`Memory`]: what the autoscaler keeps per service in the store
//! (`shoal/autoscale/<service>`), so a restarted `shoal` (or another node) goes on
//! where this one stopped, and `shoal status` can say what it decided last.

use serde::{Deserialize, Serialize};
use shoal_scale::{Decision, Signals, State};

/// The decision's memory and the last decision, as shown by `shoal status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// What [`shoal_scale::decide`] remembers between passes.
    pub state: State,
    /// The last decision's count, its reason and when (unix ms).
    #[serde(default)]
    pub last: Option<Last>,
}

/// A decision as `shoal status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Last {
    pub at_ms: u64,
    pub desired: u32,
    pub changed: bool,
    pub reason: String,
    /// What it was measured on.
    pub signals: Signals,
}

impl Last {
    pub fn of(d: &Decision, signals: &Signals, at_ms: u64) -> Self {
        Last {
            at_ms,
            desired: d.desired,
            changed: d.changed,
            reason: d.reason.clone(),
            signals: signals.clone(),
        }
    }
}
