//! The filter over the JSON Shoal renders: every operator and selector kind on
//! services, nodes and checks, list and map semantics, errors with their position,
//! and each schema checked against the rendered shapes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::schema::{self, Shape};
use super::{Filter, FilterError};
use crate::check_model::Status;
use crate::render;
use crate::view::{CheckView, Instance, NodeView, View};

fn instance(id: &str, name: &str, tags: &[&str], meta: &[(&str, &str)], port: u16) -> Instance {
    Instance {
        id: id.into(),
        name: name.into(),
        node: "node-a".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        tagged_addresses: serde_json::json!({}),
        address: String::new(),
        port,
        meta: meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        weights: (3, 1),
        enable_tag_override: id.ends_with('2'),
        external: true,
        create_index: 5,
        modify_index: 6,
    }
}

fn check(id: &str, service: &Instance, status: Status) -> CheckView {
    CheckView {
        node: "node-a".into(),
        id: id.into(),
        name: format!("check {id}"),
        status,
        notes: String::new(),
        output: format!("HTTP GET: {}", status.as_str()),
        service_id: service.id.clone(),
        service_name: service.name.clone(),
        service_tags: service.tags.clone(),
        type_name: "ttl".into(),
        def: None,
        definition: None,
        create_index: 7,
        modify_index: 8,
    }
}

/// Two `web` instances (one passing, one critical), one `db`, and the node check.
fn view() -> View {
    let web1 = instance(
        "web-1",
        "web",
        &["v1", "blue"],
        &[("env", "prod"), ("team x", "core")],
        8080,
    );
    let web2 = instance("web-2", "web", &["v2"], &[("env", "qa")], 8081);
    let db = instance("db-1", "db", &[], &[], 5432);
    let serf = CheckView {
        node: "node-a".into(),
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
    };
    let local = NodeView {
        name: "node-a".into(),
        id: "00000000-0000-4000-8000-000000000000".into(),
        address: "10.0.0.7".into(),
        datacenter: "dc1".into(),
        tagged_addresses: ["lan", "lan_ipv4", "wan", "wan_ipv4"]
            .map(|k| (k.to_owned(), "10.0.0.7".to_owned()))
            .into(),
        meta: render::node_meta(),
        create_index: 1,
        modify_index: 1,
    };
    View {
        revision: 9,
        node: "node-a".into(),
        nodes: vec![local.clone()],
        local,
        checks: vec![
            serf,
            check("service:web-1", &web1, Status::Passing),
            check("service:web-2", &web2, Status::Critical),
        ],
        instances: vec![db, web1, web2],
    }
}

