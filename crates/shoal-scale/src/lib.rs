//! The autoscaler's decision: how many instances a service should run, as a pure
//! function of its `[services.S.scale]` spec, the last metrics window, the
//! autoscaler's own memory and the time.
//!
//! [`decide`] does no I/O and reads no clock: `now_ms` (unix milliseconds) is an
//! argument, and the memory it needs ([`State`]: the count it last asked for, when
//! it last scaled, recent recommendations) comes in and goes out as a value the
//! loop keeps (in the store, so another node or a restarted `shoal` continues
//! where this one stopped). It never panics: non-finite or negative measurements
//! count as missing, counts saturate.
//!
//! The rule is Kubernetes' HPA v2 with its `behavior` fields:
//!
//! - per metric, `ratio = per_instance / target`; inside `1 ± tolerance` the metric
//!   asks for the current count, else for `ceil(ready × ratio)`; the largest ask wins;
//! - a scale-up grows by at most `max(current + 1, ceil(current × max_step_up))` and
//!   waits `up_cooldown` after the previous one; instances still starting are
//!   counted as capacity that carries no load yet (see [`recommend`]);
//! - a scale-down goes only to the highest ask of the last `down_stabilization`;
//! - the count stays in `[min, max]`; with `min = 0` the service goes to zero after
//!   `idle_after` without any request and wakes at once on the next one.
//!
//! ```
//! use shoal_scale::{decide, Signals, State};
//! use shoal_spec::{ScaleSpec, ScaleTarget};
//!
//! let spec = ScaleSpec {
//!     max: 4,
//!     target: Some(ScaleTarget { rps: Some(200.0), ..ScaleTarget::default() }),
//!     ..ScaleSpec::default()
//! };
//! let signals = Signals { rps: Some(480.0), ready: 2, ..Signals::default() };
//! let d = decide(&spec, &signals, &State::new(2), 1_000);
//! assert_eq!(d.desired, 3);
//! assert_eq!(d.reason, "rps 480 over 2 instances (240 each), target 200 → 3; scale up 2 → 3 (step cap 4)");
//! ```
//!
//! # Layout
//!
//! - `signals.rs`: [`Signals`], what the last window measured, and which values are usable.
//! - `metric.rs`: [`Metric`], [`Recommendation`] and the proportional rule of one metric ([`recommend`]).
//! - `state.rs`: [`State`], the autoscaler's memory, and the stabilization window over it.
//! - `decision.rs`: [`Decision`] and [`Hold`], what was decided and what held it back.
//! - `decide.rs`: [`decide`], the rules in order, and the memory it leaves.
//! - `pace.rs`: the largest ask to a count: step cap, cooldown, stabilization, bounds.
//! - `zero.rs`: scale to zero after `idle_after`, wake from zero.
//! - `text.rs`: numbers and durations as the reasons print them.
//! - `*_tests.rs`, `props.rs`, `test_support.rs`: unit and property tests with an explicit clock, and their fixtures.
#![forbid(unsafe_code)]

mod decide;
mod decision;
mod metric;
mod pace;
mod signals;
mod state;
mod text;
mod zero;

pub use decide::decide;
pub use decision::{Decision, Hold};
pub use metric::{recommend, Counts, Metric, Recommendation, Verdict};
pub use signals::Signals;
pub use state::{Past, State, MAX_PAST};

#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod zero_tests;
