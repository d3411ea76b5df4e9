//! One consistent read of everything the catalog, health and agent endpoints show: the
//! supervised instances of the Shoal catalog and the services and checks registered through
//! the agent API, as Consul service instances and checks on this node.

use std::collections::BTreeMap;

use shoal_catalog::{decode, Health, InstanceRecord, InstanceState, CATALOG_PREFIX};
use shoal_store::{Op, OpResponse, Revision, Store, Txn};

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

async fn read_from(store: &dyn Store, st: &ConsulState) -> Result<View> {
    let txn = Txn::new().and_then([
        Op::range(CATALOG_PREFIX),
        Op::range(SERVICE_PREFIX),
        Op::range(CHECK_PREFIX),
    ]);
    let resp = store.txn(txn).await?;
    let mut ranges = resp.responses.into_iter().map(|r| match r {
        OpResponse::Range(kvs) => kvs,
        _ => Vec::new(),
    });
    let (catalog, services, checks) = (
        ranges.next().unwrap_or_default(),
        ranges.next().unwrap_or_default(),
        ranges.next().unwrap_or_default(),
    );
    let mut view = View {
        revision: resp.revision,
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
    for kv in &catalog {
        let Ok(r) = decode::<InstanceRecord>(&kv.key, &kv.value) else {
            continue;
        };
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
            create_index: kv.create_revision,
            modify_index: kv.mod_revision,
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
            create_index: kv.create_revision,
            modify_index: kv.mod_revision,
        });
    }
    for kv in &services {
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
    for kv in &checks {
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
    Ok(view)
}
