//! Applying deployment plans to the store: the record, its history, a reverted
//! spec, one event per new step line; and the traffic numbers canaries are judged on.

use std::collections::BTreeMap;
use std::sync::Arc;

use shoal_catalog::{deploy_key, encode, history_key, spec_key};
use shoal_deploy::plan::Plan;
use shoal_deploy::submit::{history_ids, trimmed};
use shoal_deploy::{Deployment, Totals};
use shoal_events::{EventLog, Kind};
use shoal_store::{CmpOp, CmpTarget, Compare, Op, Store, Txn};

/// A service's per-version request totals as the proxy counted them (a cluster
/// leader's: every node's proxy).
pub type TrafficSource = Arc<dyn Fn(&str) -> Traffic + Send + Sync>;

/// Request totals by version, and the nodes whose numbers in them are stale (counted
/// with their last totals; empty on one machine).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    pub totals: BTreeMap<String, Totals>,
    pub stale: Vec<String>,
}

/// Names `stale` nodes in the steps `after` gained at `now` (the numbers they were
/// judged or marked on left those nodes' newest requests out).
pub fn name_stale(after: &mut Deployment, now: u64, stale: &[String]) {
    if stale.is_empty() {
        return;
    }
    let note = format!(
        " (the numbers of node {} are stale: their last totals are counted)",
        stale.join(", ")
    );
    for step in after.steps.iter_mut().filter(|s| s.at_ms == now) {
        if after.reason == step.message {
            after.reason.push_str(&note);
        }
        step.message.push_str(&note);
        if let Some(numbers) = step.numbers.as_object_mut() {
            numbers.insert("stale_nodes".into(), serde_json::json!(stale));
        } else if step.numbers.is_null() {
            step.numbers = serde_json::json!({ "stale_nodes": stale });
        }
    }
}

/// What one plan changes in the store.
pub struct DeployWrite {
    service: String,
    /// The record as read (and its revision): the write happens only if it is unchanged.
    before: Option<(Deployment, i64)>,
    after: Deployment,
    ended: Option<Deployment>,
    revert_to: Option<shoal_spec::ServiceSpec>,
}

impl DeployWrite {
    /// `None` when the plan leaves the record as it is.
    pub fn from_plan(
        service: &str,
        current: Option<&(Deployment, i64)>,
        plan: Plan,
    ) -> Option<Self> {
        let after = plan.deployment?;
        Some(DeployWrite {
            service: service.to_string(),
            before: current.cloned(),
            after,
            ended: plan.ended,
            revert_to: plan.revert_to,
        })
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Deployments that reach history in this write: the one replaced by a revert,
    /// and the record itself when it has just ended.
    fn to_history(&self) -> Vec<&Deployment> {
        let mut out: Vec<&Deployment> = self.ended.iter().collect();
        let was_running = self
            .before
            .as_ref()
            .is_some_and(|(d, _)| d.status.is_running());
        if was_running && !self.after.status.is_running() && self.ended.is_none() {
            out.push(&self.after);
        }
        out
    }
}

/// Writes one plan's deployment changes in one transaction, if nobody changed the
/// record since it was read (else the next pass plans again from the new one).
/// Returns the id of the record it wrote, when it did.
pub async fn write(
    store: &dyn Store,
    events: &EventLog,
    w: DeployWrite,
    guard: Option<&Compare>,
) -> Option<u64> {
    let key = deploy_key(&w.service);
    let mut compare = vec![match &w.before {
        Some((_, rev)) => Compare {
            key: key.clone(),
            op: CmpOp::Equal,
            target: CmpTarget::ModRevision(*rev),
        },
        None => Compare {
            key: key.clone(),
            op: CmpOp::Equal,
            target: CmpTarget::CreateRevision(0),
        },
    }];
    let mut ops = vec![Op::Put {
        key,
        value: encode(&w.after),
        lease: 0,
    }];
    let ended = w.to_history();
    if !ended.is_empty() {
        // The history keeps the newest HISTORY_LEN, as a submission trims it.
        let added: Vec<u64> = ended.iter().map(|d| d.id).collect();
        match history_ids(store, &w.service).await {
            Ok(ids) => ops.extend(trimmed(&ids, &added).into_iter().map(|id| Op::Delete {
                key: history_key(&w.service, id),
            })),
            Err(e) => {
                tracing::warn!(service = %w.service, error = %e, "cannot read the history to trim it")
            }
        }
    }
    for d in ended {
        ops.push(Op::Put {
            key: history_key(&w.service, d.id),
            value: encode(d),
            lease: 0,
        });
    }
    if let Some(spec) = &w.revert_to {
        ops.push(Op::Put {
            key: spec_key(&w.service),
            value: encode(spec),
            lease: 0,
        });
    }
    compare.extend(guard.cloned());
    let txn = Txn {
        compare,
        success: ops,
        failure: vec![],
    };
    match store.txn(txn).await {
        Ok(r) if r.succeeded => {
            emit(events, &w);
            return Some(w.after.id);
        }
        Ok(_) => {
            tracing::info!(service = %w.service, "deployment changed meanwhile (or the leadership was lost); planning again")
        }
        Err(e) => tracing::error!(service = %w.service, error = %e, "cannot write the deployment"),
    }
    None
}

/// One event per step line the write added (of the ended deployment, then the new record).
fn emit(events: &EventLog, w: &DeployWrite) {
    let before = w.before.as_ref().map(|(d, _)| d);
    let mut lines = Vec::new();
    if let Some(ended) = &w.ended {
        lines.extend(new_steps(before, ended));
        lines.extend(ended_event(ended));
        lines.extend(new_steps(None, &w.after));
    } else {
        lines.extend(new_steps(before, &w.after));
        if before.is_some_and(|b| b.status.is_running()) && !w.after.status.is_running() {
            lines.extend(ended_event(&w.after));
        }
    }
    for (d, message, numbers) in lines {
        send(events, d, message, numbers);
    }
}

fn send(events: &EventLog, d: &Deployment, message: String, numbers: serde_json::Value) {
    tracing::info!(service = %d.service, deployment = d.id, status = d.status.as_str(), "{message}");
    events.emit(
        Kind::Deployment,
        &d.service,
        "",
        message,
        serde_json::json!({
            "deployment": d.id,
            "status": d.status.as_str(),
            "strategy": d.strategy,
            "weights": d.weights,
            "numbers": numbers,
        }),
    );
}

type Line<'a> = (&'a Deployment, String, serde_json::Value);

