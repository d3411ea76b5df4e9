//! The supervisor controller's decision for side versions and removed groups: a
//! pure function from desired groups and observed instances to the actions that
//! close the difference. A service's main line is decided by `shoal_deploy::plan`.

use std::collections::{BTreeMap, BTreeSet};

use shoal_catalog::{Health, InstanceState};

use crate::desired::GroupSpec;

/// What the controller knows of one instance it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub service: String,
    /// The group it was started for ("" main line, else a side version's label).
    pub group: String,
    pub version: String,
    pub state: InstanceState,
    pub health: Health,
    /// Unix ms since when it has served without a break.
    pub healthy_since_ms: Option<u64>,
    /// Start order: higher is newer.
    pub seq: u64,
    /// Already told to stop.
    pub stopping: bool,
    /// The group fingerprint the instance was started with.
    pub fingerprint: u64,
}

impl Observed {
    fn serving(&self) -> bool {
        self.state == InstanceState::Running && self.health.serves_traffic()
    }

    /// The instance as the main line's deployment plan reads it.
    pub fn deploy_view(&self) -> shoal_deploy::plan::Observed {
        shoal_deploy::plan::Observed {
            id: self.id.clone(),
            version: self.version.clone(),
            fingerprint: self.fingerprint,
            state: self.state,
            health: self.health,
            healthy_since_ms: self.healthy_since_ms,
            seq: self.seq,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start one more instance of the group (with the group's current fingerprint).
    Start { service: String, group: String },
    /// Stop this instance and forget it.
    Stop { id: String, reason: &'static str },
}

/// Computes the actions that make `observed` match `desired`.
///
/// Scaling stops the least useful instances first: failed or backing off, then
/// not yet healthy, then the newest. Instances started with an outdated
/// fingerprint (a changed command, env, or a kv key or secret the env refers
/// to) are replaced one at a time: a new one is started first, and an old one
/// is stopped only once every new one serves, so capacity never drops
/// (max surge 1, max unavailable 0).
pub fn plan(desired: &[GroupSpec], observed: &[Observed]) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut by_group: BTreeMap<(&str, &str), Vec<&Observed>> = BTreeMap::new();
    for o in observed.iter().filter(|o| !o.stopping) {
        by_group
            .entry((o.service.as_str(), o.group.as_str()))
            .or_default()
            .push(o);
    }
    let wanted: BTreeSet<(&str, &str)> = desired
        .iter()
        .map(|g| (g.service.as_str(), g.group.as_str()))
        .collect();
    for g in desired {
        let running = by_group
            .get(&(g.service.as_str(), g.group.as_str()))
            .cloned()
            .unwrap_or_default();
        let (fresh, stale): (Vec<&Observed>, Vec<&Observed>) = running
            .into_iter()
            .partition(|o| o.fingerprint == g.fingerprint);
        if stale.is_empty() {
            scale(g, fresh, &mut actions);
        } else {
            replace_one(g, &fresh, stale, &mut actions);
        }
    }
    for ((service, version), group) in &by_group {
        if !wanted.contains(&(*service, *version)) {
            for o in group {
                actions.push(Action::Stop {
                    id: o.id.clone(),
                    reason: REMOVED,
                });
            }
        }
    }
    actions
}

/// Stop reasons, as events and logs say them.
pub const REMOVED: &str = "the service or version was removed";
pub const SURPLUS: &str = "more instances than wanted";
pub const REPLACED: &str = "replaced by an instance with the new config";
pub const NOT_SERVING: &str = "old and not serving: stopped without waiting for a replacement";

fn start(g: &GroupSpec) -> Action {
    Action::Start {
        service: g.service.clone(),
        group: g.group.clone(),
    }
}

fn scale(g: &GroupSpec, running: Vec<&Observed>, actions: &mut Vec<Action>) {
    let have = running.len() as u32;
    if have < g.count {
        actions.extend((have..g.count).map(|_| start(g)));
    } else if have > g.count {
        let mut victims = running;
        victims.sort_by_key(|o| (usefulness(o), std::cmp::Reverse(o.seq)));
        for o in victims.into_iter().take((have - g.count) as usize) {
            actions.push(Action::Stop {
                id: o.id.clone(),
                reason: SURPLUS,
            });
        }
    }
}

/// One step of a rolling replacement of `stale` instances.
fn replace_one(
    g: &GroupSpec,
    fresh: &[&Observed],
    mut stale: Vec<&Observed>,
    actions: &mut Vec<Action>,
) {
    // Old instances that do not serve anyway go first and need no replacement.
    stale.sort_by_key(|o| (usefulness(o), o.seq));
    if let Some(o) = stale.first().filter(|o| !o.serving()) {
        actions.push(Action::Stop {
            id: o.id.clone(),
            reason: NOT_SERVING,
        });
        return;
    }
    if fresh.iter().any(|o| !o.serving()) {
        return; // wait until the new instance serves
    }
    let total = (fresh.len() + stale.len()) as u32;
    if total > g.count {
        if let Some(o) = stale.first() {
            actions.push(Action::Stop {
                id: o.id.clone(),
                reason: REPLACED,
            });
        }
    } else {
        actions.push(start(g));
    }
}

/// Lower is stopped first (the same order as the main line's).
fn usefulness(o: &Observed) -> u8 {
    shoal_deploy::plan::usefulness(o.state, o.health)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
