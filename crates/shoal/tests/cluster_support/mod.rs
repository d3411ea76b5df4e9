//! Shared pieces of the cluster tests: `shoal agent` nodes over one etcd on loopback
//! (each with its own ports, data dir and port range), deploys, and waits for placements.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use shoal_testkit::{wait_until, Etcd, Platform, PlatformBuilder};

use crate::common::{web_service, APP, BIN, VERSIONED};

/// A node's lease is 5 s; it is lost this long after: then its instances move.
pub const GRACE: &str = "2s";
/// How long a wait for the cluster to settle may take: three agents per test, with other
/// tests beside them on two cores, can take longer than one `shoal up`.
pub const SETTLE: Duration = Duration::from_secs(60);
/// The one secret key of every node (base64 of 32 bytes).
pub const CLUSTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A service that answers each request by calling `web` through its own outbound
/// listener (`SHOAL_PROXY`), with what `web` answered; `/health` answers itself.
pub const CALLER: &str = r#"
import json, os, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
PROXY = os.environ["SHOAL_PROXY"]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/health":
            body = b"ok"
        else:
            req = urllib.request.Request(PROXY + "/web", headers={"Host": "web"})
            with urllib.request.urlopen(req, timeout=10) as r:
                inner = json.load(r)
            body = json.dumps({"proxy": PROXY, "inner": inner}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// `[services.NAME]` running CALLER (it calls `web`).
pub fn caller_service(name: &str, instances: u32) -> String {
    web_service(name, instances).replace("\"app.py\"", "\"caller.py\"")
}

pub fn node(etcd: &Etcd, name: &str) -> Platform {
    node_with(etcd, name, &[])
}

/// A node with more `shoal agent` arguments (labels).
pub fn node_with(etcd: &Etcd, name: &str, more: &[&str]) -> Platform {
    node_builder(etcd, name, more)
        .start()
        .unwrap_or_else(|e| panic!("node {name}: {e}"))
}

/// A node as [`node_with`] makes it, before it starts (more files, a token).
pub fn node_builder(etcd: &Etcd, name: &str, more: &[&str]) -> PlatformBuilder {
    let url = etcd.url();
    let mut args = vec![
        "--store",
        &url,
        "--node",
        name,
        "--advertise",
        "127.0.0.1",
        "--grace",
        GRACE,
    ];
    args.extend_from_slice(more);
    Platform::builder(BIN)
        .file("app.py", APP)
        .file("caller.py", CALLER)
        .file("versioned.py", VERSIONED)
        .env("SHOAL_SECRET_KEY", CLUSTER_KEY)
        .agent(&args)
}

/// Healthy instances of `service` per node, as `p`'s API lists them.
pub fn per_node(p: &Platform, service: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for i in p.instances(service) {
        if i["state"] == "running" && i["health"] == "passing" {
            *out.entry(i["node"].as_str().unwrap_or("?").to_string())
                .or_insert(0) += 1;
        }
    }
    out
}

pub fn deploy(p: &Platform, services: &str) {
    let file = p.dir().join("app.toml");
    std::fs::write(&file, services).expect("write the service file");
    let out = p
        .cli(&["deploy", &file.to_string_lossy()])
        .expect("run shoal deploy");
    assert!(
        out.status.success(),
        "deploy: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn wait_spread(p: &Platform, service: &str, want: &[(&str, usize)]) -> BTreeMap<String, usize> {
    let want: BTreeMap<String, usize> = want.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    wait_until(&format!("{service} spread as {want:?}"), SETTLE, || {
        let got = per_node(p, service);
        (got == want).then_some(got)
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", per_node(p, service), p.stderr()))
}

/// The node that leads the cluster's controllers, as `p` reports it.
pub fn leader(p: &Platform) -> String {
    wait_until("a leader", SETTLE, || {
        let v = p.api("GET", "/api/v1/nodes", None).ok()?.json();
        v["leader"]["node"].as_str().map(str::to_owned)
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The first of `nodes` (named `names`) that does not lead, with its name.
pub fn not_leading<'a>(
    nodes: &'a [Platform],
    names: &[&'a str],
    leader: &str,
) -> (&'a Platform, &'a str) {
    nodes
        .iter()
        .zip(names.iter().copied())
        .find(|(_, n)| *n != leader)
        .unwrap_or_else(|| panic!("every node leads? {leader}"))
}
