//! Observability through a running platform: one request's log lines across two
//! services and the proxy (`shoal logs --trace`), structured lines kept as
//! fields, and the errors view grouping 5xx answers, error lines and crashes.

mod common;

use std::time::Duration;

use common::{BIN, HEALTHY};
use serde_json::Value;
use shoal_testkit::{wait_until, Platform};

/// `front` calls `back` through its outbound proxy, forwarding `traceparent`;
/// both print one JSON line per request with the trace id. `back /fail`
/// answers 500 and logs an error line; `front /crash` exits with a message.
const APP: &str = r#"
import json, os, sys, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
SVC = os.environ["SHOAL_SERVICE"]
def trace_of(headers):
    tp = headers.get("traceparent") or ""
    parts = tp.split("-")
    return parts[1] if len(parts) == 4 else None
def log(**fields):
    print(json.dumps(fields), flush=True)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, status, body):
        body = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/health":
            return self.answer(200, "ok")
        trace = trace_of(self.headers)
        if SVC == "front" and self.path == "/crash":
            print("RuntimeError: front lost its mind on request 12345", file=sys.stderr, flush=True)
            os._exit(3)
        if SVC == "back" and self.path == "/fail":
            log(level="error", msg="payment failed for order 77", error="PaymentError", trace_id=trace)
            return self.answer(500, "failed")
        log(level="info", msg="GET " + self.path, svc=SVC, trace_id=trace)
        if SVC == "front":
            req = urllib.request.Request(os.environ["SHOAL_PROXY"] + self.path,
                headers={"Host": "back", "traceparent": self.headers.get("traceparent", "")})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return self.answer(200, "front+" + r.read().decode())
            except urllib.error.HTTPError as e:
                return self.answer(502, "back said %d" % e.code)
        return self.answer(200, "back")
    def log_message(self, fmt, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

fn service(name: &str) -> String {
    format!(
        r#"
[services.{name}]
command = ["python3", "app.py"]
restart = {{ backoff = {{ initial = "50ms", max = "1s" }} }}

[services.{name}.health]
http = "/health"
interval = "200ms"
"#
    )
}

fn get(p: &Platform, path_query: &str) -> Value {
    let r = p.api("GET", path_query, None).expect("api");
    assert_eq!(r.status, 200, "{path_query}: {}", r.text());
    r.json()
}

fn gateway_with_trace(p: &Platform, path: &str, trace: &str) -> u16 {
    common::traced_get(p.gateway, "front", path, trace).0
}

#[test]
fn one_request_across_two_services_and_the_errors_it_made() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&format!("{}{}", service("front"), service("back")))
        .start()
        .expect("start");
    p.wait_healthy("front", 1, HEALTHY).expect("front");
    p.wait_healthy("back", 1, HEALTHY).expect("back");

    // One request through the gateway, front and back.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    assert_eq!(gateway_with_trace(&p, "/hello", trace), 200);
    let lines = wait_until(
        "the request's lines from both services and the proxy",
        Duration::from_secs(10),
        || {
            let l = get(&p, &format!("/api/v1/logs?trace={trace}"));
            let arr = l.as_array().cloned().unwrap_or_default();
            let from = |svc: &str, inst_is_proxy: bool| {
                arr.iter()
                    .any(|x| x["service"] == svc && (x["instance"] == "proxy") == inst_is_proxy)
            };
            (from("front", false)
                && from("back", false)
                && from("front", true)
                && from("back", true))
            .then_some(arr)
        },
    )
    .expect("trace lines");
    // Instance lines are kept as fields; the proxy's access lines carry theirs.
    let app_line = lines
        .iter()
        .find(|x| x["service"] == "back" && x["instance"] != "proxy")
        .expect("back's own line");
    assert_eq!(app_line["fields"]["msg"], "GET /hello");
    assert_eq!(app_line["trace_id"], trace);
    let access = lines
        .iter()
        .find(|x| x["service"] == "back" && x["instance"] == "proxy")
        .expect("access line");
    assert_eq!(access["fields"]["caller"], "front");
    assert_eq!(access["fields"]["status"], 200);

    // The same through the CLI, across all services (no SERVICE argument).
    let out = p.cli(&["logs", "--trace", trace]).expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("front front-") && text.contains("back back-"),
        "{text}"
    );
    assert!(
        text.contains("INFO GET /hello"),
        "structured lines read as text: {text}"
    );
    assert!(text.contains(" proxy ---"), "{text}");
    let by_field = get(&p, "/api/v1/logs?field=svc=back");
    assert!(by_field
        .as_array()
        .is_some_and(|a| !a.is_empty() && a.iter().all(|x| x["service"] == "back")));
    let bad = p
        .api("GET", "/api/v1/logs?trace=nothex", None)
        .expect("api");
    assert_eq!(bad.status, 400);

    // Errors: three 5xx from back (with an error line each), then a crash of front.
    for i in 0..3 {
        let t = format!("{:032x}", 0xabc0 + i);
        assert_eq!(gateway_with_trace(&p, "/fail", &t), 502);
    }
    let fail_trace = format!("{:032x}", 0xabc0 + 2);
    // Repeated `field` filters must all match (the proxy's access lines carry
    // both); access lines arrive off the request path, so wait for the last.
    let both = wait_until("the 502 access lines", Duration::from_secs(15), || {
        let a = get(&p, "/api/v1/logs?field=kind=access&field=status=502");
        let a = a.as_array()?.clone();
        a.iter()
            .any(|x| x["trace_id"] == fail_trace.as_str())
            .then_some(a)
    })
    .expect("access lines of the 502s");
    assert!(
        both.len() >= 3
            && both
                .iter()
                .all(|x| x["fields"]["status"] == 502 && x["fields"]["kind"] == "access"),
        "{both:?}"
    );
    let none = get(&p, "/api/v1/logs?field=kind=access&field=status=599");
    assert_eq!(none.as_array().map(Vec::len), Some(0), "{none}");
    let _ = gateway_with_trace(&p, "/crash", "5bf92f3577b34da6a3ce929d0e0e4736");
    let groups = wait_until(
        "http, log and crash groups",
        Duration::from_secs(15),
        || {
            let g = get(&p, "/api/v1/errors");
            let groups = g["groups"].as_array().cloned().unwrap_or_default();
            let has = |svc: &str, source: &str| {
                groups
                    .iter()
                    .any(|x| x["service"] == svc && x["source"] == source)
            };
            // All three failures counted: the errors view is fed off the request path.
            let all_http = groups
                .iter()
                .any(|x| x["service"] == "back" && x["source"] == "http" && x["count"] == 3);
            (all_http && has("back", "log") && has("front", "crash")).then_some(groups)
        },
    )
    .expect("error groups");
    let http = groups
        .iter()
        .find(|x| x["service"] == "back" && x["source"] == "http")
        .expect("http group");
    assert_eq!(http["cause"], "HTTP 500 GET /fail");
    assert_eq!(http["count"], 3, "{http}");
    assert_eq!(http["latest"]["trace_id"], fail_trace.as_str());
    let log = groups
        .iter()
        .find(|x| x["service"] == "back" && x["source"] == "log")
        .expect("log group");
    assert_eq!(log["cause"], "PaymentError: payment failed for order N");
    assert_eq!(log["count"], 3);
    let crash = groups
        .iter()
        .find(|x| x["service"] == "front" && x["source"] == "crash")
        .expect("crash group");
    assert_eq!(
        crash["cause"],
        "exit code 3: RuntimeError: front lost its mind on request N"
    );

    // The detail of the http group shows the log lines of its latest request.
    let id = http["id"].as_str().expect("id");
    let detail = get(&p, &format!("/api/v1/errors/{id}"));
    let trace_logs = detail["trace_logs"].as_array().cloned().unwrap_or_default();
    assert!(
        trace_logs
            .iter()
            .any(|l| l["fields"]["msg"] == "payment failed for order 77"),
        "{detail}"
    );
    let out = p.cli(&["errors"]).expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("ID ") && text.contains("HTTP 500 GET /fail"),
        "{text}"
    );
    let out = p.cli(&["errors", id]).expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("seen 3 times") && text.contains("payment failed"),
        "{text}"
    );
    let missing = p.api("GET", "/api/v1/errors/nope", None).expect("api");
    assert_eq!(missing.status, 404);

    // `shoal top`: traffic, latency and instances per service, from the metrics.
    let view = wait_until(
        "front's traffic in shoal top",
        Duration::from_secs(30),
        || {
            for _ in 0..5 {
                gateway_with_trace(&p, "/hello", "6bf92f3577b34da6a3ce929d0e0e4736");
            }
            let out = p.cli(&["top", "--once", "--json"]).ok()?;
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            let front = v["services"]
                .as_array()?
                .iter()
                .find(|s| s["service"] == "front")?
                .clone();
            (front["req_per_s"].as_f64()? > 0.0 && front["p99_ms"].as_f64().is_some()).then_some(v)
        },
    )
    .expect("top shows traffic");
    let back = view["services"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["service"] == "back"))
        .expect("back row");
    assert_eq!(back["instances"], 1);
    let out = p.cli(&["top", "--once"]).expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SERVICE") && text.contains("REQ/S") && text.contains("front"),
        "{text}"
    );
}

