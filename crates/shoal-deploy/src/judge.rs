//! Canary judgement: does the new version answer as well as the stable one?
//!
//! Over one step's window the canary must have answered at least `min_requests`;
//! then its 5xx rate must not pass `max_error_rate`, and its p95 must not pass
//! `max_p95_ratio` times the stable version's p95 over the same window. Latencies
//! under [`P95_FLOOR`] count as equal: a 0.4 ms against a 0.2 ms answer is noise,
//! not a regression. A p95 is read from histogram buckets (bounds 2–2.5x apart), so
//! within a bucket it is an interpolation: the canary is judged slower only when even
//! the lower bound of its p95's bucket is over the allowed ratio, never on the guess.

use serde_json::json;
use shoal_spec::CanarySpec;

use crate::record::Totals;

/// A canary p95 below this (seconds) is never judged slower than the stable version.
pub const P95_FLOOR: f64 = 0.005;

/// What one step's numbers say.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Good enough: take the next step.
    Pass { numbers: serde_json::Value },
    /// Worse than allowed: roll back. `reason` names the numbers.
    Fail {
        reason: String,
        numbers: serde_json::Value,
    },
    /// Too few canary requests yet to say.
    Wait { reason: String },
}

/// Judges a canary window against the stable version's window (`None` when no
/// stable version served in it, e.g. at 100 %: then only the error rate counts).
pub fn judge(canary: &Totals, stable: Option<&Totals>, spec: &CanarySpec) -> Verdict {
    if canary.requests < u64::from(spec.min_requests) {
        return Verdict::Wait {
            reason: format!(
                "waiting for requests: {} of {} to judge the canary",
                canary.requests, spec.min_requests
            ),
        };
    }
    let rate = canary.error_rate();
    let p95 = canary.quantile(0.95).unwrap_or(0.0);
    let stable_p95 = stable
        .filter(|s| s.requests >= u64::from(spec.min_requests))
        .and_then(|s| s.quantile(0.95));
    let ratio = stable_p95.map(|s| p95 / s.max(1e-6));
    let numbers = json!({
        "requests": canary.requests,
        "errors": canary.errors,
        "error_rate": round(rate),
        "max_error_rate": spec.max_error_rate,
        "p95_ms": round(p95 * 1e3),
        "stable_p95_ms": stable_p95.map(|s| round(s * 1e3)),
        "p95_ratio": ratio.map(round),
        "max_p95_ratio": spec.max_p95_ratio,
        "stable_requests": stable.map(|s| s.requests),
    });
    if rate > spec.max_error_rate {
        return Verdict::Fail {
            reason: format!(
                "error rate {:.1}% ({} of {} requests) is over max_error_rate {:.1}%",
                rate * 100.0,
                canary.errors,
                canary.requests,
                spec.max_error_rate * 100.0
            ),
            numbers,
        };
    }
    if let (Some(ratio), Some(stable_p95)) = (ratio, stable_p95) {
        let surely_above = bucket_floor(p95) > spec.max_p95_ratio * stable_p95;
        if p95 > P95_FLOOR && ratio > spec.max_p95_ratio && surely_above {
            return Verdict::Fail {
                reason: format!(
                    "p95 {:.1} ms is {ratio:.2}x the stable version's {:.1} ms (max_p95_ratio {})",
                    p95 * 1e3,
                    stable_p95 * 1e3,
                    spec.max_p95_ratio
                ),
                numbers,
            };
        }
    }
    Verdict::Pass { numbers }
}

/// The lower bound of the histogram bucket holding `v` (seconds).
fn bucket_floor(v: f64) -> f64 {
    Totals::BOUNDS
        .iter()
        .rev()
        .find(|b| **b < v)
        .copied()
        .unwrap_or(0.0)
}

fn round(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` requests of which `errors` failed, all in bucket `bucket`.
    fn window(n: u64, errors: u64, bucket: usize) -> Totals {
        let mut buckets = vec![0; Totals::BOUNDS.len() + 1];
        buckets[bucket] = n;
        Totals {
            requests: n,
            errors,
            buckets,
        }
    }

    fn spec() -> CanarySpec {
        CanarySpec::default() // min 20 requests, 1 % errors, p95 ratio 1.5
    }

    #[test]
    fn too_few_requests_wait() {
        let v = judge(&window(19, 19, 0), Some(&window(100, 0, 0)), &spec());
        assert!(matches!(v, Verdict::Wait { .. }), "{v:?}");
    }

    #[test]
    fn error_rate_over_the_limit_fails_with_the_numbers() {
        let Verdict::Fail { reason, numbers } =
            judge(&window(100, 2, 0), Some(&window(900, 0, 0)), &spec())
        else {
            panic!("expected a failure");
        };
        assert!(reason.contains("error rate 2.0%"), "{reason}");
        assert!(reason.contains("2 of 100"), "{reason}");
        assert_eq!(numbers["errors"], 2);
    }

    #[test]
    fn error_rate_at_the_limit_passes() {
        let v = judge(&window(100, 1, 0), Some(&window(900, 0, 0)), &spec());
        assert!(matches!(v, Verdict::Pass { .. }), "{v:?}");
    }

    #[test]
    fn a_slower_canary_fails_on_the_p95_ratio() {
        // canary in (50, 100] ms, stable in (10, 25] ms
        let v = judge(&window(100, 0, 6), Some(&window(900, 0, 4)), &spec());
        let Verdict::Fail { reason, .. } = v else {
            panic!("expected a failure, got {v:?}");
        };
        assert!(reason.contains("p95"), "{reason}");
    }

    #[test]
    fn a_neighbouring_bucket_is_within_resolution() {
        // canary (5, 10] ms against stable (2.5, 5] ms: the interpolated ratio is 2x,
        // but the true latencies may be 5.1 against 4.9 ms.
        let v = judge(&window(100, 0, 3), Some(&window(900, 0, 2)), &spec());
        assert!(matches!(v, Verdict::Pass { .. }), "{v:?}");
        // (10, 25] ms against (2.5, 5] ms is slower whatever the true values.
        let v = judge(&window(100, 0, 4), Some(&window(900, 0, 2)), &spec());
        assert!(matches!(v, Verdict::Fail { .. }), "{v:?}");
    }

    #[test]
    fn sub_floor_latencies_never_fail_the_ratio() {
        // canary (2.5, 5] ms against stable (0, 1] ms: over 1.5x, but under the floor
        let v = judge(&window(100, 0, 2), Some(&window(900, 0, 0)), &spec());
        assert!(matches!(v, Verdict::Pass { .. }), "{v:?}");
    }

    #[test]
    fn without_a_judged_stable_window_only_errors_count() {
        let v = judge(&window(100, 0, 9), None, &spec());
        assert!(matches!(v, Verdict::Pass { .. }), "{v:?}");
        // A stable window with too few requests is not a baseline either.
        let v = judge(&window(100, 0, 9), Some(&window(3, 0, 0)), &spec());
        assert!(matches!(v, Verdict::Pass { .. }), "{v:?}");
    }
}
