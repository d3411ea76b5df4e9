//! Tests of registration body parsing: defaults, ids, validation.

use serde_json::json;

use super::*;
use crate::body::normalize;
use crate::check_model::TlsDef;

#[test]
fn service_defaults_and_check_ids() {
    let body = normalize(
        json!({"Name": "web", "Port": 8080, "Tags": ["v2"], "Meta": {"Team": "a"},
        "Check": {"HTTP": "http://127.0.0.1:8080/health", "Interval": "500ms", "DeregisterCriticalServiceAfter": "1m"}}),
    );
    let (svc, checks) = parse_service(&body, 5)
        .map_err(|e| e.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            svc.id.as_str(),
            svc.port,
            svc.meta.get("Team").map(String::as_str)
        ),
        ("web", 8080, Some("a"))
    );
    assert_eq!(checks.len(), 1);
    let c = &checks[0];
    assert_eq!(
        (c.id.as_str(), c.name.as_str()),
        ("service:web", "Service 'web' check")
    );
    assert_eq!(
        (c.interval_ms, c.timeout_ms, c.deregister_after_ms),
        (1000, 10_000, Some(60_000))
    );
    assert_eq!(c.initial_status, Status::Critical);
}

#[test]
fn several_checks_are_numbered() {
    let body = normalize(
        json!({"name": "api", "id": "api-1", "checks": [{"ttl": "10s"}, {"tcp": "localhost:1", "interval": "1s", "status": "passing"}]}),
    );
    let (_, checks) = parse_service(&body, 0).unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, vec!["service:api-1:1", "service:api-1:2"]);
    assert_eq!(checks[1].initial_status, Status::Passing);
    assert_eq!(checks[0].kind, CheckKind::Ttl);
}

#[test]
fn bad_bodies_are_refused() {
    for bad in [
        json!({}),
        json!({"Name": ""}),
        json!({"Name": "x", "Port": 70000}),
        json!({"Name": "x", "Port": "many"}),
        json!({"Name": "x", "Tags": "a"}),
        json!({"Name": "x", "Check": {"HTTP": "http://a/", "TTL": "1s"}}),
        json!({"Name": "x", "Check": {"HTTP": "http://a/"}}),
        json!({"Name": "x", "Check": {"Args": ["true"], "Interval": "1s"}}),
        json!({"Name": "x", "Check": {"TCP": "nohostport", "Interval": "1s"}}),
        json!({"Name": "x", "Check": {"TTL": "abc"}}),
        json!({"Name": "x", "Checks": {"TTL": "1s"}}),
        json!("text"),
    ] {
        assert!(parse_service(&normalize(bad.clone()), 0).is_err(), "{bad}");
    }
}

