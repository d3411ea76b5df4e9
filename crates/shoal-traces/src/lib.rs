//! Spans from the proxy assembled into traces: where kept spans are read from,
//! trace trees and summaries, the text waterfall, and optional OTLP export.
//!
//! # Layout
//! - `span.rs`: [`Span`], one proxied hop, and trace id checks.
//! - `source.rs`: [`SpanSource`], where kept spans are read from (in `shoal up`, the
//!   proxy's access lines in the log store); [`find_trace`] and [`list_traces`] over it.
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
mod source;
mod span;
mod summary;
mod tree;
mod waterfall;

pub use error::TraceError;
pub use export::{OtlpConfig, OtlpExporter, OtlpStats, ENDPOINT_ENV};
pub use otlp::encode;
pub use source::{find_trace, list_traces, SpanSource};
pub use span::{is_span_id, parse_trace_id, Span};
pub use summary::{summarize, TraceQuery, TraceSummary};
pub use tree::{assemble, Trace, TraceSpan};
pub use waterfall::{format_duration, render, DEFAULT_WIDTH};
