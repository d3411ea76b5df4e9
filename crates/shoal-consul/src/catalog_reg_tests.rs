//! Tests of the catalog registration model: parsing, applying, mirroring.

use serde_json::json;

use super::*;
use crate::body::normalize;

fn reg(v: Value) -> Result<Registration> {
    parse_register(&normalize(v), "me", "dc1")
}

fn esm_body() -> Value {
    json!({
        "Node": "ext-db", "Address": "10.0.0.7", "Datacenter": "dc1",
        "NodeMeta": {"external-node": "true"}, "TaggedAddresses": {"lan": "10.0.0.7"},
        "Service": {"ID": "db-1", "Service": "db", "Tags": ["primary", "v2"], "Port": 5432,
                    "Meta": {"Team_X": "y"}, "Weights": {"Passing": 3, "Warning": 1}},
        "Checks": [
            {"CheckID": "db-alive", "Name": "db alive", "Status": "passing", "ServiceID": "db-1",
             "Definition": {"HTTP": "http://10.0.0.7:8008/health", "Interval": "10s", "Header": {"X-A": ["1"]}}},
            {"Node": "ext-db", "CheckID": "externalNodeHealth", "Status": "passing"}
        ]
    })
}

#[test]
fn a_consul_esm_style_body_parses() {
    let r = reg(esm_body()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (r.node.name.as_str(), r.node.address.as_str()),
        ("ext-db", "10.0.0.7")
    );
    assert_eq!(
        r.node.meta.get("external-node").map(String::as_str),
        Some("true")
    );
    let svc = r.service.as_ref().unwrap_or_else(|| panic!("service"));
    assert_eq!(
        (svc.id.as_str(), svc.name.as_str(), svc.port),
        ("db-1", "db", 5432)
    );
    assert_eq!(svc.weights, (3, 1));
    assert_eq!(svc.meta.get("Team_X").map(String::as_str), Some("y"));
    assert_eq!(r.checks.len(), 2);
    assert_eq!(r.checks[0].type_name, "http");
    assert_eq!(
        r.checks[0].definition,
        json!({"HTTP": "http://10.0.0.7:8008/health", "Interval": "10s", "Header": {"X-A": ["1"]}})
    );
    assert_eq!(r.checks[1].name, "externalNodeHealth");
    assert_eq!(r.checks[1].status, Status::Passing);
}

#[test]
fn bad_bodies_are_refused() {
    let err = |v: Value| reg(v).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err(json!({"Address": "1.2.3.4"})).contains("Must provide node"));
    assert!(err(json!({"Node": "x"})).contains("Must provide address"));
    assert!(err(json!({"Node": "me", "Address": "1.2.3.4"})).contains("agent's node"));
    assert!(err(json!({"Node": "x", "Address": "a", "Datacenter": "dc2"})).contains("dc2"));
    assert!(
        err(json!({"Node": "x", "Address": "a", "Service": {"Port": 1}})).contains("service name")
    );
    assert!(
        err(json!({"Node": "x", "Address": "a", "Check": {"Node": "y", "CheckID": "c"}}))
            .contains("does not match")
    );
    assert!(
        err(json!({"Node": "x", "Address": "a", "Check": {"CheckID": "c", "Status": "up"}}))
            .contains("Invalid check status")
    );
    assert!(err(json!({"Node": "a/b", "Address": "a"})).contains("'/'"));
    // SkipNodeUpdate needs no address (the node must exist: checked when applied).
    assert!(reg(json!({"Node": "x", "SkipNodeUpdate": true})).is_ok());
}

#[test]
fn deregistration_forms() {
    let d = |v: Value| parse_deregister(&normalize(v), "me", "dc1").ok();
    assert_eq!(
        d(json!({"Node": "n"})),
        Some(Deregistration::Node("n".into()))
    );
    assert_eq!(
        d(json!({"node": "n", "serviceid": "s"})),
        Some(Deregistration::Service {
            node: "n".into(),
            id: "s".into()
        })
    );
    assert_eq!(
        d(json!({"Node": "n", "CheckID": "c"})),
        Some(Deregistration::Check {
            node: "n".into(),
            id: "c".into()
        })
    );
    assert_eq!(d(json!({"ServiceID": "s"})), None);
    assert_eq!(d(json!({"Node": "me"})), None);
}

fn applied() -> NodeState {
    let r = reg(esm_body()).unwrap_or_else(|e| panic!("{e}"));
    apply_register(NodeState::default(), r).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn registering_and_deregistering_change_one_node() {
    let s = applied();
    assert!(s.node.is_some() && s.services.len() == 1 && s.checks.len() == 2);
    // SkipNodeUpdate keeps the stored node; a status update replaces the check.
    let upd = reg(json!({"Node": "ext-db", "SkipNodeUpdate": true, "Address": "9.9.9.9",
        "Check": {"CheckID": "db-alive", "ServiceID": "db-1", "Status": "critical", "Output": "down"}}))
    .unwrap_or_else(|e| panic!("{e}"));
    let s2 = apply_register(s.clone(), upd).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s2.node.as_ref().map(|n| n.address.as_str()),
        Some("10.0.0.7")
    );
    assert_eq!(s2.checks["db-alive"].status, Status::Critical);
    // A check for a service the node does not have is refused.
    let orphan = reg(json!({"Node": "ext-db", "Address": "a",
        "Check": {"CheckID": "c", "ServiceID": "nope"}}))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(apply_register(s.clone(), orphan).is_err());
    // SkipNodeUpdate on an unknown node without an address is refused.
    let skip =
        reg(json!({"Node": "new", "SkipNodeUpdate": true})).unwrap_or_else(|e| panic!("{e}"));
    assert!(apply_register(NodeState::default(), skip).is_err());
    // Deregistering a service takes its checks; the node check stays.
    let d = Deregistration::Service {
        node: "ext-db".into(),
        id: "db-1".into(),
    };
    let s3 = apply_deregister(s.clone(), &d);
    assert!(s3.services.is_empty());
    assert_eq!(
        s3.checks.keys().collect::<Vec<_>>(),
        vec!["externalNodeHealth"]
    );
    assert_eq!(
        apply_deregister(s, &Deregistration::Node("ext-db".into())),
        NodeState::default()
    );
}

#[test]
fn the_mirror_uses_the_node_address_and_the_worst_check() {
    let mut s = applied();
    let m = mirror(&s);
    let r = m
        .get("shoal/catalog/db/db-1@ext-db")
        .unwrap_or_else(|| panic!("mirrored: {m:?}"));
    assert_eq!(
        (
            r.address.as_str(),
            r.port,
            r.version.as_str(),
            r.node.as_str()
        ),
        ("10.0.0.7", 5432, "primary", "ext-db")
    );
    assert!(r.external && r.health == Health::Passing);
    // A failing node check makes every service on the node critical.
    if let Some(c) = s.checks.get_mut("externalNodeHealth") {
        c.status = Status::Critical;
        c.output = "node down".into();
    }
    let r = mirror(&s)
        .into_values()
        .next()
        .unwrap_or_else(|| panic!("one"));
    assert_eq!(
        (r.health, r.health_output.as_str()),
        (Health::Critical, "node down")
    );
    // The service's own address wins; no node, no mirror.
    if let Some(svc) = s.services.get_mut("db-1") {
        svc.address = "10.0.0.8".into();
    }
    let r = mirror(&s)
        .into_values()
        .next()
        .unwrap_or_else(|| panic!("one"));
    assert_eq!(r.address, "10.0.0.8");
    s.node = None;
    assert!(mirror(&s).is_empty());
}
