//! The pprof format (gzip'd protobuf `perftools.profiles.Profile`, as `go tool pprof`
//! and other tools read it), written from folded stacks: one function and one location
//! per distinct frame, one sample per stack with its count and CPU time.

use std::collections::HashMap;
use std::io::Write;

use flate2::write::GzEncoder;
use flate2::Compression;

use crate::folded::Folded;

/// The few messages of `profile.proto` a CPU profile needs (field numbers as there).
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Profile {
        #[prost(message, repeated, tag = "1")]
        pub sample_type: Vec<ValueType>,
        #[prost(message, repeated, tag = "2")]
        pub sample: Vec<Sample>,
        #[prost(message, repeated, tag = "4")]
        pub location: Vec<Location>,
        #[prost(message, repeated, tag = "5")]
        pub function: Vec<Function>,
        #[prost(string, repeated, tag = "6")]
        pub string_table: Vec<String>,
        #[prost(int64, tag = "9")]
        pub time_nanos: i64,
        #[prost(int64, tag = "10")]
        pub duration_nanos: i64,
        #[prost(message, optional, tag = "11")]
        pub period_type: Option<ValueType>,
        #[prost(int64, tag = "12")]
        pub period: i64,
        #[prost(int64, repeated, tag = "13")]
        pub comment: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueType {
        #[prost(int64, tag = "1")]
        pub r#type: i64,
        #[prost(int64, tag = "2")]
        pub unit: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Sample {
        /// Leaf first.
        #[prost(uint64, repeated, tag = "1")]
        pub location_id: Vec<u64>,
        #[prost(int64, repeated, tag = "2")]
        pub value: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Location {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(message, repeated, tag = "4")]
        pub line: Vec<Line>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(uint64, tag = "1")]
        pub function_id: u64,
        #[prost(int64, tag = "2")]
        pub line: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Function {
        #[prost(uint64, tag = "1")]
        pub id: u64,
        #[prost(int64, tag = "2")]
        pub name: i64,
        #[prost(int64, tag = "3")]
        pub system_name: i64,
        #[prost(int64, tag = "4")]
        pub filename: i64,
    }
}

/// What a pprof profile says besides its stacks.
#[derive(Debug, Clone, PartialEq)]
pub struct PprofMeta<'a> {
    pub rate_hz: u32,
    pub started_ms: u64,
    pub duration_ms: u64,
    /// Lines shown by `pprof -comments` (service, version, instance, sampler).
    pub comments: &'a [String],
}

/// `name (file.py)` as (name, file) for py-spy's frames; other frames have no file.
fn split_frame(frame: &str) -> (&str, &str) {
    if let Some(open) = frame.rfind(" (") {
        let file = &frame[open + 2..frame.len().saturating_sub(1)];
        if frame.ends_with(')') && file.ends_with(".py") {
            return (&frame[..open], file);
        }
    }
    (frame, "")
}

/// The profile message (pure).
pub fn profile(stacks: &Folded, meta: &PprofMeta<'_>) -> proto::Profile {
    let mut strings: Vec<String> = vec![String::new()];
    let mut index: HashMap<String, i64> = HashMap::new();
    let mut intern = |s: &str, strings: &mut Vec<String>| -> i64 {
        if s.is_empty() {
            return 0;
        }
        *index.entry(s.to_string()).or_insert_with(|| {
            strings.push(s.to_string());
            strings.len() as i64 - 1
        })
    };
    let samples = intern("samples", &mut strings);
    let count = intern("count", &mut strings);
    let cpu = intern("cpu", &mut strings);
    let nanos = intern("nanoseconds", &mut strings);
    let period = 1_000_000_000 / i64::from(meta.rate_hz.max(1));
    let mut p = proto::Profile {
        sample_type: vec![
            proto::ValueType {
                r#type: samples,
                unit: count,
            },
            proto::ValueType {
                r#type: cpu,
                unit: nanos,
            },
        ],
        period_type: Some(proto::ValueType {
            r#type: cpu,
            unit: nanos,
        }),
        period,
        time_nanos: (meta.started_ms as i64).saturating_mul(1_000_000),
        duration_nanos: (meta.duration_ms as i64).saturating_mul(1_000_000),
        ..Default::default()
    };
    p.comment = meta
        .comments
        .iter()
        .map(|c| intern(c, &mut strings))
        .collect();
    let mut location_of: HashMap<&str, u64> = HashMap::new();
    for (stack, &n) in &stacks.0 {
        let mut ids = Vec::new();
        for frame in stack.split(';').filter(|f| !f.is_empty()).rev() {
            let next = location_of.len() as u64 + 1;
            let id = *location_of.entry(frame).or_insert_with(|| {
                let (name, file) = split_frame(frame);
                let name = intern(name, &mut strings);
                let filename = intern(file, &mut strings);
                p.function.push(proto::Function {
                    id: next,
                    name,
                    system_name: name,
                    filename,
                });
                p.location.push(proto::Location {
                    id: next,
                    line: vec![proto::Line {
                        function_id: next,
                        line: 0,
                    }],
                });
                next
            });
            ids.push(id);
        }
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        p.sample.push(proto::Sample {
            location_id: ids,
            value: vec![n, n.saturating_mul(period)],
        });
    }
    p.string_table = strings;
    p
}

/// The gzip'd protobuf bytes of [`profile`].
pub fn encode(stacks: &Folded, meta: &PprofMeta<'_>) -> std::io::Result<Vec<u8>> {
    let bytes = prost::Message::encode_to_vec(&profile(stacks, meta));
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(&bytes)?;
    gz.finish()
}

#[cfg(test)]
#[path = "pprof_tests.rs"]
mod tests;
