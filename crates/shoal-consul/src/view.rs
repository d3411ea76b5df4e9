//! One consistent read of everything the catalog, health and agent endpoints show: the
//! supervised instances of the Shoal catalog (from the fleet view, paired with the
//! registrations at one revision) and the services and checks registered through the
//! agent API, as Consul service instances and checks on this node.

use std::collections::BTreeMap;

use std::time::Duration;

use shoal_catalog::{catalog_key, decode, Health, InstanceRecord, InstanceState, CATALOG_PREFIX};
use shoal_store::{KeyValue, Op, OpResponse, Revision, Store, Txn};

use crate::blocking::Scope;
use crate::check_model::{CheckDef, CheckRecord, Status};
use crate::error::Result;
use crate::register::ServiceDef;
use crate::state::{ConsulState, CHECK_PREFIX, SERVICE_PREFIX};

/// A service instance as Consul shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    /// The service's own address; empty = the node's.
    pub address: String,
    pub port: u16,
    pub meta: BTreeMap<String, String>,
    pub weights: (u64, u64),
    pub enable_tag_override: bool,
    /// Registered through the agent API (false: supervised by Shoal).
    pub external: bool,
    pub create_index: i64,
    pub modify_index: i64,
}

/// A check as Consul shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckView {
    pub id: String,
    pub name: String,
    pub status: Status,
    pub notes: String,
    pub output: String,
    /// Empty for node checks.
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub type_name: String,
    pub def: Option<CheckDef>,
    pub create_index: i64,
    pub modify_index: i64,
}

/// The whole view at one store revision.
#[derive(Debug, Clone)]
pub struct View {
    pub revision: Revision,
    pub node: String,
    pub node_id: String,
    pub address: String,
    pub instances: Vec<Instance>,
    pub checks: Vec<CheckView>,
}

/// The keys a view reads, for blocking queries.
pub fn scope() -> Scope {
    Scope::Prefixes(vec![
        CATALOG_PREFIX.into(),
        SERVICE_PREFIX.into(),
        CHECK_PREFIX.into(),
    ])
}

fn supervised_status(r: &InstanceRecord) -> Status {
    if r.state != InstanceState::Running {
        return Status::Critical;
    }
    match r.health {
        Health::Passing => Status::Passing,
        Health::Warning => Status::Warning,
        Health::Starting | Health::Critical => Status::Critical,
    }
}

impl View {
    pub async fn read(st: &ConsulState) -> Result<View> {
        read_from(st.store.as_ref(), st).await
    }

    /// Checks that apply to an instance: its own and the node's.
    pub fn checks_of(&self, inst: &Instance) -> Vec<&CheckView> {
        self.checks
            .iter()
            .filter(|c| c.service_id.is_empty() || c.service_id == inst.id)
            .collect()
    }
}

/// How many times a read tries to pair the registrations it read with a fleet
/// snapshot of the same revision before it reads the catalog from the store too.
const PAIRING_TRIES: usize = 3;
/// How long a read waits for the fleet view to reach the registrations' revision.
const CATCH_UP: Duration = Duration::from_secs(2);

/// A supervised instance's record with its create and mod revisions.
type Supervised = (InstanceRecord, Revision, Revision);

