//! `shoal profile` end to end: a real Rust instance (the demo's publications service,
//! whose `?work=N` path burns CPU in `citation_rank`) sampled by perf and a real Python
//! instance (a known hot function) sampled by py-spy, each under load through the
//! gateway; the top function is the known one; the flame graph, pprof and diff are
//! served; a missing, dead or unsamplable instance gives a clear error and changes
//! nothing.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{Traffic, BIN, HEALTHY};
use serde_json::Value;
use shoal_testkit::Platform;

fn publications_bin() -> PathBuf {
    let bin = PathBuf::from(BIN).with_file_name("shoal-demo-publications");
    assert!(
        bin.exists(),
        "build the demo first: cargo build --workspace --bins ({} missing)",
        bin.display()
    );
    bin
}

/// The publications service. Its instance is kept busy on purpose while perf samples
/// it, on a 2-core machine that runs other tests at once, so its health check is
/// lenient (3 s, 5 failures): a slow `/health` answer under that load is not a dead
/// instance, and taking it for one empties the version and fails the load with 503s.
fn publications(instances: u32) -> String {
    format!(
        r#"
[services.publications]
command = ["{}"]
version = "3"
instances = {instances}

[services.publications.health]
http = "/health"
interval = "500ms"
timeout = "3s"
unhealthy_threshold = 5
"#,
        publications_bin().display()
    )
}

/// A Python service whose requests spend their time in `hot_spin`, with the same
/// lenient health check as [`publications`].
const HOT_PY: &str = include_str!("../../../examples/profiling/hot.py");

const PY_SERVICE: &str = r#"
[services.hotpy]
command = ["python3", "hot.py"]
instances = 1

[services.hotpy.health]
http = "/health"
interval = "500ms"
timeout = "3s"
unhealthy_threshold = 5
"#;

