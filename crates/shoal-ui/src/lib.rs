//! Shoal's web dashboard: plain HTML, CSS and ES modules embedded in the binary at build
//! time and served at `/ui/` on the API listener, with a strict Content-Security-Policy.
//!
//! The page reads the same `/api/v1` and `/v1` endpoints the CLI does and follows the
//! server-sent event streams for live updates; it holds no state of its own. With tokens
//! configured it asks for one and sends it as a header (no cookies, so no CSRF).
//!
//! # Layout
//! - `build.rs`: embeds every file under `assets/` (path, bytes, ETag).
//! - `lib.rs`: the router, content types and security headers.
//! - `assets/`: the page itself (`index.html`, `app.js` and its modules, `style.css`).
//!
//! Setting `SHOAL_UI_DIR` to a folder serves the files from there instead, read on every
//! request: for working on the page without rebuilding Shoal.
#![forbid(unsafe_code)]

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::Path as UrlPath;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// The policy every page and asset is served with: only this origin's own scripts,
/// styles and API; no inline script, no frames, no forms posting elsewhere.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes: `/ui` (redirect), `/ui/` and `/ui/{path}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(|h: HeaderMap| async move { serve("index.html", &h) }),
        )
        .route(
            "/ui/{*path}",
            get(|UrlPath(p): UrlPath<String>, h: HeaderMap| async move { serve(&p, &h) }),
        )
}

/// The embedded asset at `path`, if any (for tests and size checks).
pub fn asset(path: &str) -> Option<&'static [u8]> {
    assets::ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, b, _)| *b)
}

/// Every embedded asset's path and size in bytes.
pub fn manifest() -> impl Iterator<Item = (&'static str, usize)> {
    assets::ASSETS.iter().map(|(p, b, _)| (*p, b.len()))
}

fn serve(path: &str, req: &HeaderMap) -> Response {
    if let Some(dir) = std::env::var_os("SHOAL_UI_DIR") {
        return serve_from_dir(Path::new(&dir), path);
    }
    let Some((_, bytes, etag)) = assets::ASSETS.iter().find(|(p, _, _)| *p == path) else {
        return not_found(path);
    };
    let matches = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == *etag));
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Body::from(*bytes).into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::ETAG, HeaderValue::from_static(etag));
    secure(resp)
}

/// Development: files from `dir`, never outside it.
fn serve_from_dir(dir: &Path, path: &str) -> Response {
    let rel = PathBuf::from(path);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return not_found(path);
    }
    match std::fs::read(dir.join(rel)) {
        Ok(bytes) => {
            let mut resp = Body::from(bytes).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(path)),
            );
            secure(resp)
        }
        Err(_) => not_found(path),
    }
}

fn not_found(path: &str) -> Response {
    let body = format!("{{\"error\":\"not found\",\"detail\":\"no dashboard file {path:?}\"}}");
    let mut resp = (StatusCode::NOT_FOUND, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    secure(resp)
}

fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The content type of a file by its extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests;