/// Prints `LINES` lines of ~200 bytes as fast as it can, then a marker, then idles.
const FLOOD: &str = r#"
import os, sys, time
n = int(os.environ["LINES"])
pad = "x" * 180
w = sys.stdout.write
for i in range(n):
    w("flood %08d %s\n" % (i, pad))
sys.stdout.flush()
print("flood done", flush=True)
time.sleep(3600)
"#;

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[test]
fn a_flood_of_output_stays_within_retention_and_the_platform_answers() {
    const LINES: u32 = 500_000;
    const MAX: u64 = 2 << 20;
    let p = Platform::builder(BIN)
        .env("SHOAL_LOG_MAX_BYTES", "2MiB")
        .env("SHOAL_LOG_MAX_DISK_BYTES", "4MiB")
        .file("flood.py", FLOOD)
        .services(&format!(
            r#"
[services.flood]
command = ["python3", "flood.py"]
env = {{ LINES = "{LINES}" }}
"#
        ))
        .start()
        .expect("start");
    let rss_before = rss_bytes(p.pid());
    let started = std::time::Instant::now();
    let mut slowest = Duration::ZERO;
    let mut polls = 0;
    // The API answers all through the flood; the flood ends with its marker line.
    wait_until("the flood's last line", Duration::from_secs(120), || {
        let t = std::time::Instant::now();
        let r = p
            .api("GET", "/api/v1/services", None)
            .expect("api during the flood");
        assert_eq!(r.status, 200);
        slowest = slowest.max(t.elapsed());
        polls += 1;
        let done = get(&p, "/api/v1/logs?service=flood&grep=flood%20done&limit=1");
        done.as_array().is_some_and(|a| !a.is_empty()).then_some(())
    })
    .expect("flood finished");
    let flood_time = started.elapsed();
    let stats = get(&p, "/api/v1/logs/stats");
    let s = &stats["stats"];
    eprintln!(
        "flood: {LINES} lines in {flood_time:?}; store {s}; API polls {polls}, slowest {slowest:?}; \
         rss before {rss_before} after {}",
        rss_bytes(p.pid())
    );
    assert_eq!(stats["limits"]["max_bytes"], MAX);
    let bytes = s["bytes"].as_u64().unwrap_or(u64::MAX);
    assert!(bytes <= MAX, "{stats}");
    let kept = s["lines"].as_u64().unwrap_or(0);
    let dropped = s["dropped"].as_u64().unwrap_or(0);
    assert!(dropped > 0, "{stats}");
    // Every line was stored once (plus shoal's own start line): none lost before eviction.
    assert!(kept + dropped > u64::from(LINES), "{stats}");
    // The newest lines are the ones kept.
    let last = get(&p, "/api/v1/logs?service=flood&grep=flood%2000&limit=1");
    assert_eq!(
        last[0]["line"].as_str().map(|l| &l[..14]),
        Some(format!("flood {:08}", LINES - 1).as_str())
    );
    // Memory: a 2 MiB store (and a 16k-line disk queue) does not grow the
    // process by anything like the ~100 MB printed.
    let rss_after = rss_bytes(p.pid());
    assert!(
        rss_after < rss_before + (48 << 20),
        "rss grew from {rss_before} to {rss_after}"
    );
    // Disk: the log's segments stay within their 4 MiB budget (plus the open
    // segment, an eighth of it), though ~60 MB were printed.
    let logs_disk = dir_bytes(&p.dir().join("data/logs"));
    assert!(logs_disk > 0, "the disk log holds something");
    assert!(
        logs_disk <= (4 << 20) + (512 << 10) + 4096,
        "logs on disk: {logs_disk} bytes"
    );
    let disk = dir_bytes(p.dir());
    assert!(disk < 32 << 20, "data dir holds {disk} bytes");
    // Responsiveness: no API answer took anywhere near a human-noticeable stall.
    assert!(
        slowest < Duration::from_secs(5),
        "slowest API answer {slowest:?}"
    );
}

