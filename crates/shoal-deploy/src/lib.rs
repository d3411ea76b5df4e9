//! Deployments: moving a running service from one spec to another by a strategy
//! (rolling, blue-green, canary), with rollback.
//!
//! A deployment is state in the store (`shoal/deploy/<service>`, past ones under
//! `shoal/history/<service>/`), never memory: any reader, another node or the next
//! `shoal` after a `kill -9` reads where it stands. The decision of what to place,
//! stop and how to weigh traffic is a pure function of the specs, the deployment,
//! the observed instances and `now` (as Nomad's reconciler); the agent applies it.
//!
//! # Layout
//! - `record.rs`: the deployment record, its status, manual orders, traffic totals.
//! - `judge.rs`: canary judgement from the proxy's per-version numbers.
//! - `plan.rs`: the pure rollout decision for one service's main line.
//! - `submit.rs`: what a new service file changes, and writing it (deploy, rollback, orders).
#![forbid(unsafe_code)]

pub mod judge;
pub mod plan;
mod record;
pub mod submit;

pub use record::{Deployment, Order, Status, Step, Totals, MAX_STEPS};
pub use submit::{Change, ChangeKind, ClearScale, SubmitError, SubmitOptions, Submitted};

/// How many ended deployments of one service the history keeps.
pub const HISTORY_LEN: u64 = 20;
