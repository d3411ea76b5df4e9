//! `[services.S.resilience]`: timeout, retries, circuit breaker, fallback and limits applied by the proxy.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::callers::{read_callers, CallerPolicy};
use crate::values::{positive, positive_duration, ratio, string, u32_in, MAX_INSTANCES};
use crate::walk::{Ctx, Field, Obj};

/// `[services.S.resilience]`: policies for calls INTO the service.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResilienceSpec {
    /// Per attempt. Default none (no proxy timeout).
    pub timeout: Option<Duration>,
    /// Budgeted retries of idempotent requests. Default none.
    pub retries: Option<RetrySpec>,
    /// Circuit breaker. Default none.
    pub circuit: Option<CircuitSpec>,
    /// Canned answer when a call fails or the circuit is open. Default none.
    pub fallback: Option<FallbackSpec>,
    /// Admission limits. Default none.
    pub limits: Option<LimitsSpec>,
    /// Priority (and optional guaranteed share) per calling service, by caller name.
    pub callers: BTreeMap<String, CallerPolicy>,
}

/// `retries = { attempts, budget }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrySpec {
    /// Retries after the first attempt, 0..=10. Default 2.
    pub attempts: u32,
    /// Retries may add at most this fraction of extra load, 0..=1. Default 0.2.
    pub budget: f64,
}

impl Default for RetrySpec {
    fn default() -> Self {
        RetrySpec {
            attempts: 2,
            budget: 0.2,
        }
    }
}

/// `circuit = { error_rate, min_requests, window, open_for }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircuitSpec {
    /// Opens when the error rate over `window` reaches this, (0, 1]. Default 0.5.
    pub error_rate: f64,
    /// ...and at least this many requests were seen in `window`. Default 20.
    pub min_requests: u32,
    /// Default 10s.
    pub window: Duration,
    /// Stays open this long before a half-open probe. Default 5s.
    pub open_for: Duration,
}

impl Default for CircuitSpec {
    fn default() -> Self {
        CircuitSpec {
            error_rate: 0.5,
            min_requests: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
        }
    }
}

/// `fallback = { status, body, content_type }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FallbackSpec {
    /// HTTP status, 100..=599. Default 200.
    pub status: u16,
    /// Default empty.
    pub body: String,
    /// Default `text/plain; charset=utf-8`.
    pub content_type: String,
}

impl Default for FallbackSpec {
    fn default() -> Self {
        FallbackSpec {
            status: 200,
            body: String::new(),
            content_type: "text/plain; charset=utf-8".to_owned(),
        }
    }
}

/// `limits = { rps, max_inflight, queue, queue_timeout }`; each optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LimitsSpec {
    /// Requests per second admitted (> 0); beyond: 429 `rate-limited`.
    pub rps: Option<f64>,
    /// Concurrent requests admitted (>= 1); beyond: 503 `shed`.
    pub max_inflight: Option<u32>,
    /// Requests that `max_inflight` (or their caller's priority) would shed wait for
    /// a place instead, at most this many at once (>= 1). Default none: shed at once.
    #[serde(default)]
    pub queue: Option<u32>,
    /// How long a queued request waits before it is shed. Default 1s (with `queue`).
    #[serde(default)]
    pub queue_timeout: Option<Duration>,
}

const MAX_RETRIES: u32 = 10;

pub(crate) fn read_resilience(
    cx: &mut Ctx<'_>,
    f: &Field<'_>,
    path: String,
) -> Option<ResilienceSpec> {
    let mut obj = Obj::open(cx, f, path)?;
    let mut spec = ResilienceSpec {
        timeout: obj.get(cx, "timeout", positive_duration),
        ..Default::default()
    };
    if let Some(rf) = obj.take("retries") {
        spec.retries = sub(cx, &rf, &obj.path, |cx, o| {
            let mut r = RetrySpec::default();
            o.set(cx, "attempts", &mut r.attempts, u32_in(0, MAX_RETRIES));
            o.set(cx, "budget", &mut r.budget, ratio);
            r
        });
    }
    if let Some(cf) = obj.take("circuit") {
        spec.circuit = sub(cx, &cf, &obj.path, |cx, o| {
            let mut c = CircuitSpec::default();
            o.set(
                cx,
                "error_rate",
                &mut c.error_rate,
                crate::values::positive_ratio,
            );
            o.set(cx, "min_requests", &mut c.min_requests, u32_in(1, u32::MAX));
            o.set(cx, "window", &mut c.window, positive_duration);
            o.set(cx, "open_for", &mut c.open_for, positive_duration);
            c
        });
    }
    if let Some(ff) = obj.take("fallback") {
        spec.fallback = sub(cx, &ff, &obj.path, |cx, o| {
            let mut fb = FallbackSpec::default();
            if let Some(status) = o.get(cx, "status", u32_in(100, 599)) {
                fb.status = u16::try_from(status).unwrap_or(200);
            }
            o.set(cx, "body", &mut fb.body, string);
            o.set(cx, "content_type", &mut fb.content_type, content_type);
            fb
        });
    }
    if let Some(lf) = obj.take("limits") {
        spec.limits = sub(cx, &lf, &obj.path, |cx, o| LimitsSpec {
            rps: o.get(cx, "rps", positive),
            max_inflight: o.get(cx, "max_inflight", u32_in(1, MAX_INSTANCES * 1000)),
            queue: o.get(cx, "queue", u32_in(1, 100_000)),
            queue_timeout: o.get(cx, "queue_timeout", positive_duration),
        });
    }
    if let Some(cf) = obj.take("callers") {
        spec.callers = read_callers(cx, &cf, format!("{}.callers", obj.path));
    }
    obj.finish(cx);
    Some(spec)
}

/// Opens `f` as the sub-table `parent.<name>`, reads it with `read`, reports leftovers.
fn sub<T>(
    cx: &mut Ctx<'_>,
    f: &Field<'_>,
    parent: &str,
    read: impl FnOnce(&mut Ctx<'_>, &mut Obj<'_>) -> T,
) -> Option<T> {
    let mut obj = Obj::open(cx, f, format!("{parent}.{}", f.name))?;
    let value = read(cx, &mut obj);
    obj.finish(cx);
    Some(value)
}

fn content_type(cx: &mut Ctx<'_>, f: &Field<'_>) -> Option<String> {
    let s = string(cx, f)?;
    let ok = s.split(';').next().is_some_and(|mime| {
        let mut halves = mime.trim().split('/');
        let token = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c));
        matches!((halves.next(), halves.next(), halves.next()), (Some(a), Some(b), None) if token(a) && token(b))
    });
    if !ok || s.chars().any(|c| c.is_control()) {
        cx.error(
            f.value_pos(),
            format!("invalid `content_type` {s:?}: write a media type like \"application/json\""),
        );
        return None;
    }
    Some(s)
}
