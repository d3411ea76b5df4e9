//! Shared pieces of the integration tests: the test app and small helpers.
#![allow(dead_code)]

use std::time::Duration;

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
