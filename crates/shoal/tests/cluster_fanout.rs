//! One cluster to operate: `shoal logs`, `traces` and `errors` asked of one node answer
//! with every node's data (each node keeps its own), and a node that does not answer is
//! named in the answer and warned about by the CLI. Three `shoal agent` nodes over a real
//! etcd on loopback.

mod cluster_support;
mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cluster_support::*;
use common::{traced_get, web_service};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use shoal_testkit::{wait_until, Etcd, Platform};

/// A service that answers 500 under `/boom/fail` and 200 elsewhere (`/health` too).
const BOOM: &str = r#"
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
INSTANCE = os.environ["SHOAL_INSTANCE"]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        status = 500 if self.path.startswith("/boom/fail") else 200
        body = json.dumps({"instance": INSTANCE, "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// Every node's API wants this token: the node asked passes the caller's on.
const TOKEN: &str = "fanout-test-token-0123456789abcdef";

/// A node as `cluster_support::node` starts it, with [`TOKEN`] required by its API.
fn token_node(etcd: &Etcd, name: &str) -> Platform {
    node_builder(etcd, name, &[])
        .file("boom.py", BOOM)
        .token(TOKEN)
        .start()
        .unwrap_or_else(|e| panic!("node {name}: {e}"))
}

/// How long gathered data may take to show up (access lines and error groups are
/// recorded off the request path).
const SHOWS: Duration = Duration::from_secs(20);

fn get(p: &Platform, path: &str) -> (Value, Option<Value>) {
    let r = p.api("GET", path, None).expect("api");
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    let nodes = r
        .header("x-shoal-nodes")
        .and_then(|h| serde_json::from_str(h).ok());
    (r.json(), nodes)
}

/// The nodes of the lines of `lines` that `keep` picks.
fn nodes_of(lines: &Value, keep: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    lines
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter(|l| keep(l))
        .filter_map(|l| l["node"].as_str().map(str::to_string))
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn is_output(l: &Value) -> bool {
    l["line"]
        .as_str()
        .is_some_and(|t| t.starts_with("app listening on"))
}

fn is_access(l: &Value) -> bool {
    l["instance"] == "proxy" && l["fields"]["kind"] == "access"
}

/// The `boom` http group as node `p` answers it (count, the answer's `nodes`).
fn boom_group(p: &Platform) -> (Option<Value>, Value) {
    let (v, _) = get(p, "/api/v1/errors?service=boom");
    let group = v["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["source"] == "http").cloned());
    (group, v["nodes"].clone())
}

#[test]
fn logs_traces_and_errors_asked_of_one_node_come_from_every_node() {
    let etcd = Etcd::start().expect("etcd");
    let mut nodes: Vec<Platform> = ["a", "b", "c"]
        .iter()
        .map(|n| token_node(&etcd, n))
        .collect();
    // Without the token a node refuses: the gathered answers below hold b's and c's data
    // only because a passed the caller's token on.
    let anonymous =
        shoal_testkit::request(nodes[1].http, "GET", "/api/v1/logs", None, None).expect("api");
    assert_eq!(anonymous.status, 401, "{}", anonymous.text());
    let boom = web_service("boom", 3).replace("\"app.py\"", "\"boom.py\"");
    deploy(&nodes[0], &format!("{}{boom}", web_service("web", 3)));
    wait_spread(&nodes[0], "web", &[("a", 1), ("b", 1), ("c", 1)]);
    wait_spread(&nodes[0], "boom", &[("a", 1), ("b", 1), ("c", 1)]);

    // Traffic through every node's gateway: web once each, boom's 500 once each, and one
    // traced request through b's gateway.
    for p in &nodes {
        wait_until(&format!("web through {}", p.gateway), SETTLE, || {
            let r = p.gateway("web", "/web").ok()?;
            (r.status == 200).then_some(())
        })
        .expect("web answers through every gateway");
        wait_until(&format!("boom's 500 through {}", p.gateway), SETTLE, || {
            let r = p.gateway("boom", "/boom/fail").ok()?;
            (r.status == 500).then_some(())
        })
        .expect("boom answers 500 through every gateway");
    }
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, _) = traced_get(nodes[1].gateway, "web", "/web", trace);
    assert_eq!(status, 200);
    let a = &nodes[0];

    // Logs asked of a: the output of web's instances on a, b and c, and the access lines
    // of all three gateways, each line with its node.
    let (lines, report) = wait_until("web's lines from every node", SHOWS, || {
        let (lines, report) = get(a, "/api/v1/logs?service=web&limit=0");
        let all = set(&["a", "b", "c"]);
        (nodes_of(&lines, is_output) == all && nodes_of(&lines, is_access) == all)
            .then_some((lines, report))
    })
    .unwrap_or_else(|e| panic!("{e}: {}", get(a, "/api/v1/logs?service=web&limit=0").0));
    let report = report.expect("X-Shoal-Nodes in cluster mode");
    assert_eq!(report["answered"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(report["missing"], serde_json::json!([]));
    let times: Vec<u64> = lines
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .filter_map(|l| l["time_ms"].as_u64())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let (mine, _) = get(a, "/api/v1/logs?service=web&limit=0&local=true");
    assert!(
        !mine
            .as_array()
            .is_some_and(|l| l.iter().any(|l| l["node"].is_string())),
        "a local answer is a node's own, as before: {mine}"
    );
    let out = a.cli(&["logs", "web", "-n", "1000"]).expect("shoal logs");
    let (text, warned) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{text}{warned}");
    for n in ["a", "b", "c"] {
        assert!(
            text.contains(&format!("@{n} | app listening on")),
            "{n}: {text}"
        );
    }
    assert!(!warned.contains("did not answer"), "{warned}");

    // The trace of the request through b's gateway, asked of a (a keeps no span of it).
    let (t, _) = wait_until("the trace from b", SHOWS, || {
        let r = a
            .api("GET", &format!("/api/v1/traces/{trace}"), None)
            .ok()?;
        (r.status == 200).then(|| (r.json(), ()))
    })
    .expect("the trace through b's gateway, asked of a");
    assert_eq!(t["trace_id"], trace);
    assert_eq!(t["spans"][0]["service"], "web", "{t}");
    assert_eq!(t["nodes"]["answered"], serde_json::json!(["a", "b", "c"]));
    let local = a
        .api("GET", &format!("/api/v1/traces/{trace}?local=true"), None)
        .expect("api");
    assert_eq!(local.status, 404, "a alone has no span of it");
    let (list, _) = get(a, "/api/v1/traces?service=web");
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().any(|s| s["trace_id"] == trace)),
        "{list}"
    );
    let out = a.cli(&["trace", trace]).expect("shoal trace");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("web"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Errors: boom's 500 through each gateway is one group with three occurrences.
    let (group, _) = wait_until("boom's 500s from every node", SHOWS, || {
        let (g, nodes) = boom_group(a);
        g.filter(|g| g["count"] == 3).map(|g| (g, nodes))
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", boom_group(a)));
    let id = group["id"].as_str().expect("group id");
    let (one, _) = get(a, &format!("/api/v1/errors/{id}"));
    assert_eq!(one["count"], 3, "{one}");
    assert_eq!(one["nodes"]["answered"], serde_json::json!(["a", "b", "c"]));
    let (mine, _) = get(a, "/api/v1/errors?service=boom&local=true");
    assert_eq!(mine["groups"][0]["count"], 1, "a saw one: {mine}");
    let out = a.cli(&["errors", "--json"]).expect("shoal errors");
    let v: Value = serde_json::from_slice(&out.stdout).expect("errors --json is JSON");
    assert_eq!(v["nodes"]["answered"], serde_json::json!(["a", "b", "c"]));

    // Metrics (`shoal top`): boom's requests asked of a are the sum of each node's own.
    let total = |v: &Value| -> f64 {
        v["series"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .flat_map(|s| s["points"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p[1].as_f64())
            .sum()
    };
    let requests = "/api/v1/metrics/query?name=shoal_requests_total&labels=service=boom\
        &since=10m&step=10m&agg=sum&by=service";
    let (cluster, locals) = wait_until("boom's requests counted on every node", SHOWS, || {
        // A node answers 404 until its metrics store has the metric.
        let read = |p: &Platform, path: &str| {
            let r = p.api("GET", path, None).ok()?;
            (r.status == 200).then(|| r.json())
        };
        let cluster = read(a, requests)?;
        let locals = nodes
            .iter()
            .map(|p| read(p, &format!("{requests}&local=true")).map(|v| total(&v)))
            .collect::<Option<Vec<f64>>>()?;
        let summed: f64 = locals.iter().sum();
        (locals.iter().all(|n| *n >= 1.0) && (total(&cluster) - summed).abs() < 1e-9)
            .then_some((cluster, locals))
    })
    .expect("the cluster's count is the nodes' counts added");
    assert_eq!(cluster["exact"], true, "{cluster}");
    assert_eq!(
        cluster["nodes"]["answered"],
        serde_json::json!(["a", "b", "c"])
    );
    println!(
        "boom's requests: {} on a, b, c: {locals:?}",
        total(&cluster)
    );
    let (p99, _) = get(
        a,
        "/api/v1/metrics/query?name=shoal_request_duration_seconds&since=10m&step=10m&agg=p99",
    );
    assert_eq!(
        p99["exact"], false,
        "a percentile is not merged exactly: {p99}"
    );
    let out = a.cli(&["top", "--once", "--json"]).expect("shoal top");
    let v: Value = serde_json::from_slice(&out.stdout).expect("top --json is JSON");
    assert_eq!(v["nodes"]["missing"], serde_json::json!([]), "{v}");

    // `shoal logs -f` on a: the backlog from every node, then every node's new lines
    // (each node numbers its lines: each tail resumes after that node's last shown,
    // nothing shown twice).
    let mut follow = std::process::Command::new(common::BIN)
        .args(["logs", "web", "-f", "-n", "1000"])
        .env("SHOAL_ADDR", format!("http://{}", a.http))
        .env("SHOAL_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("shoal logs -f");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let seen = seen.clone();
        let stdout = follow.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                seen.lock().map(|mut s| s.push(line)).ok();
            }
        })
    };
    let lines_now = || seen.lock().map(|s| s.clone()).unwrap_or_default();
    wait_until("the gathered backlog", SHOWS, || {
        lines_now()
            .iter()
            .any(|l| l.contains("@c | app listening on"))
            .then_some(())
    })
    .expect("logs -f shows the backlog of every node");
    let marker = wait_until("a's new access line in the tail", SHOWS, || {
        let _ = a.gateway("web", "/web/tail-marker");
        lines_now().into_iter().find(|l| l.contains("tail-marker"))
    })
    .expect("a new line of a");
    // A request through c's gateway: c's new access line comes through c's own tail.
    let from_c = wait_until("c's new access line in the tail", SHOWS, || {
        let _ = nodes[2].gateway("web", "/web/tail-of-c");
        lines_now().into_iter().find(|l| l.contains("tail-of-c"))
    })
    .expect("a new line of c");
    let _ = follow.kill();
    let _ = follow.wait();
    let _ = reader.join();
    let mut err = String::new();
    if let Some(mut e) = follow.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(!err.contains("warning"), "every node's tail opened: {err}");
    assert!(
        marker.contains("@a"),
        "a's tail line says its node: {marker}"
    );
    assert!(
        from_c.contains("@c"),
        "c's tail line says its node: {from_c}"
    );
    let mut listening: Vec<String> = lines_now()
        .into_iter()
        .filter(|l| l.contains("app listening on"))
        .collect();
    let shown = listening.len();
    listening.sort();
    listening.dedup();
    assert_eq!(
        listening.len(),
        shown,
        "a tail replayed old lines: {listening:?}"
    );

    // c hangs (its agent stopped): a answers after c's 2 s and names c as timed out.
    kill(Pid::from_raw(nodes[2].pid() as i32), Signal::SIGSTOP).expect("SIGSTOP c");
    let a = &nodes[0];
    let asked = Instant::now();
    let (lines, report) = get(a, "/api/v1/logs?service=web&limit=0");
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    let report = report.expect("X-Shoal-Nodes");
    assert_eq!(
        report["missing"],
        serde_json::json!([{ "node": "c", "error": "timed out after 2s" }]),
        "{report}"
    );
    assert_eq!(nodes_of(&lines, is_output), set(&["a", "b"]));
    println!("with c stopped, a answered in {took:?}: {report}");

    // c dies (its agent and its instances): a answers at once with its and b's data and
    // names c.
    let orphans = Platform::registered_pids(nodes[2].dir());
    nodes[2].kill9();
    for pid in &orphans {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
    }
    let a = &nodes[0];
    let asked = Instant::now();
    let (lines, report) = get(a, "/api/v1/logs?service=web&limit=0");
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let report = report.expect("X-Shoal-Nodes");
    assert_eq!(
        report["answered"],
        serde_json::json!(["a", "b"]),
        "{report}"
    );
    assert_eq!(report["missing"][0]["node"], "c", "{report}");
    assert!(report["missing"][0]["error"].is_string(), "{report}");
    assert_eq!(nodes_of(&lines, is_output), set(&["a", "b"]));
    let (group, nodes_said) = boom_group(a);
    assert_eq!(group.map(|g| g["count"].clone()), Some(2.into()));
    assert_eq!(nodes_said["missing"][0]["node"], "c", "{nodes_said}");
    let out = a.cli(&["logs", "web", "-n", "1000"]).expect("shoal logs");
    let (text, warned) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{text}{warned}");
    assert!(
        warned.contains("warning: node c did not answer: ")
            && warned.contains("; its logs are not shown"),
        "{warned}"
    );
    assert!(text.contains("@b | app listening on"), "{text}");
    println!("with c dead, a answered in {took:?}: {report}");
    let out = a.cli(&["top", "--once"]).expect("shoal top");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("node c did not answer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = a.cli(&["errors"]).expect("shoal errors");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("node c did not answer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
