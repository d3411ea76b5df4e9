//! Tests of the alias verdict: worst of the aliased service's and node's checks, Consul's
//! texts, missing services, remote nodes.

use std::collections::BTreeMap;

use super::*;
use crate::view::{Instance, NodeView};

fn node(name: &str) -> NodeView {
    NodeView {
        name: name.into(),
        id: String::new(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        tagged_addresses: BTreeMap::new(),
        meta: BTreeMap::new(),
        create_index: 1,
        modify_index: 1,
    }
}

fn instance(node: &str, id: &str) -> Instance {
    Instance {
        id: id.into(),
        name: id.into(),
        node: node.into(),
        tags: Vec::new(),
        tagged_addresses: serde_json::json!({}),
        address: String::new(),
        port: 1,
        meta: BTreeMap::new(),
        weights: (1, 1),
        enable_tag_override: false,
        external: true,
        create_index: 1,
        modify_index: 1,
    }
}

fn check(node: &str, id: &str, service: &str, status: Status, output: &str) -> CheckView {
    CheckView {
        node: node.into(),
        id: id.into(),
        name: format!("{id} name"),
        status,
        notes: String::new(),
        output: output.into(),
        service_id: service.into(),
        service_name: service.into(),
        service_tags: Vec::new(),
        type_name: String::new(),
        def: None,
        definition: None,
        create_index: 1,
        modify_index: 1,
    }
}

fn view(checks: Vec<CheckView>) -> View {
    View {
        revision: 1,
        node: "me".into(),
        nodes: vec![node("me"), node("far")],
        local: node("me"),
        instances: vec![
            instance("me", "web"),
            instance("me", "db"),
            instance("far", "api"),
        ],
        checks,
    }
}

#[test]
fn the_aliased_service_decides() {
    use Status::*;
    let v = view(vec![
        check("me", "serfHealth", "", Passing, "alive"),
        check("me", "web-http", "web", Passing, "ok"),
        check("me", "db-ttl", "db", Critical, "down"),
        check("me", "alias", "sidecar", Critical, ""),
    ]);
    assert_eq!(
        verdict(&v, "alias", "web", ""),
        (Passing, "All checks passing.".into())
    );
    assert_eq!(
        verdict(&v, "alias", "db", ""),
        (
            Critical,
            "Aliased check \"db-ttl name\" failing: down".into()
        )
    );
    // A service without checks passes; one that does not exist is critical.
    let v2 = view(vec![]);
    assert_eq!(
        verdict(&v2, "alias", "web", ""),
        (Passing, "No checks found.".into())
    );
    assert_eq!(
        verdict(&v2, "alias", "gone", ""),
        (Critical, "Service gone could not be found on node ".into())
    );
}

#[test]
fn node_checks_count_and_critical_beats_warning() {
    use Status::*;
    let v = view(vec![
        check("me", "mem", "", Warning, "85%"),
        check("me", "web-http", "web", Passing, "ok"),
    ]);
    assert_eq!(
        verdict(&v, "alias", "web", ""),
        (Warning, "Aliased check \"mem name\" failing: 85%".into())
    );
    let v = view(vec![
        check("me", "mem", "", Warning, "85%"),
        check("me", "web-http", "web", Critical, "refused"),
    ]);
    assert_eq!(verdict(&v, "alias", "web", "").0, Critical);
    // The alias never counts itself.
    let v = view(vec![check("me", "alias", "", Critical, "")]);
    assert_eq!(verdict(&v, "alias", "web", "").0, Passing);
}

#[test]
fn remote_nodes_and_node_aliases() {
    use Status::*;
    let v = view(vec![
        check("far", "serfHealth", "", Critical, "Agent not live"),
        check("far", "api-http", "api", Passing, "ok"),
        check("me", "mem", "", Critical, "oom"),
    ]);
    // Another node's Serf health counts; this node's checks do not.
    assert_eq!(verdict(&v, "a", "api", "far").0, Critical);
    assert_eq!(verdict(&v, "a", "", "far").0, Critical);
    assert_eq!(
        verdict(&v, "a", "", "nowhere"),
        (Critical, "Node nowhere could not be found".into())
    );
    let v = view(vec![check("far", "api-http", "api", Passing, "ok")]);
    assert_eq!(verdict(&v, "a", "api", "far").0, Passing);
    assert_eq!(
        verdict(&v, "a", "", "far"),
        (Passing, "No checks found.".into())
    );
}
