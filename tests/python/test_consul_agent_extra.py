"""The rest of the agent API through py-consul: node and service maintenance (passing reads
and the gateway leave a drained service out), members, metrics (JSON and Prometheus),
reload, leave (refused) and coordinates."""

import urllib.error
import urllib.request

import consul
import pytest
from consul.exceptions import ConsulException

from conftest import wait_until
from test_agent import Upstream


@pytest.fixture()
def upstream():
    u = Upstream()
    yield u
    u.close()


def gateway_status(gateway, host):
    req = urllib.request.Request(f"http://{gateway}/hi", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def passing_ids(c, name):
    return [e["Service"]["ID"] for e in c.health.service(name, passing=True)[1]]


def test_service_maintenance_drains_the_gateway(c, shoal, upstream):
    check = consul.Check.http(f"http://127.0.0.1:{upstream.port}/health", interval="1s", timeout="1s")
    assert c.agent.service.register("drain-me", service_id="drain-me-1", address="127.0.0.1", port=upstream.port, check=check)
    try:
        wait_until(lambda: passing_ids(c, "drain-me") == ["drain-me-1"], what="HTTP check passing")
        wait_until(lambda: gateway_status(shoal.gateway, "drain-me") == 200, what="routed")

        assert c.agent.service.maintenance("drain-me-1", True, "deploying v2") is True
        maint = c.agent.checks()["_service_maintenance:drain-me-1"]
        assert (maint["Status"], maint["Notes"], maint["ServiceID"]) == ("critical", "deploying v2", "drain-me-1")
        assert maint["Name"] == "Service Maintenance Mode" and maint["Type"] == "maintenance"
        assert passing_ids(c, "drain-me") == []
        wait_until(lambda: gateway_status(shoal.gateway, "drain-me") == 503, what="drained from the gateway")

        assert c.agent.service.maintenance("drain-me-1", False) is True
        assert "_service_maintenance:drain-me-1" not in c.agent.checks()
        assert passing_ids(c, "drain-me") == ["drain-me-1"]
        wait_until(lambda: gateway_status(shoal.gateway, "drain-me") == 200, what="routed again")
    finally:
        c.agent.service.deregister("drain-me-1")
    # Deregistering the service took its maintenance check too; unknown ids are a 404.
    assert c.agent.service.maintenance("drain-me-1", True) is False
    req = urllib.request.Request(f"http://{shoal.http}/v1/agent/service/maintenance/x?enable=maybe", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 400


def test_node_maintenance_fails_every_service_of_the_node(c):
    assert c.agent.service.register("node-maint", service_id="node-maint-1", check={"TTL": "1h", "Status": "passing"})
    try:
        assert passing_ids(c, "node-maint") == ["node-maint-1"]
        assert c.agent.maintenance(True, "kernel upgrade") is True
        maint = c.agent.checks()["_node_maintenance"]
        assert (maint["Status"], maint["Notes"], maint["ServiceID"]) == ("critical", "kernel upgrade", "")
        assert passing_ids(c, "node-maint") == []
        assert passing_ids(c, "sup") == []
        assert c.agent.maintenance(False) is True
        assert "_node_maintenance" not in c.agent.checks()
        assert passing_ids(c, "node-maint") == ["node-maint-1"]
    finally:
        c.agent.maintenance(False)
        c.agent.service.deregister("node-maint-1")


def test_members_are_this_node(c):
    me = c.agent.self()
    members = c.agent.members()
    assert len(members) == 1
    m = members[0]
    assert m["Name"] == me["Config"]["NodeName"] and m["Status"] == 1
    assert m["Tags"]["dc"] == "dc1" and m["Tags"]["role"] == "consul"
    assert {"ProtocolMin", "ProtocolMax", "ProtocolCur", "DelegateMin", "DelegateMax", "DelegateCur"} <= set(m)
    wan = c.agent.members(wan=True)
    assert wan[0]["Name"] == f"{m['Name']}.dc1"


def test_metrics_in_consuls_json_and_prometheus_text(c, shoal):
    m = c.agent.metrics()
    assert {"Timestamp", "Gauges", "Points", "Counters", "Samples"} <= set(m)
    assert m["Timestamp"].endswith("+0000 UTC")
    names = {g["Name"] for g in m["Gauges"]} | {x["Name"] for x in m["Counters"]} | {x["Name"] for x in m["Samples"]}
    assert any(n.startswith("shoal_") for n in names), names
    text = c.agent.metrics(format_prometheus=True)
    assert "# TYPE shoal_" in text
    with urllib.request.urlopen(f"http://{shoal.http}/v1/agent/metrics?format=prometheus", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain")


def test_reload_is_accepted_and_leave_is_refused(c):
    assert c.agent.reload() is True
    with pytest.raises(ConsulException) as e:
        c.agent.leave()
    assert "501" in str(e.value) and "SIGTERM" in str(e.value)
    assert c.agent.self()  # still here


def test_coordinates_of_a_fresh_node(c):
    me = c.agent.self()["Config"]["NodeName"]
    index, nodes = c.coordinate.nodes()
    assert int(index) >= 1
    assert [n["Node"] for n in nodes] == [me]
    coord = nodes[0]["Coord"]
    assert coord["Vec"] == [0.0] * 8 and coord["Error"] == 1.5
    _, one = c.coordinate.node(me)
    assert one[0]["Coord"] == coord
    dcs = c.coordinate.datacenters()
    assert dcs[0]["Datacenter"] == "dc1" and dcs[0]["Coordinates"][0]["Node"] == f"{me}.dc1"
