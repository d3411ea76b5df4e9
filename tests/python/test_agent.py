"""Agent, catalog and health through py-consul: registration with HTTP and TTL checks,
TTL expiry, DeregisterCriticalServiceAfter, filters, supervised instances, and an external
service reached through the gateway."""

import http.server
import json
import shutil
import subprocess
import threading
import urllib.error
import urllib.request

import consul
import pytest

from conftest import wait_until


class Upstream:
    """A tiny HTTP server: `/health` answers `self.health_code`, everything else says hello."""

    def __init__(self):
        self.health_code = 200
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                code = outer.health_code if self.path == "/health" else 200
                body = b"hello from upstream" if self.path != "/health" else b"ok"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def upstream():
    u = Upstream()
    yield u
    u.close()


def statuses(c, name):
    _, entries = c.health.service(name)
    return [{ch["CheckID"]: ch["Status"] for ch in e["Checks"]} for e in entries]


def test_agent_self(c):
    me = c.agent.self()
    assert me["Config"]["Datacenter"] == "dc1" and me["Config"]["NodeName"]
    assert me["Member"]["Name"] == me["Config"]["NodeName"]


def test_http_check_and_gateway(c, shoal, upstream):
    check = consul.Check.http(f"http://127.0.0.1:{upstream.port}/health", interval="1s", timeout="1s")
    assert c.agent.service.register("ext-web", service_id="ext-web-1", address="127.0.0.1", port=upstream.port, tags=["v3", "blue"], meta={"Team": "core"}, check=check)
    svc = c.agent.services()["ext-web-1"]
    assert svc["Service"] == "ext-web" and svc["Port"] == upstream.port and svc["Meta"] == {"Team": "core"}
    wait_until(lambda: statuses(c, "ext-web") == [{"serfHealth": "passing", "service:ext-web-1": "passing"}], what="HTTP check passing")
    # Routable through the gateway like a supervised service.
    def through_gateway():
        req = urllib.request.Request(f"http://{shoal.gateway}/hi", headers={"Host": "ext-web"})
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status == 200 and r.read() == b"hello from upstream"
    wait_until(through_gateway, what="gateway reaches the external service")
    # The check fails: health turns critical and `passing` filters it out.
    upstream.health_code = 500
    wait_until(lambda: statuses(c, "ext-web")[0]["service:ext-web-1"] == "critical", what="HTTP check critical")
    assert c.health.service("ext-web", passing=True)[1] == []
    checks = c.agent.checks()
    assert checks["service:ext-web-1"]["Type"] == "http" and checks["service:ext-web-1"]["Status"] == "critical"
    upstream.health_code = 200
    wait_until(lambda: len(c.health.service("ext-web", passing=True)[1]) == 1, what="passing again")
    assert c.agent.service.deregister("ext-web-1")
    assert "ext-web-1" not in c.agent.services()
    assert c.catalog.service("ext-web")[1] == []


def test_ttl_check_pass_fail_and_expiry(c):
    assert c.agent.service.register("ttl-svc", service_id="ttl-1", port=9, check=consul.Check.ttl("2s"))
    assert statuses(c, "ttl-svc")[0]["service:ttl-1"] == "critical"  # Consul's initial state
    assert c.agent.check.ttl_pass("service:ttl-1", "all good")
    _, checks = c.health.checks("ttl-svc")
    assert checks[0]["Status"] == "passing" and checks[0]["Output"] == "all good"
    assert c.agent.check.ttl_warn("service:ttl-1")
    assert statuses(c, "ttl-svc")[0]["service:ttl-1"] == "warning"
    assert c.agent.check.ttl_fail("service:ttl-1", "broken")
    assert statuses(c, "ttl-svc")[0]["service:ttl-1"] == "critical"
    assert c.agent.check.ttl_pass("service:ttl-1")
    # No update within the TTL: critical again.
    wait_until(lambda: statuses(c, "ttl-svc")[0]["service:ttl-1"] == "critical", timeout=5, what="TTL expiry")
    _, checks = c.health.checks("ttl-svc")
    assert "TTL expired" in checks[0]["Output"]
    c.agent.service.deregister("ttl-1")


