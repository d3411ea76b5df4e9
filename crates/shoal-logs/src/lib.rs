//! Shoal's central log store: every instance line, bounded in memory, queryable, tail-able.
//!
//! Lines are kept oldest-first in one ring; an append takes one short lock and
//! copies the line once (twice while someone tails). Limits (total bytes, age,
//! line length) are enforced on every append and every query (DESIGN §9).
//!
//! # Layout
//! - `line.rs`: the stored record (`LogLine`) and its stream.
//! - `structure.rs`: JSON lines as fields, and the trace id a line carries.
//! - `limits.rs`: `LogLimits`, `LogQuery`, `LogStats`; `env.rs`: limits from `SHOAL_LOG_*`.
//! - `ring.rs`: the pure ring buffer: eviction and query with time passed in.
//! - `trace_keys.rs`: one key per kept line, scanned to find a trace's lines.
//! - `kept.rs`: the compact form a line is kept in, its memory cost, and
//!   `LazyLine`, a line made only when read.
//! - `store.rs`: `LogStore`, the shared, locked front with a clock and live tail.
//! - `json.rs`: `JsonObject`, fixed-shape JSON written by hand (disk lines, lazy fields).
//! - `disk.rs`: segment files under `data_dir/logs/`, so logs survive a restart.
//! - `numbers.rs`: sequence numbers reserved on disk ahead of use, so a killed
//!   store never numbers two lines alike.
//! - `reader.rs`: reading segments back: the newest lines at open, older ones
//!   newest-first with cheap byte tests before parsing.
//! - `deep.rs`: queries and trace lookups that go on below the ring's oldest
//!   line into the disk log.
#![forbid(unsafe_code)]

mod deep;
mod disk;
mod env;
mod json;
mod kept;
mod limits;
mod line;
mod numbers;
mod reader;
mod ring;
mod store;
mod structure;
mod trace_keys;

pub use disk::DiskLimits;
pub use env::{parse_size, LimitError};
pub use json::JsonObject;
pub use kept::{LazyLine, TextOf, TraceLine};
pub use limits::{LogLimits, LogQuery, LogStats, TRUNCATION_MARKER};
pub use line::{LogLine, Stream};
pub use store::{Clock, Entry, LogStore, DEEP_MAX, TAIL_CAPACITY};
pub use structure::{field_text, first_trace_id, is_trace_id, json_fields, Fields};