/// The view at one revision. The supervised instances come from the fleet view when
/// there is one: the registrations are read at revision R, then the fleet snapshot
/// that has applied every change through R is used if it holds none after R (its
/// catalog is then exactly the catalog at R); otherwise the registrations are read
/// again. A fleet that lags, or keeps moving past, leaves the read to the store.
async fn read_from(store: &dyn Store, st: &ConsulState) -> Result<View> {
    if let Some(fleet) = &st.fleet {
        for _ in 0..PAIRING_TRIES {
            let (revision, mut ranges) = read_ranges(store, [SERVICE_PREFIX, CHECK_PREFIX]).await?;
            let Some(f) = fleet.at(revision, CATCH_UP).await else {
                break;
            };
            if f.revision > revision {
                continue; // the fleet moved past the registrations: read them again
            }
            let catalog = f
                .instances
                .iter()
                .map(|r| {
                    let rev = f
                        .revisions
                        .get(&catalog_key(&r.service, &r.id))
                        .copied()
                        .unwrap_or_default();
                    (r.clone(), rev.create, rev.modified)
                })
                .collect();
            let [services, checks] = [ranges.next(), ranges.next()].map(Option::unwrap_or_default);
            return Ok(build(st, revision, catalog, &services, &checks));
        }
    }
    let (revision, mut ranges) =
        read_ranges(store, [CATALOG_PREFIX, SERVICE_PREFIX, CHECK_PREFIX]).await?;
    let [catalog, services, checks] =
        [ranges.next(), ranges.next(), ranges.next()].map(Option::unwrap_or_default);
    let catalog = catalog
        .iter()
        .filter_map(|kv| {
            let r = decode::<InstanceRecord>(&kv.key, &kv.value).ok()?;
            Some((r, kv.create_revision, kv.mod_revision))
        })
        .collect();
    Ok(build(st, revision, catalog, &services, &checks))
}

/// The prefixes in one read-only transaction: its revision and each prefix's keys.
async fn read_ranges<const N: usize>(
    store: &dyn Store,
    prefixes: [&str; N],
) -> Result<(Revision, impl Iterator<Item = Vec<KeyValue>>)> {
    let txn = Txn::new().and_then(prefixes.map(Op::range));
    let resp = store.txn(txn).await?;
    let ranges = resp.responses.into_iter().map(|r| match r {
        OpResponse::Range(kvs) => kvs,
        _ => Vec::new(),
    });
    Ok((resp.revision, ranges))
}

