//! Placements (cluster mode): the leader's decision that one instance runs on one node,
//! `shoal/placement/<node>/<instance>` → JSON [`PlacementRecord`]. The node's agent starts
//! an instance for each of its placements and stops any instance whose placement is gone;
//! the instance's catalog record (`shoal/catalog/...`) then says how it is doing.

use serde::{Deserialize, Serialize};

/// Where placements live, one folder per node.
pub const PLACEMENT_PREFIX: &str = "shoal/placement/";

/// One instance placed on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementRecord {
    /// The instance id the agent gives the instance (`<service>-<version>-<tag>`).
    pub id: String,
    pub service: String,
    /// "" for the service's main line, else the side version's label.
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub node: String,
    /// The deployment (per-service generation) it was placed for; 0 if none.
    #[serde(default)]
    pub deployment: u64,
    /// Exactly what to run: the service spec as it was when placed (JSON of
    /// `shoal_spec::ServiceSpec`; for a side version, the spec with the side version's
    /// fields applied). Kept as JSON so this crate does not depend on the spec crate.
    pub spec: serde_json::Value,
    /// The fingerprint the leader computed for it (spec and resolved env); the agent's
    /// catalog record carries the one it computed when starting it.
    #[serde(default)]
    pub fingerprint: u64,
    /// When it was placed (unix ms).
    pub placed_ms: u64,
}

/// `shoal/placement/<node>/` — every placement of one node.
pub fn placement_node_prefix(node: &str) -> String {
    format!("{PLACEMENT_PREFIX}{node}/")
}

/// `shoal/placement/<node>/<instance>`.
pub fn placement_key(node: &str, instance: &str) -> String {
    format!("{PLACEMENT_PREFIX}{node}/{instance}")
}

/// Splits a placement key into `(node, instance)`.
pub fn parse_placement_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PLACEMENT_PREFIX)?;
    let (node, instance) = rest.split_once('/')?;
    (!node.is_empty() && !instance.is_empty() && !instance.contains('/'))
        .then_some((node, instance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_keys_round_trip() {
        let k = placement_key("n1", "web-1-abc");
        assert_eq!(k, "shoal/placement/n1/web-1-abc");
        assert!(k.starts_with(&placement_node_prefix("n1")));
        assert_eq!(parse_placement_key(&k), Some(("n1", "web-1-abc")));
        assert_eq!(parse_placement_key("shoal/placement/n1/"), None);
        assert_eq!(parse_placement_key("shoal/placement//x"), None);
        assert_eq!(parse_placement_key("shoal/placement/n1/a/b"), None);
    }
}
