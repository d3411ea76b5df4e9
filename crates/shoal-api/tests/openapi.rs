//! The served OpenAPI document against the real router on 127.0.0.1:0: every documented
//! operation reaches a handler (not the 404 of an unknown endpoint, not a 405), and with
//! tokens on, every operation the document does not mark public is refused without one.

mod common;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use serde_json::Value;
use shoal_api::{Token, Tokens};

/// `path` with each `{param}` replaced by a value its pattern accepts.
fn concrete(path: &str) -> String {
    path.replace("{id}", &"ab".repeat(16))
        .replace("{name}", "x")
        .replace("{service}", "x")
        .replace("{key}", "x")
}

/// Every documented `(METHOD, path)`, except those of routers this test does not mount
/// (`/api/v1/metrics/*` is served only by a process that keeps metrics).
fn operations(doc: &Value) -> Vec<(Method, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        if path.starts_with("/api/v1/metrics/") {
            continue;
        }
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .unwrap_or_else(|e| panic!("{path}: {method}: {e}"));
            out.push((method, path.clone()));
        }
    }
    out
}

/// The status of `method path` (`{}` as the body of a write), and the error of a JSON
/// answer; an event stream is not read.
async fn status_of(
    api: &common::Served,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let body = if method == Method::GET || method == Method::DELETE {
        ""
    } else {
        "{}"
    };
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{}{path}", api.addr));
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|e| panic!("{e}"));
    let resp = api
        .client
        .request(req)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = resp.status();
    let stream = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if stream {
        return (status, Value::Null);
    }
    let bytes = resp
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, v["error"].clone())
}

#[tokio::test]
async fn every_documented_operation_reaches_a_handler() {
    let api = common::serve(Tokens::default(), None).await;
    let (status, doc) = api.call(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let ops = operations(&doc);
    assert!(ops.len() > 40, "{}", ops.len());
    for (method, path) in ops {
        let (status, error) = status_of(&api, method.clone(), &concrete(&path), None).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_ne!(error, "no such endpoint", "{method} {path}");
        let code = status.as_str();
        let documented = &doc["paths"][&path][method.as_str().to_ascii_lowercase()]["responses"];
        assert!(
            documented.get(code).is_some(),
            "{method} {path} answered {code}, which its document does not list"
        );
    }
}

#[tokio::test]
async fn with_tokens_only_public_operations_answer_without_one() {
    let tokens = Tokens::new(vec![Token {
        name: "ops".into(),
        value: "a-token-of-at-least-16".into(),
        rights: vec![shoal_spec::Right::Read],
    }]);
    let api = common::serve(tokens, None).await;
    let (_, doc) = api.call(Method::GET, "/api/v1/openapi.json", None).await;
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.as_str().to_ascii_lowercase()];
        let public = op["security"] == serde_json::json!([]);
        let (status, _) = status_of(&api, method.clone(), &concrete(&path), None).await;
        if public {
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
}
