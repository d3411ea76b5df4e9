//! One reconcile pass's decision, shared by the local controller (`shoal up`: instances
//! on this machine) and the cluster leader (placements on every node): from the specs,
//! deployments, resolved groups and the instances observed, the actions to take, the
//! deployment records to write and when to plan again. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use shoal_deploy::Deployment;
use shoal_spec::ServiceSpec;

use crate::desired::GroupSpec;
use crate::plan::{plan, Action, Observed};
use crate::rollout::{name_stale, DeployWrite, Traffic, TrafficSource};

/// A group with its env resolved against the store (kv keys and secrets); `None` when it
/// does not resolve (then nothing new of it starts).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub group: GroupSpec,
    pub env: Option<Vec<(String, String)>>,
}

/// What one pass decided.
pub struct Decision {
    pub actions: Vec<Action>,
    pub writes: Vec<DeployWrite>,
    /// Plan again by then (unix ms) even if nothing changes.
    pub wake_at_ms: Option<u64>,
}

/// Main lines: the deployment plan; side versions and removed groups: `plan`.
/// `deployments` carry each record's mod revision (a write is conditional on it).
pub fn decide(
    services: &BTreeMap<String, ServiceSpec>,
    deployments: &BTreeMap<String, (Deployment, i64)>,
    resolved: &[Resolved],
    observed: Vec<Observed>,
    traffic: Option<&TrafficSource>,
    now: u64,
) -> Decision {
    let mut actions = Vec::new();
    let mut writes = Vec::new();
    let mut wake: Option<u64> = None;
    let mut planned = BTreeSet::new();
    for r in resolved.iter().filter(|r| r.group.is_main()) {
        let service = &r.group.service;
        let Some(spec) = services.get(service) else {
            continue;
        };
        planned.insert(service.clone());
        if r.env.is_none() {
            continue; // keep what runs: nothing new starts without its config
        }
        let current = deployments.get(service);
        let numbers = match (traffic, current) {
            // Only a canary is judged on the numbers.
            (Some(t), Some((d, _))) if d.judged_on_numbers() => t(service),
            _ => Traffic::default(),
        };
        let main: Vec<shoal_deploy::plan::Observed> = observed
            .iter()
            .filter(|o| &o.service == service && o.group.is_empty() && !o.stopping)
            .map(Observed::deploy_view)
            .collect();
        let line = shoal_deploy::plan::Line {
            spec,
            count: r.group.count,
            fingerprint: r.group.fingerprint,
        };
        let mut p =
            shoal_deploy::plan::plan(line, current.map(|(d, _)| d), &main, &numbers.totals, now);
        if let Some(after) = p.deployment.as_mut() {
            name_stale(after, now, &numbers.stale);
        }
        actions.extend((0..p.place).map(|_| Action::Start {
            service: service.clone(),
            group: String::new(),
        }));
        actions.extend(p.stop.iter().map(|s| Action::Stop {
            id: s.id.clone(),
            reason: s.reason.as_str(),
        }));
        wake = [wake, p.wake_at_ms].into_iter().flatten().min();
        if let Some(w) = DeployWrite::from_plan(service, current, p) {
            writes.push(w);
        }
    }
    let side: Vec<GroupSpec> = resolved
        .iter()
        .filter(|r| !r.group.is_main())
        .map(|r| r.group.clone())
        .collect();
    let rest: Vec<Observed> = observed
        .into_iter()
        .filter(|o| !(o.group.is_empty() && planned.contains(&o.service)))
        .collect();
    actions.extend(plan(&side, &rest));
    Decision {
        actions,
        writes,
        wake_at_ms: wake,
    }
}

/// Each service's deployment with its record's mod revision in `fleet`: a deployment
/// write is conditional on the record being unchanged since.
pub fn deployments_of(fleet: &shoal_fleet::Fleet) -> BTreeMap<String, (Deployment, i64)> {
    fleet
        .deployments
        .iter()
        .map(|(service, d)| {
            let revision = fleet.mod_revision(&shoal_catalog::deploy_key(service));
            (service.clone(), (d.clone(), revision))
        })
        .collect()
}

/// Each group's newest instance's fingerprint, from `(group key, start order, fingerprint)`.
pub fn newest_fingerprints(
    instances: impl Iterator<Item = ((String, String), u64, u64)>,
) -> HashMap<(String, String), u64> {
    let mut newest: HashMap<(String, String), (u64, u64)> = HashMap::new();
    for (key, seq, fp) in instances {
        let e = newest.entry(key).or_insert((seq, fp));
        if seq >= e.0 {
            *e = (seq, fp);
        }
    }
    newest.into_iter().map(|(k, (_, fp))| (k, fp)).collect()
}

/// Resolves each group's env against the store and fingerprints it. A group whose env
/// does not resolve (a missing kv key or secret) keeps what runs: its fingerprint is its
/// newest instance's (`newest`), or its count 0 when none runs; the error goes to the
/// log once, until it changes (`errors` remembers it).
pub async fn resolve_groups(
    groups: Vec<GroupSpec>,
    deployments: &BTreeMap<String, (Deployment, i64)>,
    newest: &HashMap<(String, String), u64>,
    ctx: &crate::instance::InstanceCtx,
    errors: &mut HashMap<(String, String), String>,
) -> Vec<Resolved> {
    let mut out = Vec::new();
    for mut group in groups {
        let key = group.key();
        if group.is_main() {
            group.deployment = deployments.get(&group.service).map_or(0, |(d, _)| d.id);
        }
        match crate::env::resolve(&group.env, ctx.store.as_ref(), ctx.keyring.as_deref()).await {
            Ok(env) => {
                if errors.remove(&key).is_some() {
                    tracing::info!(service = %key.0, version = %key.1, "env resolves again");
                }
                group.fingerprint = fingerprint(&group, &env);
                out.push(Resolved {
                    group,
                    env: Some(env),
                });
            }
            Err(e) => {
                let msg = e.to_string();
                if errors.get(&key) != Some(&msg) {
                    tracing::warn!(service = %key.0, version = %key.1, error = %msg, "cannot start new instances");
                    ctx.logs.append(
                        &key.0,
                        &key.1,
                        "-",
                        shoal_logs::Stream::System,
                        &format!("cannot start new instances: {msg}"),
                    );
                    errors.insert(key.clone(), msg);
                }
                // Keep what runs: no rollout, and nothing new without its config.
                match newest.get(&key) {
                    Some(fp) => group.fingerprint = *fp,
                    None => group.count = 0,
                }
                out.push(Resolved { group, env: None });
            }
        }
    }
    out
}

/// Everything a started instance depends on, hashed: a change means replacement.
pub fn fingerprint(group: &GroupSpec, env: &[(String, String)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!(
        "{}|{:?}|{:?}|{:?}|{:?}",
        group.version, group.command, group.health, group.restart, group.drain
    )
    .hash(&mut h);
    env.hash(&mut h);
    h.finish()
}
