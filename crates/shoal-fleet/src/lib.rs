//! One typed, watched view of the fleet: the specs, deployments and instance records of
//! the store, decoded once and kept current, for every reader that routes or answers
//! from them (the proxy's route table, the DNS table).
//!
//! A [`Fleet`] is an immutable snapshot at a store revision. The view ([`run`]) builds it
//! from one consistent read (one read-only transaction ranging `shoal/spec/`,
//! `shoal/deploy/` and `shoal/catalog/`, so all three come from one revision), then
//! watches the three prefixes from the revision after that read and applies each change
//! to its working copy (a put is decoded and replaces the key's value, a delete removes
//! it) instead of reading everything again. Every change that is ready is applied before
//! one new snapshot is published through a `tokio::sync::watch` channel; subscribers
//! rebuild their own tables on `changed()`. A transaction that writes under two prefixes
//! reaches two watches, both at once when the store broadcasts it, so one snapshot holds
//! all of it (a watch replaying history from disk may bring its part one snapshot later).
//! A record that does not decode is left out with a warning naming its key.
//!
//! A store error or a watch that ends is logged, waited out (100 ms doubling to 5 s) and
//! followed by a fresh read; subscribers keep the last snapshot meanwhile. The view ends
//! only on shutdown. The channel is made apart from the view ([`channel`]), so a
//! supervisor that restarts the view keeps its subscribers.
//!
//! ```no_run
//! # async fn example(store: std::sync::Arc<dyn shoal_store::Store>) {
//! let (tx, mut fleet) = shoal_fleet::channel();
//! tokio::spawn(shoal_fleet::run(store, tx, std::future::pending()));
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
//! - `read.rs` — [`read`]: the three prefixes in one transaction, at one revision.
//! - `view.rs` — [`run`], [`start`], [`channel`]: read, watch, apply, publish; backoff.
//! - `error.rs` — [`FleetError`]: why the view had to read again.
#![forbid(unsafe_code)]

mod error;
mod fleet;
mod read;
mod state;
mod view;

pub use error::FleetError;
pub use fleet::Fleet;
pub use read::read;
pub use view::{channel, run, start};
