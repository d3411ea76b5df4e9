//! CPU profiles of any instance, in any language: a sampler chosen per process (perf
//! for native code, py-spy for Python), folded stacks, the top functions by self and
//! total time, diffs between profiles, flame graphs, pprof, and a bounded store.
//!
//! The decisions and formats are pure (folding, tables, diff, pprof, sampler choice,
//! the busiest instance); `capture.rs`, `process.rs` and `store.rs` are the thin I/O.
//!
//! # Layout
//! - `sampler.rs`: the language of a process, the sampler for it, their arguments.
//! - `process.rs`: `/proc` reads: the process of an instance's group to sample, uid, perf's setting.
//! - `capture.rs`: running a sampler and folding what it recorded.
//! - `folded.rs`: folded stacks (perf script through inferno, py-spy's raw output), bounded.
//! - `table.rs`: functions by self and total time, as rows and as a text table.
//! - `diff.rs`: two profiles' function shares side by side.
//! - `flame.rs`: the flame graph (SVG, inferno).
//! - `pprof.rs`: the gzip'd protobuf pprof profile.
//! - `target.rs`: the busiest instance; request rate and p99 of a capture's window.
//! - `record.rs`: the request and its bounds, the kept profile, its summary, ids.
//! - `store.rs`: the newest profiles in memory and on disk, bounded by count and bytes.
//! - `profiler.rs`: a node's profiler: store, samplers' paths, captures in progress.
//! - `error.rs`: why a profile could not be taken, by cause.
#![forbid(unsafe_code)]

mod capture;
mod diff;
mod error;
mod flame;
mod folded;
pub mod pprof;
mod process;
mod profiler;
mod record;
mod sampler;
mod store;
mod table;
mod target;

pub use capture::{capture, Captured};
pub use diff::{diff, grown, render as render_diff, DiffRow};
pub use error::{Cause, ProfileError};
pub use flame::svg as flamegraph;
pub use folded::{Folded, TRUNCATED};
pub use profiler::{Claim, Prepared, Profiler, MAX_RUNNING};
pub use record::{
    is_id, new_id, Overhead, Profile, ProfileRequest, Settings, Summary, DEFAULT_RATE,
    DEFAULT_SECONDS, MAX_RATE, MAX_SECONDS,
};
pub use sampler::{language_of, Choice, Language, PerfPlan, Sampler, PERF_ENV, PY_SPY_ENV};
pub use store::{Limits, ProfileStore};
pub use table::{functions, render as render_functions, FunctionRow};
pub use target::{busiest, p99, rate};

/// The most bytes of folded stacks one profile keeps (the heaviest stacks first).
pub const MAX_STACK_BYTES: usize = 4 << 20;
