//! The cluster scheduler's placement, as one pure function: [`schedule`] takes what should
//! run (a [`Group`] per service version: count, resource request, constraints), the
//! [`Node`]s with their capacity, labels and status, and the current [`Placement`]s, and
//! returns a [`Plan`]: instances to place on which node, instances to stop and why, and
//! what could not be placed and why.
//!
//! The rules, as Nomad's spread scheduler and Kubernetes' default spreading have them:
//! - **Spread**: each new instance goes to the eligible node with the fewest instances of
//!   its service, then the least loaded, then by name, so the answer is deterministic.
//! - **Capacity**: a node never gets more than its CPU and memory capacity in requests.
//! - **Constraints**: node labels (`label = value`, `label in [..]`, `label != value`).
//! - **Node loss**: a [`NodeStatus::Suspect`] node (lease gone, grace not yet over) keeps
//!   its instances but gets no new ones; on a [`NodeStatus::Lost`] node they are replaced.
//! - **Drain**: instances on a [`NodeStatus::Draining`] node are replaced first and
//!   stopped only once their group has its full count healthy elsewhere (new healthy
//!   before old stops).
//! - No rebalancing: a node that comes back does not take instances from others.
//!
//! # Layout
//! - `lib.rs`: the types.
//! - `place.rs`: [`schedule`], and [`place_one`] for one more instance.
#![forbid(unsafe_code)]

mod place;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use place::{place_one, schedule};

/// CPU in millicores and memory in MiB, as requested by an instance or offered by a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Resources {
    pub cpu_millis: u64,
    pub memory_mb: u64,
}

impl Resources {
    pub fn new(cpu_millis: u64, memory_mb: u64) -> Self {
        Self {
            cpu_millis,
            memory_mb,
        }
    }

    /// Whether `self + more` stays within `cap`.
    pub fn fits(self, more: Resources, cap: Resources) -> bool {
        self.cpu_millis.saturating_add(more.cpu_millis) <= cap.cpu_millis
            && self.memory_mb.saturating_add(more.memory_mb) <= cap.memory_mb
    }

    pub fn plus(self, o: Resources) -> Self {
        Self::new(
            self.cpu_millis.saturating_add(o.cpu_millis),
            self.memory_mb.saturating_add(o.memory_mb),
        )
    }

    pub fn minus(self, o: Resources) -> Self {
        Self::new(
            self.cpu_millis.saturating_sub(o.cpu_millis),
            self.memory_mb.saturating_sub(o.memory_mb),
        )
    }
}

/// What the cluster knows of a node's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Alive and taking new instances.
    Ready,
    /// Alive, taking none; its instances move elsewhere, new before old.
    Draining,
    /// Its lease is gone but the grace period is not over: it keeps its instances
    /// (it may only be cut off for a moment) and takes no new ones.
    Suspect,
    /// Gone past the grace period: its instances are placed elsewhere.
    Lost,
}

/// One machine of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub capacity: Resources,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub status: NodeStatus,
}

/// A condition on a node's labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    Equals { label: String, value: String },
    In { label: String, values: Vec<String> },
    NotEquals { label: String, value: String },
}

impl Constraint {
    pub fn allows(&self, node: &Node) -> bool {
        match self {
            Constraint::Equals { label, value } => node.labels.get(label) == Some(value),
            Constraint::In { label, values } => node
                .labels
                .get(label)
                .is_some_and(|v| values.iter().any(|x| x == v)),
            Constraint::NotEquals { label, value } => node.labels.get(label) != Some(value),
        }
    }
}

/// The instances one version of one service should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub service: String,
    pub version: String,
    pub count: u32,
    /// What each instance requests.
    #[serde(default)]
    pub request: Resources,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
}

/// An instance placed on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub id: String,
    pub service: String,
    pub version: String,
    pub node: String,
    /// Passing its health check now (a draining node's instance stops only once its
    /// group is healthy elsewhere).
    pub healthy: bool,
}

/// A new instance to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPlacement {
    pub service: String,
    pub version: String,
    pub node: String,
}

/// Why an instance is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// More instances than the group's count (or the version is no longer wanted).
    Surplus,
    /// Its node is lost; a replacement is placed elsewhere.
    NodeLost,
    /// Its node drains and the group is healthy elsewhere.
    Drained,
    /// Its node is unknown to the cluster.
    UnknownNode,
}

/// An instance to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stop {
    pub id: String,
    pub reason: StopReason,
}

/// Instances of a group that fit nowhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unplaced {
    pub service: String,
    pub version: String,
    pub missing: u32,
    /// For people: which nodes were ruled out and why.
    pub reason: String,
}

/// What the scheduler decided.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub place: Vec<NewPlacement>,
    pub stop: Vec<Stop>,
    pub unplaced: Vec<Unplaced>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.place.is_empty() && self.stop.is_empty() && self.unplaced.is_empty()
    }
}
