//! The data plane inside a running platform: version selection, trace headers,
//! callers known from their outbound listener, and WebSocket connections.

mod common;

use common::{APP, BIN, HEALTHY};
use shoal_testkit::{request, wait_until, Platform};

#[test]
fn versions_traces_and_callers_through_the_platform() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(
            r#"
[services.web]
command = ["python3", "app.py"]
version = "1"

[services.web.versions.2]
instances = 1

[services.web.health]
http = "/health"
interval = "200ms"

[services.api]
command = ["python3", "app.py"]

[services.api.health]
http = "/health"
interval = "200ms"
"#,
        )
        .start()
        .expect("start");
    p.wait_healthy("web", 2, HEALTHY).expect("web v1 and v2");
    p.wait_healthy("api", 1, HEALTHY).expect("api");

    // Version styles: default, path prefix (stripped), header, query, media type.
    let v = |path: &str, header: Option<(&str, &str)>| {
        let extra = header
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .unwrap_or_default();
        let raw = format!("GET {path} HTTP/1.1\r\nHost: web\r\n{extra}Connection: close\r\n\r\n");
        let r = raw_get(p.gateway, &raw);
        serde_json::from_str::<serde_json::Value>(r.split("\r\n\r\n").nth(1).unwrap_or(""))
            .unwrap_or_default()
    };
    assert_eq!(v("/hello", None)["version"], "1");
    let by_path = v("/v2/hello", None);
    assert_eq!(
        (by_path["version"].as_str(), by_path["path"].as_str()),
        (Some("2"), Some("/hello"))
    );
    assert_eq!(v("/hello", Some(("X-Version", "2")))["version"], "2");
    assert_eq!(v("/hello?version=2", None)["version"], "2");
    assert_eq!(
        v("/hello", Some(("Accept", "application/vnd.shoal.v2+json")))["version"],
        "2"
    );
    assert_eq!(
        v("/hello", Some(("X-Version", "99")))["version"],
        "1",
        "unknown version → current"
    );

    // Tracing: created at the first hop, continued with a new span, echoed as X-Trace-Id.
    let r = p.gateway("web", "/").expect("gateway");
    let tp = r.json()["traceparent"].as_str().unwrap_or("").to_string();
    let trace = r.header("x-trace-id").unwrap_or("").to_string();
    assert_eq!(trace.len(), 32, "{:?}", r.headers);
    assert!(tp.starts_with(&format!("00-{trace}-")), "{tp}");
    let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let raw = format!(
        "GET / HTTP/1.1\r\nHost: web\r\ntraceparent: {parent}\r\nConnection: close\r\n\r\n"
    );
    let body = raw_get(p.gateway, &raw);
    assert!(
        body.contains("0af7651916cd43dd8448eb211c80319c"),
        "trace continued: {body}"
    );
    assert!(
        !body.contains("b7ad6b7169203331\""),
        "a new span id per hop: {body}"
    );

    // Callers: the gateway is "gateway"; a service's outbound listener is that service.
    assert_eq!(
        p.gateway("api", "/").expect("gateway").json()["caller"],
        "gateway"
    );
    let proxy = p
        .api("GET", "/api/v1/proxy", None)
        .expect("proxy state")
        .json();
    let outbound: std::net::SocketAddr = proxy["outbound"]["web"]
        .as_str()
        .unwrap_or("")
        .parse()
        .expect("web's outbound listener");
    let r = request(outbound, "GET", "/", Some("api"), None).expect("through web's listener");
    assert_eq!(r.json()["caller"], "web", "{}", r.text());
    // A forged caller header does not change who the proxy says called.
    let raw = "GET / HTTP/1.1\r\nHost: api\r\nX-Shoal-Caller: admin\r\nConnection: close\r\n\r\n";
    assert!(raw_get(outbound, raw).contains("\"caller\": \"web\""));

    // Access log lines carry the trace id (written off the request path: waited for).
    wait_until("the access line of the traced request", HEALTHY, || {
        let logs = p
            .cli(&["logs", "web", "--grep", "access", "-n", "1000"])
            .ok()?;
        String::from_utf8_lossy(&logs.stdout)
            .contains(&format!("trace={trace}"))
            .then_some(())
    })
    .expect("access line");
}

fn raw_get(addr: std::net::SocketAddr, raw: &str) -> String {
    common::raw_http(addr, raw).1
}

