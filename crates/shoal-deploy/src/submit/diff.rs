//! The pure part of a submission: what a new service file changes, service by service.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use shoal_spec::{ServiceSpec, Strategy};

use crate::record::{Deployment, Status};

/// What a submission does to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A service the store does not have: its first deployment.
    Added,
    /// A field instances are started with or placed by differs (command, version,
    /// env, health, restart, deploy.drain, resources, constraints): a new deployment rolls it by its strategy. Also the
    /// same file again after the service's last deployment failed (a retry).
    Rollout,
    /// Only fields the proxy or the instance count read differ (instances, routes,
    /// resilience, scale, protocol, side versions, deploy settings but drain,
    /// allow_external): the
    /// spec is rewritten, no deployment.
    InPlace,
    /// Nothing differs.
    Unchanged,
    /// In the store, not in the file (only when missing services are removed).
    Removed,
}

impl ChangeKind {
    /// Whether the service's spec key is written or deleted.
    pub fn writes(self) -> bool {
        !matches!(self, ChangeKind::Unchanged)
    }

    /// Whether a new deployment is created.
    pub fn deploys(self) -> bool {
        matches!(self, ChangeKind::Added | ChangeKind::Rollout)
    }
}

/// One service's line of the plan (`shoal deploy --dry-run` prints these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub service: String,
    pub kind: ChangeKind,
    /// The strategy a rollout uses (the new spec's; the stored one's for `Removed`).
    pub strategy: Strategy,
    /// The version in the store, `None` for a new service.
    pub from_version: Option<String>,
    /// The file's version; empty for `Removed`.
    pub to_version: String,
    /// Top-level spec fields that differ, in spec order (`command`, `version`, `env`,
    /// `instances`, `routes`, `health`, `restart`, `deploy.drain`, `deploy` (any other
    /// deploy setting), `versions`, `resilience`, `scale`, `protocol`, `resources`,
    /// `constraints`, `allow_external`, `tls`); empty for
    /// `Added`, `Removed`, `Unchanged` and a retry.
    pub fields: Vec<String>,
    /// Instances of the current version in the store, `None` for a new service.
    pub from_instances: Option<u32>,
    /// Instances of the current version in the file (0 for `Removed`).
    pub to_instances: u32,
}

/// A spec field, whether a difference in it needs a rollout, and whether it differs.
struct Field {
    name: &'static str,
    rollout: bool,
    differs: bool,
}

/// Every top-level field of two specs of one service, compared.
fn fields(a: &ServiceSpec, b: &ServiceSpec) -> [Field; 17] {
    let f = |name, rollout, differs| Field {
        name,
        rollout,
        differs,
    };
    let mut deploy_a = a.deploy.clone();
    deploy_a.drain = b.deploy.drain;
    [
        f("command", true, a.command != b.command),
        f("version", true, a.version != b.version),
        f("env", true, a.env != b.env),
        f("instances", false, a.instances != b.instances),
        f("routes", false, a.routes != b.routes),
        f("health", true, a.health != b.health),
        f("restart", true, a.restart != b.restart),
        f("deploy.drain", true, a.deploy.drain != b.deploy.drain),
        f("deploy", false, deploy_a != b.deploy),
        f("versions", false, a.versions != b.versions),
        f("resilience", false, a.resilience != b.resilience),
        f("scale", false, a.scale != b.scale),
        f("protocol", false, a.protocol != b.protocol),
        // Where instances may run: new ones are placed by the new request.
        f("resources", true, a.resources != b.resources),
        f("constraints", true, a.constraints != b.constraints),
        f(
            "allow_external",
            false,
            a.allow_external != b.allow_external,
        ),
        // How the proxy and health checks reach the instances, not how they start.
        f("tls", false, a.tls != b.tls),
    ]
}

/// The names of the top-level fields in which `a` and `b` differ, and whether any
/// of them changes what an instance is started with.
pub fn compare(a: &ServiceSpec, b: &ServiceSpec) -> (Vec<String>, bool) {
    let all = fields(a, b);
    let differing: Vec<&Field> = all.iter().filter(|f| f.differs).collect();
    let rollout = differing.iter().any(|f| f.rollout);
    (
        differing.iter().map(|f| f.name.to_owned()).collect(),
        rollout,
    )
}

/// What writing `next` (the file's services) over `current` (the stored specs) does.
///
/// `deployments` are the stored deployment records by service: a service whose last
/// deployment failed is rolled out again when the same spec is submitted. With `only`,
/// just that service is looked at (and nothing is removed); otherwise, with
/// `remove_missing`, stored services missing from the file are removed. One change per
/// service, by name.
pub fn diff(
    current: &BTreeMap<String, ServiceSpec>,
    deployments: &BTreeMap<String, Deployment>,
    next: &BTreeMap<String, ServiceSpec>,
    only: Option<&str>,
    remove_missing: bool,
) -> Vec<Change> {
    let names: BTreeSet<&String> = match only {
        Some(name) => next.keys().filter(|n| n.as_str() == name).collect(),
        None if remove_missing => current.keys().chain(next.keys()).collect(),
        None => next.keys().collect(),
    };
    names
        .into_iter()
        .map(|name| {
            let old = current.get(name);
            match next.get(name) {
                Some(new) => change(name, old, new, deployments.get(name)),
                None => removed(name, old),
            }
        })
        .collect()
}

fn change(
    name: &str,
    old: Option<&ServiceSpec>,
    new: &ServiceSpec,
    deployment: Option<&Deployment>,
) -> Change {
    let (kind, fields) = match old {
        None => (ChangeKind::Added, Vec::new()),
        Some(old) => {
            let (fields, rollout) = compare(old, new);
            let failed = deployment.is_some_and(|d| d.status == Status::Failed && d.to == *new);
            let kind = if rollout {
                ChangeKind::Rollout
            } else if !fields.is_empty() {
                ChangeKind::InPlace
            } else if failed {
                ChangeKind::Rollout
            } else {
                ChangeKind::Unchanged
            };
            (kind, fields)
        }
    };
    Change {
        service: name.to_owned(),
        kind,
        strategy: new.deploy.strategy,
        from_version: old.map(|s| s.version.clone()),
        to_version: new.version.clone(),
        fields,
        from_instances: old.map(|s| s.instances),
        to_instances: new.instances,
    }
}

/// A stored service the file no longer has (`old` is always there: names come from the maps).
fn removed(name: &str, old: Option<&ServiceSpec>) -> Change {
    Change {
        service: name.to_owned(),
        kind: ChangeKind::Removed,
        strategy: old.map(|s| s.deploy.strategy).unwrap_or_default(),
        from_version: old.map(|s| s.version.clone()),
        to_version: String::new(),
        fields: Vec::new(),
        from_instances: old.map(|s| s.instances),
        to_instances: 0,
    }
}

/// The strategy as the service file spells it (`rolling`, `canary`, `blue-green`).
pub fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Rolling => "rolling",
        Strategy::Canary => "canary",
        Strategy::BlueGreen => "blue-green",
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
