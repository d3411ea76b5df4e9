//! What the dashboard reads beside the Consul API: the public `auth/self`, the KV listing,
//! and the page itself served at `/ui/` without a token.

mod common;

use hyper::{Method, StatusCode};
use serde_json::json;
use shoal_api::{Token, Tokens};
use shoal_spec::Right;

fn tokens() -> Tokens {
    Tokens::new(vec![
        Token {
            name: "viewer".into(),
            value: "view-secret".into(),
            rights: vec![Right::Read],
        },
        Token {
            name: "ops".into(),
            value: "ops-secret".into(),
            rights: vec![Right::Read, Right::Write],
        },
    ])
}

#[tokio::test]
async fn auth_self_says_what_a_token_may_do_without_needing_one() {
    let open = common::serve(Tokens::default(), None).await;
    let (status, body) = open.call(Method::GET, "/api/v1/auth/self", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({ "tokens": false, "name": null, "rights": ["read", "write", "secrets", "chaos"] })
    );

    let api = common::serve(tokens(), None).await;
    let (status, body) = api.call(Method::GET, "/api/v1/auth/self", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "public: the page asks before it has a token"
    );
    assert_eq!(body, json!({ "tokens": true, "name": null, "rights": [] }));
    let (_, body) = api
        .call_as(Method::GET, "/api/v1/auth/self", None, Some("wrong"))
        .await;
    assert_eq!(body["rights"], json!([]));
    let (_, body) = api
        .call_as(Method::GET, "/api/v1/auth/self", None, Some("view-secret"))
        .await;
    assert_eq!(
        body,
        json!({ "tokens": true, "name": "viewer", "rights": ["read"] })
    );
    let (_, body) = api
        .call_as(Method::GET, "/api/v1/auth/self", None, Some("ops-secret"))
        .await;
    assert_eq!(body["rights"], json!(["read", "write"]));
}

#[tokio::test]
async fn the_page_is_public_and_its_data_is_not() {
    let api = common::serve(tokens(), None).await;
    let (status, headers, body) = api.raw(Method::GET, "/ui/", "", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-security-policy"]
        .to_str()
        .is_ok_and(|v| v.contains("script-src 'self'")));
    assert!(body.starts_with(b"<!doctype html>"));
    let (status, _) = api.call(Method::GET, "/api/v1/services", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api.call(Method::GET, "/api/v1/kv", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn kv_lists_entries_as_text_or_binary_and_empty_as_a_list() {
    let api = common::serve(Tokens::default(), None).await;
    let (status, body) = api.call(Method::GET, "/api/v1/kv", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["entries"], json!([]));

    for (key, value) in [
        ("app/name", &b"<script>x</script>"[..]),
        ("app/blob", &[0xff, 0xfe, 0x00][..]),
        ("other", &b"1"[..]),
    ] {
        let (status, _, _) = api
            .raw(
                Method::PUT,
                &format!("/v1/kv/{key}"),
                std::str::from_utf8(value).unwrap_or("\u{fffd}"),
                &[],
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, body) = api.call(Method::GET, "/api/v1/kv?prefix=app/", None).await;
    let entries = body["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 2, "{body}");
    assert_eq!(entries[0]["key"], "app/blob");
    assert_eq!(entries[1]["key"], "app/name");
    assert_eq!(entries[1]["value"], "<script>x</script>");
    assert_eq!(entries[1]["binary"], false);
    assert_eq!(body["truncated"], false);
}
