//! Tokens: `X-Consul-Token`, `Authorization: Bearer` or `?token=`, checked against
//! the rights each request needs. With no tokens configured the API is open
//! (Shoal then listens on loopback only).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shoal_spec::Right;

use crate::error::ApiError;
use crate::state::ApiState;

/// One configured token: its name (for logs) and rights; the value is never logged.
#[derive(Clone)]
pub struct Token {
    pub name: String,
    pub value: String,
    pub rights: Vec<Right>,
}

/// Every configured token.
#[derive(Clone, Default)]
pub struct Tokens {
    tokens: Vec<Token>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tokens.iter().map(|t| t.name.as_str()).collect();
        write!(f, "Tokens({names:?})")
    }
}

impl Tokens {
    pub fn new(tokens: Vec<Token>) -> Self {
        Self { tokens }
    }

    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The token with this value, compared in constant time per token.
    fn find(&self, presented: &str) -> Option<&Token> {
        let mut found = None;
        for t in &self.tokens {
            if constant_time_eq(t.value.as_bytes(), presented.as_bytes()) {
                found = Some(t);
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The right a request needs; `None` for the few public endpoints.
pub fn required_right(method: &Method, path: &str) -> Option<Right> {
    const PUBLIC: [&str; 4] = [
        "/v1/status/leader",
        "/v1/status/peers",
        "/api/v1/openapi.json",
        // Says whether tokens are on and what the presented one may do; never data.
        "/api/v1/auth/self",
    ];
    // The dashboard's files hold no data: the page asks for a token, then sends it.
    if PUBLIC.contains(&path) || path == "/ui" || path.starts_with("/ui/") {
        return None;
    }
    if path.starts_with("/api/v1/secrets/") {
        return Some(Right::Secrets);
    }
    // Starting and stopping experiments is its own right; reading them is a read.
    if path == "/api/v1/chaos" || path.starts_with("/api/v1/chaos/") {
        return Some(if method == Method::GET || method == Method::HEAD {
            Right::Read
        } else {
            Right::Chaos
        });
    }
    // OFREP evaluates flags for a context: a read, though it is a POST.
    if path.starts_with("/ofrep/") {
        return Some(Right::Read);
    }
    if method == Method::GET || method == Method::HEAD {
        Some(Right::Read)
    } else {
        Some(Right::Write)
    }
}

/// The token a request presents, in Consul's order of precedence.
pub fn presented_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get("x-consul-token").and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_string());
    }
    if let Some(v) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(v.trim().to_string());
    }
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => match std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => out.push(b'%'),
            },
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Middleware: rejects requests whose token lacks the needed right.
pub async fn check(State(st): State<Arc<ApiState>>, req: Request, next: Next) -> Response {
    if !st.tokens.enabled() {
        return next.run(req).await;
    }
    let Some(right) = required_right(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let Some(presented) = presented_token(req.headers(), req.uri().query()) else {
        return ApiError::new(StatusCode::UNAUTHORIZED, "a token is required")
            .detail("send X-Consul-Token, Authorization: Bearer, or ?token=")
            .into_response();
    };
    match st.tokens.find(&presented) {
        Some(t) if t.rights.contains(&right) => next.run(req).await,
        Some(t) => {
            tracing::info!(token = %t.name, path = %req.uri().path(), needed = ?right, "permission denied");
            ApiError::new(StatusCode::FORBIDDEN, "permission denied")
                .detail(format!(
                    "token `{}` lacks the `{}` right",
                    t.name,
                    right_name(right)
                ))
                .into_response()
        }
        None => ApiError::new(StatusCode::FORBIDDEN, "permission denied")
            .detail("unknown token")
            .into_response(),
    }
}

/// `GET /api/v1/auth/self` (public): the presented token's name and rights (every right when
/// no tokens are configured; none for a missing or unknown token), so a client such as the
/// dashboard knows whether to ask for a token and what to offer.
pub async fn whoami(State(st): State<Arc<ApiState>>, req: Request) -> Response {
    let all = || vec!["read", "write", "secrets", "chaos"];
    if !st.tokens.enabled() {
        return axum::Json(serde_json::json!({ "tokens": false, "name": null, "rights": all() }))
            .into_response();
    }
    // Public: no token or an unknown one has no rights (and no name).
    let token =
        presented_token(req.headers(), req.uri().query()).and_then(|p| st.tokens.find(&p).cloned());
    let (name, rights): (Option<&str>, Vec<&str>) = match &token {
        Some(t) => (
            Some(t.name.as_str()),
            t.rights.iter().map(|r| right_name(*r)).collect(),
        ),
        None => (None, Vec::new()),
    };
    axum::Json(serde_json::json!({ "tokens": true, "name": name, "rights": rights }))
        .into_response()
}

fn right_name(r: Right) -> &'static str {
    match r {
        Right::Read => "read",
        Right::Write => "write",
        Right::Secrets => "secrets",
        Right::Chaos => "chaos",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_by_method_and_path() {
        assert_eq!(required_right(&Method::GET, "/v1/status/leader"), None);
        assert_eq!(required_right(&Method::GET, "/ui/app.js"), None);
        assert_eq!(required_right(&Method::GET, "/uix"), Some(Right::Read));
        assert_eq!(required_right(&Method::GET, "/api/v1/auth/self"), None);
        assert_eq!(required_right(&Method::GET, "/v1/kv/a"), Some(Right::Read));
        assert_eq!(required_right(&Method::PUT, "/v1/kv/a"), Some(Right::Write));
        assert_eq!(
            required_right(&Method::GET, "/api/v1/secrets"),
            Some(Right::Read)
        );
        assert_eq!(
            required_right(&Method::GET, "/api/v1/secrets/db"),
            Some(Right::Secrets)
        );
        assert_eq!(
            required_right(&Method::POST, "/ofrep/v1/evaluate/flags"),
            Some(Right::Read)
        );
        assert_eq!(
            required_right(&Method::GET, "/api/v1/chaos"),
            Some(Right::Read)
        );
        for (m, p) in [
            (Method::POST, "/api/v1/chaos"),
            (Method::DELETE, "/api/v1/chaos"),
            (Method::DELETE, "/api/v1/chaos/chaos-1"),
        ] {
            assert_eq!(required_right(&m, p), Some(Right::Chaos), "{m} {p}");
        }
        assert_eq!(
            required_right(&Method::PATCH, "/api/v1/flags/beta"),
            Some(Right::Write)
        );
    }

    #[test]
    fn tokens_are_found_in_headers_and_query() {
        let mut h = HeaderMap::new();
        assert_eq!(
            presented_token(&h, Some("a=1&token=x%2Fy")),
            Some("x/y".into())
        );
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Bearer abc".parse().expect("header"),
        );
        assert_eq!(presented_token(&h, None), Some("abc".into()));
        h.insert("x-consul-token", "consul".parse().expect("header"));
        assert_eq!(presented_token(&h, None), Some("consul".into()));
    }

    #[test]
    fn lookup_is_exact() {
        let t = Tokens::new(vec![Token {
            name: "ci".into(),
            value: "s3cr3t".into(),
            rights: vec![Right::Read],
        }]);
        assert!(t.find("s3cr3t").is_some());
        assert!(t.find("s3cr3").is_none());
        assert!(t.find("s3cr3tt").is_none());
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
