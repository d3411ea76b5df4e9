//! One typed, watched view of the fleet: the specs, deployments, instance records,
//! scale overrides and feature flags of the store, decoded once and kept current, for every reader that
//! routes, answers or decides from them (the proxy's route table, the DNS table, the
//! API, the agent's controller).
//!
//! A [`Fleet`] is an immutable snapshot. The view ([`run`]) builds it from one
//! consistent read (one read-only transaction ranging `shoal/spec/`, `shoal/deploy/`,
//! `shoal/catalog/`, `shoal/scale/` and `shoal/flags/`, so all come from one revision), then follows
//! one watch of the whole store from the revision after that read and applies each
//! change to its working copy (a put is decoded and replaces the key's value, a delete
//! removes it) instead of reading everything again. One watch delivers in revision
//! order, so the view knows exactly how far it has followed the store
//! ([`FleetReader::through`]), writes to keys it does not keep included. Every change
//! that is ready is applied before one new snapshot is published through a
//! `tokio::sync::watch` channel; a burst of changes to other keys (the KV store,
//! sessions) publishes nothing and only moves `through`. A record that does not decode
//! is left out with a warning naming its key.
//!
//! Readers that act after their own write (the API answering `shoal status` after a
//! deploy, the controller planning after writing a deployment) wait for the view to
//! pass that write's revision ([`FleetReader::at`], [`FleetReader::fresh`]); a writer
//! that planned from a snapshot makes its write conditional on the key's
//! [`Fleet::mod_revision`] in that snapshot.
//!
//! A store error or a watch that ends is logged, waited out (100 ms doubling to 5 s) and
//! followed by a fresh read; readers keep the last snapshot meanwhile. The view ends
//! only on shutdown. The channel is made apart from the view ([`channel`]), so a
//! supervisor that restarts the view keeps its readers.
//!
//! ```no_run
//! # async fn example(store: std::sync::Arc<dyn shoal_store::Store>) {
//! let (tx, reader) = shoal_fleet::channel();
//! tokio::spawn(shoal_fleet::run(store, tx, std::future::pending()));
//! let mut fleet = reader.subscribe();
//! while fleet.changed().await.is_ok() {
//!     let now = fleet.borrow_and_update().clone();
//!     println!("{} instances at revision {}", now.instances.len(), now.revision);
//! }
//! # }
//! ```
//!
//! # Layout
//!
//! - `fleet.rs` — [`Fleet`], the published snapshot, and what readers ask of it.
//! - `state.rs` — the view's working copy: decodes puts, applies deletes, makes a [`Fleet`].
//! - `read.rs` — [`read`]: the five prefixes in one transaction, at one revision.
//! - `view.rs` — [`run`], [`start`], [`channel`] ([`Publisher`], [`FleetReader`]): read,
//!   watch, apply, publish; backoff; waits for a revision.
//! - `error.rs` — [`FleetError`]: why the view had to read again.
#![forbid(unsafe_code)]

mod error;
mod fleet;
mod read;
mod state;
mod view;

pub use error::FleetError;
pub use fleet::{Fleet, KeyRevisions};
pub use read::read;
pub use view::{channel, run, start, FleetReader, Publisher};