fn gateway_get(p: &Platform, host: &str, path: &str) -> u16 {
    p.gateway(host, path).map(|r| r.status).unwrap_or(0)
}

#[test]
fn circuit_changes_are_events_metrics_and_status() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&format!(
            r#"{}
[services.back.resilience]
circuit = {{ error_rate = 0.5, min_requests = 5, window = "10s", open_for = "1s" }}
"#,
            service("back")
        ))
        .start()
        .expect("start");
    p.wait_healthy("back", 1, HEALTHY).expect("back");
    // Failures until the breaker opens and Shoal answers for the service.
    let opened = wait_until("the circuit to open", Duration::from_secs(20), || {
        (gateway_get(&p, "back", "/fail") == 503).then_some(())
    });
    assert!(opened.is_ok(), "{}", p.stderr());
    let events = wait_until("a circuit_changed event", Duration::from_secs(5), || {
        let e = get(&p, "/api/v1/events?kind=circuit_changed");
        e.as_array().filter(|a| !a.is_empty()).cloned()
    })
    .expect("event");
    assert_eq!(events[0]["service"], "back");
    assert_eq!(events[0]["fields"]["to"], "open", "{events:?}");
    let out = p.cli(&["status"]).expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("CIRCUIT") && text.contains(" open "),
        "{text}"
    );
    let metrics = p.api("GET", "/metrics", None).expect("metrics").text();
    assert!(
        metrics.contains(r#"shoal_circuit_state{service="back"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"shoal_shed_total{service="back",caller="gateway",reason="circuit-open"}"#),
        "{metrics}"
    );
    // After open_for, a good request closes it again.
    wait_until("the circuit to close", Duration::from_secs(20), || {
        (gateway_get(&p, "back", "/hello") == 200).then_some(())?;
        let e = get(&p, "/api/v1/events?kind=circuit_changed");
        e.as_array()?
            .iter()
            .any(|x| x["fields"]["to"] == "closed")
            .then_some(())
    })
    .expect("closed again");
    let out = p.cli(&["status", "back"]).expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("proxy: circuit closed"), "{text}");
}

