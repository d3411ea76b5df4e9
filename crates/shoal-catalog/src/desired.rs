//! Desired-state records written through the API and read by the agent's controllers.

use serde::{Deserialize, Serialize};

/// The instance count of a service's current version, overriding the spec's: set by
/// `shoal scale SERVICE N` or by the autoscaler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleOverride {
    pub instances: u32,
    /// Who set it.
    #[serde(default)]
    pub source: ScaleSource,
    /// A manual count holds the autoscaler off until then (unix ms); `None`: until
    /// `shoal scale SERVICE --auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_paused_until_ms: Option<u64>,
}

impl ScaleOverride {
    /// A count set by hand, holding the autoscaler off until `until_ms`.
    pub fn manual(instances: u32, until_ms: Option<u64>) -> Self {
        ScaleOverride {
            instances,
            source: ScaleSource::Manual,
            auto_paused_until_ms: until_ms,
        }
    }

    /// A count set by the autoscaler.
    pub fn auto(instances: u32) -> Self {
        ScaleOverride {
            instances,
            source: ScaleSource::Auto,
            auto_paused_until_ms: None,
        }
    }

    /// Whether the autoscaler may change this count at `now_ms`.
    pub fn auto_allowed(&self, now_ms: u64) -> bool {
        match self.source {
            ScaleSource::Auto => true,
            ScaleSource::Manual => self.auto_paused_until_ms.is_some_and(|t| now_ms >= t),
        }
    }
}

/// Who set a [`ScaleOverride`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleSource {
    /// `shoal scale` (the default of records written before the autoscaler).
    #[default]
    Manual,
    /// The autoscaler.
    Auto,
}

/// A request to restart one instance (replaced in place, same id and port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartRequest {
    pub requested_ms: u64,
    /// Kill the process at once (SIGKILL, as a crash: the restart policy applies)
    /// instead of stopping it gracefully: the chaos monkey's request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kill: bool,
}
