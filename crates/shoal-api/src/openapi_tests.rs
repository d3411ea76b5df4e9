//! The OpenAPI document against the code: every route of `/api/v1` and `/ofrep/v1` is
//! documented with exactly its methods, every `$ref` resolves, every path parameter is
//! declared, every error answer has a JSON schema.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::spec;

/// The `(path, method)` of every operation of `doc`, methods upper case.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let empty = serde_json::Map::new();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap_or(&empty) {
        for method in item.as_object().unwrap_or(&empty).keys() {
            out.push((path.clone(), method.to_ascii_uppercase()));
        }
    }
    out.sort();
    out
}

/// The prefixes the document describes (the Consul API, `/metrics` and `/ui` it does not).
const DOCUMENTED: [&str; 2] = ["/api/v1/", "/ofrep/v1/"];

/// The `(path, METHOD)` of every `.route("PATH", get(..).post(..))` in `source`, paths
/// written as OpenAPI writes them (`{*name}` is `{name}`).
fn routes_in(source: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let call = &rest[..end];
        let Some(path) = call.split('"').nth(1) else {
            continue;
        };
        for method in ["get", "post", "put", "patch", "delete"] {
            let call_of = format!("{method}(");
            // `get(..)` or `.post(..)`, not a handler named `flags::delete`.
            let routed = call.match_indices(&call_of).any(|(i, _)| {
                !call[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c == ':' || c == '_' || c.is_alphanumeric())
            });
            if routed {
                out.push((path.replace("{*", "{"), method.to_ascii_uppercase()));
            }
        }
    }
    out
}

/// The documented routes of this crate's sources and of the metrics router merged into it.
fn routed() -> BTreeSet<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<_> = std::fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        // Not this file: its example routes are not the router's.
        .filter(|p| p.extension().is_some_and(|x| x == "rs") && !p.ends_with("openapi_tests.rs"))
        .collect();
    files.push(src.join("../../shoal-metrics/src/http.rs"));
    let mut all = BTreeSet::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        all.extend(
            routes_in(&text)
                .into_iter()
                .filter(|(p, _)| DOCUMENTED.iter().any(|d| p.starts_with(d))),
        );
    }
    all
}

#[test]
fn every_route_is_documented_and_every_documented_operation_routed() {
    let routed = routed();
    let documented: BTreeSet<(String, String)> = operations(&spec()).into_iter().collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes missing from the OpenAPI document (add them to the handler file's \
         `openapi_paths`): {undocumented:?}; documented but not routed: {unrouted:?}"
    );
    // The scan sees the routes it should (so a change of style cannot empty it silently).
    assert!(routed.contains(&("/api/v1/secrets/{name}".into(), "PUT".into())));
    assert!(routed.contains(&("/api/v1/metrics/query".into(), "GET".into())));
    assert!(routed.contains(&("/ofrep/v1/evaluate/flags".into(), "POST".into())));
    assert!(routed.len() > 40, "{routed:?}");
}

#[test]
fn the_route_scan_reads_method_chains() {
    let src = r#"
        .route("/api/v1/a/{*name}", get(x::get).put(x::put).delete(x::delete))
        .route("/api/v1/b", post(
            y::post,
        ))
        .route("/v1/kv", get(kv::get))"#;
    assert_eq!(
        routes_in(src),
        [
            ("/api/v1/a/{name}".to_string(), "GET".to_string()),
            ("/api/v1/a/{name}".into(), "PUT".into()),
            ("/api/v1/a/{name}".into(), "DELETE".into()),
            ("/api/v1/b".into(), "POST".into()),
            ("/v1/kv".into(), "GET".into()),
        ]
    );
}

/// Every value of `key` anywhere in `v`.
fn all_of<'a>(v: &'a Value, key: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == key {
                    out.push(x);
                }
                all_of(x, key, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| all_of(x, key, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = spec();
    let mut refs = Vec::new();
    all_of(&doc, "$ref", &mut refs);
    assert!(refs.len() > 20);
    for r in refs {
        let name = r
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "{name}");
    }
}

#[test]
fn every_operation_declares_its_parameters_and_answers() {
    let doc = spec();
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_ascii_lowercase()];
        let what = format!("{method} {path}");
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let in_path: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .collect();
        assert_eq!(declared, in_path, "{what}: path parameters");
        let responses = op["responses"]
            .as_object()
            .map_or_else(Vec::new, |r| r.iter().collect());
        assert!(
            responses.iter().any(|(code, _)| code.starts_with('2')),
            "{what}: no success answer"
        );
        for (code, answer) in responses {
            assert!(
                answer["description"].is_string(),
                "{what} {code}: description"
            );
            if code.starts_with('4') || code.starts_with('5') {
                let schema = &answer["content"]["application/json"]["schema"]["$ref"];
                assert!(
                    schema == "#/components/schemas/Error"
                        || schema == "#/components/schemas/OfrepError",
                    "{what} {code}: an error answer is JSON Error (or OFREP's)"
                );
            }
        }
        let public = op["security"] == serde_json::json!([]);
        assert_eq!(
            public,
            op["responses"]["401"].is_null(),
            "{what}: 401 unless public"
        );
        if op.get("requestBody").is_some() {
            assert!(op["responses"]["413"].is_object(), "{what}: 413");
        }
    }
}
