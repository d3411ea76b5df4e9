//! The dashboard's routes: index, assets, ETags, security headers, no traversal.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

async fn get(path: &str, etag: Option<&str>) -> Response {
    let mut req = Request::get(path);
    if let Some(e) = etag {
        req = req.header(header::IF_NONE_MATCH, e);
    }
    router::<()>()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
}

#[tokio::test]
async fn the_index_is_served_with_a_strict_policy() {
    let resp = get("/ui/", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"));
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert!(body.starts_with(b"<!doctype html>"));
}

#[tokio::test]
async fn ui_without_slash_redirects() {
    let resp = get("/ui", None).await;
    assert_eq!(resp.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(resp.headers()[header::LOCATION], "/ui/");
}

#[tokio::test]
async fn an_unchanged_asset_answers_304() {
    let first = get("/ui/app.js", None).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers()[header::CONTENT_TYPE]
        .to_str()
        .expect("ascii")
        .starts_with("text/javascript"));
    let etag = first.headers()[header::ETAG]
        .to_str()
        .expect("ascii")
        .to_string();
    let again = get("/ui/app.js", Some(&etag)).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn unknown_and_escaping_paths_are_404() {
    for p in ["/ui/nope.js", "/ui/../Cargo.toml", "/ui/%2e%2e/Cargo.toml"] {
        assert_eq!(get(p, None).await.status(), StatusCode::NOT_FOUND, "{p}");
    }
}

#[test]
fn every_asset_has_a_known_content_type() {
    for (path, _) in manifest() {
        assert_ne!(content_type(path), "application/octet-stream", "{path}");
    }
}

#[test]
fn every_module_is_preloaded_by_the_index() {
    let index = std::str::from_utf8(asset("index.html").expect("index")).expect("utf-8");
    for (path, _) in manifest().filter(|(p, _)| p.ends_with(".js") && *p != "app.js") {
        assert!(
            index.contains(&format!("<link rel=\"modulepreload\" href=\"{path}\">")),
            "index.html does not preload {path}"
        );
    }
}
