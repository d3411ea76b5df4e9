//! Desired state: which groups (service, version) should run how many instances.

use std::collections::BTreeMap;
use std::time::Duration;

use shoal_spec::{Command, EnvValue, HealthSpec, RestartSpec, ServiceSpec};

/// What one group of identical instances must look like.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    pub service: String,
    /// "" for the service's main line (moved by deployments), else the side version's label.
    pub group: String,
    pub version: String,
    pub count: u32,
    pub command: Command,
    pub env: BTreeMap<String, EnvValue>,
    pub health: Option<HealthSpec>,
    pub restart: RestartSpec,
    pub drain: Duration,
    /// Hash of everything an instance is started with (spec and resolved env);
    /// instances with another fingerprint are replaced one at a time.
    pub fingerprint: u64,
    /// The deployment new instances of the main line are started for (0: none).
    pub deployment: u64,
    /// `[services.X.tls]`: the HTTP health check speaks HTTPS.
    pub tls: Option<shoal_spec::ServiceTls>,
}

impl GroupSpec {
    pub fn key(&self) -> (String, String) {
        (self.service.clone(), self.group.clone())
    }

    pub fn is_main(&self) -> bool {
        self.group.is_empty()
    }
}

/// Expands services into groups: the current version plus every `versions.<label>`.
///
/// `overrides` are `shoal scale` counts for a service's current version.
pub fn groups(
    services: &BTreeMap<String, ServiceSpec>,
    overrides: &BTreeMap<String, u32>,
) -> Vec<GroupSpec> {
    let mut out = Vec::new();
    for (name, svc) in services {
        let count = overrides.get(name).copied().unwrap_or(svc.instances);
        out.push(GroupSpec {
            service: name.clone(),
            group: String::new(),
            version: svc.version.clone(),
            count,
            command: svc.command.clone(),
            env: svc.env.clone(),
            health: svc.health.clone(),
            restart: svc.restart.clone(),
            drain: svc.deploy.drain,
            fingerprint: 0,
            deployment: 0,
            tls: svc.tls.clone(),
        });
        for (label, v) in &svc.versions {
            let mut env = svc.env.clone();
            env.extend(v.env.clone());
            out.push(GroupSpec {
                service: name.clone(),
                group: label.clone(),
                version: label.clone(),
                count: v.instances.unwrap_or(1),
                command: v.command.clone().unwrap_or_else(|| svc.command.clone()),
                env,
                health: svc.health.clone(),
                restart: svc.restart.clone(),
                drain: svc.deploy.drain,
                fingerprint: 0,
                deployment: 0,
                tls: svc.tls.clone(),
            });
        }
    }
    out
}
