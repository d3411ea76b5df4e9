//! What the metrics say about one service over the last window: the decision's only view of load.

use serde::{Deserialize, Serialize};

/// The load of one service over the last metrics window, as the autoscaler loop
/// measured it.
///
/// Every measurement is optional: `None` means no data. A value the loop does not
/// trust (stale: the window saw no fresh sample) must be passed as `None` too.
/// [`decide`](crate::decide) treats non-finite and negative values as missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// Requests per second to the whole service (all instances together).
    pub rps: Option<f64>,
    /// 95th percentile latency of the service, in milliseconds.
    pub p95_ms: Option<f64>,
    /// Mean CPU use per serving instance, as a fraction of one core.
    pub cpu: Option<f64>,
    /// Requests in flight to the whole service (all instances together).
    pub inflight: Option<f64>,
    /// The custom metric of `target.metric` for the whole service: the gauge's
    /// value, or the counter's rate per second.
    pub custom: Option<f64>,
    /// Instances serving now (healthy).
    pub ready: u32,
    /// Instances started but not healthy yet.
    pub starting: u32,
    /// Milliseconds since the service's last request; `None` when unknown (the
    /// loop should pass the time since the service started if it never had one).
    /// Unknown is never idle: no scale to zero.
    pub idle_ms: Option<u64>,
    /// A request is being held at the gateway for this service, which runs no
    /// instance: wake it.
    pub wake: bool,
}

impl Signals {
    /// A copy in which every unusable measurement (NaN, ±∞, negative) is `None`.
    pub fn sanitized(&self) -> Signals {
        Signals {
            rps: usable(self.rps),
            p95_ms: usable(self.p95_ms),
            cpu: usable(self.cpu),
            inflight: usable(self.inflight),
            custom: usable(self.custom),
            ..self.clone()
        }
    }

    /// Whether anything asks for work: a held request, or a positive request rate,
    /// in-flight count or custom metric. Latency and CPU are measurements of
    /// instances, not of demand, and do not count.
    pub fn demand(&self) -> bool {
        let positive = |v: Option<f64>| usable(v).is_some_and(|x| x > 0.0);
        self.wake || positive(self.rps) || positive(self.inflight) || positive(self.custom)
    }

    /// Whether the service had no request for at least `idle_after_ms` and nothing asks for work.
    pub fn idle_for(&self, idle_after_ms: u64) -> bool {
        !self.demand() && self.idle_ms.is_some_and(|ms| ms >= idle_after_ms)
    }
}

/// `v` if it is a usable measurement: finite and not negative.
pub(crate) fn usable(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_values_become_missing() {
        let s = Signals {
            rps: Some(f64::NAN),
            p95_ms: Some(f64::INFINITY),
            cpu: Some(-0.5),
            inflight: Some(f64::NEG_INFINITY),
            custom: Some(3.0),
            ready: 2,
            starting: 1,
            idle_ms: Some(7),
            wake: true,
        };
        let clean = s.sanitized();
        assert_eq!(
            (clean.rps, clean.p95_ms, clean.cpu, clean.inflight),
            (None, None, None, None)
        );
        assert_eq!(clean.custom, Some(3.0));
        assert_eq!(
            (clean.ready, clean.starting, clean.idle_ms, clean.wake),
            (2, 1, Some(7), true)
        );
    }

    #[test]
    fn zero_is_usable_negative_is_not() {
        assert_eq!(usable(Some(0.0)), Some(0.0));
        assert_eq!(usable(Some(-0.0)), Some(-0.0));
        assert_eq!(usable(Some(-1e-9)), None);
        assert_eq!(usable(Some(f64::MAX)), Some(f64::MAX));
        assert_eq!(usable(None), None);
    }

    #[test]
    fn demand_comes_from_requests_inflight_custom_or_wake() {
        let none = Signals::default();
        assert!(!none.demand());
        for s in [
            Signals {
                wake: true,
                ..Signals::default()
            },
            Signals {
                rps: Some(0.1),
                ..Signals::default()
            },
            Signals {
                inflight: Some(1.0),
                ..Signals::default()
            },
            Signals {
                custom: Some(4.0),
                ..Signals::default()
            },
        ] {
            assert!(s.demand(), "{s:?}");
        }
        for s in [
            Signals {
                p95_ms: Some(300.0),
                cpu: Some(0.9),
                ..Signals::default()
            },
            Signals {
                rps: Some(0.0),
                inflight: Some(0.0),
                custom: Some(0.0),
                ..Signals::default()
            },
            Signals {
                rps: Some(f64::NAN),
                inflight: Some(f64::INFINITY),
                custom: Some(-3.0),
                ..Signals::default()
            },
        ] {
            assert!(!s.demand(), "{s:?}");
        }
    }

    #[test]
    fn idle_needs_a_known_long_quiet_and_no_demand() {
        let quiet = |idle_ms| Signals {
            idle_ms,
            rps: Some(0.0),
            ..Signals::default()
        };
        assert!(quiet(Some(300_000)).idle_for(300_000));
        assert!(quiet(Some(u64::MAX)).idle_for(300_000));
        assert!(!quiet(Some(299_999)).idle_for(300_000));
        assert!(!quiet(None).idle_for(0));
        let busy = Signals {
            rps: Some(1.0),
            ..quiet(Some(u64::MAX))
        };
        assert!(!busy.idle_for(300_000));
        let woken = Signals {
            wake: true,
            ..quiet(Some(u64::MAX))
        };
        assert!(!woken.idle_for(300_000));
    }
}
