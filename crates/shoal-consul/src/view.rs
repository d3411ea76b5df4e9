//! One consistent read of everything the catalog, health and agent endpoints show: the
//! supervised instances of the Shoal catalog (from the fleet view, paired with the
//! registrations at one revision) and the services and checks registered through the
//! agent API, as Consul service instances and checks on this node; plus the nodes, services
//! and checks registered through the catalog API (other nodes).

use std::collections::BTreeMap;

use std::time::Duration;

use shoal_catalog::{catalog_key, decode, Health, InstanceRecord, InstanceState, CATALOG_PREFIX};
use shoal_store::{KeyValue, Op, OpResponse, Revision, Store, Txn};

use crate::blocking::Scope;
use crate::catalog_reg::group;
use crate::check_model::{CheckDef, CheckRecord, Status};
use crate::error::Result;
use crate::register::ServiceDef;
use crate::state::{
    ConsulState, CATALOG_CHECK_PREFIX, CATALOG_NODE_PREFIX, CATALOG_SERVICE_PREFIX, CHECK_PREFIX,
    DATACENTER, SERVICE_PREFIX,
};

/// A node as Consul shows it: this agent's, or one registered through the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub id: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub create_index: i64,
    pub modify_index: i64,
}

/// A service instance as Consul shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub id: String,
    pub name: String,
    /// The node it runs on.
    pub node: String,
    pub tags: Vec<String>,
    /// Consul's service `TaggedAddresses` (an object).
    pub tagged_addresses: serde_json::Value,
    /// The service's own address; empty = the node's.
    pub address: String,
    pub port: u16,
    pub meta: BTreeMap<String, String>,
    pub weights: (u64, u64),
    pub enable_tag_override: bool,
    /// Registered through the agent or catalog API (false: supervised by Shoal).
    pub external: bool,
    pub create_index: i64,
    pub modify_index: i64,
}

/// A check as Consul shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckView {
    /// The node it belongs to.
    pub node: String,
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
    /// A catalog check's `Definition` as registered (agent checks render theirs from `def`).
    pub definition: Option<serde_json::Value>,
    pub create_index: i64,
    pub modify_index: i64,
}

/// The whole view at one store revision.
#[derive(Debug, Clone)]
pub struct View {
    pub revision: Revision,
    pub node: String,
    /// This agent's node first, then the catalog nodes by name.
    pub nodes: Vec<NodeView>,
    /// This agent's node (also `nodes[0]`).
    pub local: NodeView,
    pub instances: Vec<Instance>,
    pub checks: Vec<CheckView>,
}

