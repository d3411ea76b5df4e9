//! Cluster membership on the store (`Arc<dyn Store>`: the embedded store or etcd): leader
//! election with fencing for the controllers that run once per cluster, and the node registry.
//!
//! Nothing here re-implements consensus: a leader is whoever created `shoal/leader/<role>` on
//! its lease, and its writes hold only while that key keeps its create revision; a node is
//! alive while its record's lease is.
//!
//! # Layout
//!
//! - `elect.rs` — [`Election`], [`Campaign`], [`Leadership`] (the fencing guard),
//!   [`current_leader`]: campaign, follow the leader, campaign again.
//! - `lead.rs` — the leader's loop: keepalive, watch its key, step down before the lease
//!   can expire on the server.
//! - `keepalive.rs` — the lease keeper task shared by leaders and nodes.
//! - `nodes.rs` — [`NodeRecord`], [`NodeSeen`], [`read_nodes`], [`drain`], [`undrain`],
//!   [`forget`].
//! - `register.rs` — [`Registration`]: a node's records on its lease, registered again when
//!   the lease is lost.
//! - `published.rs` — [`Published`]: what every node rewrites under one prefix each
//!   period, as a leader reads it, with each node's record stale or not.
//! - `status.rs` — [`node_statuses`]: the pure Ready/Draining/Suspect/Lost decision.
//! - `capacity.rs` — [`local_capacity`] (CPUs, `/proc/meminfo`), [`NodeRecord::local`].
//! - `task.rs` — stop signal, backoff, best-effort revoke.
//! - `error.rs` — [`ClusterError`].
#![forbid(unsafe_code)]

mod capacity;
mod elect;
mod error;
mod keepalive;
mod lead;
mod nodes;
mod published;
mod register;
mod status;
mod task;

pub use capacity::local_capacity;
pub use elect::{
    current_leader, Campaign, Election, Leadership, DEFAULT_LEADER_TTL, MIN_LEADER_TTL,
};
pub use error::ClusterError;
pub use nodes::{drain, forget, read_nodes, set_draining, undrain, NodeRecord, NodeSeen, Nodes};
pub use published::{numbers_key, signals_key, Published, NUMBERS_PREFIX, SIGNALS_PREFIX};
pub use register::{
    Clock, Registered, Registration, DEFAULT_NODE_TTL, DEFAULT_SEEN_EVERY, MIN_NODE_TTL,
};
pub use status::node_statuses;
