//! What a new service file changes, and writing it into the store (deploy, rollback, orders).
//!
//! [`diff`] is the pure part: one [`Change`] per service. [`submit`] reads the stored
//! specs and deployment records, diffs, and writes everything in one transaction that
//! compares the mod revisions it read (a concurrent writer makes it read and try again):
//! a new [`Deployment`] for every added or rolled-out service (a running predecessor is
//! ended as superseded into the history), rewritten specs for in-place changes,
//! deletions for removed services, cleared scale overrides. [`rollback`] and [`order`]
//! write one service the same way; [`history`] reads its deployments.
//!
//! - `submit/diff.rs`: [`diff`], [`Change`], [`ChangeKind`] (tests in `diff_tests.rs`).
//! - `submit/stored.rs`: the consistent reads a write builds on.
//! - `submit/write.rs`: the guards and ops of one transaction, new deployment records.
//! - `submit/error.rs`: [`SubmitError`].

mod diff;
mod error;
mod stored;
mod write;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shoal_catalog::{decode, deploy_key, encode, scale_key};
use shoal_spec::{ServiceSpec, Strategy};
use shoal_store::{CmpOp, Compare, Op, Store, Txn, MAX_TXN_OPS};

pub use diff::{compare, diff, strategy_name, Change, ChangeKind};
pub use error::SubmitError;
pub use stored::history_ids;
pub use write::trimmed;

use crate::record::{Deployment, Order};
use stored::{read_all, read_one, Stored};
use write::{fields_numbers, Start, Writes};

/// How often a write whose compare failed is read and tried again.
const TRIES: usize = 5;

/// Which scale overrides (`shoal scale`) a submission clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearScale {
    /// Every one (`shoal up`: the file is the source of truth).
    All,
    /// Those of services whose spec is written or removed (`shoal deploy`).
    Changed,
}

/// How a file is submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitOptions {
    /// Look at this service of the file only (nothing is removed).
    pub only: Option<String>,
    /// Compute the changes, write nothing.
    pub dry_run: bool,
    /// Remove stored services the file does not have.
    pub remove_missing: bool,
    pub clear_scale: ClearScale,
}

/// What a submission changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submitted {
    /// One per service looked at, by name.
    pub changes: Vec<Change>,
    /// The deployments it started (none for a dry run).
    pub deployments: Vec<Deployment>,
    /// The store revision of the write (or of the read, when nothing was written).
    pub revision: i64,
}

/// Writes the file's services (`next`) into the store: see the module doc.
pub async fn submit(
    store: &dyn Store,
    next: &BTreeMap<String, ServiceSpec>,
    opts: SubmitOptions,
    now_ms: u64,
) -> Result<Submitted, SubmitError> {
    if let Some(only) = &opts.only {
        if !next.contains_key(only) {
            return Err(SubmitError::NotInFile(only.clone()));
        }
    }
    for _ in 0..TRIES {
        let stored = read_all(store).await?;
        let changes = diff(
            &stored.specs,
            &stored.deployments,
            next,
            opts.only.as_deref(),
            opts.remove_missing,
        );
        if opts.dry_run {
            return Ok(Submitted {
                changes,
                deployments: Vec::new(),
                revision: stored.revision,
            });
        }
        let w = writes(store, &stored, next, &changes, opts.clear_scale, now_ms).await?;
        if w.len() > MAX_TXN_OPS {
            return Err(SubmitError::TooLarge(w.len()));
        }
        if w.ops.is_empty() {
            return Ok(Submitted {
                changes,
                deployments: Vec::new(),
                revision: stored.revision,
            });
        }
        let resp = store
            .txn(Txn::new().when(w.compare).and_then(w.ops))
            .await?;
        if resp.succeeded {
            return Ok(Submitted {
                changes,
                deployments: w.created,
                revision: resp.revision,
            });
        }
    }
    let who = opts.only.unwrap_or_else(|| "the services".to_owned());
    Err(SubmitError::Conflict(who, TRIES))
}

/// The transaction that carries out `changes`.
async fn writes(
    store: &dyn Store,
    stored: &Stored,
    next: &BTreeMap<String, ServiceSpec>,
    changes: &[Change],
    clear: ClearScale,
    now_ms: u64,
) -> Result<Writes, SubmitError> {
    let mut w = Writes::default();
    for c in changes {
        let name = c.service.as_str();
        match (c.kind, next.get(name)) {
            (ChangeKind::Added | ChangeKind::Rollout, Some(to)) => {
                let history = history_ids(store, name).await?;
                let why = match (c.kind, c.fields.is_empty()) {
                    (ChangeKind::Added, _) => " (new service)".to_owned(),
                    (_, true) => stored
                        .deployments
                        .get(name)
                        .map(|d| format!(" (retry of failed deployment {})", d.id))
                        .unwrap_or_default(),
                    (_, false) => format!(" ({})", c.fields.join(", ")),
                };
                let start = Start {
                    from: stored.specs.get(name).cloned(),
                    to: to.clone(),
                    strategy: to.deploy.strategy,
                    revert_of: None,
                    why,
                    numbers: fields_numbers(&c.fields),
                };
                w.start(stored, &history, start, now_ms);
            }
            (ChangeKind::InPlace, Some(to)) => {
                w.guard_spec(stored, name);
                w.put_spec(to);
            }
            (ChangeKind::Removed, _) => {
                let history = match stored.deployments.get(name) {
                    Some(d) if d.status.is_running() => history_ids(store, name).await?,
                    _ => Vec::new(),
                };
                w.remove(stored, &history, name, now_ms);
            }
            _ => continue,
        }
        if clear == ClearScale::Changed {
            w.clear_scale(stored, name);
        }
    }
    if clear == ClearScale::All {
        for name in &stored.scaled {
            w.ops.push(Op::delete(scale_key(name)));
        }
    }
    Ok(w)
}

