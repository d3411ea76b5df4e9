//! The record the log store keeps for each line, and the stream it came from.

use serde::{Deserialize, Serialize};

use crate::structure::Fields;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
    /// Written by Shoal itself about the instance (started, exited, health changes).
    System,
}

impl Stream {
    /// The lowercase name used in JSON and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::System => "system",
        }
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Store-wide sequence number, strictly increasing from 1.
    pub seq: u64,
    /// Unix epoch milliseconds when the line was appended (never decreases with `seq`).
    pub time_ms: u64,
    pub service: String,
    pub version: String,
    pub instance: String,
    pub stream: Stream,
    /// The text, without its line terminator.
    pub line: String,
    /// The W3C trace id the line carries (a field of a JSON line, or an id in its text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// A JSON object line, kept as its fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Box<Fields>>,
}

impl LogLine {
    /// A field of a structured line.
    pub fn field(&self, key: &str) -> Option<&serde_json::Value> {
        self.fields.as_ref().and_then(|f| f.get(key))
    }
}
