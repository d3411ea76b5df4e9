//! Retention limits from the environment: `SHOAL_LOG_MAX_BYTES`, `SHOAL_LOG_MAX_AGE`,
//! `SHOAL_LOG_MAX_LINE_BYTES` (unset ones keep their defaults).

use std::time::Duration;

use crate::limits::LogLimits;

/// A limit variable that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}={value:?}: {why}")]
pub struct LimitError {
    pub var: &'static str,
    pub value: String,
    pub why: &'static str,
}

impl LogLimits {
    /// The defaults, overridden by the `SHOAL_LOG_*` variables of the process.
    pub fn from_env() -> Result<LogLimits, LimitError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// The defaults, overridden by whatever `get` returns for the `SHOAL_LOG_*` names.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<LogLimits, LimitError> {
        let mut l = LogLimits::default();
        let err = |var, value: &str, why| LimitError {
            var,
            value: value.to_string(),
            why,
        };
        if let Some(v) = get("SHOAL_LOG_MAX_BYTES") {
            l.max_bytes = parse_size(&v).filter(|n| *n >= 64 * 1024).ok_or_else(|| {
                err(
                    "SHOAL_LOG_MAX_BYTES",
                    &v,
                    "want a size of at least 64KiB, like 64MiB or 1GiB",
                )
            })?;
        }
        if let Some(v) = get("SHOAL_LOG_MAX_LINE_BYTES") {
            l.max_line_bytes = parse_size(&v)
                .filter(|n| (64..=l.max_bytes).contains(n))
                .ok_or_else(|| {
                    err(
                        "SHOAL_LOG_MAX_LINE_BYTES",
                        &v,
                        "want a size between 64 and the store's size, like 16KiB",
                    )
                })?;
        }
        if let Some(v) = get("SHOAL_LOG_MAX_AGE") {
            l.max_age = humantime::parse_duration(v.trim())
                .ok()
                .filter(|d| *d >= Duration::from_secs(1))
                .ok_or_else(|| {
                    err(
                        "SHOAL_LOG_MAX_AGE",
                        &v,
                        "want a duration of at least 1s, like 30m or 24h",
                    )
                })?;
        }
        Ok(l)
    }
}

impl crate::disk::DiskLimits {
    /// The defaults, overridden by `SHOAL_LOG_MAX_DISK_BYTES` (0 keeps no disk log).
    pub fn from_env() -> Result<crate::disk::DiskLimits, LimitError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<crate::disk::DiskLimits, LimitError> {
        let mut d = crate::disk::DiskLimits::default();
        if let Some(v) = get("SHOAL_LOG_MAX_DISK_BYTES") {
            let n = parse_size(&v)
                .filter(|n| *n == 0 || *n >= 64 * 1024)
                .ok_or_else(|| LimitError {
                    var: "SHOAL_LOG_MAX_DISK_BYTES",
                    value: v.clone(),
                    why: "want 0 (no disk log) or a size of at least 64KiB, like 256MiB",
                })?;
            d.max_bytes = n as u64;
        }
        // Eight or more segments, so deleting the oldest frees a small share.
        d.segment_bytes = (d.max_bytes / 8).clamp(16 * 1024, 16 << 20);
        Ok(d)
    }
}

/// `4096`, `16KiB`/`16K`, `64MiB`/`64M`, `1GiB`/`1G` (binary), `10KB`/`10MB`/`1GB` (decimal).
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num.parse().ok()?;
    let mult: usize = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn sizes_in_every_spelling() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("16KiB"), Some(16 << 10));
        assert_eq!(parse_size("64M"), Some(64 << 20));
        assert_eq!(parse_size(" 1GiB "), Some(1 << 30));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        for bad in ["", "MiB", "12 parsecs", "-5", "1.5M"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn unset_variables_keep_the_defaults() {
        assert_eq!(LogLimits::from_vars(|_| None), Ok(LogLimits::default()));
    }

    #[test]
    fn set_variables_override() {
        let l = LogLimits::from_vars(vars(&[
            ("SHOAL_LOG_MAX_BYTES", "8MiB"),
            ("SHOAL_LOG_MAX_AGE", "30m"),
            ("SHOAL_LOG_MAX_LINE_BYTES", "1KiB"),
        ]));
        assert_eq!(
            l,
            Ok(LogLimits {
                max_bytes: 8 << 20,
                max_age: Duration::from_secs(1800),
                max_line_bytes: 1024,
            })
        );
    }

    #[test]
    fn disk_limits_from_the_environment() {
        use crate::disk::DiskLimits;
        let d = DiskLimits::from_vars(|_| None).unwrap_or_default();
        assert_eq!((d.max_bytes, d.segment_bytes), (256 << 20, 16 << 20));
        let d = DiskLimits::from_vars(vars(&[("SHOAL_LOG_MAX_DISK_BYTES", "4MiB")]));
        assert_eq!(
            d.map(|d| (d.max_bytes, d.segment_bytes)),
            Ok((4 << 20, 512 << 10))
        );
        let d = DiskLimits::from_vars(vars(&[("SHOAL_LOG_MAX_DISK_BYTES", "0")]));
        assert_eq!(d.map(|d| d.max_bytes), Ok(0));
        assert!(DiskLimits::from_vars(vars(&[("SHOAL_LOG_MAX_DISK_BYTES", "1K")])).is_err());
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = LogLimits::from_vars(vars(&[("SHOAL_LOG_MAX_BYTES", "lots")]));
        assert_eq!(e.map_err(|e| e.var), Err("SHOAL_LOG_MAX_BYTES"));
        let e = LogLimits::from_vars(vars(&[("SHOAL_LOG_MAX_AGE", "0s")]));
        assert!(e.is_err());
        let e = LogLimits::from_vars(vars(&[("SHOAL_LOG_MAX_BYTES", "1K")]));
        assert!(e.is_err(), "too small to be useful");
    }
}
