//! Go-style durations as Consul reads and writes them (`"10s"`, `"1m30s"`, `"1.5h"`, `"250ms"`),
//! and JSON duration fields that may be either such a string or a number of nanoseconds.

use std::time::Duration;

use serde_json::Value;

/// Parses a Go duration string (`time.ParseDuration`): one or more `<number><unit>` with units
/// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`; `"0"` alone is zero. Negative durations are refused.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(format!("negative duration {text:?}"));
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return Err(format!("invalid duration {text:?}"));
        }
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid number in duration {text:?}"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let nanos_per = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("missing unit in duration {text:?}")),
            other => return Err(format!("unknown unit {other:?} in duration {text:?}")),
        };
        total += value * nanos_per;
        rest = next;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("duration {text:?} is too large"));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Reads a JSON duration field: a Go duration string or a number of nanoseconds.
pub fn duration_field(v: &Value) -> Result<Option<Duration>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => parse_go_duration(s).map(Some),
        Value::Number(n) => match n.as_u64() {
            Some(ns) => Ok(Some(Duration::from_nanos(ns))),
            None => Err(format!(
                "duration {n} must be a non-negative integer of nanoseconds"
            )),
        },
        other => Err(format!("expected a duration like \"10s\", got {other}")),
    }
}

/// Formats like Go's `Duration.String()` for the values Consul echoes (`"10s"`, `"1m30s"`,
/// `"1.5s"`, `"250ms"`, `"0s"`).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        return if nanos.is_multiple_of(1_000_000) {
            format!("{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            format!("{}µs", nanos / 1_000)
        } else {
            format!("{nanos}ns")
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let frac = d.subsec_nanos();
    let mut sec_text = s.to_string();
    if frac != 0 {
        let digits = format!("{frac:09}");
        sec_text.push('.');
        sec_text.push_str(digits.trim_end_matches('0'));
    }
    match (h, m) {
        (0, 0) => format!("{sec_text}s"),
        (0, m) => format!("{m}m{sec_text}s"),
        (h, m) => format!("{h}h{m}m{sec_text}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("-1s").is_err());
        assert!(parse_go_duration("1x").is_err());
        assert!(parse_go_duration(".s").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::from_secs(10)), "10s");
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn duration_fields_take_strings_and_nanos() {
        assert_eq!(
            duration_field(&Value::from("15s")),
            Ok(Some(Duration::from_secs(15)))
        );
        assert_eq!(
            duration_field(&Value::from(1_000_000_000u64)),
            Ok(Some(Duration::from_secs(1)))
        );
        assert_eq!(duration_field(&Value::Null), Ok(None));
        assert!(duration_field(&Value::from(-1)).is_err());
        assert!(duration_field(&Value::Bool(true)).is_err());
    }
}
