//! [`schedule`]: one pass over the groups in name order, placing the missing instances by
//! spread and capacity, trimming surplus from the most crowded nodes, replacing the
//! instances of lost and draining nodes.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    Group, NewPlacement, Node, NodeStatus, Placement, Plan, Resources, Stop, StopReason, Unplaced,
};

/// What the pass knows of one node while it plans: requests in use, instances per service.
struct Load<'a> {
    node: &'a Node,
    used: Resources,
    per_service: BTreeMap<&'a str, u32>,
}

impl Load<'_> {
    fn of(&self, service: &str) -> u32 {
        self.per_service.get(service).copied().unwrap_or(0)
    }

    /// Load in thousandths of capacity, CPU and memory summed: lower is emptier.
    fn fullness(&self) -> u64 {
        let part = |used: u64, cap: u64| used.saturating_mul(1000).checked_div(cap).unwrap_or(0);
        part(self.used.cpu_millis, self.node.capacity.cpu_millis)
            + part(self.used.memory_mb, self.node.capacity.memory_mb)
    }
}

/// Decides what to place and what to stop. Pure and deterministic: the same input gives
/// the same plan, whatever the order of `groups`, `nodes` and `current`.
pub fn schedule(groups: &[Group], nodes: &[Node], current: &[Placement]) -> Plan {
    let mut plan = Plan::default();
    let mut wanted: BTreeMap<(&str, &str), &Group> = BTreeMap::new();
    for g in groups {
        wanted
            .entry((g.service.as_str(), g.version.as_str()))
            .or_insert(g);
    }
    let mut loads: BTreeMap<&str, Load> = nodes
        .iter()
        .map(|n| {
            let load = Load {
                node: n,
                used: Resources::default(),
                per_service: BTreeMap::new(),
            };
            (n.name.as_str(), load)
        })
        .collect();

    // What keeps running, by group; what stops at once.
    let mut sorted: Vec<&Placement> = current.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut kept: BTreeMap<(&str, &str), Vec<&Placement>> = BTreeMap::new();
    for p in sorted {
        let key = (p.service.as_str(), p.version.as_str());
        let reason = match loads.get(p.node.as_str()) {
            None => Some(StopReason::UnknownNode),
            Some(l) if l.node.status == NodeStatus::Lost => Some(StopReason::NodeLost),
            Some(_) if !wanted.contains_key(&key) => Some(StopReason::Surplus),
            Some(_) => None,
        };
        if let Some(reason) = reason {
            plan.stop.push(Stop {
                id: p.id.clone(),
                reason,
            });
            continue;
        }
        if let (Some(load), Some(g)) = (loads.get_mut(p.node.as_str()), wanted.get(&key)) {
            load.used = load.used.plus(g.request);
            *load.per_service.entry(p.service.as_str()).or_insert(0) += 1;
        }
        kept.entry(key).or_default().push(p);
    }

    for (key, group) in &wanted {
        let mine = kept.remove(key).unwrap_or_default();
        let (draining, mut live): (Vec<&Placement>, Vec<&Placement>) = mine
            .into_iter()
            .partition(|p| status(&loads, &p.node) == NodeStatus::Draining);
        let count = group.count as usize;
        while live.len() > count {
            let i = surplus_victim(&live, &loads, &group.service);
            let p = live.remove(i);
            release(&mut loads, p, group);
            plan.stop.push(Stop {
                id: p.id.clone(),
                reason: StopReason::Surplus,
            });
        }
        for placed in live.len()..count {
            match best_node(&loads, group) {
                Some(name) => {
                    if let Some(load) = loads.get_mut(name) {
                        load.used = load.used.plus(group.request);
                        *load.per_service.entry(group.service.as_str()).or_insert(0) += 1;
                    }
                    plan.place.push(NewPlacement {
                        service: group.service.clone(),
                        version: group.version.clone(),
                        node: name.to_string(),
                    });
                }
                None => {
                    plan.unplaced.push(Unplaced {
                        service: group.service.clone(),
                        version: group.version.clone(),
                        missing: (count - placed) as u32,
                        reason: why_nowhere(&loads, group),
                    });
                    break;
                }
            }
        }
        // New before old: a draining node's instances stop once the group is whole and
        // healthy elsewhere.
        let healthy_elsewhere = live.iter().filter(|p| p.healthy).count();
        if healthy_elsewhere >= count {
            for p in draining {
                release(&mut loads, p, group);
                plan.stop.push(Stop {
                    id: p.id.clone(),
                    reason: StopReason::Drained,
                });
            }
        }
    }
    plan
}