fn build(
    st: &ConsulState,
    revision: Revision,
    catalog: Vec<Supervised>,
    services: &[KeyValue],
    checks: &[KeyValue],
) -> View {
    let mut view = View {
        revision,
        node: st.node.clone(),
        node_id: st.node_id(),
        address: st.address.to_string(),
        instances: Vec::new(),
        checks: vec![CheckView {
            id: "serfHealth".into(),
            name: "Serf Health Status".into(),
            status: Status::Passing,
            notes: String::new(),
            output: "Agent alive and reachable".into(),
            service_id: String::new(),
            service_name: String::new(),
            service_tags: Vec::new(),
            type_name: String::new(),
            def: None,
            create_index: 1,
            modify_index: 1,
        }],
    };
    for (r, create_index, modify_index) in catalog {
        if r.external {
            continue; // mirrored from an agent registration, shown from that below
        }
        let status = supervised_status(&r);
        let output = if r.health_output.is_empty() {
            format!("instance {:?}, health {:?}", r.state, r.health).to_lowercase()
        } else {
            r.health_output.clone()
        };
        view.checks.push(CheckView {
            id: format!("service:{}", r.id),
            name: format!("Service '{}' check", r.service),
            status,
            notes: String::new(),
            output,
            service_id: r.id.clone(),
            service_name: r.service.clone(),
            service_tags: vec![r.version.clone()],
            type_name: String::new(),
            def: None,
            create_index,
            modify_index,
        });
        view.instances.push(Instance {
            id: r.id,
            name: r.service,
            tags: vec![r.version],
            address: r.address,
            port: r.port,
            meta: BTreeMap::new(),
            weights: (1, 1),
            enable_tag_override: false,
            external: false,
            create_index,
            modify_index,
        });
    }
    for kv in services {
        let Ok(s) = decode::<ServiceDef>(&kv.key, &kv.value) else {
            continue;
        };
        view.instances.push(Instance {
            id: s.id,
            name: s.name,
            tags: s.tags,
            address: s.address,
            port: s.port,
            meta: s.meta,
            weights: s.weights,
            enable_tag_override: s.enable_tag_override,
            external: true,
            create_index: kv.create_revision,
            modify_index: kv.mod_revision,
        });
    }
    for kv in checks {
        let Ok(c) = decode::<CheckRecord>(&kv.key, &kv.value) else {
            continue;
        };
        let owner = view
            .instances
            .iter()
            .find(|i| i.external && i.id == c.def.service_id);
        if !c.def.service_id.is_empty() && owner.is_none() {
            continue;
        }
        view.checks.push(CheckView {
            id: c.def.id.clone(),
            name: c.def.name.clone(),
            status: c.status,
            notes: c.def.notes.clone(),
            output: c.output.clone(),
            service_id: c.def.service_id.clone(),
            service_name: owner.map(|o| o.name.clone()).unwrap_or_default(),
            service_tags: owner.map(|o| o.tags.clone()).unwrap_or_default(),
            type_name: c.def.kind.type_name().to_string(),
            def: Some(c.def),
            create_index: kv.create_revision,
            modify_index: kv.mod_revision,
        });
    }
    view.instances
        .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    view
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use shoal_catalog::{encode, InstanceRecord};
    use shoal_store::{EmbeddedStore, Store};

    use super::*;
    use crate::state::service_key;

    fn same(a: &View, b: &View) {
        let ids = |v: &View| -> Vec<(String, i64, i64)> {
            v.instances
                .iter()
                .map(|i| (i.id.clone(), i.create_index, i.modify_index))
                .collect()
        };
        let checks = |v: &View| -> Vec<(String, Status, i64)> {
            v.checks
                .iter()
                .map(|c| (c.id.clone(), c.status, c.modify_index))
                .collect()
        };
        assert_eq!(a.revision, b.revision);
        assert_eq!(ids(a), ids(b));
        assert_eq!(checks(a), checks(b));
    }

    #[tokio::test]
    async fn the_view_from_the_fleet_is_the_view_from_the_store_at_the_same_revision() {
        let store: Arc<dyn Store> = match EmbeddedStore::open_in_memory().await {
            Ok(s) => s,
            Err(e) => panic!("store: {e}"),
        };
        let (fleet, view) = shoal_fleet::start(store.clone(), std::future::pending());
        tokio::spawn(view);
        let addr = "127.0.0.1:8500".parse().unwrap_or_else(|e| panic!("{e}"));
        let plain = ConsulState::new(store.clone(), "n1", addr);
        let with = ConsulState::new(store.clone(), "n1", addr).with_fleet(fleet);

        let mut web = InstanceRecord::new("web-1", "web", "1", "n1", "127.0.0.1", 4001);
        let put = |key: String, value: Vec<u8>| {
            let store = store.clone();
            async move {
                store
                    .put(&key, value, 0)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"))
            }
        };
        put(catalog_key("web", "web-1"), encode(&web)).await;
        let def = ServiceDef {
            id: "ext-1".into(),
            name: "ext".into(),
            tags: vec![],
            address: String::new(),
            port: 9000,
            meta: BTreeMap::new(),
            weights: (1, 1),
            enable_tag_override: false,
            registered_ms: 0,
        };
        put(service_key("ext-1"), encode(&def)).await;
        for round in 0..20 {
            // Catalog, registration and unrelated (kv) writes, interleaved.
            web.health = if round % 2 == 0 {
                Health::Passing
            } else {
                Health::Critical
            };
            put(catalog_key("web", "web-1"), encode(&web)).await;
            put(format!("kv/app/{round}"), b"x".to_vec()).await;
            let a = View::read(&with).await.unwrap_or_else(|e| panic!("{e}"));
            let b = View::read(&plain).await.unwrap_or_else(|e| panic!("{e}"));
            same(&a, &b);
            let status = a
                .checks
                .iter()
                .find(|c| c.id == "service:web-1")
                .map(|c| c.status);
            let want = if round % 2 == 0 {
                Status::Passing
            } else {
                Status::Critical
            };
            assert_eq!(status, Some(want), "round {round}: reads its own write");
        }
    }
}
