//! Table-driven tests of [`diff`]: which field makes which kind of change.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use shoal_spec::{AssumeExists, ServiceSpec, Strategy};

use super::*;
use crate::record::{Deployment, Status};

const BASE: &str = "command = \"run\"\nversion = \"1\"\ninstances = 2\n";

/// The services of a file made of `[services.<name>]` tables with these bodies.
fn services(tables: &[(&str, &str)]) -> BTreeMap<String, ServiceSpec> {
    let src: String = tables
        .iter()
        .map(|(name, body)| format!("[services.{name}]\n{body}\n"))
        .collect();
    match shoal_spec::parse_str_with(&src, "t.toml", Path::new("/t"), &AssumeExists) {
        Ok(spec) => spec.services,
        Err(e) => panic!("test file does not parse:\n{e}\n---\n{src}"),
    }
}

fn web(body: &str) -> ServiceSpec {
    services(&[("web", body)])
        .remove("web")
        .unwrap_or_else(|| panic!("no web"))
}

fn deployment(to: ServiceSpec, status: Status) -> Deployment {
    Deployment {
        id: 3,
        service: to.name.clone(),
        strategy: to.deploy.strategy,
        from: None,
        to,
        status,
        reason: String::new(),
        step: 0,
        step_started_ms: None,
        marks: BTreeMap::new(),
        weights: BTreeMap::new(),
        counts: BTreeMap::new(),
        started_ms: 0,
        updated_ms: 0,
        deadline_ms: 0,
        ended_ms: None,
        keep_until_ms: None,
        revert_of: None,
        order: None,
        steps: Vec::new(),
    }
}

fn one(current: &ServiceSpec, next: &ServiceSpec) -> Change {
    let cur = BTreeMap::from([("web".to_owned(), current.clone())]);
    let nxt = BTreeMap::from([("web".to_owned(), next.clone())]);
    let mut changes = diff(&cur, &BTreeMap::new(), &nxt, None, true);
    assert_eq!(changes.len(), 1, "{changes:?}");
    changes.remove(0)
}

#[test]
fn each_field_makes_its_kind_of_change() {
    use ChangeKind::{InPlace, Rollout, Unchanged};
    // (what, the next file's web body, kind, fields)
    let cases: &[(&str, String, ChangeKind, &[&str])] = &[
        ("same", BASE.into(), Unchanged, &[]),
        (
            "command",
            BASE.replace("\"run\"", "[\"run\", \"--fast\"]"),
            Rollout,
            &["command"],
        ),
        (
            "version",
            BASE.replace("\"1\"", "\"2\""),
            Rollout,
            &["version"],
        ),
        (
            "env",
            format!("{BASE}env = {{ A = \"1\" }}\n"),
            Rollout,
            &["env"],
        ),
        (
            "health",
            format!("{BASE}[services.web.health]\nhttp = \"/health\"\n"),
            Rollout,
            &["health"],
        ),
        (
            "restart",
            format!(
                "{BASE}[services.web.restart]\nbackoff = {{ initial = \"1s\", max = \"5s\" }}\n"
            ),
            Rollout,
            &["restart"],
        ),
        (
            "drain",
            format!("{BASE}[services.web.deploy]\ndrain = \"3s\"\n"),
            Rollout,
            &["deploy.drain"],
        ),
        (
            "drain and surge",
            format!("{BASE}[services.web.deploy]\ndrain = \"3s\"\nmax_surge = 2\n"),
            Rollout,
            &["deploy.drain", "deploy"],
        ),
        (
            "strategy",
            format!("{BASE}[services.web.deploy]\nstrategy = \"canary\"\n"),
            InPlace,
            &["deploy"],
        ),
        (
            "progress deadline",
            format!("{BASE}[services.web.deploy]\nprogress_deadline = \"1m\"\n"),
            InPlace,
            &["deploy"],
        ),
        (
            "instances",
            BASE.replace("= 2", "= 3"),
            InPlace,
            &["instances"],
        ),
        (
            "routes",
            format!("{BASE}routes = [\"/web\"]\n"),
            InPlace,
            &["routes"],
        ),
        (
            "resilience",
            format!("{BASE}[services.web.resilience]\ntimeout = \"2s\"\n"),
            InPlace,
            &["resilience"],
        ),
        (
            "scale",
            format!("{BASE}[services.web.scale]\nmin = 1\nmax = 5\n"),
            InPlace,
            &["scale"],
        ),
        (
            "allow_external",
            format!("{BASE}allow_external = true\n"),
            InPlace,
            &["allow_external"],
        ),
        (
            "constraints",
            format!("{BASE}constraints = {{ disk = \"ssd\" }}\n"),
            Rollout,
            &["constraints"],
        ),
        (
            "resources",
            format!("{BASE}resources = {{ cpu = 0.5 }}\n"),
            Rollout,
            &["resources"],
        ),
        (
            "protocol",
            format!("{BASE}protocol = \"h2c\"\n"),
            InPlace,
            &["protocol"],
        ),
        (
            "side version",
            format!("{BASE}[services.web.versions.old]\ninstances = 1\n"),
            InPlace,
            &["versions"],
        ),
        (
            "count and command",
            BASE.replace("= 2", "= 4").replace("\"run\"", "\"run2\""),
            Rollout,
            &["command", "instances"],
        ),
        (
            "routes and env",
            format!("{BASE}routes = [\"/w\"]\nenv = {{ B = \"2\" }}\n"),
            Rollout,
            &["env", "routes"],
        ),
    ];
    let base = web(BASE);
    for (what, body, kind, fields) in cases {
        let next = web(body);
        let c = one(&base, &next);
        assert_eq!(c.kind, *kind, "{what}");
        assert_eq!(c.fields, *fields, "{what}");
        assert_eq!(c.from_version.as_deref(), Some("1"), "{what}");
        assert_eq!(c.to_version, next.version, "{what}");
        assert_eq!(c.strategy, next.deploy.strategy, "{what}");
        assert_eq!(
            (c.from_instances, c.to_instances),
            (Some(2), next.instances),
            "{what}"
        );
        // The way back is the same kind of change.
        let back = one(&next, &base);
        assert_eq!(back.kind, *kind, "{what}, reversed");
    }
}