/// Returns `service` to an earlier spec: deployment `to`'s target when given, else the
/// spec the current deployment moved from. The new deployment is rolling whatever the
/// spec says (the deployer switches traffic at once while the old instances are warm).
pub async fn rollback(
    store: &dyn Store,
    service: &str,
    to: Option<u64>,
    now_ms: u64,
) -> Result<Deployment, SubmitError> {
    for _ in 0..TRIES {
        let (stored, history) = read_one(store, service).await?;
        let Some(current_spec) = stored.specs.get(service) else {
            return Err(SubmitError::NoService(service.to_owned()));
        };
        let current = stored.deployments.get(service);
        let (target, what) = match to {
            Some(id) => {
                let found = current
                    .into_iter()
                    .chain(history.iter().rev())
                    .find(|d| d.id == id);
                let Some(d) = found else {
                    let mut existing: Vec<u64> = history.iter().map(|d| d.id).collect();
                    existing.extend(current.map(|d| d.id));
                    existing.sort_unstable();
                    existing.dedup();
                    return Err(SubmitError::NoSuchDeployment {
                        service: service.to_owned(),
                        id,
                        existing,
                    });
                };
                if d.to == *current_spec {
                    return Err(SubmitError::AlreadyThere {
                        service: service.to_owned(),
                        id,
                    });
                }
                (d.to.clone(), format!("deployment {id}'s spec"))
            }
            None => match current.and_then(|d| d.from.clone().map(|f| (d.id, f))) {
                Some((id, from)) => (from, format!("the spec before deployment {id}")),
                None => return Err(SubmitError::NoPrevious(service.to_owned())),
            },
        };
        let history_ids: Vec<u64> = history.iter().map(|d| d.id).collect();
        let mut w = Writes::default();
        let start = Start {
            from: Some(current_spec.clone()),
            to: target,
            strategy: Strategy::Rolling,
            revert_of: current.map(|d| d.id),
            why: format!(" (rollback to {what})"),
            numbers: serde_json::Value::Null,
        };
        w.start(&stored, &history_ids, start, now_ms);
        let resp = store
            .txn(Txn::new().when(w.compare).and_then(w.ops))
            .await?;
        if resp.succeeded {
            if let Some(d) = w.created.pop() {
                return Ok(d);
            }
        }
    }
    Err(SubmitError::Conflict(service.to_owned(), TRIES))
}

/// Leaves a manual order on the running deployment of `service` for the deployer.
pub async fn order(
    store: &dyn Store,
    service: &str,
    order: Order,
) -> Result<Deployment, SubmitError> {
    let key = deploy_key(service);
    for _ in 0..TRIES {
        let Some(kv) = store.get(&key).await? else {
            return Err(SubmitError::NoRunning(service.to_owned()));
        };
        let mut d = match decode::<Deployment>(&key, &kv.value) {
            Ok(d) if d.status.is_running() => d,
            _ => return Err(SubmitError::NoRunning(service.to_owned())),
        };
        if order == Order::Promote && d.strategy != Strategy::Canary {
            return Err(SubmitError::NotCanary {
                service: service.to_owned(),
                id: d.id,
                strategy: d.strategy,
            });
        }
        d.order = Some(order);
        let resp = store
            .txn(
                Txn::new()
                    .when([Compare::mod_revision(
                        key.clone(),
                        CmpOp::Equal,
                        kv.mod_revision,
                    )])
                    .and_then([Op::put(key.clone(), encode(&d))]),
            )
            .await?;
        if resp.succeeded {
            return Ok(d);
        }
    }
    Err(SubmitError::Conflict(service.to_owned(), TRIES))
}

/// The deployments of `service`, newest first: the current record and the history.
pub async fn history(store: &dyn Store, service: &str) -> Result<Vec<Deployment>, SubmitError> {
    let (mut stored, history) = read_one(store, service).await?;
    let mut out: Vec<Deployment> = stored.deployments.remove(service).into_iter().collect();
    for d in history.into_iter().rev() {
        if !out.iter().any(|o| o.id == d.id) {
            out.push(d);
        }
    }
    out.sort_by_key(|d| std::cmp::Reverse(d.id));
    Ok(out)
}
