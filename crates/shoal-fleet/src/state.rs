//! The view's working copy: decoded records by key, changed one event at a time, and
//! the immutable [`Fleet`] made from it for each publish.

use std::collections::{BTreeMap, BTreeSet};

use serde::de::DeserializeOwned;
use shoal_catalog::{
    decode, InstanceRecord, PreparedQuery, ScaleOverride, CATALOG_PREFIX, CHAOS_PREFIX,
    DEPLOY_PREFIX, FLAG_PREFIX, NODE_PREFIX, PREPARED_QUERY_PREFIX, SCALE_PREFIX, SPEC_PREFIX,
};
use shoal_chaos::Experiment;
use shoal_deploy::Deployment;
use shoal_flags::Flag;
use shoal_spec::ServiceSpec;
use shoal_store::{EventKind, KeyValue, Revision, WatchBatch};

use crate::fleet::{Fleet, KeyRevisions};

/// Specs and deployments by service (the key's last part), instance records by their
/// whole key: a delete names only the key, so the key is what identifies a record.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) revision: Revision,
    specs: BTreeMap<String, ServiceSpec>,
    deployments: BTreeMap<String, Deployment>,
    instances: BTreeMap<String, InstanceRecord>,
    overrides: BTreeMap<String, ScaleOverride>,
    flags: BTreeMap<String, Flag>,
    chaos: BTreeMap<String, Experiment>,
    nodes: BTreeSet<String>,
    queries: BTreeMap<String, PreparedQuery>,
    revisions: BTreeMap<String, KeyRevisions>,
}

impl State {
    /// An empty working copy at `revision`.
    pub(crate) fn at(revision: Revision) -> Self {
        Self {
            revision,
            ..Self::default()
        }
    }

    /// Whether `key` is one the view keeps.
    pub(crate) fn follows(key: &str) -> bool {
        [
            SPEC_PREFIX,
            DEPLOY_PREFIX,
            CATALOG_PREFIX,
            SCALE_PREFIX,
            FLAG_PREFIX,
            NODE_PREFIX,
            CHAOS_PREFIX,
            PREPARED_QUERY_PREFIX,
        ]
        .iter()
        .any(|p| key.starts_with(p))
    }

    /// `key` now holds `value` (created and written at `revisions`): decoded, it replaces what
    /// the key held; a value that does not decode removes it (the key's record is
    /// unknown), with a warning. Keys the view does not follow are ignored.
    pub(crate) fn put(&mut self, key: &str, value: &[u8], revisions: KeyRevisions) {
        if let Some(service) = key.strip_prefix(SPEC_PREFIX) {
            put_decoded(&mut self.specs, service, key, value);
        } else if let Some(service) = key.strip_prefix(DEPLOY_PREFIX) {
            put_decoded(&mut self.deployments, service, key, value);
        } else if key.starts_with(CATALOG_PREFIX) {
            put_decoded(&mut self.instances, key, key, value);
        } else if let Some(name) = key.strip_prefix(FLAG_PREFIX) {
            put_decoded(&mut self.flags, name, key, value);
        } else if let Some(id) = key.strip_prefix(CHAOS_PREFIX) {
            put_decoded(&mut self.chaos, id, key, value);
        } else if let Some(id) = key.strip_prefix(PREPARED_QUERY_PREFIX) {
            put_decoded(&mut self.queries, id, key, value);
        } else if let Some(name) = key.strip_prefix(NODE_PREFIX) {
            // Only whether the node's record (on its lease) exists matters here.
            self.nodes.insert(name.to_owned());
        } else if let Some(service) = key.strip_prefix(SCALE_PREFIX) {
            match decode::<ScaleOverride>(key, value) {
                Ok(o) => {
                    self.overrides.insert(service.to_owned(), o);
                }
                Err(e) => {
                    tracing::warn!(key, error = %e, "fleet view: skipping an unreadable record");
                    self.overrides.remove(service);
                }
            }
        } else {
            return;
        }
        self.revisions.insert(key.to_owned(), revisions);
    }

