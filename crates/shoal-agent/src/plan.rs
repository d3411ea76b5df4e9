//! The supervisor controller's decision: a pure function from desired groups and
//! observed instances to the actions that close the difference.

use std::collections::{BTreeMap, BTreeSet};

use shoal_catalog::{Health, InstanceState};

use crate::desired::GroupSpec;

/// What the controller knows of one instance it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub service: String,
    pub version: String,
    pub state: InstanceState,
    pub health: Health,
    /// Start order: higher is newer.
    pub seq: u64,
    /// Already told to stop.
    pub stopping: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start one more instance of the group.
    Start { service: String, version: String },
    /// Stop this instance and forget it.
    Stop { id: String },
}

/// Computes the actions that make `observed` match `desired`.
///
/// Scale-down stops the least useful instances first: failed or backing off,
/// then not yet healthy, then the newest.
pub fn plan(desired: &[GroupSpec], observed: &[Observed]) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut by_group: BTreeMap<(&str, &str), Vec<&Observed>> = BTreeMap::new();
    for o in observed.iter().filter(|o| !o.stopping) {
        by_group
            .entry((o.service.as_str(), o.version.as_str()))
            .or_default()
            .push(o);
    }
    let wanted: BTreeSet<(&str, &str)> = desired
        .iter()
        .map(|g| (g.service.as_str(), g.version.as_str()))
        .collect();
    for g in desired {
        let running = by_group
            .get(&(g.service.as_str(), g.version.as_str()))
            .cloned()
            .unwrap_or_default();
        let have = running.len() as u32;
        if have < g.count {
            for _ in have..g.count {
                actions.push(Action::Start {
                    service: g.service.clone(),
                    version: g.version.clone(),
                });
            }
        } else if have > g.count {
            let mut victims = running;
            victims.sort_by_key(|o| (usefulness(o), std::cmp::Reverse(o.seq)));
            for o in victims.into_iter().take((have - g.count) as usize) {
                actions.push(Action::Stop { id: o.id.clone() });
            }
        }
    }
    for ((service, version), group) in &by_group {
        if !wanted.contains(&(*service, *version)) {
            for o in group {
                actions.push(Action::Stop { id: o.id.clone() });
            }
        }
    }
    actions
}

/// Lower is stopped first.
fn usefulness(o: &Observed) -> u8 {
    match (o.state, o.health) {
        (InstanceState::Failed | InstanceState::Backoff | InstanceState::Stopping, _) => 0,
        (_, Health::Critical) => 1,
        (_, Health::Starting) => 2,
        (_, Health::Warning) => 3,
        (_, Health::Passing) => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn group(service: &str, version: &str, count: u32) -> GroupSpec {
        GroupSpec {
            service: service.into(),
            version: version.into(),
            count,
            command: shoal_spec::Command::Shell("true".into()),
            env: Default::default(),
            health: None,
            restart: shoal_spec::RestartSpec {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(30),
            },
            drain: Duration::from_secs(1),
        }
    }

    fn obs(id: &str, service: &str, version: &str, seq: u64, health: Health) -> Observed {
        Observed {
            id: id.into(),
            service: service.into(),
            version: version.into(),
            state: InstanceState::Running,
            health,
            seq,
            stopping: false,
        }
    }

    fn starts(actions: &[Action]) -> usize {
        actions
            .iter()
            .filter(|a| matches!(a, Action::Start { .. }))
            .count()
    }

    #[test]
    fn starts_missing_instances() {
        let actions = plan(
            &[group("web", "1", 3)],
            &[obs("a", "web", "1", 1, Health::Passing)],
        );
        assert_eq!(starts(&actions), 2);
        assert_eq!(actions.len(), 2);
    }

    #[test]
    fn nothing_to_do_when_matched() {
        let o = [obs("a", "web", "1", 1, Health::Passing)];
        assert!(plan(&[group("web", "1", 1)], &o).is_empty());
    }

    #[test]
    fn scale_down_stops_unhealthy_then_newest() {
        let o = [
            obs("old", "web", "1", 1, Health::Passing),
            obs("new", "web", "1", 3, Health::Passing),
            obs("sick", "web", "1", 2, Health::Critical),
        ];
        let actions = plan(&[group("web", "1", 1)], &o);
        assert_eq!(
            actions,
            vec![
                Action::Stop { id: "sick".into() },
                Action::Stop { id: "new".into() }
            ]
        );
    }

    #[test]
    fn removed_groups_are_stopped_and_stopping_ones_ignored() {
        let mut gone = obs("x", "old", "1", 1, Health::Passing);
        let o = vec![gone.clone(), obs("v2", "web", "2", 2, Health::Passing)];
        let actions = plan(&[group("web", "1", 1)], &o);
        assert!(actions.contains(&Action::Stop { id: "x".into() }));
        assert!(actions.contains(&Action::Stop { id: "v2".into() }));
        assert_eq!(starts(&actions), 1);
        gone.stopping = true;
        assert!(plan(&[], &[gone]).is_empty());
    }

    #[test]
    fn zero_instances_is_valid() {
        let o = [obs("a", "web", "1", 1, Health::Passing)];
        assert_eq!(
            plan(&[group("web", "1", 0)], &o),
            vec![Action::Stop { id: "a".into() }]
        );
        assert!(plan(&[group("web", "1", 0)], &[]).is_empty());
    }
}
