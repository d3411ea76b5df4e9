//! Shared pieces of the integration tests: the test app and small helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shoal_testkit::{request, wait_until, Platform};

pub const BIN: &str = env!("CARGO_BIN_EXE_shoal");

/// A tiny HTTP service: answers every path with its instance id, `/health` with 200.
pub const APP: &str = r#"
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
INSTANCE = os.environ["SHOAL_INSTANCE"]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = json.dumps({"instance": INSTANCE, "path": self.path,
                           "version": self.headers.get("X-Version"),
                           "caller": self.headers.get("X-Shoal-Caller"),
                           "traceparent": self.headers.get("traceparent"),
                           "greeting": os.environ.get("GREETING")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        pass
print("app listening on", os.environ["PORT"], flush=True)
print("to stderr", file=sys.stderr, flush=True)
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// A service that answers with its version (from `VERSION`), 500 on every path
/// when `FAIL=1`, and exits at once when `CRASH=1`.
pub const VERSIONED: &str = r#"
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
if os.environ.get("CRASH") == "1":
    sys.exit(3)
VERSION = os.environ.get("VERSION", "?")
FAIL = os.environ.get("FAIL") == "1"
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        status = 500 if FAIL and self.path != "/health" else 200
        body = json.dumps({"version": VERSION, "instance": os.environ["SHOAL_INSTANCE"]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

pub const HEALTHY: Duration = Duration::from_secs(30);

/// A `[services.NAME]` table running APP with an HTTP check.
pub fn web_service(name: &str, instances: u32) -> String {
    format!(
        r#"
[services.{name}]
command = ["python3", "app.py"]
instances = {instances}
routes = ["/{name}"]
restart = {{ backoff = {{ initial = "50ms", max = "1s" }} }}

[services.{name}.health]
http = "/health"
interval = "200ms"
timeout = "1s"
grace = "10s"
"#
    )
}

pub fn demo_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo")
}

/// The demo fleet (profile → publications, institution) on the testkit's platform.
pub fn start_demo() -> shoal_testkit::Platform {
    start_demo_with("")
}

/// [`start_demo`] with extra `[platform]` lines (e.g. `chaos = true`).
pub fn start_demo_with(platform: &str) -> shoal_testkit::Platform {
    let bin = std::path::PathBuf::from(BIN).with_file_name("shoal-demo-publications");
    assert!(
        bin.exists(),
        "build the demo first: cargo build --workspace --bins ({} missing)",
        bin.display()
    );
    let toml = std::fs::read_to_string(demo_dir().join("shoal.toml")).expect("demo file");
    let services = toml
        .split("\n[services.")
        .skip(1)
        .map(|t| format!("\n[services.{t}"))
        .collect::<String>()
        .replace(
            "../../target/release/shoal-demo-publications",
            &bin.to_string_lossy(),
        );
    let read = |f: &str| std::fs::read_to_string(demo_dir().join(f)).expect(f);
    let p = shoal_testkit::Platform::builder(BIN)
        .file("profile.py", &read("profile.py"))
        .file("institution.py", &read("institution.py"))
        .platform(platform)
        .services(&services)
        .start()
        .expect("start");
    p.wait_healthy("profile", 2, HEALTHY).expect("profile");
    p.wait_healthy("publications", 2, HEALTHY)
        .expect("publications");
    p.wait_healthy("institution", 1, HEALTHY)
        .expect("institution");
    p
}

/// Sends `raw` (a whole HTTP/1.1 request, usually with `Connection: close`) to
/// `addr` and reads until the server closes (30 s at most): the status (0 when
/// there is none) and the whole answer.
pub fn raw_http(addr: std::net::SocketAddr, raw: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    s.write_all(raw.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

/// The span id the test "caller" puts in the `traceparent` it sends.
pub const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A GET with a `traceparent` of `trace` (child of [`CALLER_SPAN`]): status and body.
pub fn traced_get(
    addr: std::net::SocketAddr,
    host: &str,
    path: &str,
    trace: &str,
) -> (u16, String) {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\ntraceparent: 00-{trace}-{CALLER_SPAN}-01\r\nConnection: close\r\n\r\n"
    );
    let (status, out) = raw_http(addr, &raw);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// Steady traffic through the gateway; counts every answer that is not a 200.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    pub ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl Traffic {
    /// `clients` threads sending `GET path` with `Host: host` until [`Traffic::finish`].
    ///
    /// It first waits (up to [`HEALTHY`]) for one 200 through the gateway: an instance
    /// the API already lists as passing reaches the gateway's table through a store
    /// watch a moment later, and the load measures serving, not that moment.
    pub fn start(p: &Platform, clients: usize, host: &str, path: &str) -> Self {
        let _ = wait_until("the gateway routes", HEALTHY, || {
            request(p.gateway, "GET", path, Some(host), None)
                .ok()
                .filter(|r| r.status == 200)
        });
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let threads = (0..clients)
            .map(|_| {
                let (stop, ok, failed, gw) = (stop.clone(), ok.clone(), failed.clone(), p.gateway);
                let (host, path) = (host.to_string(), path.to_string());
                std::thread::spawn(move || {
                    let mut errors = Vec::new();
                    // Bounded: at most 100k requests or until stopped.
                    for _ in 0..100_000 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        match request(gw, "GET", &path, Some(&host), None) {
                            Ok(r) if r.status == 200 => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(r) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                errors.push(format!("{} {}", r.status, r.text()));
                            }
                            Err(e) => {
                                failed.fetch_add(1, Ordering::Relaxed);
                                errors.push(e.to_string());
                            }
                        }
                    }
                    errors
                })
            })
            .collect();
        Self {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Waits until `n` more requests were answered with 200.
    pub fn wait_for(&self, _p: &Platform, n: u64) {
        let seen = self.ok.load(Ordering::Relaxed);
        let _ = wait_until("traffic flowing", HEALTHY, || {
            (self.ok.load(Ordering::Relaxed) >= seen + n).then_some(())
        });
    }

    /// Stops the clients: (answered 200, failed, the failures' texts).
    pub fn finish(self) -> (u64, u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let errors = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_default())
            .collect();
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            errors,
        )
    }
}

/// The text of `/metrics`, empty when it does not answer.
pub fn metrics_text(p: &Platform) -> String {
    p.api("GET", "/metrics", None)
        .map(|r| r.text())
        .unwrap_or_default()
}

/// The value of the exposition line that starts with `series ` (exact series text).
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The events of `kind` whose `fields.action` is `action`, as `p`'s API lists them
/// (gathered from every node in a cluster).
pub fn events_with_action(p: &Platform, kind: &str, action: &str) -> Vec<serde_json::Value> {
    p.api("GET", &format!("/api/v1/events?kind={kind}"), None)
        .ok()
        .and_then(|r| r.json().as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["fields"]["action"] == action)
        .collect()
}
