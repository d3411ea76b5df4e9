//! [`Fleet`]: what the store says about every service at one revision, decoded once.

use std::collections::{BTreeMap, BTreeSet};

use shoal_catalog::{InstanceRecord, PreparedQuery, ScaleOverride};
use shoal_deploy::Deployment;
use shoal_flags::Flag;
use shoal_spec::ServiceSpec;
use shoal_store::Revision;

/// An immutable snapshot of the fleet, shared (`Arc<Fleet>`) by every subscriber.
///
/// Records that did not decode are absent. The default is the empty fleet at
/// revision 0, what a channel holds before the first read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fleet {
    /// The store revision this snapshot reflects: the read's, then the newest change
    /// applied since (0 before the first read).
    pub revision: Revision,
    /// Each service's spec as applied (`shoal/spec/<service>`), by service.
    pub specs: BTreeMap<String, ServiceSpec>,
    /// Each service's latest deployment (`shoal/deploy/<service>`), by service.
    pub deployments: BTreeMap<String, Deployment>,
    /// Every instance record (`shoal/catalog/<service>/<id>`), sorted by service, then id.
    pub instances: Vec<InstanceRecord>,
    /// Every feature flag (`shoal/flags/<name>`), by name.
    pub flags: BTreeMap<String, Flag>,
    /// Chaos experiments (`shoal/chaos/<id>`), by id, ended ones too until swept.
    pub chaos: BTreeMap<String, shoal_chaos::Experiment>,
    /// Instance counts set by `shoal scale` or the autoscaler (`shoal/scale/<service>`),
    /// by service.
    pub overrides: BTreeMap<String, ScaleOverride>,
    /// The cluster's live nodes (`shoal/nodes/<name>`, each on its node's lease); empty
    /// with `shoal up`. An instance of a node not here is on a machine that stopped
    /// renewing its lease: the data plane sends it nothing.
    pub nodes: BTreeSet<String>,
    /// Consul prepared queries (`shoal/consul/queries/<id>`), by id.
    pub queries: BTreeMap<String, PreparedQuery>,
    /// The create and mod revisions of every record above, by store key: a writer
    /// that planned from this snapshot makes its write conditional on the key being
    /// unchanged since (`ModRevision == mod_revision(key)`); the Consul view shows
    /// them as `CreateIndex`/`ModifyIndex`.
    pub revisions: BTreeMap<String, KeyRevisions>,
}

/// When a key was created and last written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyRevisions {
    pub create: Revision,
    pub modified: Revision,
}

impl Fleet {
    /// Whether traffic may go to an instance on `node`: always with `shoal up` (no node
    /// records), else only while the node's record (its lease) lives.
    pub fn node_is_live(&self, node: &str) -> bool {
        self.nodes.is_empty() || self.nodes.contains(node)
    }

    /// The instance records of `service`, sorted by id.
    pub fn instances_of(&self, service: &str) -> &[InstanceRecord] {
        let from = self
            .instances
            .partition_point(|r| r.service.as_str() < service);
        let to = from + self.instances[from..].partition_point(|r| r.service.as_str() == service);
        &self.instances[from..to]
    }

    /// The mod revision of `key` in this snapshot; 0 when the snapshot has no record
    /// there (what the store compares a missing key's mod revision with).
    pub fn mod_revision(&self, key: &str) -> Revision {
        self.revisions.get(key).map_or(0, |r| r.modified)
    }

    /// Each service's overridden instance count.
    pub fn counts(&self) -> BTreeMap<String, u32> {
        self.overrides
            .iter()
            .map(|(service, o)| (service.clone(), o.instances))
            .collect()
    }

    /// Each service's traffic weights (version → share of unpinned traffic), for
    /// services whose deployment sets any.
    pub fn weights(&self) -> BTreeMap<String, BTreeMap<String, u32>> {
        self.deployments
            .iter()
            .filter(|(_, d)| !d.weights.is_empty())
            .map(|(service, d)| (service.clone(), d.weights.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(service: &str, id: &str) -> InstanceRecord {
        InstanceRecord::new(id, service, "1", "n", "127.0.0.1", 1)
    }

    #[test]
    fn instances_of_a_service_are_its_run_of_the_sorted_list() {
        let fleet = Fleet {
            instances: vec![
                record("a", "1"),
                record("a-b", "1"),
                record("api", "1"),
                record("api", "2"),
                record("web", "1"),
            ],
            ..Fleet::default()
        };
        let ids = |s: &str| -> Vec<String> {
            fleet
                .instances_of(s)
                .iter()
                .map(|r| format!("{}/{}", r.service, r.id))
                .collect()
        };
        assert_eq!(ids("api"), ["api/1", "api/2"]);
        assert_eq!(ids("a"), ["a/1"]);
        assert_eq!(ids("web"), ["web/1"]);
        assert!(ids("ap").is_empty());
        assert!(ids("zzz").is_empty());
        assert!(Fleet::default().instances_of("api").is_empty());
    }
}