def test_standalone_check_register(c):
    assert c.agent.service.register("chk-svc", service_id="chk-1", port=10)
    assert c.agent.check.register("mem", consul.Check.ttl("30s"), check_id="chk-1-mem", service_id="chk-1")
    assert "chk-1-mem" in c.agent.checks()
    assert c.agent.check.ttl_pass("chk-1-mem")
    _, checks = c.health.checks("chk-svc")
    assert [(x["CheckID"], x["Status"]) for x in checks] == [("chk-1-mem", "passing")]
    assert c.agent.check.deregister("chk-1-mem")
    assert "chk-1-mem" not in c.agent.checks()
    assert c.agent.check.ttl_pass("no-such-check") is False  # 404
    c.agent.service.deregister("chk-1")


def test_deregister_critical_service_after(c):
    check = consul.Check.ttl("1s")
    check["DeregisterCriticalServiceAfter"] = "2s"
    assert c.agent.service.register("doomed", service_id="doomed-1", port=11, check=check)
    assert "doomed-1" in c.agent.services()
    wait_until(lambda: "doomed-1" not in c.agent.services(), timeout=8, what="deregistered after critical")
    assert c.catalog.service("doomed")[1] == []


def test_catalog_and_health_filters(c):
    c.agent.service.register("cat", service_id="cat-1", port=21, tags=["v1", "east"], check=consul.Check.ttl("60s"))
    c.agent.service.register("cat", service_id="cat-2", port=22, tags=["v2"], check=consul.Check.ttl("60s"))
    c.agent.check.ttl_pass("service:cat-1")
    try:
        _, services = c.catalog.services()
        assert sorted(services["cat"]) == ["east", "v1", "v2"]
        _, nodes = c.catalog.nodes()
        assert len(nodes) == 1 and nodes[0]["Datacenter"] == "dc1"
        _, node = c.catalog.node(nodes[0]["Node"])
        assert {"cat-1", "cat-2"} <= set(node["Services"])
        _, inst = c.catalog.service("cat")
        assert sorted(i["ServiceID"] for i in inst) == ["cat-1", "cat-2"]
        assert {i["ServicePort"] for i in inst} == {21, 22} and inst[0]["Node"] == nodes[0]["Node"]
        _, inst = c.catalog.service("cat", tag="east")
        assert [i["ServiceID"] for i in inst] == ["cat-1"]
        _, entries = c.health.service("cat", passing=True)
        assert [e["Service"]["ID"] for e in entries] == ["cat-1"]
        _, entries = c.health.service("cat", tag="v2")
        assert [e["Service"]["ID"] for e in entries] == ["cat-2"]
        _, crit = c.health.state("critical")
        assert "service:cat-2" in [x["CheckID"] for x in crit]
        _, passing = c.health.state("passing")
        ids = [x["CheckID"] for x in passing]
        assert "service:cat-1" in ids and "serfHealth" in ids
        _, anyst = c.health.state("any")
        assert len(anyst) >= len(crit) + len(passing)
        _, on_node = c.health.node(nodes[0]["Node"])
        assert "service:cat-1" in [x["CheckID"] for x in on_node]
    finally:
        c.agent.service.deregister("cat-1")
        c.agent.service.deregister("cat-2")


def test_blocking_health_query_wakes_on_status_change(c):
    c.agent.service.register("blk", service_id="blk-1", port=31, check=consul.Check.ttl("60s"))
    try:
        index, _ = c.health.service("blk")
        c.kv.put("t/noise", "x")  # unrelated write must not end the query
        result = {}
        t = threading.Thread(target=lambda: result.update(r=c.health.service("blk", index=index, wait="10s")))
        t.start()
        t.join(timeout=0.5)
        assert t.is_alive()
        c.agent.check.ttl_pass("service:blk-1")
        t.join(timeout=5)
        assert not t.is_alive()
        new_index, entries = result["r"]
        assert int(new_index) > int(index)
        assert entries[0]["Checks"][1]["Status"] == "passing"
    finally:
        c.agent.service.deregister("blk-1")


