//! [`ClusterError`]: what the node registry's calls fail with.

use shoal_store::StoreError;

/// Errors of the node registry's store calls.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The store failed or could not be reached.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A node key holds something that is not a node record.
    #[error("{key} does not hold a valid node record ({source}); delete the key, the node writes it again")]
    Malformed {
        /// The store key.
        key: String,
        /// Why it did not parse.
        source: serde_json::Error,
    },
    /// A record could not be encoded (never expected).
    #[error("cannot encode the record of node {name}: {source}")]
    Encode {
        /// The node.
        name: String,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// No record of the node exists, live or last seen.
    #[error("node {0} is unknown: it never registered, or was forgotten (`shoal nodes` lists the nodes)")]
    UnknownNode(String),
    /// Other writers changed the node's records on every attempt.
    #[error("node {name} changed concurrently on each of {attempts} attempts; try again")]
    Contended {
        /// The node.
        name: String,
        /// Attempts made.
        attempts: usize,
    },
}
