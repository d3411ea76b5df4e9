//! Chaos on purpose (the talk's Chaos Monkey, and Toxiproxy's faults): experiments
//! that kill instances of a service at a rate, never below a floor, or add latency,
//! errors, connection resets or a bandwidth cap to calls into a service or along one
//! caller → service edge. Each experiment is bounded in time and lives in the store
//! (`shoal/chaos/<id>`), so every proxy and agent sees the same ones.
//!
//! # Layout
//! - `model.rs`: [`Experiment`] (stored), [`ExperimentRequest`] (asked), their checks.
//! - `edge.rs`: [`ChaosRules`] compiled for the proxy, [`roll`] for one attempt.
//! - `monkey.rs`: when a kill is [`due`], and the [`victim`].
#![forbid(unsafe_code)]

mod edge;
mod model;
mod monkey;

pub use edge::{roll, transfer_time, ChaosRules, Injection};
pub use model::{
    new_id, parse_duration, parse_rate, Experiment, ExperimentRequest, Fault, FaultRequest,
    Invalid, MAX_DELAY, MAX_DURATION,
};
pub use monkey::{due, victim};
