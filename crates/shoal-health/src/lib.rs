//! Health checks (HTTP, TCP, exec) and the per-instance health state machine.
//!
//! `run_check` performs one check and classifies it with Consul's conventions;
//! `HealthTracker` is a pure state machine that turns a stream of outcomes into
//! the instance's health (thresholds, startup grace) and the liveness decision.
//!
//! # Layout
//! - `outcome.rs`: what to check (`CheckKind`) and how it went (`CheckOutcome`).
//! - `check/`: one file per kind (`http.rs`, `tcp.rs`, `exec.rs`) and `run_check`.
//! - `tracker.rs`: `Health`, `HealthPolicy`, `HealthTracker`.
#![forbid(unsafe_code)]

mod check;
mod outcome;
mod tracker;

pub use check::{run_check, MAX_OUTPUT_BYTES};
pub use outcome::{CheckKind, CheckOutcome};
pub use tracker::{Health, HealthPolicy, HealthTracker};
