//! Building the one transaction a submission or rollback writes: its guards, its ops
//! and the deployment records it creates (pure; the caller commits it).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use shoal_catalog::{deploy_key, encode, history_key, scale_key, spec_key};
use shoal_spec::{ServiceSpec, Strategy};
use shoal_store::{CmpOp, Compare, Op};

use super::diff::strategy_name;
use super::stored::Stored;
use crate::record::{Deployment, Status, Step};
use crate::HISTORY_LEN;

/// A deployment to start.
pub(crate) struct Start {
    pub from: Option<ServiceSpec>,
    pub to: ServiceSpec,
    pub strategy: Strategy,
    pub revert_of: Option<u64>,
    /// Said after the versions in the first step line, e.g. ` (command, version)`.
    pub why: String,
    pub numbers: Value,
}

/// Guards, ops and created deployments of one transaction.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    pub compare: Vec<Compare>,
    pub ops: Vec<Op>,
    pub created: Vec<Deployment>,
}

impl Writes {
    /// Store compares and ops in all.
    pub fn len(&self) -> usize {
        self.compare.len() + self.ops.len()
    }

    /// The spec key must be as it was read.
    pub fn guard_spec(&mut self, stored: &Stored, service: &str) {
        self.compare.push(Compare::mod_revision(
            spec_key(service),
            CmpOp::Equal,
            stored.spec_rev(service),
        ));
    }

    /// The deploy key must be as it was read (absent: mod revision 0).
    pub fn guard_deploy(&mut self, stored: &Stored, service: &str) {
        self.compare.push(Compare::mod_revision(
            deploy_key(service),
            CmpOp::Equal,
            stored.deploy_rev(service),
        ));
    }

    pub fn put_spec(&mut self, spec: &ServiceSpec) {
        self.ops.push(Op::put(spec_key(&spec.name), encode(spec)));
    }

    /// Starts a deployment of `start.to`: writes the spec and the record, ends a
    /// running predecessor as superseded into the history, trims the history.
    /// `history` holds the service's history ids, ascending.
    pub fn start(&mut self, stored: &Stored, history: &[u64], start: Start, now_ms: u64) {
        let service = start.to.name.clone();
        self.guard_spec(stored, &service);
        self.guard_deploy(stored, &service);
        let previous = stored.deployments.get(&service);
        let id = previous
            .map(|d| d.id)
            .into_iter()
            .chain(history.iter().copied())
            .max()
            .unwrap_or(0)
            + 1;
        let mut added = Vec::new();
        if let Some(prev) = previous.filter(|d| d.status.is_running()) {
            let mut prev = prev.clone();
            prev.end(
                now_ms,
                Status::Superseded,
                format!("superseded by deployment {id}"),
                Value::Null,
            );
            self.ops
                .push(Op::put(history_key(&service, prev.id), encode(&prev)));
            added.push(prev.id);
        }
        self.trim(&service, history, &added);
        let mut d = started(id, start, now_ms);
        d.weights = first_weights(&d, previous);
        self.put_spec(&d.to);
        self.ops.push(Op::put(deploy_key(&service), encode(&d)));
        self.created.push(d);
    }

    /// Removes a service: its spec and deployment record (a running one is kept in
    /// the history as superseded); the history stays.
    pub fn remove(&mut self, stored: &Stored, history: &[u64], service: &str, now_ms: u64) {
        self.guard_spec(stored, service);
        self.guard_deploy(stored, service);
        self.ops.push(Op::delete(spec_key(service)));
        self.ops.push(Op::delete(deploy_key(service)));
        if let Some(prev) = stored.deployments.get(service) {
            if prev.status.is_running() {
                let mut prev = prev.clone();
                prev.end(
                    now_ms,
                    Status::Superseded,
                    "the service was removed",
                    Value::Null,
                );
                self.ops
                    .push(Op::put(history_key(service, prev.id), encode(&prev)));
                self.trim(service, history, &[prev.id]);
            }
        }
    }