#[test]
fn check_register_defaults() {
    let c = parse_check_register(&normalize(
        json!({"Name": "mem", "TTL": "15s", "ServiceID": "web"}),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (c.id.as_str(), c.service_id.as_str(), c.ttl_ms),
        ("mem", "web", 15_000)
    );
    let c = parse_check_register(&normalize(
        json!({"name": "x", "checkid": "x1", "ttl": "1s"}),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.id, "x1");
    assert!(parse_check_register(&normalize(json!({"TTL": "1s"}))).is_err());
}

fn check_of(body: serde_json::Value) -> Result<CheckDef> {
    parse_check_register(&normalize(body))
}

#[test]
fn every_probe_kind_parses_with_its_options() {
    let c = check_of(
        json!({"Name": "h", "HTTP": "https://127.0.0.1:8443/h", "Interval": "2s",
        "Method": "POST", "Body": "{}", "Header": {"X-Key": ["a", "b"]},
        "TLSSkipVerify": true, "TLSServerName": "api.test"}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.kind,
        CheckKind::Http {
            url: "https://127.0.0.1:8443/h".into(),
            method: "POST".into(),
            body: "{}".into(),
            tls: TlsDef {
                skip_verify: true,
                server_name: "api.test".into()
            },
        }
    );
    assert_eq!(c.header["X-Key"], vec!["a", "b"]);
    // py-consul's snake_case names.
    let c = check_of(
        json!({"name": "g", "grpc": "127.0.0.1:50051/db", "interval": "1s",
        "grpc_use_tls": true, "tls_skip_verify": true}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(&c.kind, CheckKind::Grpc { target, use_tls: true, tls } if target == "127.0.0.1:50051/db" && tls.skip_verify)
    );
    assert_eq!(c.kind.type_name(), "grpc");
    let c = check_of(json!({"Name": "p", "H2PING": "localhost:8080", "Interval": "1s"}))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        matches!(c.kind, CheckKind::H2ping { use_tls: true, .. }),
        "TLS by default"
    );
    let c = check_of(
        json!({"Name": "p", "H2PING": "localhost:8080", "Interval": "1s", "H2PingUseTLS": false}),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(c.kind, CheckKind::H2ping { use_tls: false, .. }));
    let c =
        check_of(json!({"Name": "a", "AliasService": "web-1"})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.kind,
        CheckKind::Alias {
            service_id: "web-1".into(),
            node: String::new()
        }
    );
    assert!(!c.kind.is_probed() && c.interval_ms == 0 && c.ttl_ms == 0);
    let c = check_of(json!({"Name": "a", "AliasNode": "far"})).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.kind.type_name(), "alias");
}

#[test]
fn refusals_use_consul_words() {
    let err = |body: serde_json::Value| {
        check_of(body)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    assert_eq!(
        err(json!({"Name": "s", "Args": ["/bin/true"], "Interval": "1s"})),
        "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true"
    );
    assert_eq!(
        err(json!({"Name": "s", "Script": "true", "Interval": "1s"})),
        SCRIPTS_DISABLED
    );
    for probe in [
        json!({"Name": "g", "GRPC": "h:1"}),
        json!({"Name": "p", "H2PING": "h:1"}),
        json!({"Name": "h", "HTTP": "http://h/"}),
    ] {
        assert_eq!(
            err(probe),
            "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks"
        );
    }
    assert_eq!(
        err(json!({"Name": "a", "AliasService": "x", "TTL": "1s"})),
        "Invalid check: TTL must be not be set for Alias checks"
    );
    assert!(
        err(json!({"Name": "g", "GRPC": "noport/svc", "Interval": "1s"})).contains("host:port")
    );
    assert!(
        err(json!({"Name": "h", "HTTP": "ftp://h/", "Interval": "1s"}))
            .contains("Invalid HTTP check")
    );
    assert!(err(json!({"Name": "u", "UDP": "h:1", "Interval": "1s"})).contains("not supported"));
}

#[test]
fn script_checks_are_taken_when_enabled_in_each_of_consul_s_forms() {
    let script = |body: serde_json::Value| {
        parse_check_register_with(&normalize(body), true).map(|c| (c.kind, c.interval_ms))
    };
    let args = |a: &[&str]| CheckKind::Script {
        args: a.iter().map(|s| s.to_string()).collect(),
    };
    assert_eq!(
        script(json!({"Name": "s", "Args": ["/bin/check", "-v"], "Interval": "2s"})).ok(),
        Some((args(&["/bin/check", "-v"]), 2000))
    );
    assert_eq!(
        script(json!({"Name": "s", "ScriptArgs": ["/bin/check"], "Interval": "1s"})).ok(),
        Some((args(&["/bin/check"]), 1000))
    );
    assert_eq!(
        script(json!({"Name": "s", "Script": "test -f /x", "Interval": "1s"})).ok(),
        Some((args(&["sh", "-c", "test -f /x"]), 1000))
    );
    // Still a probed check: it needs an interval, as in Consul.
    assert!(script(json!({"Name": "s", "Args": ["/bin/true"]})).is_err());
    // A service's embedded script check.
    let body =
        normalize(json!({"Name": "web", "Check": {"Args": ["/bin/true"], "Interval": "1s"}}));
    let (_, checks) = parse_service_with(&body, 0, true).expect("taken");
    assert_eq!(checks[0].kind, args(&["/bin/true"]));
    assert!(parse_service_with(&body, 0, false).is_err());
}
