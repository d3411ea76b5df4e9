//! The errors view ("Sentry" from what Shoal already sees): 5xx answers, crashes
//! and error-level log lines, grouped by service and cause with counts and the
//! latest example (DESIGN §9).
//!
//! # Layout
//! - `cause.rs`: pure grouping keys (what counts as the same error).
//! - `book.rs`: the pure, bounded book of groups.
//! - `feed.rs`: `Errors`, the shared front, and the loop that reads the event
//!   stream and the log tail.
//! - `keep.rs`: the view on disk (`data_dir/errors.json`), saved while it
//!   changes and read back at start.
#![forbid(unsafe_code)]

mod book;
pub mod cause;
mod feed;
mod keep;

pub use book::{group_id, Book, ErrorQuery, Group, Sample, Saved, Source, MAX_INSTANCES};
pub use feed::{run, Errors, HttpError, DEFAULT_MAX_GROUPS};
pub use keep::{keep, load, save, save_changes, SAVE_EVERY};