    /// Deletes the service's scale override, if it has one.
    pub fn clear_scale(&mut self, stored: &Stored, service: &str) {
        if stored.scaled.contains(service) {
            self.ops.push(Op::delete(scale_key(service)));
        }
    }

    /// Deletes the oldest history entries beyond [`HISTORY_LEN`] once `added` are in.
    fn trim(&mut self, service: &str, history: &[u64], added: &[u64]) {
        for id in trimmed(history, added) {
            self.ops.push(Op::delete(history_key(service, id)));
        }
    }
}

/// The ids of `history` to delete so that it and `added` keep the newest [`HISTORY_LEN`].
pub fn trimmed(history: &[u64], added: &[u64]) -> Vec<u64> {
    let mut all: Vec<u64> = history.iter().chain(added).copied().collect();
    all.sort_unstable();
    all.dedup();
    let excess = all.len().saturating_sub(HISTORY_LEN as usize);
    all.truncate(excess);
    all.retain(|id| history.contains(id));
    all
}

/// A new running deployment with its first step line.
fn started(id: u64, s: Start, now_ms: u64) -> Deployment {
    let deadline = u64::try_from(s.to.deploy.progress_deadline.as_millis()).unwrap_or(u64::MAX);
    let message = match &s.from {
        Some(from) => format!(
            "deployment {id} started: {} {} -> {}{}",
            strategy_name(s.strategy),
            from.version,
            s.to.version,
            s.why
        ),
        None => format!(
            "deployment {id} started: {} to {}{}",
            strategy_name(s.strategy),
            s.to.version,
            s.why
        ),
    };
    Deployment {
        id,
        service: s.to.name.clone(),
        strategy: s.strategy,
        from: s.from,
        to: s.to,
        status: Status::Running,
        reason: "started".to_owned(),
        step: 0,
        step_started_ms: None,
        marks: BTreeMap::new(),
        weights: BTreeMap::new(),
        counts: BTreeMap::new(),
        started_ms: now_ms,
        updated_ms: now_ms,
        deadline_ms: now_ms.saturating_add(deadline),
        ended_ms: None,
        keep_until_ms: None,
        revert_of: s.revert_of,
        order: None,
        steps: vec![Step {
            at_ms: now_ms,
            message,
            numbers: s.numbers,
        }],
    }
}

/// The numbers of a first step: the fields that differ.
pub(crate) fn fields_numbers(fields: &[String]) -> Value {
    if fields.is_empty() {
        Value::Null
    } else {
        json!({ "fields": fields })
    }
}

/// Unpinned traffic stays where it was when the spec changes, until the
/// deployer's first pass weighs what actually serves: a running predecessor's
/// weights, else all on the version moved from (the new one serves nothing yet).
/// The spec and these weights are written in one transaction, so the proxy never
/// sees the new current version without them.
fn first_weights(d: &Deployment, previous: Option<&Deployment>) -> BTreeMap<String, u32> {
    let Some(from) = d.from_version().filter(|v| *v != d.to.version) else {
        return BTreeMap::new();
    };
    match previous {
        Some(p) if p.status.is_running() && !p.weights.is_empty() => p.weights.clone(),
        _ => BTreeMap::from([(from.to_string(), 100)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keeps_the_newest() {
        let n = HISTORY_LEN;
        let full: Vec<u64> = (1..=n).collect();
        assert_eq!(trimmed(&full, &[]), Vec::<u64>::new());
        assert_eq!(trimmed(&full, &[n + 1]), vec![1]);
        assert_eq!(trimmed(&full, &[n + 1, n + 2]), vec![1, 2]);
        // Already in the history: not counted twice.
        assert_eq!(trimmed(&full, &[n]), Vec::<u64>::new());
        let over: Vec<u64> = (1..=n + 3).collect();
        assert_eq!(trimmed(&over, &[]), vec![1, 2, 3]);
        assert_eq!(trimmed(&[], &[7]), Vec::<u64>::new());
    }
}
