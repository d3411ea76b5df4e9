//! Spans from the proxy assembled into traces: a bounded in-memory store indexed by
//! trace id, trace trees and summaries, the text waterfall, and optional OTLP export.
//!
//! # Layout
//! - `span.rs`: [`Span`], one proxied hop, and trace id checks.
//! - `store.rs`: [`TraceStore`], bounded by span count, bytes and age, oldest evicted first;
//!   `store/index.rs` links each trace's spans through the arrival-order slots,
//!   `store/packed.rs` keeps each span's texts in one allocation.
//! - `tree.rs`: [`assemble`] spans into a [`Trace`] ordered as a tree by parent span id.
//! - `summary.rs`: [`TraceSummary`] per trace and the [`TraceQuery`] filters.
//! - `waterfall.rs`: the text waterfall of `shoal trace ID`.
//! - `otlp.rs`: spans as an OTLP/HTTP JSON `ExportTraceServiceRequest`.
//! - `export.rs`: [`OtlpExporter`], the background batcher that posts to a collector.
//! - `error.rs`: [`TraceError`].
#![forbid(unsafe_code)]

mod error;
mod export;
mod otlp;
mod span;
mod store;
mod summary;
mod tree;
mod waterfall;

pub use error::TraceError;
pub use export::{OtlpConfig, OtlpExporter, OtlpStats, ENDPOINT_ENV};
pub use otlp::encode;
pub use span::{is_span_id, parse_trace_id, Span, SpanRef};
pub use store::{now_us, TraceLimits, TraceStats, TraceStore};
pub use summary::{summarize, TraceQuery, TraceSummary};
pub use tree::{assemble, Trace, TraceSpan};
pub use waterfall::{format_duration, render, DEFAULT_WIDTH};
