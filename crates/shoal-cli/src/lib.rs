//! The client side of the `shoal` command: talks to the HTTP API, prints tables or JSON.
//!
//! # Layout
//! - `client.rs`: a small HTTP/1.1 JSON client for the API (tokens, errors, SSE).
//! - `table.rs`: aligned text tables.
//! - `status.rs`: `shoal status` and `shoal ps`.
//! - `scale.rs`: `shoal scale`, with a progress bar while waiting.
//! - `logs.rs`: `shoal logs`, including `-f`.
//! - `kv.rs`: `shoal kv`.
//! - `events.rs`: `shoal events`.
//! - `secret.rs`: `shoal secret`.
#![forbid(unsafe_code)]

mod client;
mod events;
mod kv;
mod logs;
mod scale;
mod secret;
mod status;
mod table;

pub use client::{Client, ClientError};
pub use events::{events, EventsArgs};
pub use kv::{kv_delete, kv_get, kv_list, kv_put};
pub use logs::{logs, LogsArgs};
pub use scale::{scale, ScaleArgs};
pub use secret::{secret_delete, secret_get, secret_list, secret_put};
pub use status::{ps, status};
pub use table::Table;
