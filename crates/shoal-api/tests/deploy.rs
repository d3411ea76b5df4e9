//! `/api/v1/deploy`, deployments, history, orders and rollback through the real
//! router on 127.0.0.1:0, over a real embedded store.

mod common;

use std::path::Path;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use shoal_api::{Token, Tokens};

type Api = common::Served;

async fn api_with(tokens: Tokens) -> Api {
    common::serve(tokens, None).await
}

async fn api() -> Api {
    api_with(Tokens::default()).await
}

impl Api {
    async fn deploy(
        &self,
        toml: &str,
        service: Option<&str>,
        dry_run: bool,
    ) -> (StatusCode, Value) {
        let body =
            json!({ "file": "web.toml", "toml": toml, "service": service, "dry_run": dry_run });
        self.call(Method::POST, "/api/v1/deploy", Some(body)).await
    }
}

fn web(version: &str) -> String {
    format!("[services.web]\ncommand = \"sleep 100\"\nversion = \"{version}\"\ninstances = 2\n")
}

#[tokio::test]
async fn a_bad_file_is_refused_with_every_location() {
    let api = api().await;
    let (status, v) = api
        .deploy(
            "[services.web]\ncommand = \"x\"\ninstnces = 2\ninstances = \"many\"\n",
            None,
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"], "web.toml is not a valid service file");
    let lines: Vec<&str> = v["detail"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(lines.len(), 2, "{v}");
    assert!(
        lines[0].starts_with("web.toml:3:1: unknown field `instnces`"),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("web.toml:4:"), "{lines:?}");
    // Unknown request fields are refused too.
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/deploy",
            Some(json!({ "file": "f", "toml": "", "force": true })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn relative_programs_are_resolved_against_the_base_dir() {
    let api = api().await;
    let toml = "[services.job]\ncommand = [\"./run.sh\"]\n";
    let (status, v) = api.deploy(toml, None, true).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let script = api.dir.path().join("run.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap_or_else(|e| panic!("{e}"));
    make_executable(&script);
    let (status, v) = api.deploy(toml, None, true).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["changes"][0]["kind"], "added");
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn deploy_plan_write_history_orders_and_rollback() {
    let api = api().await;
    let (status, plan) = api.deploy(&web("1"), None, true).await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["changes"][0]["kind"], "added");
    assert_eq!(plan["deployments"], json!([]));
    let (_, none) = api.call(Method::GET, "/api/v1/deployments", None).await;
    assert_eq!(none, json!([]), "a dry run writes nothing");

    let (status, first) = api.deploy(&web("1"), None, false).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["deployments"][0]["id"], 1);
    assert_eq!(first["deployments"][0]["status"], "running");
    assert!(first["revision"].as_i64() > plan["revision"].as_i64());
    let (status, second) = api.deploy(&web("2"), Some("web"), false).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["changes"][0]["kind"], "rollout");
    assert_eq!(second["changes"][0]["fields"], json!(["version"]));

    let (status, all) = api.call(Method::GET, "/api/v1/deployments", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all.as_array().map(Vec::len), Some(1));
    let (status, current) = api.call(Method::GET, "/api/v1/deployments/web", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (current["id"].as_u64(), current["to"]["version"].as_str()),
        (Some(2), Some("2"))
    );
    let (status, past) = api
        .call(Method::GET, "/api/v1/deployments/web/history", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<u64> = past
        .as_array()
        .map(|a| a.iter().filter_map(|d| d["id"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![2, 1]);
    assert_eq!(past[1]["status"], "superseded");

    let (status, v) = api
        .call(Method::POST, "/api/v1/deployments/web/promote", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        v["error"],
        "deployment 2 of web is rolling: only a canary deployment can be promoted (use --abort to stop it)"
    );
    let (status, v) = api
        .call(Method::POST, "/api/v1/deployments/web/abort", None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["order"], "abort");

    let (status, v) = api
        .call(
            Method::POST,
            "/api/v1/rollback/web",
            Some(json!({ "to": 9 })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(
        v["error"],
        "service web has no deployment 9 in its history (it has 1, 2)"
    );
    let (status, back) = api.call(Method::POST, "/api/v1/rollback/web", None).await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(
        (back["id"].as_u64(), back["revert_of"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(back["strategy"], "rolling");
    assert_eq!(back["to"]["version"], "1");
    let (status, again) = api
        .call(
            Method::POST,
            "/api/v1/rollback/web",
            Some(json!({ "to": 2 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["to"]["version"], "2");
}

#[tokio::test]
async fn unknown_services_and_deployments_are_4xx() {
    let api = api().await;
    for (method, path, want) in [
        (
            Method::GET,
            "/api/v1/deployments/nope",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/api/v1/deployments/nope/history",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/api/v1/deployments/nope/abort",
            StatusCode::CONFLICT,
        ),
        (Method::POST, "/api/v1/rollback/nope", StatusCode::NOT_FOUND),
    ] {
        let (status, v) = api.call(method, path, None).await;
        assert_eq!(status, want, "{path}: {v}");
        assert!(v["error"].is_string(), "{path}: {v}");
    }
    let (status, v) = api.deploy(&web("1"), Some("db"), false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"], "service `db` is not in the file");
    // A service with a spec but no deployment yet has an empty history.
    let (status, _) = api.deploy(&web("1"), None, false).await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = api
        .call(Method::POST, "/api/v1/rollback/web", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"], "service web has no previous deployment");
}

#[tokio::test]
async fn writes_need_the_write_right() {
    let reader = "reader-token-0123456789";
    let tokens = Tokens::new(vec![Token {
        name: "ro".into(),
        value: reader.into(),
        rights: vec![shoal_spec::Right::Read],
    }]);
    let api = api_with(tokens).await;
    let body = json!({ "file": "f", "toml": web("1") });
    let (status, v) = api
        .call_as(Method::POST, "/api/v1/deploy", Some(body), Some(reader))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
    for path in ["/api/v1/deployments/web/abort", "/api/v1/rollback/web"] {
        let (status, _) = api.call_as(Method::POST, path, None, Some(reader)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, _) = api
        .call_as(Method::GET, "/api/v1/deployments", None, Some(reader))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_openapi_document_describes_deployments_as_they_are_answered() {
    let api = api().await;
    let (_, doc) = api.call(Method::GET, "/api/v1/openapi.json", None).await;
    for (path, method) in [
        ("/api/v1/deploy", "post"),
        ("/api/v1/deployments", "get"),
        ("/api/v1/deployments/{service}", "get"),
        ("/api/v1/deployments/{service}/history", "get"),
        ("/api/v1/deployments/{service}/promote", "post"),
        ("/api/v1/deployments/{service}/abort", "post"),
        ("/api/v1/rollback/{service}", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    // Every field of a real answer is in its schema.
    let (_, answer) = api.deploy(&web("1"), None, false).await;
    let schemas = &doc["components"]["schemas"];
    let check = |schema: &str, value: &Value| {
        let props = &schemas[schema]["properties"];
        for key in value
            .as_object()
            .map(|o| o.keys().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            assert!(props[key].is_object(), "{schema}.{key} is not described");
        }
    };
    check("DeployAnswer", &answer);
    check("Change", &answer["changes"][0]);
    check("Deployment", &answer["deployments"][0]);
    check(
        "DeployRequest",
        &json!({ "file": "", "toml": "", "service": "", "dry_run": false }),
    );
}
