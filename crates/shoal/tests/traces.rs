//! Traces through a real platform: spans from every hop assembled by trace id, seen
//! through the API and `shoal trace` / `shoal traces`, and exported over OTLP/HTTP JSON
//! to a collector that parses them with the OpenTelemetry protobuf definitions.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{traced_get, APP, BIN, CALLER_SPAN, HEALTHY};
use serde_json::Value;
use shoal_testkit::{wait_until, Platform};

/// The caller's own span: unknown to Shoal, so the first hop is the root.
/// The trace from the API once it has `n` spans.
fn wait_trace(p: &Platform, trace: &str, n: usize) -> Value {
    wait_until(&format!("{n} spans of {trace}"), HEALTHY, || {
        let r = p
            .api("GET", &format!("/api/v1/traces/{trace}"), None)
            .ok()?;
        let v = r.json();
        (r.status == 200 && v["spans"].as_array()?.len() == n).then_some(v)
    })
    .unwrap_or_else(|e| {
        let r = p.api("GET", &format!("/api/v1/traces/{trace}"), None);
        panic!("{e}: {:?}", r.map(|r| r.text()))
    })
}

fn stdout(args: &[&str], p: &Platform) -> String {
    let out = p.cli(args).expect("run shoal");
    assert!(
        out.status.success(),
        "shoal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn one_demo_request_is_one_trace_of_three_spans() {
    let p = common::start_demo();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let (status, body) = traced_get(p.gateway, "profile", "/profile/ada", trace);
    assert_eq!(status, 200, "{body}");

    // The API: the gateway hop is the root (its parent is the caller's span), the two
    // calls profile made through its outbound listener are its children.
    let t = wait_trace(&p, trace, 3);
    let spans = t["spans"].as_array().expect("spans");
    let root = &spans[0];
    assert_eq!(root["depth"], 0, "{t}");
    assert_eq!(root["service"], "profile");
    assert_eq!(root["caller"], "gateway");
    assert_eq!(root["path"], "/profile/ada");
    assert_eq!(root["status"], 200);
    assert_eq!(root["parent_span_id"], CALLER_SPAN);
    assert!(root["instance"]
        .as_str()
        .is_some_and(|i| i.starts_with("profile")));
    let mut children: Vec<(String, String)> = spans[1..]
        .iter()
        .map(|s| {
            assert_eq!(s["depth"], 1, "{t}");
            assert_eq!(s["caller"], "profile", "{t}");
            assert_eq!(s["parent_span_id"], root["span_id"], "{t}");
            assert_eq!(s["trace_id"], trace);
            (
                s["service"].as_str().unwrap_or("").to_string(),
                s["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    children.sort();
    assert_eq!(
        children,
        vec![
            ("institution".to_string(), "/institution/ada".to_string()),
            ("publications".to_string(), "/publications/ada".to_string()),
        ]
    );
    assert_eq!(t["error"], false);
    assert_eq!(
        t["services"],
        serde_json::json!(["institution", "profile", "publications"])
    );

    // The CLI's waterfall, and its JSON.
    let text = stdout(&["trace", trace], &p);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!("trace {trace}  3 spans")),
        "{text}"
    );
    assert!(
        lines[2].starts_with("gateway→profile GET /profile/ada"),
        "{text}"
    );
    assert!(
        lines[3..]
            .iter()
            .any(|l| l.starts_with("  profile→publications GET /publi")),
        "{text}"
    );
    assert!(
        lines[3..]
            .iter()
            .any(|l| l.starts_with("  profile→institution GET /instit")),
        "{text}"
    );
    let json: Value =
        serde_json::from_str(&stdout(&["trace", trace, "--json"], &p)).expect("trace --json");
    assert_eq!(json["spans"].as_array().map(Vec::len), Some(3));

    // Listings: by a service that took part, not by one that did not, not as an error.
    assert!(stdout(&["traces", "--service", "publications"], &p).contains(trace));
    assert!(!stdout(&["traces", "--service", "nosuch"], &p).contains(trace));
    assert!(!stdout(&["traces", "--errors"], &p).contains(trace));
    let list: Value = serde_json::from_str(&stdout(
        &["traces", "--service", "institution", "--json"],
        &p,
    ))
    .expect("traces --json");
    let mine = list
        .as_array()
        .and_then(|l| l.iter().find(|s| s["trace_id"] == trace))
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(mine["span_count"], 3);
    assert_eq!(mine["root_service"], "profile");
    assert_eq!(mine["root_name"], "GET /profile/ada");

    // Bad and unknown ids.
    let r = p.api("GET", "/api/v1/traces/xyz", None).expect("api");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("bad trace id"))
    );
    let unknown = "0123456789abcdef0123456789abcdef";
    let r = p
        .api("GET", &format!("/api/v1/traces/{unknown}"), None)
        .expect("api");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("no such trace"))
    );
    let out = p.cli(&["trace", unknown]).expect("run shoal");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such trace"));

    // Each service wrote a JSON log line carrying the trace id.
    wait_until(
        "a log line with the trace id from each service",
        HEALTHY,
        || {
            let r = p
                .api(
                    "GET",
                    &format!("/api/v1/logs?grep={trace}&limit=1000"),
                    None,
                )
                .ok()?;
            let lines = r.json();
            let from = |svc: &str| {
                lines.as_array().is_some_and(|l| {
                    l.iter().any(|x| {
                        x["service"] == svc
                            && x["instance"] != "proxy"
                            && x["line"].as_str().is_some_and(|s| s.contains("trace_id"))
                    })
                })
            };
            (from("profile") && from("publications") && from("institution")).then_some(())
        },
    )
    .expect("trace ids in the services' logs");
}