#[test]
fn services_are_added_removed_or_kept_by_name() {
    let current = services(&[("api", BASE), ("db", BASE), ("old", BASE)]);
    let next = services(&[
        ("api", BASE),
        ("db", &BASE.replace("\"1\"", "\"2\"")),
        ("web", BASE),
    ]);
    let kinds = |only: Option<&str>, remove: bool| -> Vec<(String, ChangeKind)> {
        diff(&current, &BTreeMap::new(), &next, only, remove)
            .into_iter()
            .map(|c| (c.service, c.kind))
            .collect()
    };
    let s = |n: &str, k| (n.to_owned(), k);
    use ChangeKind::*;
    // (only, remove_missing, expected changes)
    type Case<'a> = (Option<&'a str>, bool, Vec<(String, ChangeKind)>);
    let cases: Vec<Case> = vec![
        (
            None,
            true,
            vec![
                s("api", Unchanged),
                s("db", Rollout),
                s("old", Removed),
                s("web", Added),
            ],
        ),
        (
            None,
            false,
            vec![s("api", Unchanged), s("db", Rollout), s("web", Added)],
        ),
        (Some("db"), true, vec![s("db", Rollout)]),
        (Some("web"), false, vec![s("web", Added)]),
        // Only names a service: a stored one absent from the file is not removed.
        (Some("old"), true, vec![]),
        (Some("nope"), true, vec![]),
    ];
    for (only, remove, expected) in cases {
        assert_eq!(
            kinds(only, remove),
            expected,
            "only {only:?}, remove {remove}"
        );
    }
}

#[test]
fn added_and_removed_carry_versions_and_strategies() {
    let current = services(&[(
        "old",
        "command = \"x\"\nversion = \"7\"\n[services.old.deploy]\nstrategy = \"blue-green\"\n",
    )]);
    let next = services(&[(
        "new",
        "command = \"y\"\nversion = \"3\"\ninstances = 4\n[services.new.deploy]\nstrategy = \"canary\"\n",
    )]);
    let changes = diff(&current, &BTreeMap::new(), &next, None, true);
    assert_eq!(
        changes,
        vec![
            Change {
                service: "new".into(),
                kind: ChangeKind::Added,
                strategy: Strategy::Canary,
                from_version: None,
                to_version: "3".into(),
                fields: vec![],
                from_instances: None,
                to_instances: 4,
            },
            Change {
                service: "old".into(),
                kind: ChangeKind::Removed,
                strategy: Strategy::BlueGreen,
                from_version: Some("7".into()),
                to_version: String::new(),
                fields: vec![],
                from_instances: Some(1),
                to_instances: 0,
            },
        ]
    );
}

#[test]
fn the_same_spec_after_a_failed_deployment_is_rolled_out_again() {
    let spec = web(BASE);
    let other = web(&BASE.replace("\"1\"", "\"9\""));
    let cur = BTreeMap::from([("web".to_owned(), spec.clone())]);
    // (last deployment, kind of submitting the same spec again)
    let cases = [
        (None, ChangeKind::Unchanged),
        (
            Some(deployment(spec.clone(), Status::Running)),
            ChangeKind::Unchanged,
        ),
        (
            Some(deployment(spec.clone(), Status::Succeeded)),
            ChangeKind::Unchanged,
        ),
        (
            Some(deployment(spec.clone(), Status::Failed)),
            ChangeKind::Rollout,
        ),
        (
            Some(deployment(other.clone(), Status::Failed)),
            ChangeKind::Unchanged,
        ),
        (
            Some(deployment(spec.clone(), Status::RolledBack)),
            ChangeKind::Unchanged,
        ),
    ];
    for (dep, kind) in cases {
        let status = dep.as_ref().map(|d| (d.status, d.to.version.clone()));
        let deps: BTreeMap<String, Deployment> =
            dep.into_iter().map(|d| ("web".to_owned(), d)).collect();
        let changes = diff(&cur, &deps, &cur, None, true);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, kind, "{status:?}");
        assert!(changes[0].fields.is_empty());
    }
    // An in-place change after a failure stays in place.
    let bigger = BTreeMap::from([("web".to_owned(), web(&BASE.replace("= 2", "= 5")))]);
    let deps = BTreeMap::from([("web".to_owned(), deployment(spec, Status::Failed))]);
    assert_eq!(
        diff(&cur, &deps, &bigger, None, true)[0].kind,
        ChangeKind::InPlace
    );
}

#[test]
fn changes_serialize_for_the_api() {
    let c = one(&web(BASE), &web(&BASE.replace("= 2", "= 3")));
    let v: Value = serde_json::to_value(&c).unwrap_or_default();
    assert_eq!(v["kind"], "in_place");
    assert_eq!(v["strategy"], "rolling");
    assert_eq!(v["fields"], serde_json::json!(["instances"]));
    let back: Change = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, c);
    assert!(ChangeKind::Rollout.deploys() && ChangeKind::Added.deploys());
    assert!(!ChangeKind::InPlace.deploys() && ChangeKind::InPlace.writes());
    assert!(!ChangeKind::Unchanged.writes() && ChangeKind::Removed.writes());
    assert_eq!(strategy_name(Strategy::BlueGreen), "blue-green");
}
