//! The data plane's side: experiments compiled per service, and the roll of the
//! dice for one attempt on a caller → service edge.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;

use crate::model::{Experiment, Fault};

/// The proxy faults in force (kills are the monkey's), by service.
#[derive(Debug, Clone, Default)]
pub struct ChaosRules {
    by_service: HashMap<String, Vec<Experiment>>,
}

impl ChaosRules {
    /// Compiles the proxy-side experiments of `all`.
    pub fn new<'a>(all: impl IntoIterator<Item = &'a Experiment>) -> Self {
        let mut by_service: HashMap<String, Vec<Experiment>> = HashMap::new();
        for e in all {
            if !matches!(e.fault, Fault::Kill { .. }) {
                by_service
                    .entry(e.service.clone())
                    .or_default()
                    .push(e.clone());
            }
        }
        ChaosRules { by_service }
    }

    pub fn is_empty(&self) -> bool {
        self.by_service.is_empty()
    }

    /// The experiments on calls into `service`, if any.
    pub fn on(&self, service: &str) -> Option<&[Experiment]> {
        self.by_service.get(service).map(Vec::as_slice)
    }
}

/// What one attempt suffers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injection {
    /// Held this long before it is sent.
    pub delay: Duration,
    /// Answered with this status without reaching an instance.
    pub error: Option<u16>,
    /// Failed as a reset connection without reaching an instance.
    pub reset: bool,
    /// The answer delivered no faster than this many bytes per second.
    pub bytes_per_sec: Option<u64>,
}

impl Injection {
    pub fn is_none(&self) -> bool {
        *self == Injection::default()
    }
}

fn hits(percent: f64, rng: &mut impl Rng) -> bool {
    rng.random::<f64>() * 100.0 < percent
}

/// Rolls the experiments on one service for an attempt by `caller` at `now_ms`:
/// latencies add up, the first error or reset that fires applies, the
/// narrowest bandwidth cap holds.
pub fn roll(rules: &[Experiment], caller: &str, now_ms: u64, rng: &mut impl Rng) -> Injection {
    let mut out = Injection::default();
    for e in rules {
        if !e.active(now_ms) || e.caller.as_deref().is_some_and(|c| c != caller) {
            continue;
        }
        match e.fault {
            Fault::Latency {
                delay_ms,
                jitter_ms,
            } => {
                let jitter = if jitter_ms > 0 {
                    rng.random_range(0..=jitter_ms)
                } else {
                    0
                };
                out.delay += Duration::from_millis(delay_ms + jitter);
            }
            Fault::Error { percent, status } => {
                if out.error.is_none() && !out.reset && hits(percent, rng) {
                    out.error = Some(status);
                }
            }
            Fault::Reset { percent } => {
                if out.error.is_none() && !out.reset && hits(percent, rng) {
                    out.reset = true;
                }
            }
            Fault::Bandwidth { bytes_per_sec } => {
                out.bytes_per_sec = Some(
                    out.bytes_per_sec
                        .map_or(bytes_per_sec, |b| b.min(bytes_per_sec)),
                );
            }
            Fault::Kill { .. } => {}
        }
    }
    out
}

/// How long `len` bytes take at `bytes_per_sec`.
pub fn transfer_time(len: u64, bytes_per_sec: u64) -> Duration {
    Duration::from_secs_f64(len as f64 / bytes_per_sec.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn exp(caller: Option<&str>, fault: Fault) -> Experiment {
        Experiment {
            id: "chaos-1".into(),
            service: "pubs".into(),
            caller: caller.map(str::to_owned),
            fault,
            started_ms: 0,
            until_ms: 10_000,
        }
    }

    #[test]
    fn an_edge_rule_applies_to_its_caller_only_and_ends_on_time() {
        let rules = [exp(Some("profile"), Fault::Reset { percent: 100.0 })];
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert!(roll(&rules, "profile", 5, &mut rng).reset);
        assert!(roll(&rules, "gateway", 5, &mut rng).is_none());
        assert!(roll(&rules, "profile", 10_000, &mut rng).is_none());
    }

    #[test]
    fn error_percent_is_about_right() {
        let rules = [exp(
            None,
            Fault::Error {
                percent: 50.0,
                status: 503,
            },
        )];
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let n = (0..10_000)
            .filter(|_| roll(&rules, "x", 1, &mut rng).error == Some(503))
            .count();
        assert!((4_700..5_300).contains(&n), "{n} of 10000");
    }

    #[test]
    fn latencies_add_and_the_narrowest_cap_holds() {
        let rules = [
            exp(
                None,
                Fault::Latency {
                    delay_ms: 100,
                    jitter_ms: 0,
                },
            ),
            exp(
                None,
                Fault::Latency {
                    delay_ms: 50,
                    jitter_ms: 10,
                },
            ),
            exp(
                None,
                Fault::Bandwidth {
                    bytes_per_sec: 1000,
                },
            ),
            exp(None, Fault::Bandwidth { bytes_per_sec: 500 }),
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let i = roll(&rules, "x", 1, &mut rng);
        assert!(i.delay >= Duration::from_millis(150) && i.delay <= Duration::from_millis(160));
        assert_eq!(i.bytes_per_sec, Some(500));
        assert_eq!(transfer_time(1000, 500), Duration::from_secs(2));
    }

    #[test]
    fn kills_are_not_the_proxys() {
        let all = [exp(
            None,
            Fault::Kill {
                every_ms: 1000,
                floor: 1,
            },
        )];
        assert!(ChaosRules::new(&all).is_empty());
    }
}
