//! Reading what a submission builds on: specs, deployment records and their mod
//! revisions (the transaction compares on them), history ids, scale overrides.

use std::collections::{BTreeMap, BTreeSet};

use shoal_catalog::{
    decode, deploy_key, history_prefix, spec_key, DEPLOY_PREFIX, SCALE_PREFIX, SPEC_PREFIX,
};
use shoal_spec::ServiceSpec;
use shoal_store::{KeyValue, Op, OpResponse, Revision, Store, StoreError, Txn};

use crate::record::Deployment;

/// One consistent read of the specs and deployment records of the services looked at.
/// A record that does not decode counts as absent (a new write replaces it), but its
/// mod revision is kept for the compare.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    pub revision: Revision,
    pub specs: BTreeMap<String, ServiceSpec>,
    /// Mod revision of each existing spec key (absent: 0).
    pub spec_revs: BTreeMap<String, Revision>,
    pub deployments: BTreeMap<String, Deployment>,
    /// Mod revision of each existing deploy key (absent: 0).
    pub deploy_revs: BTreeMap<String, Revision>,
    /// Services with a scale override set by hand (`shoal scale`); the autoscaler's
    /// are left alone by a deploy: it scales the new version as it did the old.
    pub scaled: BTreeSet<String>,
}

impl Stored {
    pub fn spec_rev(&self, service: &str) -> Revision {
        self.spec_revs.get(service).copied().unwrap_or(0)
    }

    pub fn deploy_rev(&self, service: &str) -> Revision {
        self.deploy_revs.get(service).copied().unwrap_or(0)
    }

    fn add_spec(&mut self, name: &str, kv: &KeyValue) {
        self.spec_revs.insert(name.to_owned(), kv.mod_revision);
        if let Ok(s) = decode::<ServiceSpec>(&kv.key, &kv.value) {
            self.specs.insert(name.to_owned(), s);
        }
    }

    fn add_deployment(&mut self, name: &str, kv: &KeyValue) {
        self.deploy_revs.insert(name.to_owned(), kv.mod_revision);
        if let Ok(d) = decode::<Deployment>(&kv.key, &kv.value) {
            self.deployments.insert(name.to_owned(), d);
        }
    }
}

/// Every service's spec, deployment record and scale override, at one revision.
pub(crate) async fn read_all(store: &dyn Store) -> Result<Stored, StoreError> {
    let resp = store
        .txn(Txn::new().and_then([
            Op::range(SPEC_PREFIX),
            Op::range(DEPLOY_PREFIX),
            Op::range(SCALE_PREFIX),
        ]))
        .await?;
    let mut out = Stored {
        revision: resp.revision,
        ..Stored::default()
    };
    let mut ranges = resp.responses.into_iter().map(|r| match r {
        OpResponse::Range(kvs) => kvs,
        _ => Vec::new(),
    });
    for kv in ranges.next().unwrap_or_default() {
        if let Some(name) = kv.key.strip_prefix(SPEC_PREFIX) {
            out.add_spec(name, &kv);
        }
    }
    for kv in ranges.next().unwrap_or_default() {
        if let Some(name) = kv.key.strip_prefix(DEPLOY_PREFIX) {
            out.add_deployment(name, &kv);
        }
    }
    for kv in ranges.next().unwrap_or_default() {
        if let Some(name) = kv.key.strip_prefix(SCALE_PREFIX) {
            let auto = shoal_catalog::decode::<shoal_catalog::ScaleOverride>(&kv.key, &kv.value)
                .is_ok_and(|o| o.source == shoal_catalog::ScaleSource::Auto);
            if !auto {
                out.scaled.insert(name.to_owned());
            }
        }
    }
    Ok(out)
}

/// One service's spec and deployment record at one revision, with its history
/// entries (ascending ids; ones that do not decode are left out).
pub(crate) async fn read_one(
    store: &dyn Store,
    service: &str,
) -> Result<(Stored, Vec<Deployment>), StoreError> {
    let resp = store
        .txn(Txn::new().and_then([
            Op::get(spec_key(service)),
            Op::get(deploy_key(service)),
            Op::range(history_prefix(service)),
        ]))
        .await?;
    let mut out = Stored {
        revision: resp.revision,
        ..Stored::default()
    };
    let mut history = Vec::new();
    for (i, r) in resp.responses.into_iter().enumerate() {
        match (i, r) {
            (0, OpResponse::Get(Some(kv))) => out.add_spec(service, &kv),
            (1, OpResponse::Get(Some(kv))) => out.add_deployment(service, &kv),
            (2, OpResponse::Range(kvs)) => history.extend(
                kvs.iter()
                    .filter_map(|kv| decode::<Deployment>(&kv.key, &kv.value).ok()),
            ),
            _ => {}
        }
    }
    history.sort_by_key(|d| d.id);
    Ok((out, history))
}

/// The ids in a service's history, ascending (read from the keys, not the values).
pub async fn history_ids(store: &dyn Store, service: &str) -> Result<Vec<u64>, StoreError> {
    let prefix = history_prefix(service);
    let mut ids: Vec<u64> = store
        .range(&prefix)
        .await?
        .kvs
        .iter()
        .filter_map(|kv| kv.key.strip_prefix(&prefix)?.parse().ok())
        .collect();
    ids.sort_unstable();
    Ok(ids)
}
