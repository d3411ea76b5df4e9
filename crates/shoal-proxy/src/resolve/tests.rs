//! Tests of service and version resolution on a table built from specs and records.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderValue};
use shoal_catalog::{Health, InstanceRecord};
use shoal_spec::{Command, ServiceSpec, VersionSpec};

use crate::table::RouteTable;

pub(crate) fn record(service: &str, id: &str, version: &str, port: u16) -> InstanceRecord {
    InstanceRecord::new(id, service, version, "n", "127.0.0.1", port)
}

fn table() -> RouteTable {
    let mut specs = BTreeMap::new();
    let mut profile = ServiceSpec::new("profile", Command::Argv(vec!["x".into()]));
    profile.version = "23".into();
    profile.routes = vec!["/profile".into()];
    profile.versions.insert(
        "22".into(),
        VersionSpec {
            command: None,
            instances: Some(1),
            env: BTreeMap::new(),
        },
    );
    profile.versions.insert(
        "21".into(),
        VersionSpec {
            command: None,
            instances: Some(0),
            env: BTreeMap::new(),
        },
    );
    specs.insert("profile".to_owned(), profile);
    let records = vec![
        record("profile", "p23", "23", 1),
        record("profile", "p22", "22", 2),
        record("ext", "e1", "x", 3),
    ];
    RouteTable::build(&specs, &records, &["shoal".into()], &RouteTable::default())
}

fn target(
    t: &RouteTable,
    host: Option<&str>,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> Option<(String, String, String)> {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(*k, HeaderValue::from_static(v));
    }
    t.resolve(host, path, &h).map(|t| {
        (
            t.service.to_owned(),
            t.version.to_owned(),
            t.path.into_owned(),
        )
    })
}

fn t3(s: &str, v: &str, p: &str) -> Option<(String, String, String)> {
    Some((s.into(), v.into(), p.into()))
}

#[test]
fn unversioned_goes_to_current() {
    let t = table();
    assert_eq!(
        target(&t, Some("profile:8080"), "/a?b=1", &[]),
        t3("profile", "23", "/a?b=1")
    );
    assert_eq!(
        target(&t, Some("profile.service.shoal"), "/", &[]),
        t3("profile", "23", "/")
    );
    assert_eq!(
        target(&t, None, "/profile/ada", &[]),
        t3("profile", "23", "/profile/ada")
    );
    assert_eq!(target(&t, Some("nope"), "/other", &[]), None);
}

#[test]
fn each_version_style_selects() {
    let t = table();
    assert_eq!(
        target(&t, Some("profile"), "/v22/ada?x=1", &[]),
        t3("profile", "22", "/ada?x=1")
    );
    assert_eq!(
        target(&t, Some("profile"), "/v22", &[]),
        t3("profile", "22", "/")
    );
    assert_eq!(
        target(&t, None, "/v22/profile/ada", &[]),
        t3("profile", "22", "/profile/ada")
    );
    assert_eq!(
        target(&t, Some("profile"), "/ada", &[("x-version", "22")]),
        t3("profile", "22", "/ada")
    );
    assert_eq!(
        target(&t, Some("profile"), "/ada?version=22", &[]),
        t3("profile", "22", "/ada?version=22")
    );
    let accept = [(
        "accept",
        "text/html, application/vnd.shoal.profile.v22+json;q=0.9",
    )];
    assert_eq!(
        target(&t, Some("profile"), "/ada", &accept),
        t3("profile", "22", "/ada")
    );
}

#[test]
fn first_match_wins_and_missing_versions_go_to_current() {
    let t = table();
    assert_eq!(
        target(&t, Some("profile"), "/v23/a", &[("x-version", "22")]),
        t3("profile", "23", "/a")
    );
    assert_eq!(
        target(&t, Some("profile"), "/a?version=23", &[("x-version", "22")]),
        t3("profile", "22", "/a?version=23")
    );
    // 21 is declared but runs no instance; 99 is unknown.
    assert_eq!(
        target(&t, Some("profile"), "/v21/a", &[]),
        t3("profile", "23", "/a")
    );
    assert_eq!(
        target(&t, Some("profile"), "/a", &[("x-version", "99")]),
        t3("profile", "23", "/a")
    );
    // An unknown `/v..` segment is part of the service's own path.
    assert_eq!(
        target(&t, Some("profile"), "/v99/a", &[]),
        t3("profile", "23", "/v99/a")
    );
}

#[test]
fn services_without_a_spec_serve_every_instance() {
    let t = table();
    assert_eq!(target(&t, Some("ext"), "/", &[]), t3("ext", "", "/"));
    assert_eq!(t.services["ext"].endpoints("").len(), 1);
}

#[test]
fn unroutable_instances_are_left_out_and_state_carries_over() {
    let t = table();
    let mut specs = BTreeMap::new();
    let mut profile = ServiceSpec::new("profile", Command::Argv(vec!["x".into()]));
    profile.version = "23".into();
    specs.insert("profile".to_owned(), profile);
    let mut sick = record("profile", "p23b", "23", 4);
    sick.health = Health::Critical;
    let next = RouteTable::build(&specs, &[record("profile", "p23", "23", 1), sick], &[], &t);
    let eps = next.services["profile"].endpoints("23");
    assert_eq!(eps.len(), 1);
    let old = &t.services["profile"].endpoints("23")[0];
    assert!(std::sync::Arc::ptr_eq(&eps[0].stats, &old.stats));
    assert!(std::sync::Arc::ptr_eq(
        &next.services["profile"].state,
        &t.services["profile"].state
    ));
}
