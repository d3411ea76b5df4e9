//! The deployment record kept at `shoal/deploy/<service>` and in its history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shoal_spec::{ServiceSpec, Strategy};

/// Where a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Instances are being placed, judged or switched.
    Running,
    /// Every instance of the new spec serves; traffic is on it.
    Succeeded,
    /// It did not finish (deadline passed, or nothing to revert to); what runs stays.
    Failed,
    /// It was judged bad (canary numbers, deadline with `auto_revert`, `--abort`) and the
    /// previous spec was deployed again (see the next deployment).
    RolledBack,
    /// A newer deployment of the service replaced it before it finished.
    Superseded,
}

impl Status {
    /// Whether the deployment can still change by itself.
    pub fn is_running(self) -> bool {
        self == Status::Running
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::RolledBack => "rolled_back",
            Status::Superseded => "superseded",
        }
    }
}

/// A manual order on a running deployment (`shoal deploy --promote/--abort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Skip the remaining canary steps: all traffic to the new version.
    Promote,
    /// Return to the previous spec now.
    Abort,
}

/// Cumulative request counts of one (service, version) as the proxy measured them.
/// Canary judgement reads the difference of two of these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    /// Answers with a 5xx status (the instance's or Shoal's own).
    pub errors: u64,
    /// Requests per latency bucket (upper bounds in [`Totals::BOUNDS`], then +Inf), not cumulative.
    pub buckets: Vec<u64>,
}

/// One line of a deployment's story: what happened at a step, with its numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub at_ms: u64,
    pub message: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub numbers: serde_json::Value,
}

/// A deployment: the move of one service from one spec to another (DESIGN §1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Per service, increasing from 1: the generation instances are started for.
    pub id: u64,
    pub service: String,
    pub strategy: Strategy,
    /// The spec it moves from (`None` for a service's first deployment).
    pub from: Option<ServiceSpec>,
    pub to: ServiceSpec,
    pub status: Status,
    /// Why it is where it is, in words (the last step's message, or the failure).
    pub reason: String,
    /// Canary: the index into `to.deploy.canary.steps` being held.
    #[serde(default)]
    pub step: usize,
    /// When the current canary step's traffic began (unix ms); `None` while its
    /// instances are still coming up.
    #[serde(default)]
    pub step_started_ms: Option<u64>,
    /// Canary: each version's totals when the step began (the judged window starts there).
    #[serde(default)]
    pub marks: BTreeMap<String, Totals>,
    /// Share of unpinned traffic per version; empty means all to `to.version`.
    /// Pinned requests (`/v23/`, `X-Version`, ...) ignore weights.
    #[serde(default)]
    pub weights: BTreeMap<String, u32>,
    /// Instances per version the last plan counted (running, not stopping), for display.
    #[serde(default)]
    pub counts: BTreeMap<String, u32>,
    pub started_ms: u64,
    pub updated_ms: u64,
    /// A deployment still running at this time fails (`progress_deadline`).
    pub deadline_ms: u64,
    /// When it ended (any status but running).
    #[serde(default)]
    pub ended_ms: Option<u64>,
    /// The previous version's instances stay running (out of unpinned traffic) until then.
    #[serde(default)]
    pub keep_until_ms: Option<u64>,
    /// This deployment returns to the spec of deployment N (rollback or auto-revert).
    #[serde(default)]
    pub revert_of: Option<u64>,
    /// A manual order waiting for the deployer.
    #[serde(default)]
    pub order: Option<Order>,
    /// What happened, oldest first (bounded to [`MAX_STEPS`]).
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// Most step lines a deployment keeps.
pub const MAX_STEPS: usize = 64;

impl Totals {
    /// Latency bucket upper bounds in seconds (the proxy's histogram buckets).
    pub const BOUNDS: [f64; 14] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ];

    /// What happened between `earlier` and `self`; `None` when the counters went
    /// back (shoal restarted and they began again).
    pub fn since(&self, earlier: &Totals) -> Option<Totals> {
        let requests = self.requests.checked_sub(earlier.requests)?;
        let errors = self.errors.checked_sub(earlier.errors)?;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (i, now) in self.buckets.iter().enumerate() {
            let before = earlier.buckets.get(i).copied().unwrap_or(0);
            buckets.push(now.checked_sub(before)?);
        }
        Some(Totals {
            requests,
            errors,
            buckets,
        })
    }

    /// Adds `other`'s counts to these, bucket by bucket (another node's, say).
    pub fn add(&mut self, other: &Totals) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }

    /// The `q` quantile in seconds, interpolated inside its bucket (as
    /// Prometheus' `histogram_quantile`); `None` without requests.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            if n > 0 && (seen + n) as f64 >= rank {
                let lower = if i == 0 { 0.0 } else { Self::BOUNDS[i - 1] };
                let Some(&upper) = Self::BOUNDS.get(i) else {
                    return Some(lower); // +Inf bucket: its lower bound
                };
                let into = (rank - seen as f64) / n as f64;
                return Some(lower + (upper - lower) * into.clamp(0.0, 1.0));
            }
            seen += n;
        }
        Self::BOUNDS.last().copied()
    }

    /// Errors per request (0 without requests).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

impl Deployment {
    /// A canary still running: the one kind judged on the proxies' numbers.
    pub fn judged_on_numbers(&self) -> bool {
        self.status.is_running() && self.strategy == Strategy::Canary
    }

    /// Appends a step line (dropping the oldest past [`MAX_STEPS`]) and makes it the reason.
    pub fn note(&mut self, at_ms: u64, message: impl Into<String>, numbers: serde_json::Value) {
        let message = message.into();
        self.reason = message.clone();
        self.steps.push(Step {
            at_ms,
            message,
            numbers,
        });
        if self.steps.len() > MAX_STEPS {
            self.steps.remove(0);
        }
        self.updated_ms = at_ms;
    }

    /// Ends the deployment with `status`.
    pub fn end(
        &mut self,
        at_ms: u64,
        status: Status,
        message: impl Into<String>,
        numbers: serde_json::Value,
    ) {
        self.status = status;
        self.ended_ms = Some(at_ms);
        self.order = None;
        self.note(at_ms, message, numbers);
    }

    /// The version label it moves from, if any.
    pub fn from_version(&self) -> Option<&str> {
        self.from.as_ref().map(|s| s.version.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(buckets: &[u64], errors: u64) -> Totals {
        Totals {
            requests: buckets.iter().sum(),
            errors,
            buckets: buckets.to_vec(),
        }
    }

    #[test]
    fn since_is_the_difference_and_none_after_a_reset() {
        let a = totals(&[1, 2, 3], 1);
        let b = totals(&[2, 4, 3], 2);
        assert_eq!(b.since(&a), Some(totals(&[1, 2, 0], 1)));
        assert_eq!(a.since(&b), None);
    }

    #[test]
    fn quantile_interpolates_inside_the_bucket() {
        // 100 requests, all in (0.001, 0.0025].
        let t = totals(&[0, 100], 0);
        let p50 = t.quantile(0.5).unwrap_or_default();
        assert!((p50 - 0.00175).abs() < 1e-9, "{p50}");
        assert_eq!(Totals::default().quantile(0.95), None);
        // Everything past the last bound: its lower bound.
        let mut b = vec![0; 15];
        b[14] = 5;
        assert_eq!(totals(&b, 0).quantile(0.95), Some(30.0));
    }
}
