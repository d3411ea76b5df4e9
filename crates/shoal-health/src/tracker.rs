//! The per-instance health state machine: outcomes in, health and liveness decisions out.
//!
//! Pure: no I/O, time is passed in, so every rule is tested with explicit instants.

use std::time::Duration;

use tokio::time::Instant;

use crate::outcome::CheckOutcome;

pub use shoal_catalog::Health;

/// The health fields of a service spec (DESIGN §4), already parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthPolicy {
    /// Consecutive passing (or warning) outcomes to become healthy; 0 is read as 1.
    pub healthy_threshold: u32,
    /// Consecutive critical outcomes to become critical; 0 is read as 1.
    pub unhealthy_threshold: u32,
    /// After start, failures do not count until the instance first becomes healthy
    /// or this time has passed.
    pub grace: Duration,
    /// Liveness: restart an instance unhealthy for this long; `None` never restarts.
    pub restart_after: Option<Duration>,
}

/// Tracks one instance's health from its check outcomes.
///
/// Rules:
/// - `healthy_threshold` consecutive passing-or-warning outcomes make an instance
///   healthy; it is then `Warning` if the latest outcome warned, else `Passing`.
///   Once healthy, passing and warning switch at once (both serve traffic).
/// - `unhealthy_threshold` consecutive critical outcomes make it `Critical`. Until
///   the instance has been healthy once, critical outcomes inside `grace` (from
///   start) are ignored and the state stays `Starting`.
/// - Warning counts as healthy: it serves traffic and never triggers a restart.
/// - Liveness (`should_restart`): `Critical` for `restart_after`, or never healthy
///   and `restart_after` past the end of the grace period.
#[derive(Debug, Clone)]
pub struct HealthTracker {
    policy: HealthPolicy,
    started: Instant,
    health: Health,
    passes: u32,
    failures: u32,
    ever_healthy: bool,
    critical_since: Option<Instant>,
    last_output: String,
}

impl HealthTracker {
    /// A tracker for an instance started at `started`; health begins `Starting`.
    pub fn new(policy: HealthPolicy, started: Instant) -> Self {
        HealthTracker {
            policy,
            started,
            health: Health::Starting,
            passes: 0,
            failures: 0,
            ever_healthy: false,
            critical_since: None,
            last_output: String::new(),
        }
    }

    /// Feeds one check outcome seen at `now`; returns `Some((old, new))` when health changed.
    pub fn observe(&mut self, outcome: &CheckOutcome, now: Instant) -> Option<(Health, Health)> {
        self.last_output.clear();
        self.last_output.push_str(outcome.output());
        let old = self.health;
        let new = match outcome {
            CheckOutcome::Passing | CheckOutcome::Warning(_) => {
                self.failures = 0;
                self.passes = self.passes.saturating_add(1);
                let target = if matches!(outcome, CheckOutcome::Passing) {
                    Health::Passing
                } else {
                    Health::Warning
                };
                if old.serves_traffic() || self.passes >= self.policy.healthy_threshold.max(1) {
                    target
                } else {
                    old
                }
            }
            CheckOutcome::Critical(_) => {
                self.passes = 0;
                if !self.ever_healthy && now < self.grace_end() {
                    old
                } else {
                    self.failures = self.failures.saturating_add(1);
                    if self.failures >= self.policy.unhealthy_threshold.max(1) {
                        Health::Critical
                    } else {
                        old
                    }
                }
            }
        };
        if new.serves_traffic() {
            self.ever_healthy = true;
        }
        if new == old {
            return None;
        }
        self.health = new;
        self.critical_since = (new == Health::Critical).then_some(now);
        Some((old, new))
    }

    pub fn health(&self) -> Health {
        self.health
    }

    /// Whether the instance has been unhealthy for at least `restart_after` at `now`.
    pub fn should_restart(&self, now: Instant) -> bool {
        let Some(after) = self.policy.restart_after else {
            return false;
        };
        let unhealthy_since = if !self.ever_healthy {
            // Never healthy: unhealthy from the moment failures started counting.
            Some(self.grace_end())
        } else if self.health == Health::Critical {
            self.critical_since
        } else {
            None
        };
        unhealthy_since
            .and_then(|since| since.checked_add(after))
            .is_some_and(|due| now >= due)
    }

    /// The reason or output of the latest outcome (empty after a plain pass).
    pub fn last_output(&self) -> &str {
        &self.last_output
    }

    fn grace_end(&self) -> Instant {
        self.started + self.policy.grace
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
