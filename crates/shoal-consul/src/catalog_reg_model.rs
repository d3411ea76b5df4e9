//! The pure side of `PUT /v1/catalog/register` and `/v1/catalog/deregister`: bodies parsed
//! into node, service and check records of one (external) node, how a request changes that
//! node's records, and the Shoal catalog records that mirror its services for the gateway
//! and DNS (address = the service's or else the node's; health = the worst of the service's
//! and the node's checks).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use shoal_catalog::{catalog_key, Health, InstanceRecord, Weights};

use crate::body::Fields;
use crate::check_model::{worst, Status};
use crate::error::{ConsulError, Result};

/// A node registered through the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRec {
    pub name: String,
    /// Consul's node ID (a UUID, or empty).
    pub id: String,
    pub address: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
}

/// A service instance on a catalog node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRec {
    pub node: String,
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    /// Empty: the node's address.
    pub address: String,
    /// Consul's `{ "lan": { "Address": .., "Port": .. } }`, kept as sent.
    pub tagged_addresses: Value,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub weights: (u64, u64),
    pub enable_tag_override: bool,
}

/// A check on a catalog node: its status is whatever the caller last wrote (never run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRec {
    pub node: String,
    pub id: String,
    pub name: String,
    pub status: Status,
    pub notes: String,
    pub output: String,
    /// Empty for a node check.
    pub service_id: String,
    pub type_name: String,
    /// `Definition` as sent, Consul's field names (consul-esm reads it back to run the check).
    pub definition: Value,
}

/// What one register request carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub node: NodeRec,
    pub skip_node_update: bool,
    pub service: Option<ServiceRec>,
    pub checks: Vec<CheckRec>,
}

/// What one deregister request removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deregistration {
    /// The node with every service and check on it.
    Node(String),
    /// One service (and its checks).
    Service { node: String, id: String },
    /// One check.
    Check { node: String, id: String },
}

impl Deregistration {
    pub fn node(&self) -> &str {
        match self {
            Deregistration::Node(n) => n,
            Deregistration::Service { node, .. } | Deregistration::Check { node, .. } => node,
        }
    }
}

/// Everything stored for one node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeState {
    pub node: Option<NodeRec>,
    pub services: BTreeMap<String, ServiceRec>,
    pub checks: BTreeMap<String, CheckRec>,
}

/// Definition fields echoed back, canonical name → Consul's name.
const DEFINITION_FIELDS: &[(&str, &str)] = &[
    ("http", "HTTP"),
    ("tcp", "TCP"),
    ("udp", "UDP"),
    ("grpc", "GRPC"),
    ("grpcusetls", "GRPCUseTLS"),
    ("method", "Method"),
    ("header", "Header"),
    ("body", "Body"),
    ("tlsservername", "TLSServerName"),
    ("tlsskipverify", "TLSSkipVerify"),
    ("interval", "Interval"),
    ("intervalduration", "IntervalDuration"),
    ("timeout", "Timeout"),
    ("timeoutduration", "TimeoutDuration"),
    (
        "deregistercriticalserviceafter",
        "DeregisterCriticalServiceAfter",
    ),
    (
        "deregistercriticalserviceafterduration",
        "DeregisterCriticalServiceAfterDuration",
    ),
];

fn no_slash(what: &str, s: &str) -> Result<()> {
    if s.contains('/') {
        return Err(ConsulError::bad(format!(
            "{what} {s:?} must not contain '/'"
        )));
    }
    Ok(())
}

/// The refusal for requests about the agent's own node: its services belong to the agent API.
fn refuse_local(node: &str, local: &str) -> Result<()> {
    if node == local {
        return Err(ConsulError::bad(format!(
            "node {node:?} is this agent's node: register its services with \
             /v1/agent/service/register and remove them with /v1/agent/service/deregister \
             (Consul's anti-entropy would undo catalog writes to it)"
        )));
    }
    Ok(())
}

fn required_node(f: &Fields<'_>) -> Result<String> {
    let node = f
        .string("node")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ConsulError::bad("Must provide node"))?;
    no_slash("node", &node)?;
    Ok(node)
}

fn check_dc(f: &Fields<'_>, dc: &str) -> Result<()> {
    match f.string("datacenter")? {
        Some(d) if !d.is_empty() && d != dc => Err(ConsulError::bad(format!(
            "No path to datacenter {d:?}: this agent serves only {dc:?}"
        ))),
        _ => Ok(()),
    }
}

