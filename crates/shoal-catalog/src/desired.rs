//! Desired-state records written through the API and read by the agent's controllers.

use serde::{Deserialize, Serialize};

/// `shoal scale SERVICE N`: overrides the spec's instance count of the current version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleOverride {
    pub instances: u32,
}

/// A request to restart one instance (replaced in place, same id and port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartRequest {
    pub requested_ms: u64,
}