def test_supervised_instances_appear(c):
    def sup_passing():
        _, entries = c.health.service("sup", passing=True)
        return entries
    entries = wait_until(sup_passing, timeout=15, what="supervised instance passing")
    e = entries[0]
    assert e["Service"]["Tags"] == ["7"] and e["Service"]["Port"] > 0
    sid = e["Service"]["ID"]
    assert f"service:{sid}" in [ch["CheckID"] for ch in e["Checks"]]
    assert "sup" in c.catalog.services()[1]
    assert c.catalog.service("sup", tag="7")[1][0]["ServiceID"] == sid


def test_bad_register_bodies(c, shoal):
    for body in [b"{", b'{"Port": 1}', b'{"Name": "x", "Port": "abc"}', b'{"Name": "x", "Check": {"HTTP": "http://a/"}}', b"[1,2]"]:
        req = urllib.request.Request(f"http://{shoal.http}/v1/agent/service/register", data=body, method="PUT")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        assert e.value.code == 400, body
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://{shoal.http}/v1/health/state/bogus")
    assert e.value.code == 400


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig not installed")
def test_registered_service_is_in_dns(c, shoal):
    if not shoal.dns:
        pytest.skip("this shoal serves no DNS")
    host, port = shoal.dns.rsplit(":", 1)
    check = {"TTL": "60s", "Status": "passing"}
    assert c.agent.service.register("dnsext", service_id="dnsext-1", address="127.0.0.1", port=4242, tags=["v9"], check=check)
    try:
        def srv():
            out = subprocess.run(["dig", f"@{host}", "-p", port, "+short", "+time=1", "+tries=1", "dnsext.service.consul", "SRV"],
                                 capture_output=True, text=True, timeout=5).stdout
            return "4242" in out and out
        wait_until(srv, timeout=5, what="SRV answer for the registered service")
        c.agent.check.ttl_fail("service:dnsext-1")
        def gone():
            out = subprocess.run(["dig", f"@{host}", "-p", port, "+short", "+time=1", "+tries=1", "dnsext.service.consul", "SRV"],
                                 capture_output=True, text=True, timeout=5).stdout
            return "4242" not in out
        wait_until(gone, timeout=5, what="critical service left out of DNS")
    finally:
        c.agent.service.deregister("dnsext-1")


def test_outside_registration_cannot_take_over_a_supervised_service(c, shoal, upstream):
    """A name from the service file belongs to Shoal: registering an outside instance
    under it is refused with 409 (py-consul raises), and the gateway keeps sending
    every request to the supervised instance."""
    body = json.dumps({"Name": "sup", "ID": "intruder-1", "Address": "127.0.0.1", "Port": upstream.port}).encode()
    req = urllib.request.Request(f"http://{shoal.http}/v1/agent/service/register", data=body, method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 409
    answer = json.loads(e.value.read())
    assert "allow_external" in answer["error"], answer
    with pytest.raises(Exception):
        c.agent.service.register("sup", service_id="intruder-2", address="127.0.0.1", port=upstream.port)
    assert "intruder-1" not in c.agent.services() and "intruder-2" not in c.agent.services()
    for _ in range(50):
        req = urllib.request.Request(f"http://{shoal.gateway}/", headers={"Host": "sup"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.read() != b"hello from upstream"


def test_allow_external_lets_outside_instances_join(c, shoal, upstream):
    """`allow_external = true` in the file: the outside instance joins and is served."""
    check = {"TTL": "60s", "Status": "passing"}
    assert c.agent.service.register("shared", service_id="shared-1", address="127.0.0.1", port=upstream.port, check=check)
    try:
        def through_gateway():
            req = urllib.request.Request(f"http://{shoal.gateway}/hi", headers={"Host": "shared"})
            with urllib.request.urlopen(req, timeout=2) as r:
                return r.read() == b"hello from upstream"
        wait_until(through_gateway, what="gateway reaches the outside instance of `shared`")
    finally:
        c.agent.service.deregister("shared-1")
