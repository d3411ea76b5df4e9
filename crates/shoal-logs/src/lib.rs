//! Shoal's central log store: every instance line, bounded in memory, queryable, tail-able.
//!
//! Lines are kept oldest-first in one ring; an append takes one short lock and
//! copies the line once (twice while someone tails). Limits (total bytes, age,
//! line length) are enforced on every append and every query (DESIGN §9).
//!
//! # Layout
//! - `line.rs`: the stored record (`LogLine`) and its stream.
//! - `limits.rs`: `LogLimits`, `LogQuery`, `LogStats`.
//! - `ring.rs`: the pure ring buffer: eviction and query with time passed in.
//! - `store.rs`: `LogStore`, the shared, locked front with a clock and live tail.
#![forbid(unsafe_code)]

mod limits;
mod line;
mod ring;
mod store;

pub use limits::{LogLimits, LogQuery, LogStats, TRUNCATION_MARKER};
pub use line::{LogLine, Stream};
pub use store::{Clock, LogStore, TAIL_CAPACITY};
