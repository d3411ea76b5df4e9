//! Tests of registration body parsing: defaults, ids, validation.

use serde_json::json;

use super::*;
use crate::body::normalize;

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