    /// `key` was deleted.
    pub(crate) fn delete(&mut self, key: &str) {
        if let Some(service) = key.strip_prefix(SPEC_PREFIX) {
            self.specs.remove(service);
        } else if let Some(service) = key.strip_prefix(DEPLOY_PREFIX) {
            self.deployments.remove(service);
        } else if key.starts_with(CATALOG_PREFIX) {
            self.instances.remove(key);
        } else if let Some(service) = key.strip_prefix(SCALE_PREFIX) {
            self.overrides.remove(service);
        } else if let Some(name) = key.strip_prefix(FLAG_PREFIX) {
            self.flags.remove(name);
        } else if let Some(name) = key.strip_prefix(NODE_PREFIX) {
            self.nodes.remove(name);
        } else if let Some(id) = key.strip_prefix(CHAOS_PREFIX) {
            self.chaos.remove(id);
        } else if let Some(id) = key.strip_prefix(PREPARED_QUERY_PREFIX) {
            self.queries.remove(id);
        }
        self.revisions.remove(key);
    }

    /// Applies one revision's events, in order; whether any was a key the view follows.
    pub(crate) fn apply(&mut self, batch: &WatchBatch) -> bool {
        let mut changed = false;
        for event in &batch.events {
            if !Self::follows(&event.kv.key) {
                continue;
            }
            changed = true;
            match event.kind {
                EventKind::Put => self.put(&event.kv.key, &event.kv.value, of(&event.kv)),
                EventKind::Delete => self.delete(&event.kv.key),
            }
        }
        if changed {
            self.revision = self.revision.max(batch.revision);
        }
        changed
    }

    /// The snapshot to publish: instances sorted by service, then id.
    pub(crate) fn fleet(&self) -> Fleet {
        let mut instances: Vec<InstanceRecord> = self.instances.values().cloned().collect();
        instances.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
        Fleet {
            revision: self.revision,
            specs: self.specs.clone(),
            deployments: self.deployments.clone(),
            instances,
            overrides: self.overrides.clone(),
            flags: self.flags.clone(),
            chaos: self.chaos.clone(),
            nodes: self.nodes.clone(),
            queries: self.queries.clone(),
            revisions: self.revisions.clone(),
        }
    }
}

/// The revisions of a key as the store gave it.
pub(crate) fn of(kv: &KeyValue) -> KeyRevisions {
    KeyRevisions {
        create: kv.create_revision,
        modified: kv.mod_revision,
    }
}

