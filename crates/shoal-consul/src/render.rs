//! Consul's JSON shapes for nodes, service instances (agent, catalog and health forms) and
//! checks, rendered from a [`View`].

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::check_model::{CheckKind, TlsDef};
use crate::duration::format_go_duration;
use crate::state::DATACENTER;
use crate::view::{CheckView, Instance, NodeView, View};

fn weights(i: &Instance) -> Value {
    json!({ "Passing": i.weights.0, "Warning": i.weights.1 })
}

/// This agent's node metadata: only the key Consul sets itself (`node-meta` matches on it).
pub fn node_meta() -> BTreeMap<String, String> {
    [("consul-network-segment".to_owned(), String::new())].into()
}

/// A node (`/v1/catalog/nodes`, the `Node` of health entries).
pub fn node_view(n: &NodeView) -> Value {
    json!({
        "ID": n.id, "Node": n.name, "Address": n.address, "Datacenter": n.datacenter,
        "TaggedAddresses": n.tagged_addresses, "Meta": n.meta,
        "CreateIndex": n.create_index, "ModifyIndex": n.modify_index,
    })
}

/// The agent form (`/v1/agent/services`, the `Service` of health entries).
pub fn agent_service(i: &Instance) -> Value {
    let mut s = json!({
        "ID": i.id, "Service": i.name, "Tags": i.tags, "Meta": i.meta, "Port": i.port,
        "Address": i.address, "TaggedAddresses": i.tagged_addresses, "Weights": weights(i),
        "EnableTagOverride": i.enable_tag_override, "Datacenter": DATACENTER,
    });
    omit_empty(&mut s, "TaggedAddresses");
    s
}

/// Drops `field` when it is an empty object, as Consul's `omitempty` does.
fn omit_empty(v: &mut Value, field: &str) {
    if let Value::Object(m) = v {
        if m.get(field)
            .is_some_and(|f| f.as_object().is_some_and(|o| o.is_empty()))
        {
            m.remove(field);
        }
    }
}

/// The health form of a service (`Service` in `/v1/health/service`), with indexes.
pub fn health_service(i: &Instance) -> Value {
    let mut s = agent_service(i);
    if let Value::Object(m) = &mut s {
        m.remove("Datacenter");
        m.insert("CreateIndex".into(), json!(i.create_index));
        m.insert("ModifyIndex".into(), json!(i.modify_index));
    }
    s
}

/// The catalog form (`/v1/catalog/service/<name>`).
pub fn catalog_service(v: &View, i: &Instance) -> Value {
    let n = v.node_of(i);
    let mut s = json!({
        "ID": n.id, "Node": n.name, "Address": n.address, "Datacenter": n.datacenter,
        "TaggedAddresses": n.tagged_addresses, "NodeMeta": n.meta,
        "ServiceKind": "", "ServiceID": i.id, "ServiceName": i.name, "ServiceTags": i.tags,
        "ServiceAddress": i.address, "ServiceTaggedAddresses": i.tagged_addresses,
        "ServiceWeights": weights(i), "ServiceMeta": i.meta,
        "ServicePort": i.port, "ServiceEnableTagOverride": i.enable_tag_override,
        "ServiceProxy": { "MeshGateway": {}, "Expose": {} }, "ServiceConnect": {},
        "CreateIndex": i.create_index, "ModifyIndex": i.modify_index,
    });
    omit_empty(&mut s, "ServiceTaggedAddresses");
    s
}

fn definition(c: &CheckView) -> Value {
    if let Some(d) = &c.definition {
        return d.clone();
    }
    let Some(d) = &c.def else { return json!({}) };
    let mut m = Map::new();
    match &d.kind {
        CheckKind::Http {
            url,
            method,
            body,
            tls,
        } => {
            m.insert("HTTP".into(), json!(url));
            m.insert("Header".into(), json!(d.header));
            if !method.is_empty() {
                m.insert("Method".into(), json!(method));
            }
            if !body.is_empty() {
                m.insert("Body".into(), json!(body));
            }
            tls_fields(&mut m, tls);
        }
        CheckKind::Tcp { addr } => {
            m.insert("TCP".into(), json!(addr));
        }
        CheckKind::Grpc {
            target,
            use_tls,
            tls,
        } => {
            m.insert("GRPC".into(), json!(target));
            m.insert("GRPCUseTLS".into(), json!(use_tls));
            tls_fields(&mut m, tls);
        }
        CheckKind::H2ping { addr, use_tls, tls } => {
            m.insert("H2PING".into(), json!(addr));
            m.insert("H2PingUseTLS".into(), json!(use_tls));
            tls_fields(&mut m, tls);
        }
        CheckKind::Alias { service_id, node } => {
            if !service_id.is_empty() {
                m.insert("AliasService".into(), json!(service_id));
            }
            if !node.is_empty() {
                m.insert("AliasNode".into(), json!(node));
            }
        }
        CheckKind::Script { args } => {
            m.insert("ScriptArgs".into(), json!(args));
        }
        CheckKind::Ttl | CheckKind::Maintenance => {}
    }
    let dur = |ms: u64| format_go_duration(std::time::Duration::from_millis(ms));
    if d.interval_ms > 0 {
        m.insert("Interval".into(), json!(dur(d.interval_ms)));
        m.insert("Timeout".into(), json!(dur(d.timeout_ms)));
    }
    if d.ttl_ms > 0 {
        m.insert("TTL".into(), json!(dur(d.ttl_ms)));
    }
    if let Some(after) = d.deregister_after_ms {
        m.insert("DeregisterCriticalServiceAfter".into(), json!(dur(after)));
    }
    Value::Object(m)
}

fn tls_fields(m: &mut Map<String, Value>, tls: &TlsDef) {
    if tls.skip_verify {
        m.insert("TLSSkipVerify".into(), json!(true));
    }
    if !tls.server_name.is_empty() {
        m.insert("TLSServerName".into(), json!(tls.server_name));
    }
}

/// A check (`/v1/health/checks`, `/v1/agent/checks`, `Checks` of health entries).
pub fn check(_v: &View, c: &CheckView) -> Value {
    let (interval, timeout) = match &c.def {
        Some(d) if d.interval_ms > 0 => (
            format_go_duration(std::time::Duration::from_millis(d.interval_ms)),
            format_go_duration(std::time::Duration::from_millis(d.timeout_ms)),
        ),
        _ => (String::new(), String::new()),
    };
    json!({
        "Node": c.node, "CheckID": c.id, "Name": c.name, "Status": c.status.as_str(),
        "Notes": c.notes, "Output": c.output, "ServiceID": c.service_id,
        "ServiceName": c.service_name, "ServiceTags": c.service_tags, "Type": c.type_name,
        "Interval": interval, "Timeout": timeout, "ExposedPort": 0,
        "Definition": definition(c), "CreateIndex": c.create_index, "ModifyIndex": c.modify_index,
    })
}

/// One entry of `/v1/health/service/<name>`.
pub fn health_entry(v: &View, i: &Instance) -> Value {
    let checks: Vec<Value> = v.checks_of(i).into_iter().map(|c| check(v, c)).collect();
    json!({ "Node": node_view(v.node_of(i)), "Service": health_service(i), "Checks": checks })
}
