//! The errors view ("Sentry" from what Shoal already sees): 5xx answers, crashes
//! and error-level log lines, grouped by service and cause with counts and the
//! latest example (DESIGN §9).
//!
//! # Layout
//! - `cause.rs`: pure grouping keys (what counts as the same error).
//! - `book.rs`: the pure, bounded book of groups.
//! - `feed.rs`: `Errors`, the shared front, and the loop that reads the event
//!   stream and the log tail.
#![forbid(unsafe_code)]

mod book;
pub mod cause;
mod feed;

pub use book::{group_id, Book, ErrorQuery, Group, Sample, Source, MAX_INSTANCES};
pub use feed::{run, Errors, HttpError, DEFAULT_MAX_GROUPS};