fn filter(src: &str, shape: &'static Shape) -> Filter {
    Filter::new(src, shape).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn refused(src: &str, shape: &'static Shape) -> FilterError {
    match Filter::new(src, shape) {
        Ok(f) => panic!("{src:?} accepted: {f:?}"),
        Err(e) => e,
    }
}

/// The IDs (under `id_field`) of the entries passing `src`.
fn pick(
    entries: &[Value],
    src: &str,
    shape: &'static Shape,
    id: fn(&Value) -> String,
) -> Vec<String> {
    let f = filter(src, shape);
    entries.iter().filter(|e| f.matches(e)).map(id).collect()
}

fn agent_services() -> Vec<Value> {
    view().instances.iter().map(render::agent_service).collect()
}

fn services(src: &str) -> Vec<String> {
    pick(&agent_services(), src, &schema::AGENT_SERVICE, |v| {
        v["ID"].as_str().unwrap_or("").into()
    })
}

fn catalog(src: &str) -> Vec<String> {
    let v = view();
    let entries: Vec<Value> = v
        .instances
        .iter()
        .map(|i| render::catalog_service(&v, i))
        .collect();
    pick(&entries, src, &schema::CATALOG_SERVICE, |v| {
        v["ServiceID"].as_str().unwrap_or("").into()
    })
}

fn entries(src: &str) -> Vec<String> {
    let v = view();
    let entries: Vec<Value> = v
        .instances
        .iter()
        .map(|i| render::health_entry(&v, i))
        .collect();
    pick(&entries, src, &schema::HEALTH_ENTRY, |v| {
        v["Service"]["ID"].as_str().unwrap_or("").into()
    })
}

fn checks(src: &str) -> Vec<String> {
    let v = view();
    let entries: Vec<Value> = v.checks.iter().map(|c| render::check(&v, c)).collect();
    pick(&entries, src, &schema::CHECK, |v| {
        v["CheckID"].as_str().unwrap_or("").into()
    })
}

fn nodes(src: &str) -> usize {
    let v = view();
    let f = filter(src, &schema::NODE);
    usize::from(f.matches(&render::node_view(&v.local)))
}

#[test]
fn equality_on_strings_numbers_and_booleans() {
    assert_eq!(services("Service == web"), ["web-1", "web-2"]);
    assert_eq!(services("Service == \"web\" and ID != `web-1`"), ["web-2"]);
    assert_eq!(services("Port == 5432"), ["db-1"]);
    assert_eq!(services("Port != 5432"), ["web-1", "web-2"]);
    assert_eq!(services("Port == \"0x1f90\""), ["web-1"]);
    assert_eq!(services("EnableTagOverride == true"), ["web-2"]);
    assert_eq!(services("EnableTagOverride == F"), ["db-1", "web-1"]);
    assert_eq!(
        services("Weights.Passing == 3 and Weights.Warning == 1").len(),
        3
    );
    assert_eq!(services("Address == \"\"").len(), 3);
    assert_eq!(catalog("ServicePort == 8081"), ["web-2"]);
    assert_eq!(catalog("Node == \"node-a\"").len(), 3);
}

#[test]
fn in_and_contains_on_lists_strings_and_maps() {
    assert_eq!(services("v1 in Tags"), ["web-1"]);
    assert_eq!(services("\"v1\" not in Tags"), ["db-1", "web-2"]);
    assert_eq!(services("Tags contains \"v2\""), ["web-2"]);
    assert_eq!(services("Tags not contains v2"), ["db-1", "web-1"]);
    assert_eq!(services("\"eb\" in Service"), ["web-1", "web-2"]);
    assert_eq!(services("Service contains d"), ["db-1"]);
    assert_eq!(services("env in Meta"), ["web-1", "web-2"]);
    assert_eq!(services("Meta not contains env"), ["db-1"]);
    assert_eq!(catalog("ServiceTags contains blue"), ["web-1"]);
    assert_eq!(checks("v2 in ServiceTags"), ["service:web-2"]);
}

#[test]
fn emptiness() {
    assert_eq!(services("Tags is empty"), ["db-1"]);
    assert_eq!(services("Tags is not empty"), ["web-1", "web-2"]);
    assert_eq!(services("Meta is empty"), ["db-1"]);
    assert_eq!(services("TaggedAddresses is empty").len(), 3);
    assert_eq!(checks("ServiceID is empty"), ["serfHealth"]);
    assert_eq!(
        checks("ServiceID is not empty"),
        ["service:web-1", "service:web-2"]
    );
    assert_eq!(entries("Checks is not empty").len(), 3);
}

#[test]
fn regular_expressions() {
    assert_eq!(services("ID matches \"^web-[0-9]$\""), ["web-1", "web-2"]);
    assert_eq!(services("ID not matches `-1$`"), ["web-2"]);
    assert_eq!(services("Meta.env matches \"^pr\""), ["web-1"]);
    assert_eq!(checks("Output matches \"(?i)CRITICAL\""), ["service:web-2"]);
}

#[test]
fn map_keys_dotted_indexed_and_missing() {
    assert_eq!(services("Meta.env == prod"), ["web-1"]);
    assert_eq!(services("Meta[\"env\"] == qa"), ["web-2"]);
    assert_eq!(services("Meta[\"team x\"] == core"), ["web-1"]);
    // A missing key equals nothing: == is false, != true, as in Consul.
    assert_eq!(services("Meta.env != prod"), ["db-1", "web-2"]);
    assert_eq!(services("Meta.nope == \"\""), Vec::<String>::new());
    assert_eq!(services("Meta.nope is empty").len(), 3);
    assert_eq!(services("Meta.nope not matches x").len(), 3);
    assert_eq!(
        catalog("NodeMeta[\"consul-network-segment\"] == \"\"").len(),
        3
    );
    assert_eq!(catalog("ServiceMeta.env == qa"), ["web-2"]);
    assert_eq!(nodes("Meta.rack is empty"), 1);
    assert_eq!(nodes("TaggedAddresses.lan == \"10.0.0.7\""), 1);
}

#[test]
fn a_selector_through_a_list_matches_any_element() {
    assert_eq!(entries("Checks.Status == critical"), ["web-2"]);
    // Any check not passing: every instance has the passing serfHealth, so `==
    // passing` holds for all, and `not ... != passing` means "all checks passing".
    assert_eq!(entries("Checks.Status == passing").len(), 3);
    assert_eq!(entries("Checks.Status != passing"), ["web-2"]);
    assert_eq!(entries("not Checks.Status != passing"), ["db-1", "web-1"]);
    assert_eq!(
        entries("Checks.CheckID matches \"^service:\""),
        ["web-1", "web-2"]
    );
    assert_eq!(entries("Checks.ServiceTags contains blue"), ["web-1"]);
    assert_eq!(
        entries("Service.Tags contains v1 or Service.Meta.env == qa"),
        ["web-1", "web-2"]
    );
    assert_eq!(
        entries("Node.Node == \"node-a\" and Service.Service == db"),
        ["db-1"]
    );
    assert_eq!(entries("Node.Meta is not empty").len(), 3);
}

#[test]
fn checks_and_nodes() {
    assert_eq!(checks("Status == passing"), ["serfHealth", "service:web-1"]);
    assert_eq!(
        checks("ServiceName == web and Status != passing"),
        ["service:web-2"]
    );
    assert_eq!(checks("Node == \"node-a\"").len(), 3);
    assert_eq!(checks("Type == ttl and ExposedPort == 0").len(), 2);
    assert_eq!(nodes("Node == \"node-a\" and Datacenter == dc1"), 1);
    assert_eq!(nodes("Address matches \"^10\\\\.\""), 1);
    assert_eq!(nodes("Node != \"node-a\""), 0);
}

#[test]
fn logic_and_grouping() {
    assert_eq!(
        services("not (Service == web and Port == 8080)"),
        ["db-1", "web-2"]
    );
    assert_eq!(
        services("Service == db or Service == web and Port == 8081"),
        ["db-1", "web-2"]
    );
    assert_eq!(
        services("(Service == db or Service == web) and Port == 8081"),
        ["web-2"]
    );
    assert_eq!(services("not not Service == db"), ["db-1"]);
}

#[test]
fn unknown_selectors_are_refused_with_their_position() {
    let e = refused(
        "Service.Service == web and Servce.Tags contains x",
        &schema::HEALTH_ENTRY,
    );
    assert_eq!((e.offset, e.column), (27, 28));
    assert!(
        e.message.contains("Selector \"Servce\" is not valid"),
        "{e}"
    );
    assert!(e.message.contains("Node, Service, Checks"), "{e}");
    let e = refused("Service.Nope == x", &schema::HEALTH_ENTRY);
    assert!(e.message.contains("\"Service.Nope\" is not valid"), "{e}");
    let e = refused("Port.x == 1", &schema::AGENT_SERVICE);
    assert!(e.message.contains("is a number and has no fields"), "{e}");
    // Raft indexes and check definitions are not selectable in Consul either.
    refused("CreateIndex == 1", &schema::CHECK);
    refused("Definition.HTTP == x", &schema::CHECK);
    // Field names are case-sensitive.
    refused("service == web", &schema::AGENT_SERVICE);
}

#[test]
fn operators_must_suit_the_field() {
    let e = refused("Tags == v1", &schema::AGENT_SERVICE);
    assert!(
        e.message
            .contains("Invalid match operator \"==\" for selector \"Tags\""),
        "{e}"
    );
    assert!(refused("Port matches \"1\"", &schema::AGENT_SERVICE)
        .message
        .contains("== and !="));
    assert!(refused("Port is empty", &schema::AGENT_SERVICE)
        .message
        .contains("a number"));
    assert!(refused("Weights == 1", &schema::AGENT_SERVICE)
        .message
        .contains("Passing, Warning"));
    assert!(refused("x in Checks", &schema::HEALTH_ENTRY)
        .message
        .contains("a field of its elements"));
    assert!(refused("Meta == x", &schema::AGENT_SERVICE)
        .message
        .contains("a map"));
}

#[test]
fn values_are_read_as_the_field_type() {
    let e = refused("Port == abc", &schema::AGENT_SERVICE);
    assert_eq!(e.offset, 8);
    assert!(e.message.contains("Failed to coerce value \"abc\""), "{e}");
    refused("Port == 1.5", &schema::AGENT_SERVICE);
    refused("EnableTagOverride == yes", &schema::AGENT_SERVICE);
    refused("ExposedPort == 99999999999999999999999", &schema::CHECK);
    let e = refused("ID matches \"(\"", &schema::AGENT_SERVICE);
    assert_eq!(e.offset, 11);
    assert!(e.message.contains("regular expression"), "{e}");
    // A number is a string for string fields, as in go-bexpr.
    assert_eq!(services("Service != 5").len(), 3);
}

#[test]
fn syntax_errors_are_located() {
    let e = refused("Service.Tags contains", &schema::HEALTH_ENTRY);
    assert_eq!((e.line, e.column), (1, 22));
    let e = refused("Service == web and\n  (Port == 1", &schema::AGENT_SERVICE);
    assert_eq!((e.line, e.column), (2, 3));
    assert!(e.to_string().ends_with("(at line 2, column 3)"), "{e}");
}

/// Every field of every shape is in the rendered JSON with the shape's type, and every
/// rendered field is in the shape or deliberately left out (as Consul leaves them out).
#[test]
fn the_schemas_describe_what_render_writes() {
    const NOT_SELECTABLE: &[&str] = &["CreateIndex", "ModifyIndex", "Definition"];
    // Left out when empty, as Consul's omitempty does (Shoal has no Connect proxies).
    const OMITTED: &[&str] = &["Kind", "Proxy", "Connect"];
    fn agrees(path: &str, shape: &Shape, v: &Value) {
        match (shape, v) {
            (Shape::Str, Value::String(_)) | (Shape::Bool, Value::Bool(_)) => {}
            (Shape::Int, Value::Number(n)) => assert!(n.is_i64() || n.is_u64(), "{path}"),
            (Shape::List(elem), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    agrees(&format!("{path}[{i}]"), elem, item);
                }
            }
            // A structure of which nothing is set may be rendered empty.
            (Shape::Struct(_), Value::Object(m)) if m.is_empty() => {}
            (Shape::Map(values), Value::Object(m)) => {
                for (k, item) in m {
                    agrees(&format!("{path}.{k}"), values, item);
                }
            }
            (Shape::Struct(fields), Value::Object(m)) => {
                for (name, field) in fields.iter() {
                    // A map may be left out when empty (Consul's omitempty).
                    // Consul leaves a proxy's unset fields out (omitempty).
                    let proxy = ["Proxy", "Connect"].iter().any(|p| path.ends_with(p));
                    let Some(item) = m.get(*name) else {
                        assert!(
                            matches!(field, Shape::Map(_)) || OMITTED.contains(name) || proxy,
                            "{path}.{name} is not rendered"
                        );
                        continue;
                    };
                    agrees(&format!("{path}.{name}"), field, item);
                }
                for k in m.keys() {
                    assert!(
                        fields.iter().any(|(n, _)| n == k) || NOT_SELECTABLE.contains(&k.as_str()),
                        "{path}.{k} is rendered but not in the schema"
                    );
                }
            }
            _ => panic!("{path}: {v} is not {}", shape.describe()),
        }
    }
    let v = view();
    for i in &v.instances {
        agrees("agent", &schema::AGENT_SERVICE, &render::agent_service(i));
        agrees(
            "catalog",
            &schema::CATALOG_SERVICE,
            &render::catalog_service(&v, i),
        );
        agrees("entry", &schema::HEALTH_ENTRY, &render::health_entry(&v, i));
    }
    for c in &v.checks {
        agrees("check", &schema::CHECK, &render::check(&v, c));
    }
    agrees("node", &schema::NODE, &render::node_view(&v.local));
}

