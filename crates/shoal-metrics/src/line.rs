//! The StatsD line parser: one line in, one borrowed [`Line`] out; pure, zero-copy, never panics.
//!
//! Accepted: `name:value|type[|@rate][|#tag:v,tag2][|c:container][|T<unix>]` with
//! types `c`, `g` (a leading `+`/`-` is a delta), `ms`, `h`, `d` and `s`, and
//! DogStatsD 1.1 multi-value lines (`name:1:2:3|d`). The value of a set is one
//! opaque member (it may contain `:`). Values are finite and `1/rate` is too: an
//! infinity or NaN never gets past the parser (sums that would overflow are refused
//! later, in `agg.rs` and `statsd.rs`).

use std::str::FromStr;

/// Longest line accepted (the largest UDP datagram is shorter).
pub const MAX_LINE: usize = 64 * 1024;

/// The StatsD metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Counter,
    Gauge,
    Timer,
    Histogram,
    Distribution,
    Set,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "c" => Kind::Counter,
            "g" => Kind::Gauge,
            "ms" => Kind::Timer,
            "h" => Kind::Histogram,
            "d" => Kind::Distribution,
            "s" => Kind::Set,
            _ => return None,
        })
    }

    /// The type as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "c",
            Kind::Gauge => "g",
            Kind::Timer => "ms",
            Kind::Histogram => "h",
            Kind::Distribution => "d",
            Kind::Set => "s",
        }
    }

    /// Timers, histograms and distributions: summarised by percentiles.
    pub fn is_summary(self) -> bool {
        matches!(self, Kind::Timer | Kind::Histogram | Kind::Distribution)
    }
}

/// Why a line was refused (it is counted and skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("the line is longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("the line is not UTF-8")]
    NotUtf8,
    #[error("no `:` between the name and the value")]
    NoValue,
    #[error("the metric name is empty or has control characters")]
    BadName,
    #[error("no `|type` after the value")]
    NoType,
    #[error("unknown metric type (expected c, g, ms, h, d or s)")]
    UnknownType,
    #[error("the value is not a number")]
    BadValue,
    #[error("the value is infinite or NaN (send a finite number)")]
    NonFinite,
    #[error("the sample rate is not a number in (0, 1], or so small that 1/rate overflows")]
    BadSampleRate,
    #[error("unknown `|` field after the type")]
    UnknownField,
}

/// One parsed line, borrowing the packet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Line<'a> {
    pub name: &'a str,
    pub kind: Kind,
    /// The value field as sent (several values are separated by `:`).
    pub values: &'a str,
    /// The first value (0 for sets).
    pub first: f64,
    /// More than one value (DogStatsD 1.1).
    pub multi: bool,
    /// Sample rate in (0, 1] with a finite inverse: a counter's value and a summary's
    /// count are divided by it.
    pub rate: f64,
    /// The tags as sent, without `#`: `k:v,k2:v2` (empty when none).
    pub tags: &'a str,
}

impl<'a> Line<'a> {
    /// The numeric values (none for sets).
    pub fn numbers(&self) -> impl Iterator<Item = f64> + 'a {
        let (first, rest) = match (self.kind, self.multi) {
            (Kind::Set, _) => (None, None),
            (_, false) => (Some(self.first), None),
            (_, true) => (None, Some(self.values.split(':'))),
        };
        first
            .into_iter()
            .chain(rest.into_iter().flatten().filter_map(number))
    }

    /// Whether a gauge value is a delta (`+N`/`-N`).
    pub fn is_delta(value: &str) -> bool {
        value.starts_with(['+', '-'])
    }

    /// Each value text with its number (gauges need the sign of each).
    pub fn values_with_text(&self) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        let values = if self.kind == Kind::Set {
            ""
        } else {
            self.values
        };
        values.split(':').filter_map(|v| number(v).map(|n| (v, n)))
    }

    /// The tags as `(key, value)`; a tag without `:` has an empty value.
    pub fn tag_pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        tag_pairs(self.tags)
    }
}

/// Splits `k:v,k2:v2`; empty tags are skipped.
pub fn tag_pairs(tags: &str) -> impl Iterator<Item = (&str, &str)> {
    tags.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.split_once(':').unwrap_or((t, "")))
}

fn number(s: &str) -> Option<f64> {
    f64::from_str(s).ok().filter(|v| v.is_finite())
}

/// A value field: a number, and a finite one.
fn value(s: &str) -> Result<f64, LineError> {
    let v = f64::from_str(s).map_err(|_| LineError::BadValue)?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(LineError::NonFinite)
    }
}

/// A sample rate in (0, 1] whose inverse is finite (`@1e-320` would make counts infinite).
fn sample_rate(s: &str) -> Result<f64, LineError> {
    number(s)
        .filter(|r| *r > 0.0 && *r <= 1.0 && (1.0 / r).is_finite())
        .ok_or(LineError::BadSampleRate)
}

/// Parses one line (without its newline; a trailing `\r` is ignored).
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, LineError> {
    if line.len() > MAX_LINE {
        return Err(LineError::TooLong);
    }
    let line = std::str::from_utf8(line).map_err(|_| LineError::NotUtf8)?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (name, rest) = line.split_once(':').ok_or(LineError::NoValue)?;
    if name.is_empty() || name.bytes().any(|b| b.is_ascii_control()) {
        return Err(LineError::BadName);
    }
    let mut fields = rest.split('|');
    let values = fields.next().unwrap_or("");
    let kind = fields.next().ok_or(LineError::NoType)?;
    let kind = Kind::parse(kind).ok_or(LineError::UnknownType)?;
    let mut rate = 1.0;
    let mut tags = "";
    for field in fields {
        if let Some(r) = field.strip_prefix('@') {
            rate = sample_rate(r)?;
        } else if let Some(t) = field.strip_prefix('#') {
            tags = t;
        } else if field.starts_with("c:") || is_timestamp(field) || field.is_empty() {
            // DogStatsD container id and client timestamp: accepted, not used.
        } else {
            return Err(LineError::UnknownField);
        }
    }
    let (first, multi) = if kind == Kind::Set {
        if values.is_empty() {
            return Err(LineError::BadValue);
        }
        (0.0, false)
    } else {
        let mut parts = values.split(':');
        let first = value(parts.next().unwrap_or(""))?;
        let mut multi = false;
        for p in parts {
            value(p)?;
            multi = true;
        }
        (first, multi)
    };
    Ok(Line {
        name,
        kind,
        values,
        first,
        multi,
        rate,
        tags,
    })
}

fn is_timestamp(field: &str) -> bool {
    field
        .strip_prefix('T')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The non-empty lines of a packet (`\n` separated).
pub fn lines(packet: &[u8]) -> impl Iterator<Item = &[u8]> {
    packet
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty() && *l != b"\r")
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