/// Announces a deployment the agent did not write (made by `shoal deploy`, a
/// rollback or `shoal up`): every step line it has so far, as events.
pub fn announce(events: &EventLog, d: &Deployment) {
    for (d, message, numbers) in new_steps(None, d) {
        send(events, d, message, numbers);
    }
}

/// Step lines of `after` that `before` (the same deployment as read) did not have.
fn new_steps<'a>(before: Option<&Deployment>, after: &'a Deployment) -> Vec<Line<'a>> {
    let seen = match before {
        Some(b) if b.id == after.id => b.steps.last().map(|s| (s.at_ms, s.message.clone())),
        _ => None,
    };
    let start = match &seen {
        Some(last) => after
            .steps
            .iter()
            .rposition(|s| (s.at_ms, &s.message) == (last.0, &last.1))
            .map_or(0, |i| i + 1),
        None => 0,
    };
    after.steps[start..]
        .iter()
        .map(|s| (after, s.message.clone(), s.numbers.clone()))
        .collect()
}

fn ended_event(d: &Deployment) -> Option<Line<'_>> {
    Some((
        d,
        format!("deployment {} {}: {}", d.id, d.status.as_str(), d.reason),
        serde_json::Value::Null,
    ))
}

/// Which deployment of each service has its step lines in the event stream, so each is
/// announced once: by the controller that writes it, or when first seen.
pub struct Announcer {
    announced: std::collections::HashMap<String, u64>,
    /// Deployments made since (unix ms) are announced when first seen; older ones were
    /// announced by the run that saw them.
    since_ms: u64,
}

impl Announcer {
    pub fn new(since_ms: u64) -> Self {
        Self {
            announced: std::collections::HashMap::new(),
            since_ms,
        }
    }

    /// Puts the step lines of deployments this controller did not write into `events`.
    pub fn announce(
        &mut self,
        events: &EventLog,
        deployments: &BTreeMap<String, (Deployment, i64)>,
    ) {
        for (service, (d, _)) in deployments {
            if self.announced.get(service) == Some(&d.id) {
                continue;
            }
            let first_sight = !self.announced.contains_key(service);
            if !first_sight || d.started_ms >= self.since_ms {
                announce(events, d);
            }
            self.announced.insert(service.clone(), d.id);
        }
    }

    /// Writes each plan's deployment changes ([`write`], each only while `guard`
    /// holds: a cluster leader's fencing); what it wrote is announced.
    pub async fn write_all(
        &mut self,
        store: &dyn Store,
        events: &EventLog,
        writes: Vec<DeployWrite>,
        guard: Option<&Compare>,
    ) {
        for w in writes {
            let service = w.service().to_string();
            if let Some(id) = write(store, events, w, guard).await {
                self.announced.insert(service, id);
            }
        }
    }
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
