//! The client side of the `shoal` command: talks to the HTTP API, prints tables or JSON.
//!
//! # Layout
//! - `client.rs`: a small HTTP/1.1 JSON client for the API (tokens, errors, SSE).
//! - `table.rs`: aligned text tables.
//! - `status.rs`: `shoal status` and `shoal ps`.
//! - `scale.rs`: `shoal scale`, with a progress bar while waiting.
//! - `logs.rs`: `shoal logs`, including `-f`.
#![forbid(unsafe_code)]

mod client;
mod logs;
mod scale;
mod status;
mod table;

pub use client::{Client, ClientError};
pub use logs::{logs, LogsArgs};
pub use scale::{scale, ScaleArgs};
pub use status::{ps, status};
pub use table::Table;
