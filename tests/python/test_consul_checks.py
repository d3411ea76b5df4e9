"""Consul check kinds through the unmodified py-consul client against `shoal up`: HTTP with
Method, Header and Body; HTTPS with TLSSkipVerify; gRPC health (a real grpcio server); H2PING
(the same server speaks h2c); alias checks; script checks and unknown services refused as
Consul refuses them. Each check passes, then turns critical when its target stops, and a
service whose check fails leaves the gateway."""

import http.server
import json
import shutil
import ssl
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from concurrent import futures
from pathlib import Path

import consul
import pytest

from conftest import wait_until

grpc = pytest.importorskip("grpc")
health = pytest.importorskip("grpc_health.v1.health")
health_pb2 = pytest.importorskip("grpc_health.v1.health_pb2")
health_pb2_grpc = pytest.importorskip("grpc_health.v1.health_pb2_grpc")


class Recorder:
    """An HTTP server (TLS when given a context) answering every request with 200 and
    `seen <method>` (`/` says hello), recording method, headers (lowercased) and body."""

    def __init__(self, tls=None, reply=b"hello from upstream"):
        self.requests = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, {k.lower(): v for k, v in self.headers.items()}, body))
                text = reply if self.path == "/" else f"seen {self.command}".encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815 - http.server API

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def check_of(c, check_id):
    return c.agent.checks().get(check_id, {})


def status_of(c, check_id):
    return check_of(c, check_id).get("Status")