/// Calls `web` through its outbound listener, passing on the trace; `/fail` answers 500.
const FRONT: &str = r#"
import os, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        status, body = 200, b"ok"
        if self.path == "/fail":
            status, body = 500, b"failed"
        elif self.path != "/health":
            headers = {"Host": "web"}
            if self.headers.get("traceparent"):
                headers["traceparent"] = self.headers["traceparent"]
            req = urllib.request.Request(os.environ["SHOAL_PROXY"] + "/inner", headers=headers)
            with urllib.request.urlopen(req, timeout=5) as r:
                body = r.read()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

/// An OTLP/HTTP collector: parses each body as an `ExportTraceServiceRequest` with
/// the protobuf JSON parser and appends what it got to OUT, one JSON line per POST.
const COLLECTOR: &str = r#"
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
port_file, out_file = sys.argv[1], sys.argv[2]
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        rec = {"path": self.path, "content_type": self.headers.get("Content-Type")}
        try:
            msg = json_format.Parse(body, trace_service_pb2.ExportTraceServiceRequest())
            rec["spans"] = [{
                "service": next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), None),
                "name": s.name, "kind": s.kind, "status": s.status.code,
                "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                "attributes": {a.key: json_format.MessageToDict(a.value) for a in s.attributes},
            } for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans]
            rec["ok"], rec["body"], code = True, json.loads(body), 200
        except Exception as e:
            rec["ok"], rec["error"], code = False, repr(e), 400
        with open(out_file, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
    def log_message(self, fmt, *args):
        pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
"#;

/// The collector process; killed when dropped.
struct Collector {
    child: Child,
    out: PathBuf,
    port: u16,
}

impl Collector {
    fn start(dir: &Path) -> Collector {
        let check = Command::new("python3")
            .args([
                "-c",
                "from opentelemetry.proto.collector.trace.v1 import trace_service_pb2",
            ])
            .output()
            .expect("python3");
        assert!(
            check.status.success(),
            "the OTLP test needs the opentelemetry-proto Python package (scripts/test installs it): {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let script = dir.join("collector.py");
        std::fs::write(&script, COLLECTOR).expect("write collector");
        let (port_file, out) = (dir.join("collector.port"), dir.join("collector.jsonl"));
        let child = Command::new("python3")
            .arg(&script)
            .arg(&port_file)
            .arg(&out)
            .stdin(Stdio::null())
            .spawn()
            .expect("start the collector");
        let mut c = Collector {
            child,
            out,
            port: 0,
        };
        c.port = wait_until("the collector's port", HEALTHY, || {
            std::fs::read_to_string(&port_file)
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .expect("collector port");
        c
    }

    /// Every POST received so far.
    fn posts(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spans of `trace` in the raw OTLP bodies, with their resource's service.name.
fn otlp_spans(posts: &[Value], trace: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for post in posts {
        for rs in post["body"]["resourceSpans"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let service = rs["resource"]["attributes"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["key"] == "service.name"))
                .and_then(|x| x["value"]["stringValue"].as_str())
                .unwrap_or("")
                .to_string();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    if s["traceId"] == trace {
                        out.push((service.clone(), s.clone()));
                    }
                }
            }
        }
    }
    out
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    span["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["key"] == key))
        .map_or(&Value::Null, |x| &x["value"])
}

#[test]
fn spans_are_exported_over_otlp_and_listed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(tmp.path());
    let health = "[services.{}.health]\nhttp = \"/health\"\ninterval = \"200ms\"\n";
    let p = Platform::builder(BIN)
        .env(
            "SHOAL_OTLP_ENDPOINT",
            &format!("http://127.0.0.1:{}", collector.port),
        )
        // New traces are not sampled; a caller's decision is kept.
        .env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
        .env("OTEL_TRACES_SAMPLER_ARG", "0")
        .file("app.py", APP)
        .file("front.py", FRONT)
        .services(&format!(
            "[services.front]\ncommand = [\"python3\", \"front.py\"]\n{}\n[services.web]\ncommand = [\"python3\", \"app.py\"]\n{}",
            health.replace("{}", "front"),
            health.replace("{}", "web")
        ))
        .start()
        .expect("start");
    p.wait_healthy("front", 1, HEALTHY).expect("front");
    p.wait_healthy("web", 1, HEALTHY).expect("web");

    // Unsampled, sent before the sampled ones: a caller's `00`, and a new
    // trace (the instance echoes the traceparent it got). Kept, not exported.
    let unsampled = "7bf92f3577b34da6a3ce929d0e0e4736";
    let raw = format!(
        "GET /page HTTP/1.1\r\nHost: front\r\ntraceparent: 00-{unsampled}-{CALLER_SPAN}-00\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(common::raw_http(p.gateway, &raw).0, 200);
    let (status, body) = common::raw_http(
        p.gateway,
        "GET /new HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    let echoed: Value = serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap_or(""))
        .expect("the instance's JSON");
    let sent = echoed["traceparent"].as_str().unwrap_or("").to_string();
    assert!(sent.starts_with("00-") && sent.ends_with("-00"), "{sent}");
    let fresh = sent[3..35].to_string();
    wait_trace(&p, unsampled, 2);
    wait_trace(&p, &fresh, 1);

    let ok = "5bf92f3577b34da6a3ce929d0e0e4736";
    let failed = "6bf92f3577b34da6a3ce929d0e0e4736";
    assert_eq!(traced_get(p.gateway, "front", "/page", ok).0, 200);
    assert_eq!(traced_get(p.gateway, "front", "/fail", failed).0, 500);

    // The store: two hops with the right parent link; only the failed one is an error.
    let t = wait_trace(&p, ok, 2);
    let (root, child) = (&t["spans"][0], &t["spans"][1]);
    assert_eq!([&root["service"], &root["caller"]], ["front", "gateway"]);
    assert_eq!([&child["service"], &child["caller"]], ["web", "front"]);
    assert_eq!(child["parent_span_id"], root["span_id"]);
    wait_trace(&p, failed, 1);
    let errors = stdout(&["traces", "--errors"], &p);
    assert!(errors.contains(failed) && !errors.contains(ok), "{errors}");
    let by_web = stdout(&["traces", "--service", "web"], &p);
    assert!(by_web.contains(ok) && !by_web.contains(failed), "{by_web}");

    // The collector: valid ExportTraceServiceRequests, spans per service, parent links.
    let posts = wait_until("both traces at the collector", HEALTHY, || {
        let posts = collector.posts();
        (otlp_spans(&posts, ok).len() == 2 && otlp_spans(&posts, failed).len() == 1)
            .then_some(posts)
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", collector.posts()));
    for post in &posts {
        assert_eq!(post["ok"], true, "{post}");
        assert_eq!(post["path"], "/v1/traces");
        assert_eq!(post["content_type"], "application/json");
        for s in post["spans"].as_array().into_iter().flatten() {
            assert_eq!(s["kind"], 2, "SPAN_KIND_SERVER: {s}");
            let (start, end) = (
                s["start"].as_u64().unwrap_or(0),
                s["end"].as_u64().unwrap_or(0),
            );
            assert!(start > 1_600_000_000_000_000_000 && end >= start, "{s}");
        }
    }
    for t in [unsampled, fresh.as_str()] {
        assert!(otlp_spans(&posts, t).is_empty(), "{t} was not sampled");
    }
    let spans = otlp_spans(&posts, ok);
    let front = spans.iter().find(|(svc, _)| svc == "front").expect("front");
    let web = spans.iter().find(|(svc, _)| svc == "web").expect("web");
    assert_eq!(front.1["parentSpanId"], CALLER_SPAN);
    assert_eq!(web.1["parentSpanId"], front.1["spanId"]);
    assert_eq!(front.1["spanId"], root["span_id"]);
    assert_eq!(front.1["name"], "GET /page");
    assert_eq!(web.1["name"], "GET /inner");
    assert_eq!(attr(&web.1, "http.method")["stringValue"], "GET");
    assert_eq!(attr(&web.1, "http.status_code")["intValue"], "200");
    assert_eq!(attr(&web.1, "http.target")["stringValue"], "/inner");
    assert_eq!(attr(&web.1, "shoal.caller")["stringValue"], "front");
    assert!(attr(&web.1, "shoal.instance")["stringValue"]
        .as_str()
        .is_some_and(|i| i.starts_with("web")));
    assert_eq!(attr(&web.1, "shoal.retries")["intValue"], "0");
    assert!(web.1["status"].get("code").is_none(), "{}", web.1);
    let bad = &otlp_spans(&posts, failed)[0].1;
    assert_eq!(bad["status"]["code"], 2, "STATUS_CODE_ERROR: {bad}");
    let parsed_bad = posts
        .iter()
        .flat_map(|p| p["spans"].as_array().cloned().unwrap_or_default())
        .find(|s| s["name"] == "GET /fail")
        .expect("the failed span, parsed");
    assert_eq!(parsed_bad["status"], 2);
    assert_eq!(parsed_bad["service"], "front");
}
