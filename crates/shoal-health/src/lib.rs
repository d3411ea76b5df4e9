//! Health checks (HTTP, TCP, exec) and the per-instance health state machine.
//!
//! `run_check` performs one check and classifies it with Consul's conventions;
//! `HealthTracker` is a pure state machine that turns a stream of outcomes into
//! the instance's health (thresholds, startup grace) and the liveness decision.
//! `run_probe` runs Consul's network probes (HTTP(S) with method, headers and body; gRPC
//! health; HTTP/2 PING) for checks registered through the Consul agent API.
//!
//! # Layout
//! - `outcome.rs`: what to check (`CheckKind`) and how it went (`CheckOutcome`).
//! - `check/`: one file per kind (`http.rs`, `tcp.rs`, `exec.rs`) and `run_check`.
//! - `probe/`: Consul's probes, one file per kind (`http.rs`, `grpc.rs`, `h2ping.rs`), TLS
//!   (`tls.rs`, rustls) and check URLs (`url.rs`).
//! - `tracker.rs`: `Health`, `HealthPolicy`, `HealthTracker`.
#![forbid(unsafe_code)]

mod check;
mod outcome;
mod probe;
mod tracker;

pub use check::{run_check, MAX_OUTPUT_BYTES};
pub use outcome::{CheckKind, CheckOutcome};
pub use probe::{
    parse_url, run_probe, GrpcProbe, H2PingProbe, HttpProbe, Probe, Report, TlsOptions, Url,
    MAX_BODY_OUTPUT,
};
pub use tracker::{Health, HealthPolicy, HealthTracker};