/// Python's `http.server` sends a response's headers and body with two writes;
/// on a pooled (kept-alive) upstream connection the body waited for Shoal's
/// delayed ACK (40 ms on Linux) before quick ACKs (`shoal-proxy` client.rs).
/// The median of sequential requests must be far below that stall (a bound on
/// a 40 ms kernel timer, not a benchmark).
#[test]
fn pooled_connections_to_python_servers_do_not_stall_on_delayed_acks() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&common::web_service("web", 1))
        .start()
        .expect("start");
    p.wait_healthy("web", 1, HEALTHY).expect("web");
    // The gateway's table follows the catalog a moment later: serving first, then timed.
    wait_until("the gateway serves web", HEALTHY, || {
        p.gateway("web", "/web/x")
            .ok()
            .filter(|r| r.status == 200)
            .map(|_| ())
    })
    .expect("served");
    let mut times: Vec<std::time::Duration> = (0..15)
        .map(|_| {
            let t = std::time::Instant::now();
            let r = p.gateway("web", "/web/x").expect("request");
            assert_eq!(r.status, 200);
            t.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    assert!(
        median < std::time::Duration::from_millis(25),
        "median {median:?} of {times:?}"
    );
}

/// Runs the Python client `code` with `arg`; its output, once it succeeded.
fn python_client(code: &str, arg: &str) -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", code, arg])
        .output()
        .expect("run the python client");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A WebSocket echo service (the `websockets` library) behind the gateway,
/// reached by a `websockets` client: the upgrade passes through the proxy and
/// messages flow both ways over the joined connection.
#[test]
fn websockets_pass_through_the_gateway() {
    const WS_APP: &str = r#"
import os
from websockets.sync.server import serve
INSTANCE = os.environ["SHOAL_INSTANCE"]
def health(connection, request):
    if request.path == "/health":
        return connection.respond(200, "ok\n")
def echo(ws):
    for message in ws:
        ws.send(f"{INSTANCE}:{message}")
with serve(echo, "127.0.0.1", int(os.environ["PORT"]), process_request=health) as server:
    server.serve_forever()
"#;
    const CLIENT: &str = r#"
import sys
from websockets.sync.client import connect
with connect(sys.argv[1], open_timeout=10) as ws:
    for message in ["hello", "again"]:
        ws.send(message)
        print(ws.recv(timeout=10), flush=True)
"#;
    let p = Platform::builder(BIN)
        .file("ws_app.py", WS_APP)
        .services(
            r#"
[services.ws]
command = ["python3", "ws_app.py"]
routes = ["/ws"]

[services.ws.health]
http = "/health"
interval = "200ms"
timeout = "1s"
grace = "10s"
"#,
        )
        .start()
        .expect("start");
    p.wait_healthy("ws", 1, HEALTHY).expect("ws");
    let stdout = python_client(CLIENT, &format!("ws://{}/ws/echo", p.gateway));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (line, sent) in lines.iter().zip(["hello", "again"]) {
        let (instance, echoed) = line.split_once(':').unwrap_or_default();
        assert!(instance.starts_with("ws-"), "{line}");
        assert_eq!(echoed, sent);
    }
}

/// A gRPC service (the `grpcio` library, HTTP/2 without TLS) declared with
/// `protocol = "h2c"`, reached by a `grpcio` client through the gateway: a unary
/// call sees Shoal's stamp as metadata, a server stream arrives whole, a gRPC
/// error status (sent in trailers) reaches the client, and a bidirectional
/// stream works message by message (the request body passes as it arrives).
#[test]
fn grpc_calls_pass_through_the_gateway() {
    const GRPC_APP: &str = r#"
import os
from concurrent import futures
import grpc
INSTANCE = os.environ["SHOAL_INSTANCE"]
def say(request, context):
    md = dict(context.invocation_metadata())
    seen = [md.get("x-version", "-"), md.get("x-shoal-caller", "-"), str("traceparent" in md)]
    return ":".join([INSTANCE, request.decode()] + seen).encode()
def count(request, context):
    for i in range(int(request)):
        yield str(i).encode()
def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such greeting")
def chat(requests, context):
    for message in requests:
        yield b"re:" + message
handler = grpc.method_handlers_generic_handler("greet.Greeter", {
    "Chat": grpc.stream_stream_rpc_method_handler(chat),
    "Say": grpc.unary_unary_rpc_method_handler(say),
    "Count": grpc.unary_stream_rpc_method_handler(count),
    "Fail": grpc.unary_unary_rpc_method_handler(fail),
})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port("127.0.0.1:" + os.environ["PORT"])
server.start()
server.wait_for_termination()
"#;
    const CLIENT: &str = r#"
import queue
import sys
import grpc
with grpc.insecure_channel(sys.argv[1]) as ch:
    print(ch.unary_unary("/greet.Greeter/Say")(b"hello", timeout=10).decode())
    print(",".join(x.decode() for x in ch.unary_stream("/greet.Greeter/Count")(b"4", timeout=10)))
    try:
        ch.unary_unary("/greet.Greeter/Fail")(b"", timeout=10)
        print("no error")
    except grpc.RpcError as e:
        print(e.code().name, e.details())
    # Each message is sent only after the answer to the previous one arrived:
    # the request stream must pass through as it is written.
    outbox = queue.Queue()
    def messages():
        while (m := outbox.get()) is not None:
            yield m
    chat = ch.stream_stream("/greet.Greeter/Chat")(messages(), timeout=10)
    got = []
    for word in [b"a", b"b", b"c"]:
        outbox.put(word)
        got.append(next(chat).decode())
    outbox.put(None)
    print(",".join(got))
"#;
    let p = Platform::builder(BIN)
        .file("grpc_app.py", GRPC_APP)
        .services(
            r#"
[services.greeter]
command = ["python3", "grpc_app.py"]
protocol = "h2c"
routes = ["/greet.Greeter"]

[services.greeter.health]
tcp = true
interval = "200ms"
timeout = "1s"
grace = "10s"
"#,
        )
        .start()
        .expect("start");
    p.wait_healthy("greeter", 1, HEALTHY).expect("greeter");
    let stdout = python_client(CLIENT, &p.gateway.to_string());
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    let (instance, rest) = lines[0].split_once(':').unwrap_or_default();
    assert!(instance.starts_with("greeter-"), "{stdout}");
    assert_eq!(rest, "hello:1:gateway:True", "{stdout}");
    assert_eq!(lines[1], "0,1,2,3");
    assert_eq!(lines[2], "NOT_FOUND no such greeting");
    assert_eq!(
        lines[3], "re:a,re:b,re:c",
        "a bidirectional stream, message by message"
    );
}
