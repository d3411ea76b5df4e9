//! API tokens: rights per request, Consul's three ways to present a token, and
//! the refusal to serve an open API beyond loopback.

mod common;

use common::BIN;
use shoal_testkit::{request, Platform};

const ADMIN: &str = "admin-token-0123456789abcdef";
const VIEWER: &str = "viewer-token-0123456789abcdef";

#[test]
fn requests_need_a_token_with_the_right_rights() {
    let p = Platform::builder(BIN)
        .platform(r#"tokens = { admin = { env = "T_ADMIN", rights = ["read", "write", "secrets"] }, viewer = { env = "T_VIEW" } }"#)
        .env("T_ADMIN", ADMIN)
        .env("T_VIEW", VIEWER)
        .start()
        .expect("start");
    let get = |path: &str, headers: &str| {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
        raw_request(p.http, &raw)
    };
    let (status, body) = get("/api/v1/services", "");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    assert_eq!(get("/v1/status/leader", "").0, 200, "public");
    assert_eq!(
        get("/api/v1/services", &format!("X-Consul-Token: {VIEWER}\r\n")).0,
        200
    );
    assert_eq!(
        get(
            "/api/v1/services",
            &format!("Authorization: Bearer {ADMIN}\r\n")
        )
        .0,
        200
    );
    assert_eq!(get(&format!("/api/v1/services?token={VIEWER}"), "").0, 200);
    assert_eq!(
        get(
            "/api/v1/services",
            "X-Consul-Token: wrong-token-0123456789\r\n"
        )
        .0,
        403
    );

    // Writes need `write`; secrets need `secrets`.
    let put = |token: &str| {
        request(
            p.http,
            "PUT",
            &format!("/v1/kv/app/x?token={token}"),
            None,
            Some(b"1"),
        )
        .expect("put")
        .status
    };
    assert_eq!(put(VIEWER), 403);
    assert_eq!(put(ADMIN), 200);
    let (status, body) = get(
        "/api/v1/secrets/db",
        &format!("X-Consul-Token: {VIEWER}\r\n"),
    );
    assert_eq!(status, 403);
    assert!(body.contains("secrets"), "{body}");

    // The CLI sends SHOAL_TOKEN.
    let out = p.cli(&["kv", "get", "app/x"]).expect("cli");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("token"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = p
        .cli_env(&["kv", "get", "app/x"], &[("SHOAL_TOKEN", VIEWER)])
        .expect("cli");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");
    // Token values never reach shoal's own output.
    assert!(!p.stderr().contains(ADMIN) && !p.stderr().contains(VIEWER));
}

#[test]
fn an_open_api_beyond_loopback_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("shoal.toml");
    std::fs::write(
        &file,
        "[platform]\nhttp = \"0.0.0.0:0\"\ndata_dir = \"data\"\n",
    )
    .expect("write");
    let out = std::process::Command::new(BIN)
        .arg("up")
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refuses") && err.contains("tokens"), "{err}");

    // A token whose environment variable is unset is an error, not an open API.
    std::fs::write(
        &file,
        "[platform]\ndata_dir = \"data\"\ntokens = { ci = { env = \"SHOAL_TEST_UNSET_TOKEN\" } }\n",
    )
    .expect("write");
    let out = std::process::Command::new(BIN)
        .arg("up")
        .arg(&file)
        .env_remove("SHOAL_TEST_UNSET_TOKEN")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHOAL_TEST_UNSET_TOKEN"));
}

fn raw_request(addr: std::net::SocketAddr, raw: &str) -> (u16, String) {
    common::raw_http(addr, raw)
}
