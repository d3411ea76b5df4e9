//! Tests of `[platform.tls]`: every field read, paths resolved, where `cert` is
//! written kept, bad and missing values refused at their `LINE:COLUMN`.

use std::path::Path;

use super::*;
use crate::{parse_str_with, AssumeExists, Spec};

const SERVICE: &str = "[services.a]\ncommand = \"x\"\n";

fn parse(src: &str) -> Result<Spec, Vec<String>> {
    parse_str_with(src, "shoal.toml", Path::new("/app"), &AssumeExists).map_err(|e| {
        e.diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect()
    })
}

fn tls(src: &str) -> TlsSpec {
    match parse(&format!("{src}\n{SERVICE}")) {
        Ok(spec) => spec.platform.tls.expect("a tls section"),
        Err(e) => panic!("expected a valid file, got {e:#?}"),
    }
}

fn errors(src: &str) -> Vec<String> {
    match parse(&format!("{src}\n{SERVICE}")) {
        Ok(_) => panic!("expected errors, the file was accepted:\n{src}"),
        Err(e) => e,
    }
}

#[test]
fn no_section_is_no_tls() {
    let spec = parse(SERVICE).expect("valid");
    assert_eq!(spec.platform.tls, None);
    assert!(!spec.platform.allow_plaintext_api);
}

#[test]
fn every_field_is_read() {
    let t = tls(r#"[platform.tls]
cert = "certs/site.pem"
key = "certs/site.key"
min_version = "1.3"
redirect = "127.0.0.1:8081"
api = true

[platform.tls.certs.api]
cert = "/etc/ssl/api.pem"
key = "/etc/ssl/api.key"
"#);
    assert_eq!(t.certs.len(), 2);
    assert_eq!(t.certs[0].cert, Path::new("/app/certs/site.pem"));
    assert_eq!(t.certs[0].key, Path::new("/app/certs/site.key"));
    assert_eq!(t.certs[0].location.to_string(), "shoal.toml:2:8");
    assert_eq!(t.certs[1].cert, Path::new("/etc/ssl/api.pem"));
    assert_eq!(t.certs[1].location.to_string(), "shoal.toml:9:8");
    assert_eq!(t.min_version, TlsVersion::Tls13);
    assert_eq!(t.redirect, "127.0.0.1:8081".parse().ok());
    assert!(t.api);
}

#[test]
fn defaults_are_tls12_no_redirect_no_api() {
    let t = tls("[platform.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n");
    assert_eq!(t.min_version, TlsVersion::Tls12);
    assert_eq!((t.redirect, t.api), (None, false));
}

#[test]
fn a_missing_key_or_cert_is_named() {
    assert_eq!(
        errors("[platform.tls]\ncert = \"c.pem\"\n"),
        ["1:1: missing field `key` in [platform.tls]"]
    );
    assert_eq!(
        errors("[platform.tls]\napi = true\n"),
        ["1:1: [platform.tls] needs `cert` and `key`: the default certificate's chain (PEM) and its private key"]
    );
    let e = errors("[platform.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n[platform.tls.certs.api]\nkey = \"a.key\"\n");
    assert_eq!(e, ["4:1: missing field `cert` in [platform.tls.certs.api]"]);
}

#[test]
fn bad_values_are_refused_where_written() {
    let e = errors("[platform.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nmin_version = \"1.1\"\nredirect = \"nowhere\"\napi = \"yes\"\nciphers = 1\n");
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].starts_with("4:15: "), "{e:#?}");
    assert!(e[1].starts_with("5:12: invalid address"), "{e:#?}");
    assert!(e[2].starts_with("6:7: "), "{e:#?}");
    assert!(
        e[3].starts_with("7:1: ") && e[3].contains("ciphers"),
        "{e:#?}"
    );
    assert_eq!(
        errors("[platform.tls]\ncert = \"\"\nkey = \"k\"\n"),
        ["2:8: `cert` must not be empty"]
    );
}

#[test]
fn the_plaintext_opt_out_is_read() {
    let spec = parse(&format!(
        "[platform]\nallow_plaintext_api = true\n{SERVICE}"
    ))
    .expect("valid");
    assert!(spec.platform.allow_plaintext_api);
}

#[test]
fn a_service_s_tls_is_read() {
    let spec = parse("[services.a]\ncommand = \"x\"\n[services.a.tls]\nca = \"certs/ca.pem\"\nserver_name = \"a.internal\"\n").expect("valid");
    let t = spec.services["a"].tls.clone().expect("tls");
    assert_eq!(t.ca.as_deref(), Some(Path::new("/app/certs/ca.pem")));
    assert_eq!(t.server_name.as_deref(), Some("a.internal"));
    assert!(!t.skip_verify);
    assert_eq!(t.location.to_string(), "shoal.toml:3:1");
    let spec =
        parse("[services.a]\ncommand = \"x\"\ntls = { skip_verify = true }\n").expect("valid");
    assert_eq!(
        spec.services["a"]
            .tls
            .as_ref()
            .map(|t| (t.ca.clone(), t.skip_verify)),
        Some((None, true))
    );
    assert_eq!(
        parse("[services.a]\ncommand = \"x\"\n")
            .expect("valid")
            .services["a"]
            .tls,
        None
    );
}

#[test]
fn a_service_s_bad_tls_is_refused() {
    let e = parse("[services.a]\ncommand = \"x\"\nprotocol = \"h2c\"\ntls = { cas = \"x\" }\n")
        .expect_err("refused");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e.iter().any(|m| m.contains("cas")), "{e:#?}");
    assert!(
        e.iter()
            .any(|m| m.starts_with("4:7: `tls` cannot be used with protocol")),
        "{e:#?}"
    );
}
