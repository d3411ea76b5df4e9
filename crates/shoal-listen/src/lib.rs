//! What every Shoal listener shares: one connection budget for the whole process, accept loops that back off, and head, body and idle timeouts.
//!
//! Connections are file descriptors, and so are the store, the logs, the pipes
//! of instances and the health checks. The listeners (API, gateway, outbound
//! listeners, DNS over TCP) together hold at most the open-file limit minus a
//! reserve ([`Budget`]); each listener has its own cap inside it ([`Share`]).
//! Near the end of the budget the connections idle the longest are closed
//! (reclaimed); past it a connection is accepted and refused at once (HTTP:
//! `503` with `Connection: close`), so the kernel's backlog never holds it.
//!
//! # Layout
//! - `nofile.rs`: the open-file limit, and raising the soft limit to the hard one at start.
//! - `budget.rs`: [`Budget`], the listeners' share of the open-file limit; reclaiming idle connections.
//! - `share.rs`: [`Share`], one listener's cap within the budget, and the [`Admission`] a connection holds.
//! - `slot.rs`: [`Slot`], a connection's idle or busy state, which the budget may reclaim.
//! - `accept.rs`: [`accept`] and [`AcceptBackoff`]: accept errors (EMFILE) back off, logged once per run.
//! - `refuse.rs`: what a refused connection gets.
//! - `timeouts.rs`: [`Timeouts`] (head, body, idle), their defaults and environment overrides.
//! - `watch.rs`: the deadlines of a connection served by hyper ([`Activity`], [`Watched`], [`watch`]).
//! - `guarded.rs`: [`Guarded`], an answer body that keeps its request in flight until it ends.
#![forbid(unsafe_code)]

mod accept;
mod budget;
mod guarded;
pub mod nofile;
mod refuse;
mod share;
mod slot;
mod timeouts;
mod watch;

pub use accept::{accept, AcceptBackoff, BACKOFF_FIRST, BACKOFF_MAX};
pub use budget::{listener_fds, Budget, ListenerStats, RESERVE_MIN, UNBUDGETED};
pub use guarded::Guarded;
pub use refuse::{refuse, refuse_http};
pub use share::{Admission, Refused, Share};
pub use slot::{key_of, Slot};
pub use timeouts::Timeouts;
pub use watch::{verdict, watch, Activity, InFlight, Snapshot, Verdict, Watched, Why};