/// Parses a register body (key-normalised).
pub fn parse_register(body: &Value, local: &str, dc: &str) -> Result<Registration> {
    let f = Fields::new(body, "registration")?;
    let name = required_node(&f)?;
    refuse_local(&name, local)?;
    check_dc(&f, dc)?;
    let skip_node_update = f.bool("skipnodeupdate")?.unwrap_or(false);
    let address = f.string("address")?.unwrap_or_default();
    if address.is_empty() && !skip_node_update {
        return Err(ConsulError::bad(
            "Must provide address if SkipNodeUpdate is not set",
        ));
    }
    let node = NodeRec {
        id: f.string("id")?.unwrap_or_default(),
        tagged_addresses: f.string_map("taggedaddresses")?,
        meta: f.string_map("nodemeta")?,
        address,
        name,
    };
    let service = match f.raw("service") {
        Value::Null => None,
        Value::Object(m) if m.is_empty() => None,
        v => Some(parse_service(v, &node.name)?),
    };
    let mut raw: Vec<&Value> = Vec::new();
    if !matches!(f.raw("check"), Value::Null) {
        raw.push(f.raw("check"));
    }
    match f.raw("checks") {
        Value::Null => {}
        Value::Array(items) => raw.extend(items),
        _ => {
            return Err(ConsulError::bad(
                "Request decode failed: registration.checks must be a list",
            ))
        }
    }
    let checks = raw
        .into_iter()
        .map(|v| parse_check(v, &node.name))
        .collect::<Result<Vec<_>>>()?;
    Ok(Registration {
        node,
        skip_node_update,
        service,
        checks,
    })
}

fn parse_service(v: &Value, node: &str) -> Result<ServiceRec> {
    let f = Fields::new(v, "service")?;
    let name = f
        .string("service")?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ConsulError::bad("Must provide service name"))?;
    let id = f
        .string("id")?
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| name.clone());
    no_slash("service ID", &id)?;
    no_slash("service name", &name)?;
    let port = f.u64("port")?.unwrap_or(0);
    let port = u16::try_from(port)
        .map_err(|_| ConsulError::bad(format!("Invalid service port {port}: at most 65535")))?;
    let weights = match f.raw("weights") {
        Value::Null => (1, 1),
        w => {
            let wf = Fields::new(w, "service.weights")?;
            (
                wf.u64("passing")?.unwrap_or(1).max(1),
                wf.u64("warning")?.unwrap_or(1),
            )
        }
    };
    Ok(ServiceRec {
        node: node.to_string(),
        tags: f.strings("tags")?,
        address: f.string("address")?.unwrap_or_default(),
        tagged_addresses: f.object("taggedaddresses")?,
        meta: f.string_map("meta")?,
        enable_tag_override: f.bool("enabletagoverride")?.unwrap_or(false),
        port,
        weights,
        id,
        name,
    })
}

fn parse_check(v: &Value, node: &str) -> Result<CheckRec> {
    let f = Fields::new(v, "check")?;
    if let Some(n) = f.string("node")?.filter(|n| !n.is_empty() && n != node) {
        return Err(ConsulError::bad(format!(
            "check node {n:?} does not match the registration's node {node:?}"
        )));
    }
    let name = f.string("name")?.unwrap_or_default();
    let id = f
        .string("checkid")?
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| name.clone());
    if id.is_empty() {
        return Err(ConsulError::bad("Missing check ID: set CheckID or Name"));
    }
    no_slash("check ID", &id)?;
    let status = match f.string("status")?.filter(|s| !s.is_empty()) {
        None => Status::Critical,
        Some(s) => Status::parse(&s)
            .ok_or_else(|| ConsulError::bad(format!("Invalid check status {s:?}")))?,
    };
    let definition = match f.raw("definition") {
        Value::Object(m) => Value::Object(
            DEFINITION_FIELDS
                .iter()
                .filter_map(|(canon, consul)| {
                    m.get(*canon).map(|v| (consul.to_string(), v.clone()))
                })
                .collect(),
        ),
        _ => Value::Object(Map::new()),
    };
    let type_name = match f.string("type")?.filter(|t| !t.is_empty()) {
        Some(t) => t,
        None if definition.get("HTTP").is_some() => "http".into(),
        None if definition.get("TCP").is_some() => "tcp".into(),
        None => String::new(),
    };
    Ok(CheckRec {
        node: node.to_string(),
        name: if name.is_empty() { id.clone() } else { name },
        id,
        status,
        notes: f.string("notes")?.unwrap_or_default(),
        output: f.string("output")?.unwrap_or_default(),
        service_id: f.string("serviceid")?.unwrap_or_default(),
        type_name,
        definition,
    })
}