/// Where one more instance of `group` goes next to the `current` placements (all
/// services; `request_of(service, version)` is what each of them requests): the node
/// [`schedule`] would pick, or why no node can take it. For controllers that decide the
/// count themselves (a deployment's plan) and only need the node.
pub fn place_one(
    group: &Group,
    nodes: &[Node],
    current: &[Placement],
    request_of: impl Fn(&str, &str) -> Resources,
) -> Result<String, String> {
    let mut loads: BTreeMap<&str, Load> = nodes
        .iter()
        .map(|n| {
            let load = Load {
                node: n,
                used: Resources::default(),
                per_service: BTreeMap::new(),
            };
            (n.name.as_str(), load)
        })
        .collect();
    for p in current {
        if let Some(load) = loads.get_mut(p.node.as_str()) {
            load.used = load.used.plus(request_of(&p.service, &p.version));
            *load.per_service.entry(p.service.as_str()).or_insert(0) += 1;
        }
    }
    match best_node(&loads, group) {
        Some(name) => Ok(name.to_string()),
        None => Err(why_nowhere(&loads, group)),
    }
}

fn status(loads: &BTreeMap<&str, Load>, node: &str) -> NodeStatus {
    loads.get(node).map_or(NodeStatus::Lost, |l| l.node.status)
}

fn release(loads: &mut BTreeMap<&str, Load>, p: &Placement, group: &Group) {
    if let Some(load) = loads.get_mut(p.node.as_str()) {
        load.used = load.used.minus(group.request);
        if let Some(n) = load.per_service.get_mut(p.service.as_str()) {
            *n = n.saturating_sub(1);
        }
    }
}

/// The instance to stop first: on the node most crowded with this service, unhealthy
/// before healthy, the latest id last placed.
fn surplus_victim(live: &[&Placement], loads: &BTreeMap<&str, Load>, service: &str) -> usize {
    let crowd = |p: &Placement| loads.get(p.node.as_str()).map_or(0, |l| l.of(service));
    let mut best = 0;
    for (i, p) in live.iter().enumerate().skip(1) {
        let b = live[best];
        let key = |p: &Placement| (crowd(p), !p.healthy);
        if (key(p), &p.id) > (key(b), &b.id) {
            best = i;
        }
    }
    best
}

/// The eligible node with the fewest instances of the group's service, then the emptiest,
/// then the first by name.
fn best_node<'a>(loads: &BTreeMap<&'a str, Load>, group: &Group) -> Option<&'a str> {
    loads
        .iter()
        .filter(|(_, l)| eligible(l, group).is_ok())
        .min_by_key(|(name, l)| (l.of(&group.service), l.fullness(), **name))
        .map(|(name, _)| *name)
}

/// Why a node cannot take one more instance of `group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Refusal {
    NotReady,
    Constraint,
    Capacity,
}

fn eligible(load: &Load, group: &Group) -> Result<(), Refusal> {
    if load.node.status != NodeStatus::Ready {
        return Err(Refusal::NotReady);
    }
    if !group.constraints.iter().all(|c| c.allows(load.node)) {
        return Err(Refusal::Constraint);
    }
    if !load.used.fits(group.request, load.node.capacity) {
        return Err(Refusal::Capacity);
    }
    Ok(())
}

fn why_nowhere(loads: &BTreeMap<&str, Load>, group: &Group) -> String {
    if loads.is_empty() {
        return "no nodes in the cluster".into();
    }
    let mut by: BTreeMap<Refusal, BTreeSet<&str>> = BTreeMap::new();
    for (name, l) in loads {
        if let Err(r) = eligible(l, group) {
            by.entry(r).or_default().insert(name);
        }
    }
    let list = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(", ");
    let mut parts = Vec::new();
    if let Some(s) = by.get(&Refusal::NotReady) {
        parts.push(format!("not ready: {}", list(s)));
    }
    if let Some(s) = by.get(&Refusal::Constraint) {
        parts.push(format!("constraints not met: {}", list(s)));
    }
    if let Some(s) = by.get(&Refusal::Capacity) {
        parts.push(format!(
            "no room for {}m CPU / {} MiB: {}",
            group.request.cpu_millis,
            group.request.memory_mb,
            list(s)
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
#[path = "place_tests.rs"]
mod tests;