/// The keys a view reads, for blocking queries.
pub fn scope() -> Scope {
    Scope::Prefixes(vec![
        CATALOG_PREFIX.into(),
        SERVICE_PREFIX.into(),
        CHECK_PREFIX.into(),
        CATALOG_NODE_PREFIX.into(),
        CATALOG_SERVICE_PREFIX.into(),
        CATALOG_CHECK_PREFIX.into(),
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

    /// Checks that apply to an instance: its own and its node's.
    pub fn checks_of(&self, inst: &Instance) -> Vec<&CheckView> {
        self.checks
            .iter()
            .filter(|c| c.node == inst.node && (c.service_id.is_empty() || c.service_id == inst.id))
            .collect()
    }

    /// Whether an instance runs on this agent's node (what `/v1/agent/*` shows).
    pub fn is_local(&self, inst: &Instance) -> bool {
        inst.node == self.node
    }

    /// A node by name.
    pub fn node_named(&self, name: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node an instance runs on (this agent's when unknown).
    pub fn node_of(&self, inst: &Instance) -> &NodeView {
        self.node_named(&inst.node).unwrap_or(&self.local)
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
            let (revision, mut ranges) = read_ranges(store, REGISTERED).await?;
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
            let reg = Registered::from_ranges(&mut ranges);
            return Ok(build(st, revision, catalog, &reg));
        }
    }
    let (revision, mut ranges) =
        read_ranges(store, [CATALOG_PREFIX].into_iter().chain(REGISTERED)).await?;
    let catalog = ranges.next().unwrap_or_default();
    let reg = Registered::from_ranges(&mut ranges);
    let catalog = catalog
        .iter()
        .filter_map(|kv| {
            let r = decode::<InstanceRecord>(&kv.key, &kv.value).ok()?;
            Some((r, kv.create_revision, kv.mod_revision))
        })
        .collect();
    Ok(build(st, revision, catalog, &reg))
}

/// The prefixes in one read-only transaction: its revision and each prefix's keys.
async fn read_ranges(
    store: &dyn Store,
    prefixes: impl IntoIterator<Item = &str>,
) -> Result<(Revision, impl Iterator<Item = Vec<KeyValue>>)> {
    let txn = Txn::new().and_then(prefixes.into_iter().map(Op::range));
    let resp = store.txn(txn).await?;
    let ranges = resp.responses.into_iter().map(|r| match r {
        OpResponse::Range(kvs) => kvs,
        _ => Vec::new(),
    });
    Ok((resp.revision, ranges))
}

/// The registrations a view reads besides the Shoal catalog, in this order.
const REGISTERED: [&str; 5] = [
    SERVICE_PREFIX,
    CHECK_PREFIX,
    CATALOG_NODE_PREFIX,
    CATALOG_SERVICE_PREFIX,
    CATALOG_CHECK_PREFIX,
];

/// What [`REGISTERED`] read: agent services and checks, catalog nodes, services, checks.
#[derive(Default)]
struct Registered {
    services: Vec<KeyValue>,
    checks: Vec<KeyValue>,
    nodes: Vec<KeyValue>,
    node_services: Vec<KeyValue>,
    node_checks: Vec<KeyValue>,
}

impl Registered {
    fn from_ranges(r: &mut impl Iterator<Item = Vec<KeyValue>>) -> Self {
        let mut next = || r.next().unwrap_or_default();
        Registered {
            services: next(),
            checks: next(),
            nodes: next(),
            node_services: next(),
            node_checks: next(),
        }
    }
}

/// This agent's node.
fn local_node(st: &ConsulState) -> NodeView {
    let a = st.address.to_string();
    let tagged = ["lan", "lan_ipv4", "wan", "wan_ipv4"]
        .into_iter()
        .map(|k| (k.to_string(), a.clone()))
        .collect();
    NodeView {
        name: st.node.clone(),
        id: st.node_id(),
        address: a,
        datacenter: DATACENTER.to_string(),
        tagged_addresses: tagged,
        meta: crate::render::node_meta(),
        create_index: 1,
        modify_index: 1,
    }
}

fn build(st: &ConsulState, revision: Revision, catalog: Vec<Supervised>, reg: &Registered) -> View {
    let (services, checks) = (&reg.services, &reg.checks);
    let local = local_node(st);
    let mut view = View {
        revision,
        node: st.node.clone(),
        nodes: vec![local.clone()],
        local,
        instances: Vec::new(),
        checks: vec![CheckView {
            node: st.node.clone(),
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
            definition: None,
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
            node: st.node.clone(),
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
            definition: None,
            create_index,
            modify_index,
        });
        view.instances.push(Instance {
            id: r.id,
            name: r.service,
            node: st.node.clone(),
            tagged_addresses: serde_json::json!({}),
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
            node: st.node.clone(),
            tagged_addresses: s.tagged_addresses,
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
            .find(|i| i.external && i.node == st.node && i.id == c.def.service_id);
        if !c.def.service_id.is_empty() && owner.is_none() {
            continue;
        }
        view.checks.push(CheckView {
            node: st.node.clone(),
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
            definition: None,
            create_index: kv.create_revision,
            modify_index: kv.mod_revision,
        });
    }
    add_catalog_nodes(&mut view, reg);
    let me = view.node.clone();
    view.instances.sort_by(|a, b| {
        let local = |i: &Instance| i.node != me; // this node's first
        (local(a), &a.node, &a.name, &a.id).cmp(&(local(b), &b.node, &b.name, &b.id))
    });
    view
}

/// Indexes of a key by its key in a range.
fn indexes(kvs: &[KeyValue]) -> BTreeMap<&str, (i64, i64)> {
    kvs.iter()
        .map(|kv| (kv.key.as_str(), (kv.create_revision, kv.mod_revision)))
        .collect()
}

/// The nodes, services and checks registered through the catalog API.
fn add_catalog_nodes(view: &mut View, reg: &Registered) {
    use crate::catalog_reg::{check_key, node_key, service_key};
    let (ni, si, ci) = (
        indexes(&reg.nodes),
        indexes(&reg.node_services),
        indexes(&reg.node_checks),
    );
    for state in group(&reg.nodes, &reg.node_services, &reg.node_checks) {
        let Some(n) = &state.node else { continue };
        let (create_index, modify_index) = ni
            .get(node_key(&n.name).as_str())
            .copied()
            .unwrap_or_default();
        view.nodes.push(NodeView {
            name: n.name.clone(),
            id: n.id.clone(),
            address: n.address.clone(),
            datacenter: DATACENTER.to_string(),
            tagged_addresses: n.tagged_addresses.clone(),
            meta: n.meta.clone(),
            create_index,
            modify_index,
        });
        for s in state.services.values() {
            let (create_index, modify_index) = si
                .get(service_key(&n.name, &s.id).as_str())
                .copied()
                .unwrap_or_default();
            view.instances.push(Instance {
                id: s.id.clone(),
                name: s.name.clone(),
                node: n.name.clone(),
                tags: s.tags.clone(),
                tagged_addresses: s.tagged_addresses.clone(),
                address: s.address.clone(),
                port: s.port,
                meta: s.meta.clone(),
                weights: s.weights,
                enable_tag_override: s.enable_tag_override,
                external: true,
                create_index,
                modify_index,
            });
        }
        for c in state.checks.values() {
            let owner = state.services.get(&c.service_id);
            let (create_index, modify_index) = ci
                .get(check_key(&n.name, &c.id).as_str())
                .copied()
                .unwrap_or_default();
            view.checks.push(CheckView {
                node: n.name.clone(),
                id: c.id.clone(),
                name: c.name.clone(),
                status: c.status,
                notes: c.notes.clone(),
                output: c.output.clone(),
                service_id: c.service_id.clone(),
                service_name: owner.map(|o| o.name.clone()).unwrap_or_default(),
                service_tags: owner.map(|o| o.tags.clone()).unwrap_or_default(),
                type_name: c.type_name.clone(),
                def: None,
                definition: Some(c.definition.clone()),
                create_index,
                modify_index,
            });
        }
    }
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
            tagged_addresses: serde_json::json!({}),
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
