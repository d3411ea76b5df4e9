//! Numbers, durations, times and metric descriptions as the decision's reasons print them.

use std::time::{Duration, UNIX_EPOCH};

use crate::metric::{Counts, Metric, Recommendation, Verdict};

/// Latest time printed as a date (the year 9999 ends here); later ones print as milliseconds.
const LAST_DATE_MS: u64 = 253_402_300_799_999;

/// A measurement for people: at most 3 decimals, fewer as it grows, no trailing zeros.
pub(crate) fn num(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() || a >= 1e9 {
        return format!("{x:.3e}");
    }
    let decimals = match a {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// A duration in milliseconds, e.g. `1m 30s`.
pub(crate) fn dur(ms: u64) -> String {
    humantime::format_duration(Duration::from_millis(ms)).to_string()
}

/// A unix time in milliseconds as an RFC 3339 date (UTC), e.g. `2024-05-01T12:00:05.000Z`.
pub(crate) fn when(ms: u64) -> String {
    if ms > LAST_DATE_MS {
        return format!("unix ms {ms}");
    }
    match UNIX_EPOCH.checked_add(Duration::from_millis(ms)) {
        Some(t) => humantime::format_rfc3339_millis(t).to_string(),
        None => format!("unix ms {ms}"),
    }
}

/// A fraction as a percentage, e.g. `10%`.
pub(crate) fn percent(fraction: f64) -> String {
    format!("{}%", num(fraction * 100.0))
}

/// Metric names joined by `, `.
pub(crate) fn list(metrics: &[Metric]) -> String {
    metrics
        .iter()
        .map(Metric::name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `1 instance`, `2 instances`.
pub(crate) fn instances(n: u32) -> String {
    if n == 1 {
        "1 instance".to_owned()
    } else {
        format!("{n} instances")
    }
}

/// One recommendation for people, e.g. `rps 480 over 2 instances (240 each), target 200 → 3`.
pub(crate) fn describe(r: &Recommendation, counts: Counts) -> String {
    let (m, v, t) = (&r.metric, num(r.value), num(r.target));
    let head = match (r.metric.is_total(), counts.ready) {
        (false, _) => format!("{m} {v}"),
        (true, 0) => format!("{m} {v} with no instance ready"),
        (true, 1) => format!("{m} {v} over {}", instances(1)),
        (true, n) => format!(
            "{m} {v} over {} ({} each)",
            instances(n),
            num(r.per_instance)
        ),
    };
    match r.verdict {
        Verdict::Keep => format!("{head}, target {t}: within tolerance"),
        Verdict::Absorbed => format!(
            "{head}, target {t}: the {} starting will carry it",
            counts.starting
        ),
        Verdict::Up | Verdict::Down => format!("{head}, target {t} → {}", r.count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_short() {
        let cases = [
            (480.0, "480"),
            (240.4, "240"),
            (0.7, "0.7"),
            (0.125, "0.125"),
            (0.0001, "0"),
            (12.34, "12.3"),
            (1.5, "1.5"),
            (3.0, "3"),
            (0.0, "0"),
            (-0.0001, "0"),
            (-12.0, "-12"),
            (2.5e12, "2.500e12"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "NaN"),
        ];
        for (x, want) in cases {
            assert_eq!(num(x), want, "{x}");
        }
    }

    #[test]
    fn durations_times_and_percentages() {
        assert_eq!(dur(0), "0s");
        assert_eq!(dur(2_500), "2s 500ms");
        assert_eq!(dur(300_000), "5m");
        assert_eq!(when(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(when(1_700_000_005_000), "2023-11-14T22:13:25.000Z");
        assert_eq!(when(LAST_DATE_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(when(u64::MAX), format!("unix ms {}", u64::MAX));
        assert_eq!(percent(0.1), "10%");
        assert_eq!(percent(0.025), "2.5%");
        assert_eq!(instances(1), "1 instance");
        assert_eq!(instances(0), "0 instances");
        assert_eq!(list(&[Metric::Rps, Metric::Custom("q".into())]), "rps, q");
    }
}
