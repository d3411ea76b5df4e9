//! Shoal's feature flags: the record kept in the store, seeding it from the service file,
//! edits through the CLI and API, evaluation on every gateway request, and OFREP.
//!
//! A flag lives at `shoal/flags/<name>` ([`Flag`], JSON). `shoal up` / `shoal deploy`
//! seed the flags from the file's `[flags.*]` ([`sync_file`], planned by the pure
//! [`seed`]); `shoal flag set` and `/api/v1/flags` edit them ([`set`] with a
//! [`FlagChange`], strings from the command line read by [`parse_constraint`] and
//! friends). The gateway compiles the stored flags into a [`FlagSet`], swaps it in
//! whole on every change, and evaluates every flag once per request without
//! allocating, sending `X-Flag-<name>: 1|0` (or the variant); the counts go to
//! `shoal_flag_evaluations_total{flag,value}` ([`Tally`]). Services that ask evaluate
//! through OFREP ([`ofrep`]).
//!
//! ```
//! use shoal_flags::{Flag, FlagSet, Request};
//!
//! struct Req<'a>(&'a str);
//! impl Request for Req<'_> {
//!     fn header(&self, name: &str) -> Option<&str> {
//!         (name == "x-user-id").then_some(self.0)
//!     }
//!     fn path(&self) -> &str {
//!         "/"
//!     }
//! }
//!
//! let mut flag = Flag::new("new_profile");
//! flag.enabled = true;
//! flag.rollout = 30.0;
//! let set = FlagSet::new([&flag]);
//! let mut sent = Vec::new();
//! set.evaluate_all(&Req("user-7"), None, |_, d| sent.push(format!("{}: {}", d.header, d.value)));
//! assert!(sent == ["X-Flag-new_profile: 1"] || sent == ["X-Flag-new_profile: 0"]);
//! ```
//!
//! # Layout
//!
//! - `flag.rs`: [`Flag`], [`Origin`], and [`Flag::validate`] (the rules every flag keeps).
//! - `error.rs`: [`FlagError`]; the closest-name suggestion.
//! - `hash.rs`: [`murmur3_32`] and the incremental [`Murmur3`] (sticky buckets).
//! - `eval.rs`: [`Request`] and [`FlagSet`]: compiled flags, allocation-free evaluation
//!   (tests in `eval_tests.rs`, allocations counted in `tests/no_alloc.rs`).
//! - `decision.rs`: [`Decision`], [`Reason`], [`OfrepReason`].
//! - `tally.rs`: [`Tally`], the per (flag, value) evaluation counters.
//! - `change.rs`: [`FlagChange`], an edit applied and validated as a whole.
//! - `parse.rs`: the command-line forms of constraints, force rules, variants, rollouts.
//! - `spec.rs`: [`from_spec`], `[flags.NAME]` to a [`Flag`].
//! - `seed.rs`: [`seed`], the pure plan that makes the store follow the file.
//! - `store.rs`: [`list`], [`get`], [`set`], [`delete`], [`apply_seed`], [`sync_file`]
//!   (tests in `store_tests.rs`).
//! - `ofrep.rs`: OFREP wire types, [`ofrep::parse_context`], [`ofrep::evaluate_one`],
//!   [`ofrep::evaluate_bulk`] (tests in `ofrep_tests.rs`).
#![forbid(unsafe_code)]

mod change;
mod decision;
mod error;
mod eval;
mod flag;
mod hash;
pub mod ofrep;
mod parse;
mod seed;
mod spec;
mod store;
mod tally;

pub use change::FlagChange;
pub use decision::{Decision, OfrepReason, Reason};
pub use error::FlagError;
pub use eval::{FlagSet, Request, BUCKETS};
pub use flag::{Constraint, Flag, ForceOn, Origin, Variant};
pub use hash::{fmix32, murmur3_32, Murmur3};
pub use parse::{parse_constraint, parse_force, parse_rollout, parse_variants};
pub use seed::{seed, SeedOp};
pub use spec::from_spec;
pub use store::{apply_seed, delete, get, list, set, sync_file, ATTEMPTS};
pub use tally::Tally;
