//! `/api/v1/flags` and OFREP (`/ofrep/v1/evaluate/flags`) through the real router on
//! 127.0.0.1:0, over a real embedded store.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use shoal_api::{FlagCounts, Token, Tokens};

type Api = common::Served;

/// What the stand-in gateway counted in the last minute.
fn counts() -> FlagCounts {
    Arc::new(|| {
        let mut m = BTreeMap::new();
        m.insert(
            "new_profile".to_owned(),
            BTreeMap::from([("1".to_owned(), 1204), ("0".to_owned(), 2811)]),
        );
        m
    })
}

async fn api_with(tokens: Tokens) -> Api {
    common::serve(tokens, Some(counts())).await
}

async fn api() -> Api {
    api_with(Tokens::default()).await
}

impl Api {
    async fn flag(&self, name: &str) -> Value {
        let (status, v) = self
            .call(Method::GET, &format!("/api/v1/flags/{name}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }

    async fn put(&self, name: &str, change: Value) -> Value {
        let (status, v) = self
            .call(Method::PUT, &format!("/api/v1/flags/{name}"), Some(change))
            .await;
        assert!(status.is_success(), "{status}: {v}");
        v
    }

    async fn evaluate(&self, key: &str, context: Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            &format!("/ofrep/v1/evaluate/flags/{key}"),
            Some(json!({ "context": context })),
        )
        .await
    }
}

#[tokio::test]
async fn flags_are_created_changed_listed_and_deleted() {
    let api = api().await;
    let (status, created) = api
        .call(
            Method::PUT,
            "/api/v1/flags/new_profile",
            Some(json!({ "enabled": true, "rollout": 30 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "new_profile");
    assert_eq!(
        (&created["enabled"], &created["rollout"]),
        (&json!(true), &json!(30.0))
    );
    assert_eq!(
        (&created["origin"], &created["version"]),
        (&json!("api"), &json!(1))
    );
    assert_eq!(created["user_header"], "X-User-Id");
    assert_eq!(
        created["evaluations"],
        json!({ "1": 1204, "0": 2811 }),
        "the hook's counts"
    );
    let first_revision = created["revision"].as_i64().unwrap_or(0);
    assert!(first_revision > 0, "{created}");

    // PUT on an existing flag changes it: 200.
    let (status, again) = api
        .call(
            Method::PUT,
            "/api/v1/flags/beta",
            Some(json!({ "force_on_add": [{ "header": "X-Beta", "values": ["1"] }] })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["evaluations"], json!({}));
    let (status, again) = api
        .call(
            Method::PUT,
            "/api/v1/flags/beta",
            Some(json!({ "enabled": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["version"], 2);

    let (status, patched) = api
        .call(
            Method::PATCH,
            "/api/v1/flags/new_profile",
            Some(json!({ "rollout": 60 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["rollout"], json!(60.0));
    assert_eq!(patched["version"], 2);
    assert!(patched["revision"].as_i64().unwrap_or(0) > first_revision);

    let (status, list) = api.call(Method::GET, "/api/v1/flags", None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["beta", "new_profile"]);
    assert_eq!(list[1], patched, "one flag reads as the list shows it");
    assert_eq!(api.flag("new_profile").await, patched);

    // Each change is an event that says what changed.
    let (_, events) = api
        .call(Method::GET, "/api/v1/events?kind=flag", None)
        .await;
    let messages: Vec<&str> = events
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["message"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        messages,
        [
            "flag new_profile: created (on, rollout 30%)",
            "flag beta: created (off, rollout 100%)",
            "flag beta: off → on",
            "flag new_profile: rollout 30% → 60%",
        ]
    );
    assert_eq!(events[3]["fields"]["flag"], "new_profile");
    assert_eq!(events[3]["fields"]["rollout"], json!(60.0));
    assert_eq!(events[3]["fields"]["change"]["rollout"], json!(60.0));

    let (status, deleted) = api
        .call(Method::DELETE, "/api/v1/flags/new_profile", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(
        (&deleted["name"], &deleted["rollout"]),
        (&json!("new_profile"), &json!(60.0))
    );
    let (status, v) = api
        .call(Method::GET, "/api/v1/flags/new_profile", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = api
        .call(Method::DELETE, "/api/v1/flags/new_profile", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (_, events) = api
        .call(Method::GET, "/api/v1/events?kind=flag", None)
        .await;
    assert_eq!(events[4]["message"], "flag new_profile: deleted");
}

#[tokio::test]
async fn bad_edits_are_refused_and_change_nothing() {
    let api = api().await;
    api.put(
        "new_profile",
        json!({ "enabled": true, "rollout": 30, "allow": ["u1"] }),
    )
    .await;
    let stored = api.flag("new_profile").await;

    let refuse = |method: Method, path: &'static str, body: &'static str, want: StatusCode| {
        let api = &api;
        async move {
            let (status, _, bytes) = api.raw(method, path, body, &[]).await;
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            assert_eq!(status, want, "{path} {body}: {v}");
            assert!(v["error"].is_string(), "{v}");
            v
        }
    };
    let p = "/api/v1/flags/new_profile";

    // An unknown name: 404 naming the closest.
    let v = refuse(
        Method::PATCH,
        "/api/v1/flags/new_proflie",
        r#"{"rollout": 60}"#,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(v["error"], "no flag named `new_proflie`");
    assert_eq!(v["detail"], "did you mean `new_profile`?");
    let v = refuse(
        Method::GET,
        "/api/v1/flags/new-profile",
        "",
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(v["detail"], "did you mean `new_profile`?");
    let v = refuse(
        Method::PATCH,
        "/api/v1/flags/zzz",
        r#"{"rollout": 60}"#,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        v["detail"].as_str().unwrap_or("").contains("--create"),
        "{v}"
    );

    // Invalid results: every problem listed.
    let v = refuse(
        Method::PATCH,
        p,
        r#"{"rollout": 150, "deny": ["u1"]}"#,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        v["error"],
        "flag `new_profile` would be invalid; nothing was changed"
    );
    assert_eq!(
        v["detail"],
        json!([
            "rollout must be a percent between 0 and 100, found 150",
            "user `u1` is in both `allow` and `deny`: keep it in one"
        ])
    );
    let v = refuse(
        Method::PUT,
        p,
        r#"{"constraints": [{"path_prefix": "beta"}]}"#,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        v["detail"],
        json!(["path prefix must start with `/`, found \"beta\""])
    );
    // Bodies that do not parse: the serde error.
    let v = refuse(
        Method::PATCH,
        p,
        r#"{"constraints": [{"cookie": "x"}]}"#,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("unknown field `cookie`"),
        "{v}"
    );
    let v = refuse(
        Method::PATCH,
        p,
        r#"{"rolout": 60}"#,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or("")
            .contains("unknown field `rolout`"),
        "{v}"
    );
    refuse(Method::PATCH, p, "", StatusCode::BAD_REQUEST).await;
    refuse(Method::PUT, p, "{rollout", StatusCode::BAD_REQUEST).await;
    // Names the gateway could not send as a header.
    let v = refuse(
        Method::PUT,
        "/api/v1/flags/new%20profile",
        "{}",
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(v["error"], "invalid flag name \"new profile\"");

    assert_eq!(api.flag("new_profile").await, stored, "nothing was written");
    let (_, list) = api.call(Method::GET, "/api/v1/flags", None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test]
async fn ofrep_answers_field_by_field() {
    let api = api().await;
    api.put("beta", json!({ "enabled": true })).await;
    api.put("dark", json!({})).await;
    api.put(
        "color",
        json!({ "enabled": true, "variants": [{ "name": "blue", "weight": 50 }, { "name": "green", "weight": 50 }] }),
    )
    .await;
    api.put(
        "de_only",
        json!({ "enabled": true, "constraints": [{ "header": "X-Country", "equals": "DE" }] }),
    )
    .await;
    api.put(
        "half",
        json!({ "enabled": true, "rollout": 50, "force_on_add": [{ "header": "X-Beta", "values": ["1"] }] }),
    )
    .await;

    // A boolean flag: the exact success shape.
    let (status, v) = api.evaluate("beta", json!({ "targetingKey": "u1" })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({ "key": "beta", "value": true, "reason": "STATIC", "variant": "on" })
    );
    let (status, v) = api.evaluate("dark", json!({ "targetingKey": "u1" })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({ "key": "dark", "value": false, "reason": "DISABLED", "variant": "off" })
    );

    // A variant flag answers the variant's name, split by the targeting key (sticky).
    let (status, v) = api.evaluate("color", json!({ "targetingKey": "u1" })).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["value"] == "blue" || v["value"] == "green", "{v}");
    assert_eq!(v["variant"], v["value"]);
    assert_eq!(v["reason"], "SPLIT");
    let (_, again) = api.evaluate("color", json!({ "targetingKey": "u1" })).await;
    assert_eq!(again, v);

    // Context attributes named like headers feed the header rules.
    let (_, v) = api
        .evaluate(
            "de_only",
            json!({ "targetingKey": "u1", "X-Country": "DE" }),
        )
        .await;
    assert_eq!(
        (&v["value"], &v["reason"]),
        (&json!(true), &json!("STATIC"))
    );
    let (_, v) = api
        .evaluate(
            "de_only",
            json!({ "targetingKey": "u1", "X-Country": "FR" }),
        )
        .await;
    assert_eq!(
        (&v["value"], &v["reason"], &v["variant"]),
        (&json!(false), &json!("TARGETING_MATCH"), &json!("off"))
    );
    let (_, v) = api.evaluate("half", json!({ "X-Beta": "1" })).await;
    assert_eq!(
        (&v["value"], &v["reason"]),
        (&json!(true), &json!("TARGETING_MATCH")),
        "forced on without a key"
    );
    let (_, v) = api.evaluate("half", json!({ "targetingKey": "u1" })).await;
    assert_eq!(v["reason"], "SPLIT", "{v}");

    // Errors.
    let (status, v) = api.evaluate("half", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (&v["key"], &v["errorCode"]),
        (&json!("half"), &json!("TARGETING_KEY_MISSING"))
    );
    let (status, v) = api.evaluate("nope", json!({ "targetingKey": "u1" })).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        v,
        json!({ "key": "nope", "errorCode": "FLAG_NOT_FOUND", "errorDetails": "no flag named `nope`" })
    );
    let (status, _, bytes) = api
        .raw(
            Method::POST,
            "/ofrep/v1/evaluate/flags/beta",
            "{\"context\": ",
            &[],
        )
        .await;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (&v["key"], &v["errorCode"]),
        (&json!("beta"), &json!("PARSE_ERROR"))
    );
    assert!(v["errorDetails"].is_string(), "{v}");
    let (status, v) = api
        .call(
            Method::POST,
            "/ofrep/v1/evaluate/flags/beta",
            Some(json!({ "context": { "targetingKey": 7 } })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["errorCode"], "INVALID_CONTEXT");
    // An empty body is an empty context.
    let (status, _, _) = api
        .raw(Method::POST, "/ofrep/v1/evaluate/flags/beta", "", &[])
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn bulk_evaluation_carries_an_etag() {
    let api = api().await;
    api.put("beta", json!({ "enabled": true })).await;
    api.put("half", json!({ "enabled": true, "rollout": 50 }))
        .await;
    let body = r#"{"context": {}}"#;
    let path = "/ofrep/v1/evaluate/flags";
    let (status, headers, bytes) = api.raw(Method::POST, path, body, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert_eq!(
        v,
        json!({ "flags": [
            { "key": "beta", "value": true, "reason": "STATIC", "variant": "on" },
            { "key": "half", "errorCode": "TARGETING_KEY_MISSING",
              "errorDetails": "flag `half` is rolled out to part of the users: send a `targetingKey` in the context" }
        ] })
    );
    let etag = headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no ETag: {headers:?}"))
        .to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    let (status, headers, bytes) = api
        .raw(Method::POST, path, body, &[("if-none-match", &etag)])
        .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(bytes.is_empty());
    assert_eq!(
        headers.get("etag").and_then(|v| v.to_str().ok()),
        Some(etag.as_str())
    );

    // Another context, or a change of the flags, is another answer.
    let (status, _, _) = api
        .raw(
            Method::POST,
            path,
            r#"{"context": {"targetingKey": "u1"}}"#,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    api.put("beta", json!({ "enabled": false })).await;
    let (status, headers, _) = api
        .raw(Method::POST, path, body, &[("if-none-match", &etag)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(
        headers.get("etag").and_then(|v| v.to_str().ok()),
        Some(etag.as_str())
    );

    // A body that does not parse fails the request (no key).
    let (status, _, bytes) = api.raw(Method::POST, path, "nope", &[]).await;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(v["errorCode"], "PARSE_ERROR");
    assert!(v.get("key").is_none(), "{v}");
}

#[tokio::test]
async fn ofrep_is_a_read_and_edits_are_writes() {
    let reader = "reader-token-0123456789";
    let writer = "writer-token-0123456789";
    let tokens = Tokens::new(vec![
        Token {
            name: "ro".into(),
            value: reader.into(),
            rights: vec![shoal_spec::Right::Read],
        },
        Token {
            name: "rw".into(),
            value: writer.into(),
            rights: vec![shoal_spec::Right::Read, shoal_spec::Right::Write],
        },
    ]);
    let api = api_with(tokens).await;
    let as_writer = format!("Bearer {writer}");
    let as_reader = format!("Bearer {reader}");
    let (status, _, _) = api
        .raw(
            Method::PUT,
            "/api/v1/flags/beta",
            r#"{"enabled": true}"#,
            &[("authorization", &as_writer)],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = api
        .raw(
            Method::PATCH,
            "/api/v1/flags/beta",
            r#"{"enabled": false}"#,
            &[("authorization", &as_reader)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, bytes) = api
        .raw(
            Method::POST,
            "/ofrep/v1/evaluate/flags/beta",
            "{}",
            &[("authorization", &as_reader)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{bytes:?}");
    let (status, _, _) = api
        .raw(Method::POST, "/ofrep/v1/evaluate/flags/beta", "{}", &[])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_describes_flags_as_they_are_answered() {
    let api = api().await;
    let (_, doc) = api.call(Method::GET, "/api/v1/openapi.json", None).await;
    for (path, method) in [
        ("/api/v1/flags", "get"),
        ("/api/v1/flags/{name}", "get"),
        ("/api/v1/flags/{name}", "patch"),
        ("/api/v1/flags/{name}", "put"),
        ("/api/v1/flags/{name}", "delete"),
        ("/ofrep/v1/evaluate/flags", "post"),
        ("/ofrep/v1/evaluate/flags/{key}", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let view = api
        .put(
            "beta",
            json!({ "enabled": true, "variants": [{ "name": "a", "weight": 1 }] }),
        )
        .await;
    let (_, success) = api.evaluate("beta", json!({ "targetingKey": "u" })).await;
    let (_, failure) = api.evaluate("nope", json!({})).await;
    let schemas = &doc["components"]["schemas"];
    for (schema, value) in [
        ("FlagView", &view),
        ("OfrepSuccess", &success),
        ("OfrepError", &failure),
        (
            "FlagChange",
            &serde_json::to_value(shoal_flags::FlagChange::default()).unwrap_or_default(),
        ),
    ] {
        let keys = value
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        assert!(!keys.is_empty(), "{schema}: {value}");
        for key in keys {
            assert!(
                schemas[schema]["properties"][&key].is_object(),
                "{schema}.{key} is not described"
            );
        }
    }
}