def put(shoal, path, body):
    req = urllib.request.Request(f"http://{shoal.http}{path}", data=json.dumps(body).encode(), method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    return e.value.code, json.loads(e.value.read())


def test_http_check_sends_method_header_and_body(c):
    server = Recorder()
    url = f"http://127.0.0.1:{server.port}/health"
    check = consul.Check.http(url, interval="1s", timeout="2s", header={"X-Token": ["s3cret"]})
    check["Method"] = "POST"
    check["Body"] = '{"probe": true}'
    try:
        assert c.agent.service.register("chk-http", service_id="chk-http-1", port=server.port, check=check)
        wait_until(lambda: status_of(c, "service:chk-http-1") == "passing", what="HTTP check passing")
        out = check_of(c, "service:chk-http-1")
        assert out["Output"] == f"HTTP POST {url}: 200 OK Output: seen POST", out
        assert out["Type"] == "http" and out["Definition"]["Method"] == "POST"
        method, headers, body = server.requests[-1]
        assert (method, headers.get("x-token"), body) == ("POST", "s3cret", b'{"probe": true}')
        assert headers.get("user-agent") == "Consul Health Check"
        server.close()
        wait_until(lambda: status_of(c, "service:chk-http-1") == "critical", what="HTTP check critical once stopped")
        assert "connection refused" in check_of(c, "service:chk-http-1")["Output"].lower()
    finally:
        c.agent.service.deregister("chk-http-1")


@pytest.fixture(scope="module")
def tls_context():
    if shutil.which("openssl") is None:
        pytest.skip("no openssl CLI to make a certificate")
    with tempfile.TemporaryDirectory() as tmp:
        key, cert = Path(tmp) / "key.pem", Path(tmp) / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=checks.test", "-addext", "subjectAltName=DNS:checks.test",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        yield ctx


def test_https_check_verifies_unless_skipped_and_a_failing_service_leaves_the_gateway(c, shoal, tls_context):
    app = Recorder()  # the service itself, plain HTTP, stays up throughout
    health_server = Recorder(tls=tls_context)
    url = f"https://127.0.0.1:{health_server.port}/health"
    strict = consul.Check.http(url, interval="1s", timeout="2s")
    try:
        # A self-signed certificate is not trusted ...
        assert c.agent.check.register("strict-tls", strict)
        wait_until(lambda: "certificate" in check_of(c, "strict-tls").get("Output", ""), what="certificate refused")
        assert status_of(c, "strict-tls") == "critical"
        # ... unless TLSSkipVerify.
        check = consul.Check.http(url, interval="1s", timeout="2s")
        check["TLSSkipVerify"] = True
        assert c.agent.service.register("chk-tls", service_id="chk-tls-1", address="127.0.0.1", port=app.port, check=check)
        wait_until(lambda: status_of(c, "service:chk-tls-1") == "passing", what="HTTPS check passing")
        assert check_of(c, "service:chk-tls-1")["Output"].startswith(f"HTTP GET {url}: 200 OK Output: seen GET")

        def gateway_body():
            req = urllib.request.Request(f"http://{shoal.gateway}/", headers={"Host": "chk-tls"})
            try:
                with urllib.request.urlopen(req, timeout=2) as r:
                    return r.read()
            except urllib.error.HTTPError as e:
                return e.code

        wait_until(lambda: gateway_body() == b"hello from upstream", what="gateway routes to the passing service")
        health_server.close()
        wait_until(lambda: status_of(c, "service:chk-tls-1") == "critical", what="HTTPS check critical once stopped")
        wait_until(lambda: gateway_body() != b"hello from upstream", what="the failing service leaves the gateway")
        assert c.health.service("chk-tls", passing=True)[1] == []
    finally:
        c.agent.check.deregister("strict-tls")
        c.agent.service.deregister("chk-tls-1")
        app.close()


@pytest.fixture()
def grpc_health_server():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("db", health_pb2.HealthCheckResponse.SERVING)
    server.start()
    yield server, servicer, port
    server.stop(0)


def test_grpc_check_follows_the_health_protocol(c, grpc_health_server):
    server, servicer, port = grpc_health_server
    target = f"127.0.0.1:{port}/db"
    try:
        assert c.agent.service.register("chk-grpc", service_id="chk-grpc-1", port=port,
                                        check=consul.Check.grpc(target, "1s", timeout="2s"))
        wait_until(lambda: status_of(c, "service:chk-grpc-1") == "passing", what="gRPC check passing")
        out = check_of(c, "service:chk-grpc-1")
        assert out["Output"] == f"gRPC check {target}: success" and out["Type"] == "grpc"
        servicer.set("db", health_pb2.HealthCheckResponse.NOT_SERVING)
        wait_until(lambda: status_of(c, "service:chk-grpc-1") == "critical", what="NOT_SERVING is critical")
        assert check_of(c, "service:chk-grpc-1")["Output"] == f"gRPC {target} serving status: NOT_SERVING"
        servicer.set("db", health_pb2.HealthCheckResponse.SERVING)
        wait_until(lambda: status_of(c, "service:chk-grpc-1") == "passing", what="SERVING again")
        server.stop(0)
        wait_until(lambda: status_of(c, "service:chk-grpc-1") == "critical", what="gRPC check critical once stopped")
    finally:
        c.agent.service.deregister("chk-grpc-1")


def test_h2ping_check_over_h2c(c, grpc_health_server):
    server, _, port = grpc_health_server  # grpcio speaks cleartext HTTP/2 with prior knowledge
    check = {"H2PING": f"127.0.0.1:{port}", "H2PingUseTLS": False, "Interval": "1s", "Timeout": "2s"}
    try:
        assert c.agent.check.register("chk-h2ping", check)
        wait_until(lambda: status_of(c, "chk-h2ping") == "passing", what="H2PING passing")
        out = check_of(c, "chk-h2ping")
        assert (out["Output"], out["Type"]) == ("HTTP2 ping was successful", "h2ping")
        server.stop(0)
        wait_until(lambda: status_of(c, "chk-h2ping") == "critical", what="H2PING critical once stopped")
    finally:
        c.agent.check.deregister("chk-h2ping")


def test_alias_check_mirrors_the_aliased_service(c):
    try:
        assert c.agent.service.register("al-target", service_id="al-target-1", port=1, check=consul.Check.ttl("60s"))
        assert c.agent.service.register("al-side", service_id="al-side-1", port=2, check={"AliasService": "al-target-1"})
        wait_until(lambda: status_of(c, "service:al-side-1") == "critical", what="alias of a critical service")
        assert check_of(c, "service:al-side-1")["Type"] == "alias"
        assert c.agent.check.ttl_pass("service:al-target-1")
        wait_until(lambda: status_of(c, "service:al-side-1") == "passing", what="alias follows to passing")
        assert check_of(c, "service:al-side-1")["Output"] == "All checks passing."
        assert c.agent.check.ttl_warn("service:al-target-1", "slow")
        wait_until(lambda: status_of(c, "service:al-side-1") == "warning", what="alias follows to warning")
        assert c.agent.check.ttl_fail("service:al-target-1", "down")
        wait_until(lambda: status_of(c, "service:al-side-1") == "critical", what="alias follows to critical")
        assert "failing: down" in check_of(c, "service:al-side-1")["Output"]
        c.agent.service.deregister("al-target-1")
        wait_until(lambda: "could not be found" in check_of(c, "service:al-side-1").get("Output", ""),
                   what="alias of a deregistered service")
    finally:
        c.agent.service.deregister("al-side-1")
        c.agent.service.deregister("al-target-1")


def test_script_checks_and_unknown_services_are_refused_as_consul_refuses_them(c, shoal):
    code, answer = put(shoal, "/v1/agent/check/register", {"Name": "s", "Args": ["/bin/true"], "Interval": "1s"})
    assert code == 400
    assert answer["error"] == ("Scripts are disabled on this agent from remote calls; "
                               "to enable, configure 'enable_script_checks' to true")
    with pytest.raises(consul.base.ConsulException):
        c.agent.check.register("s", consul.Check.script(["/bin/true"], "1s"))
    code, answer = put(shoal, "/v1/agent/check/register", {"Name": "t", "TTL": "10s", "ServiceID": "no-such-service"})
    assert code == 404 and answer["error"] == 'ServiceID "no-such-service" does not exist'


def test_script_checks_run_when_enabled():
    """With `enable_script_checks = true` (Consul's agent setting), a script check registered
    through py-consul runs: exit 0 passing, 1 warning, anything else critical, its output
    recorded; a service's script check takes it out of the healthy answers when it fails."""
    from conftest import running_shoal

    toml = """
[platform]
data_dir = "data"
http = "127.0.0.1:0"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"
enable_script_checks = true
"""
    with running_shoal(toml, "shoal-script-checks-") as (_, ep, workdir):
        host, port = ep["http"].rsplit(":", 1)
        c = consul.Consul(host=host, port=int(port))
        flag = workdir / "state"
        flag.write_text("0")
        script = ["sh", "-c", f"echo state $(cat {flag}); exit $(cat {flag})"]
        c.agent.service.register("scripted", service_id="scripted-1", port=9,
                                 check=consul.Check.script(script, "1s"))
        check_id = "service:scripted-1"
        wait_until(lambda: status_of(c, check_id) == "passing", timeout=20, what="the script check passing")
        assert check_of(c, check_id)["Type"] == "script"
        assert len(c.health.service("scripted", passing=True)[1]) == 1
        flag.write_text("1")
        wait_until(lambda: status_of(c, check_id) == "warning", timeout=20, what="exit 1: warning")
        assert "state 1" in check_of(c, check_id)["Output"]
        flag.write_text("2")
        wait_until(lambda: status_of(c, check_id) == "critical", timeout=20, what="exit 2: critical")
        assert "state 2" in check_of(c, check_id)["Output"]
        assert c.health.service("scripted", passing=True)[1] == []
        # A node-level script check registered on its own, the old `Script` string form.
        c.agent.check.register("node-script", consul.Check.script(["/bin/true"], "1s"))
        wait_until(lambda: status_of(c, "node-script") == "passing", timeout=20, what="node script check")
        c.agent.service.deregister("scripted-1")