/// Prometheus' `health_filter` and Consul's documented selectors for Connect: valid,
/// and read as Go's zero values where the JSON leaves them out, so a service that is no
/// proxy passes `Kind != "connect-proxy"` and `Connect.Native == false`.
#[test]
fn connect_selectors_are_valid_and_read_as_zero_values() {
    let v = view();
    let entry = render::health_entry(&v, &v.instances[0]);
    for src in [
        r#"Service.Kind != "connect-proxy""#,
        "Service.Connect.Native != true",
        "Service.Connect.Native == false",
        r#"Service.Proxy.DestinationServiceName == """#,
        "Service.Proxy.LocalServicePort == 0",
        "Service.Proxy.Upstreams is empty",
    ] {
        let f = Filter::new(src, &schema::HEALTH_ENTRY).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert!(f.matches(&entry), "{src}");
    }
    let f =
        Filter::new(r#"Service.Kind == "connect-proxy""#, &schema::HEALTH_ENTRY).expect("valid");
    assert!(!f.matches(&entry));
    let catalog = render::catalog_service(&v, &v.instances[0]);
    for src in [
        "ServiceConnect.Native == false",
        r#"ServiceProxy.DestinationServiceID == """#,
    ] {
        let f = Filter::new(src, &schema::CATALOG_SERVICE).unwrap_or_else(|e| panic!("{src}: {e}"));
        assert!(f.matches(&catalog), "{src}");
    }
}