fn put_decoded<T: DeserializeOwned>(
    map: &mut BTreeMap<String, T>,
    id: &str,
    key: &str,
    value: &[u8],
) {
    match decode::<T>(key, value) {
        Ok(v) => {
            map.insert(id.to_owned(), v);
        }
        Err(e) => {
            tracing::warn!(key, error = %e, "fleet view: skipping an unreadable record");
            map.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_catalog::{catalog_key, deploy_key, encode, spec_key};
    use shoal_spec::Command;
    use shoal_store::Event;

    fn at(revision: Revision) -> KeyRevisions {
        KeyRevisions {
            create: 1,
            modified: revision,
        }
    }

    fn spec(name: &str, version: &str) -> ServiceSpec {
        let mut s = ServiceSpec::new(name, Command::Argv(vec!["x".into()]));
        s.version = version.into();
        s
    }

    fn record(service: &str, id: &str) -> InstanceRecord {
        InstanceRecord::new(id, service, "1", "n", "127.0.0.1", 1)
    }

    fn deployment(service: &str, weights: &[(&str, u32)]) -> Vec<u8> {
        let weights: BTreeMap<&str, u32> = weights.iter().copied().collect();
        let d = serde_json::json!({
            "id": 1, "service": service, "strategy": "canary", "from": null,
            "to": spec(service, "2"), "status": "running", "reason": "step 1",
            "weights": weights, "started_ms": 0, "updated_ms": 0, "deadline_ms": 0,
        });
        serde_json::to_vec(&d).expect("json")
    }

    fn event(kind: EventKind, key: String, value: Vec<u8>) -> Event {
        Event {
            kind,
            kv: KeyValue {
                key,
                value,
                create_revision: 1,
                mod_revision: 1,
                version: 1,
                lease: 0,
            },
            prev: None,
        }
    }

    fn ids(f: &Fleet) -> Vec<String> {
        f.instances
            .iter()
            .map(|r| format!("{}/{}", r.service, r.id))
            .collect()
    }

    #[test]
    fn puts_decode_deletes_remove_and_unreadable_values_leave_their_key_out() {
        let mut s = State::at(5);
        s.put(&spec_key("web"), &encode(&spec("web", "1")), at(1));
        s.put(
            &deploy_key("web"),
            &deployment("web", &[("1", 90), ("2", 10)]),
            at(6),
        );
        s.put(
            &catalog_key("web", "b"),
            &encode(&record("web", "b")),
            at(1),
        );
        s.put(
            &catalog_key("web", "a"),
            &encode(&record("web", "a")),
            at(1),
        );
        s.put(
            &catalog_key("api", "z"),
            &encode(&record("api", "z")),
            at(1),
        );
        s.put("shoal/scale/web", br#"{"instances":4}"#, at(7));
        s.put("shoal/other/web", b"{}", at(8));
        let f = s.fleet();
        assert_eq!(f.revision, 5);
        assert_eq!(f.specs["web"].version, "1");
        assert_eq!(f.deployments["web"].weights["2"], 10);
        assert_eq!(ids(&f), ["api/z", "web/a", "web/b"]);
        assert_eq!(f.overrides["web"].instances, 4);
        assert_eq!(f.mod_revision(&deploy_key("web")), 6);
        assert_eq!(f.mod_revision("shoal/other/web"), 0, "not followed");

        // A value that no longer decodes: the key's old record is gone too.
        s.put(&spec_key("web"), b"{not json", at(1));
        s.put(&catalog_key("web", "a"), b"[]", at(1));
        s.delete(&deploy_key("web"));
        s.delete(&catalog_key("api", "z"));
        s.delete(&catalog_key("nobody", "x"));
        let f = s.fleet();
        assert!(f.specs.is_empty());
        assert!(f.deployments.is_empty());
        assert_eq!(f.mod_revision(&deploy_key("web")), 0);
        assert_eq!(ids(&f), ["web/b"]);
    }

    #[test]
    fn a_batch_applies_in_order_and_moves_the_revision_forward_only() {
        let mut s = State::at(10);
        let key = catalog_key("web", "a");
        s.apply(&WatchBatch {
            revision: 11,
            events: vec![
                event(EventKind::Put, key.clone(), encode(&record("web", "a"))),
                event(EventKind::Delete, key.clone(), vec![]),
                event(EventKind::Put, spec_key("web"), encode(&spec("web", "3"))),
            ],
        });
        let f = s.fleet();
        assert_eq!(f.revision, 11);
        assert!(f.instances.is_empty());
        assert_eq!(f.specs["web"].version, "3");
        // A batch of another prefix's watch that arrives late does not move it back.
        s.apply(&WatchBatch {
            revision: 9,
            events: vec![],
        });
        assert_eq!(s.fleet().revision, 11);
    }

    #[test]
    fn instances_sort_by_service_then_id_not_by_key() {
        // By key, "a-b/x" sorts before "a/x" ('-' < '/'); by service, "a" comes first.
        let mut s = State::default();
        for (svc, id) in [("a-b", "x"), ("a", "y"), ("a", "x")] {
            s.put(&catalog_key(svc, id), &encode(&record(svc, id)), at(1));
        }
        assert_eq!(ids(&s.fleet()), ["a/x", "a/y", "a-b/x"]);
    }
}
