//! The client side of the `shoal` command: talks to the HTTP API, prints tables or JSON.
//!
//! # Layout
//! - `client.rs`: a small HTTP/1.1 JSON client for the API (tokens, errors, SSE).
//! - `table.rs`: aligned text tables.
//! - `chaos.rs`: `shoal chaos` (start, list and stop chaos experiments).
//! - `status.rs`: `shoal status` and `shoal ps`.
//! - `deploy.rs`: `shoal deploy` (plan, `--promote`/`--abort`) and `shoal rollback`.
//! - `wait.rs`: `--wait` for deployments, a progress bar per service.
//! - `history.rs`: `shoal history`, and how a deployment reads (also in `shoal status`).
//! - `scale.rs`: `shoal scale`, with a progress bar while waiting.
//! - `logs.rs`: `shoal logs`, including `-f`.
//! - `nodes.rs`: `shoal nodes`, `shoal node drain|undrain`.
//! - `kv.rs`: `shoal kv`.
//! - `flag.rs`: `shoal flag` (its arguments, read here before anything is sent).
//! - `flag_view.rs`: how flags read: the list's table, one flag, one line per change.
//! - `events.rs`: `shoal events`.
//! - `errors.rs`: `shoal errors`.
//! - `top.rs`: `shoal top`, the live view.
//! - `secret.rs`: `shoal secret`.
//! - `profile.rs`: `shoal profile` (take, list, show, save and compare CPU profiles).
//! - `trace.rs`: `shoal trace ID` (the waterfall) and `shoal traces`.
#![forbid(unsafe_code)]

mod chaos;
mod client;
mod deploy;
mod errors;
mod events;
mod flag;
mod flag_view;
mod follow;
mod history;
mod kv;
mod logs;
mod nodes;
mod profile;
mod scale;
mod secret;
mod snapshot;
mod status;
mod table;
mod top;
mod trace;
mod wait;

pub use chaos::{chaos, chaos_request, ChaosCliError, ChaosCommand, CHAOS_EXAMPLES};
pub use client::{Client, ClientError};
pub use deploy::{deploy, order, plan_line, rollback, DeployArgs, Report};
pub use errors::{errors, ErrorsArgs};
pub use events::{events, EventsArgs};
pub use flag::{flag, flag_change, FlagCliError, FlagCommand, SetArgs, FLAG_EXAMPLES};
pub use history::history;
pub use kv::{kv_delete, kv_get, kv_list, kv_put};
pub use logs::{logs, LogsArgs};
pub use nodes::{drain as node_drain, nodes};
pub use profile::{profile, ProfileArgs, ProfileCliError, PROFILE_EXAMPLES};
pub use scale::{scale, scale_auto, ScaleArgs};
pub use secret::{secret_delete, secret_get, secret_list, secret_put};
pub use shoal_deploy::Order;
pub use snapshot::{snapshot_restore, snapshot_save};
pub use status::{ps, status};
pub use table::Table;
pub use top::{top, TopArgs, TopRow};
pub use trace::{trace, traces, TracesArgs};