/// Parses a deregister body: `Node`, and optionally `ServiceID` or `CheckID`.
pub fn parse_deregister(body: &Value, local: &str, dc: &str) -> Result<Deregistration> {
    let f = Fields::new(body, "deregistration")?;
    let node = required_node(&f)?;
    refuse_local(&node, local)?;
    check_dc(&f, dc)?;
    let service = f.string("serviceid")?.filter(|s| !s.is_empty());
    let check = f.string("checkid")?.filter(|s| !s.is_empty());
    Ok(match (service, check) {
        (Some(id), _) => Deregistration::Service { node, id },
        (None, Some(id)) => Deregistration::Check { node, id },
        (None, None) => Deregistration::Node(node),
    })
}

/// The node's records after a registration; a check naming a service that is neither
/// stored nor registered in the same request is refused, as Consul refuses it.
pub fn apply_register(mut s: NodeState, r: Registration) -> Result<NodeState> {
    match (&s.node, r.skip_node_update) {
        (Some(_), true) => {}
        (None, true) if r.node.address.is_empty() => {
            return Err(ConsulError::bad(format!(
                "Must provide address: node {:?} does not exist yet",
                r.node.name
            )))
        }
        _ => s.node = Some(r.node),
    }
    if let Some(svc) = r.service {
        s.services.insert(svc.id.clone(), svc);
    }
    for c in r.checks {
        if !c.service_id.is_empty() && !s.services.contains_key(&c.service_id) {
            return Err(ConsulError::bad(format!(
                "Missing service registration: no service {:?} on node {:?} for check {:?}",
                c.service_id, c.node, c.id
            )));
        }
        s.checks.insert(c.id.clone(), c);
    }
    Ok(s)
}

/// The node's records after a deregistration (removing something absent is not an error).
pub fn apply_deregister(mut s: NodeState, d: &Deregistration) -> NodeState {
    match d {
        Deregistration::Node(_) => NodeState::default(),
        Deregistration::Service { id, .. } => {
            s.services.remove(id);
            s.checks.retain(|_, c| &c.service_id != id);
            s
        }
        Deregistration::Check { id, .. } => {
            s.checks.remove(id);
            s
        }
    }
}

/// The instance id of a mirrored catalog service: unique across nodes.
pub fn mirror_id(node: &str, service_id: &str) -> String {
    format!("{service_id}@{node}")
}

/// The Shoal catalog records (by key) that mirror the node's services.
pub fn mirror(s: &NodeState) -> BTreeMap<String, InstanceRecord> {
    let Some(node) = &s.node else {
        return BTreeMap::new();
    };
    s.services
        .values()
        .map(|svc| {
            let checks: Vec<&CheckRec> = s
                .checks
                .values()
                .filter(|c| c.service_id.is_empty() || c.service_id == svc.id)
                .collect();
            let status = worst(checks.iter().map(|c| c.status));
            let id = mirror_id(&node.name, &svc.id);
            let address = match svc.address.as_str() {
                "" => node.address.clone(),
                a => a.to_string(),
            };
            let version = svc.tags.first().cloned().unwrap_or_else(|| "1".into());
            let mut r = InstanceRecord::new(&id, &svc.name, version, &node.name, address, svc.port);
            r.external = true;
            r.weights = Some(Weights::clamped(svc.weights.0, svc.weights.1));
            r.tags = svc.tags.clone();
            r.health = match status {
                Status::Passing => Health::Passing,
                Status::Warning => Health::Warning,
                Status::Critical => Health::Critical,
            };
            r.health_output = checks
                .iter()
                .find(|c| c.status == status)
                .map(|c| c.output.clone())
                .unwrap_or_default();
            (catalog_key(&svc.name, &id), r)
        })
        .collect()
}

#[cfg(test)]
#[path = "catalog_reg_tests.rs"]
mod tests;