#[test]
fn logs_and_traces_survive_a_restart_of_shoal() {
    let mut p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&service("back"))
        .start()
        .expect("start");
    p.wait_healthy("back", 1, HEALTHY).expect("back");
    let trace = "7bf92f3577b34da6a3ce929d0e0e4736";
    let (status, _) = common::traced_get(p.gateway, "back", "/before", trace);
    assert_eq!(status, 200);
    wait_until("the request's lines", Duration::from_secs(10), || {
        let l = get(&p, &format!("/api/v1/logs?trace={trace}"));
        (l.as_array()?.len() >= 2).then_some(())
    })
    .expect("lines before the restart");
    p.terminate(Duration::from_secs(20)).expect("stop");
    let dir = p.take_dir().expect("dir");
    let p2 = Platform::builder(BIN).in_dir(dir).start().expect("restart");
    let lines = get(&p2, &format!("/api/v1/logs?trace={trace}"));
    let lines = lines.as_array().cloned().unwrap_or_default();
    assert!(
        lines
            .iter()
            .any(|l| l["instance"] == "proxy" && l["fields"]["path"] == "/before"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l["fields"]["msg"] == "GET /before"),
        "{lines:?}"
    );
    // The request's span is read from its reloaded access line.
    let t = get(&p2, &format!("/api/v1/traces/{trace}"));
    let spans = t["spans"].as_array().cloned().unwrap_or_default();
    assert_eq!(spans.len(), 1, "{t}");
    assert_eq!(spans[0]["path"], "/before", "{t}");
    assert_eq!(spans[0]["service"], "back", "{t}");
    let listed = get(&p2, "/api/v1/traces?service=back");
    assert!(
        listed
            .as_array()
            .is_some_and(|a| a.iter().any(|s| s["trace_id"] == trace)),
        "{listed}"
    );
}