/// `shoal profile ARGS --json`: the profiles taken (the CLI exits 0).
fn profile(p: &Platform, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["profile"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = p.cli(&all).expect("shoal profile");
    assert!(
        out.status.success(),
        "{all:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    v["profiles"].as_array().cloned().unwrap_or_default()
}

fn top_function(profile: &Value) -> String {
    profile["top"][0]["function"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn profiles_kept(p: &Platform) -> usize {
    p.api("GET", "/api/v1/profiles", None)
        .map(|r| r.json()["profiles"].as_array().map_or(0, Vec::len))
        .unwrap_or(0)
}

#[test]
fn a_rust_instance_under_load_shows_its_hot_function_first() {
    let p = Platform::builder(BIN)
        .services(&publications(1))
        .start()
        .expect("start");
    p.wait_healthy("publications", 1, HEALTHY).expect("healthy");
    let load = Traffic::start(&p, 2, "publications", "/publications/ada?work=20");
    load.wait_for(&p, 10);
    let taken = profile(&p, &["publications", "--seconds", "3"]);
    let (ok, failed, errors) = load.finish();
    assert_eq!(failed, 0, "{errors:?}");
    assert_eq!(taken.len(), 1);
    let prof = &taken[0];
    println!(
        "rust: {} samples, top {:?}, {} req/s during, sampler {} cores, {ok} requests",
        prof["samples"], prof["top"][0], prof["req_per_s"], prof["overhead"]["sampler_cores"]
    );
    assert_eq!(prof["sampler"], "perf");
    assert_eq!(prof["language"], "native");
    assert_eq!(prof["service"], "publications");
    assert_eq!(prof["version"], "3");
    assert!(prof["samples"].as_u64().unwrap_or(0) >= 20, "{prof}");
    assert_eq!(
        top_function(prof),
        "shoal_demo_publications::citation_rank",
        "{}",
        prof["top"]
    );
    assert!(prof["req_per_s"].as_f64().unwrap_or(0.0) > 0.0, "{prof}");
    assert!(prof["overhead"]["sampler_cpu_ms"].as_u64().is_some());

    // The flame graph names it; pprof is gzip'd; the folded stacks and the list hold it.
    let id = prof["id"].as_str().unwrap_or_default().to_string();
    let svg = p
        .api(
            "GET",
            &format!("/api/v1/profiles/{id}/flamegraph.svg"),
            None,
        )
        .expect("svg");
    assert_eq!(svg.status, 200);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(svg.text().contains("citation_rank"));
    let pprof = p
        .api("GET", &format!("/api/v1/profiles/{id}/pprof"), None)
        .expect("pprof");
    assert_eq!(pprof.status, 200);
    assert_eq!(pprof.body.get(..2), Some(&[0x1f, 0x8b][..]), "gzip magic");
    let folded = p
        .api("GET", &format!("/api/v1/profiles/{id}/folded"), None)
        .expect("folded");
    assert!(folded.text().contains("citation_rank"));
    assert_eq!(profiles_kept(&p), 1);

    // The CLI's table and saved files.
    let dir = tempfile::tempdir().expect("tmp");
    let svg_path = dir.path().join("flame.svg");
    let out = p
        .cli(&[
            "profile",
            "--show",
            &id,
            "--top",
            "5",
            "--svg",
            &svg_path.to_string_lossy(),
        ])
        .expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("SELF%  SELF  TOTAL%  TOTAL  FUNCTION"),
        "{text}"
    );
    assert!(text.contains("citation_rank"), "{text}");
    let saved = std::fs::read_to_string(&svg_path).unwrap_or_default();
    assert!(saved.starts_with("<?xml") && saved.contains("citation_rank"));

    // A second profile, then the two side by side.
    let load = Traffic::start(&p, 2, "publications", "/publications/ada?work=20");
    load.wait_for(&p, 5);
    let second = profile(&p, &["publications", "--seconds", "2"]);
    let _ = load.finish();
    let id2 = second[0]["id"].as_str().unwrap_or_default().to_string();
    let diff = p
        .api("GET", &format!("/api/v1/profiles/{id}/diff/{id2}"), None)
        .expect("diff");
    assert_eq!(diff.status, 200, "{}", diff.text());
    let rows = diff.json()["functions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(rows.iter().any(
        |r| r["function"] == "shoal_demo_publications::citation_rank"
            && r["self_a"].as_f64().unwrap_or(0.0) > 0.0
            && r["self_b"].as_f64().unwrap_or(0.0) > 0.0
    ));
    let out = p.cli(&["profile", "--diff", &id, &id2]).expect("cli");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("SELF% A"));
    assert_eq!(profiles_kept(&p), 2);
}

#[test]
fn a_python_instance_is_sampled_by_py_spy_with_python_names() {
    let p = Platform::builder(BIN)
        .file("hot.py", HOT_PY)
        .services(PY_SERVICE)
        .start()
        .expect("start");
    p.wait_healthy("hotpy", 1, HEALTHY).expect("healthy");
    let load = Traffic::start(&p, 2, "hotpy", "/spin");
    load.wait_for(&p, 10);
    let taken = profile(&p, &["hotpy", "--seconds", "3"]);
    let (_, failed, errors) = load.finish();
    assert_eq!(failed, 0, "{errors:?}");
    let prof = &taken[0];
    println!(
        "python: {} samples, top {:?}, sampler {} cores",
        prof["samples"], prof["top"][0], prof["overhead"]["sampler_cores"]
    );
    assert_eq!(prof["sampler"], "py-spy");
    assert_eq!(prof["language"], "python");
    assert!(prof["samples"].as_u64().unwrap_or(0) >= 20, "{prof}");
    assert!(
        top_function(prof).starts_with("hot_spin"),
        "{}",
        prof["top"]
    );
}

#[test]
fn what_cannot_be_profiled_says_why_and_changes_nothing() {
    // No sampler anywhere: the overrides name files that do not exist.
    let p = Platform::builder(BIN)
        .env("SHOAL_PERF", "/nonexistent/perf")
        .env("SHOAL_PY_SPY", "/nonexistent/py-spy")
        .file("hot.py", HOT_PY)
        .services(&format!(
            "{}{PY_SERVICE}{}",
            publications(1),
            r#"
[services.dead]
command = ["sh", "-c", "exit 3"]
instances = 1
restart = { backoff = { initial = "30s", max = "30s" } }
"#
        ))
        .start()
        .expect("start");
    p.wait_healthy("publications", 1, HEALTHY).expect("healthy");
    p.wait_healthy("hotpy", 1, HEALTHY).expect("healthy");
    let before = p.instances("publications");
    let post = |body: &str| {
        let r = p.api("POST", "/api/v1/profiles", Some(body)).expect("api");
        (r.status, r.text())
    };

    let (status, text) = post(r#"{"target":"publications"}"#);
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("apt install linux-perf"), "{text}");
    let (status, text) = post(r#"{"target":"hotpy","seconds":1}"#);
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("pip install py-spy"), "{text}");

    let (status, text) = post(r#"{"target":"publicatons"}"#);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("no such service or instance"), "{text}");
    let (status, text) = post(r#"{"target":"publications-nope"}"#);
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("did you mean publications"), "{text}");

    // An instance whose process keeps exiting is not running: 409, with how it ended.
    shoal_testkit::wait_until("the dead instance exits", Duration::from_secs(10), || {
        p.instances("dead")
            .first()
            .filter(|i| i["state"] != "running")
            .cloned()
    })
    .expect("dead");
    let dead = p.instances("dead");
    let dead_id = dead[0]["id"].as_str().unwrap_or_default().to_string();
    let (status, text) = post(&format!(r#"{{"target":"{dead_id}"}}"#));
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("is not running"), "{text}");
    let (status, text) = post(r#"{"target":"dead"}"#);
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("no running instance of dead"), "{text}");

    // Bounds: refused before anything runs; the CLI refuses them without sending.
    for (body, says) in [
        (
            r#"{"target":"publications","seconds":0}"#,
            "seconds must be 1 to 60",
        ),
        (
            r#"{"target":"publications","rate":5000}"#,
            "rate must be 1 to 999",
        ),
        (r#"{"target":"publications","secs":3}"#, "secs"),
    ] {
        let (status, text) = post(body);
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains(says), "{body}: {text}");
    }
    let out = p
        .cli(&["profile", "publications", "--seconds", "100"])
        .expect("cli");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("seconds must be 1 to 60"));
    let out = p.cli(&["profile", "publicatons"]).expect("cli");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such service or instance"));
    let r = p
        .api("GET", "/api/v1/profiles/prof-00000000000-0000", None)
        .expect("api");
    assert_eq!(r.status, 404);

    // Nothing changed: no profile kept, the instances untouched.
    assert_eq!(profiles_kept(&p), 0);
    let after = p.instances("publications");
    let key = |v: &[Value]| {
        v.iter()
            .map(|i| (i["id"].clone(), i["pid"].clone(), i["restarts"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&before), key(&after));
}
