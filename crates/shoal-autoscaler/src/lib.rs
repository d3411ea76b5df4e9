//! The autoscaler's loop: once a second, for every service whose
//! `[services.S.scale]` has a target (or `min = 0`), measure the last window
//! ([`measure`]: request rate and idle time from the proxy's own counters, p95,
//! CPU and the custom StatsD metric from the metrics store, in-flight requests
//! sampled from the proxy, ready and starting instances from the fleet view), ask
//! [`shoal_scale::decide`], and when the count changes write it the way
//! `shoal scale` does (`shoal/scale/<service>`, source `auto`) together with the
//! autoscaler's memory (`shoal/autoscale/<service>`) in one transaction,
//! conditional on neither having changed since they were read. A count set by
//! hand holds the autoscaler off until its pause ends or `shoal scale --auto`.
//! Every change is an event with its inputs; a request held at the gateway for a
//! service at zero wakes it on the next pass ([`Wakes`]).
//!
//! # Layout
//!
//! - `measure.rs`: [`measure`], a service's [`shoal_scale::Signals`] over the window;
//!   [`Counters`], the request counts kept between passes.
//! - `memory.rs`: [`Memory`], what the autoscaler keeps per service in the store.
//! - `wakes.rs`: [`Wakes`], services a held request asked to wake.
//! - `control.rs`: [`run`] and one pass ([`Autoscaler::pass`]).
//! - `cluster.rs`: every node's signals published, combined by the leader
//!   ([`cluster::combine`]).
#![forbid(unsafe_code)]

pub mod cluster;
mod control;
mod measure;
mod memory;
mod wakes;

pub use control::{run, Autoscaler, Inflight, Sources};
pub use measure::{measure, Counters, WINDOW_SECS};
pub use memory::Memory;
pub use wakes::Wakes;
