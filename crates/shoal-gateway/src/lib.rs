//! The edge gateway: routes outside HTTP traffic to healthy instances.
//!
//! The request path reads an immutable [`RouteTable`] through an `ArcSwap`; the
//! control plane builds a new table on every catalog change and swaps it in, so
//! no request ever waits on the store or on a lock shared with the control plane.
//!
//! # Layout
//! - `table.rs`: the routing table and the pure function that picks a target.
//! - `forward.rs`: forwarding one request to an instance, with retry on connect failure.
//! - `respond.rs`: Shoal's own answers (JSON body, `X-Shoal-Reason`).
//! - `server.rs`: the accept loop with graceful shutdown.
#![forbid(unsafe_code)]

mod forward;
mod respond;
mod server;
mod table;

pub use server::{serve, Gateway};
pub use table::{Backend, RouteTable, ServiceRoute, Target};
