"""Catalog registration of external nodes through py-consul (`catalog.register`,
`catalog.deregister`, `catalog.datacenters`), as consul-esm, registrator and Terraform use it:
the node and its service show in catalog and health reads, the gateway routes to it while its
checks pass, status updates with SkipNodeUpdate take it out, and it all survives a restart."""

import json
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import consul
import pytest

from conftest import SHOAL_TOML, shoal_in, wait_until
from test_agent import Upstream


@pytest.fixture()
def upstream():
    u = Upstream()
    yield u
    u.close()


def gateway_get(gateway, host, path="/hi"):
    req = urllib.request.Request(f"http://{gateway}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_datacenters_name_the_agents_dc(c):
    assert c.catalog.datacenters() == [c.agent.self()["Config"]["Datacenter"]] == ["dc1"]


def test_external_node_is_read_routed_and_deregistered(c, shoal, upstream):
    service = {"Service": "ext-cat", "ID": "ext-cat-1", "Tags": ["v4", "edge"], "Port": upstream.port,
               "Meta": {"owner": "esm"}}
    check = {"CheckID": "ext-cat-alive", "Name": "alive", "Status": "passing", "ServiceID": "ext-cat-1",
             "Definition": {"HTTP": f"http://127.0.0.1:{upstream.port}/health", "Interval": "10s"}}
    node_check = {"CheckID": "externalNodeHealth", "Name": "node alive", "Status": "passing"}
    try:
        assert c.catalog.register("ext-node-1", "127.0.0.1", service=service, check=check,
                                  node_meta={"external-node": "true"}) is True
        # Node-level check in a second call, as consul-esm sends status updates.
        assert c.catalog.register("ext-node-1", "127.0.0.1", check=node_check, skip_node_update=True) is True

        _, nodes = c.catalog.nodes()
        names = [n["Node"] for n in nodes]
        me = c.agent.self()["Config"]["NodeName"]
        assert me in names and "ext-node-1" in names
        _, entries = c.catalog.service("ext-cat")
        assert len(entries) == 1
        e = entries[0]
        assert (e["Node"], e["Address"], e["ServiceID"], e["ServicePort"]) == ("ext-node-1", "127.0.0.1", "ext-cat-1", upstream.port)
        assert e["ServiceTags"] == ["v4", "edge"] and e["ServiceMeta"] == {"owner": "esm"}
        _, node = c.catalog.node("ext-node-1")
        assert node["Node"]["Address"] == "127.0.0.1" and "ext-cat-1" in node["Services"]
        # py-consul sends node_meta as `node-meta` parameters: Shoal keeps them as the
        # node's metadata (the skip_node_update call above left it), and node-meta reads
        # select the node by it.
        assert node["Node"]["Meta"] == {"external-node": "true"}
        _, by_meta = c.catalog.nodes(node_meta={"external-node": "true"})
        assert [n["Node"] for n in by_meta] == ["ext-node-1"]
        _, by_meta = c.catalog.service("ext-cat", node_meta={"external-node": "false"})
        assert by_meta == []
        # The agent's own services do not include another node's.
        assert "ext-cat-1" not in c.agent.services()

        _, healthy = c.health.service("ext-cat", passing=True)
        assert [h["Node"]["Node"] for h in healthy] == ["ext-node-1"]
        checks = {ch["CheckID"]: ch for ch in healthy[0]["Checks"]}
        assert set(checks) == {"ext-cat-alive", "externalNodeHealth"}
        assert checks["ext-cat-alive"]["Definition"]["HTTP"].endswith("/health")
        _, node_checks = c.health.node("ext-node-1")
        assert {ch["CheckID"] for ch in node_checks} == {"ext-cat-alive", "externalNodeHealth"}

        # Mirrored into Shoal's catalog: the gateway routes to the node's address and port.
        wait_until(lambda: gateway_get(shoal.gateway, "ext-cat") == (200, b"hello from upstream"),
                   what="gateway routes to the catalog-registered service")

        # consul-esm marks the node critical: passing reads and the gateway drop it.
        node_check["Status"] = "critical"
        node_check["Output"] = "node unreachable"
        assert c.catalog.register("ext-node-1", "127.0.0.1", check=node_check, skip_node_update=True)
        assert c.health.service("ext-cat", passing=True)[1] == []
        wait_until(lambda: gateway_get(shoal.gateway, "ext-cat")[0] == 503,
                   what="gateway stops routing to a service whose node is critical")
        node_check["Status"] = "passing"
        assert c.catalog.register("ext-node-1", "127.0.0.1", check=node_check, skip_node_update=True)
        wait_until(lambda: gateway_get(shoal.gateway, "ext-cat")[0] == 200, what="routed again")

        # Deregistering the check, then the service, then the node.
        assert c.catalog.deregister("ext-node-1", check_id="externalNodeHealth") is True
        _, node_checks = c.health.node("ext-node-1")
        assert [ch["CheckID"] for ch in node_checks] == ["ext-cat-alive"]
        assert c.catalog.deregister("ext-node-1", service_id="ext-cat-1") is True
        assert c.catalog.service("ext-cat")[1] == []
        assert c.health.node("ext-node-1")[1] == []
        wait_until(lambda: gateway_get(shoal.gateway, "ext-cat")[0] != 200, what="gateway forgets the service")
    finally:
        c.catalog.deregister("ext-node-1")
    assert "ext-node-1" not in [n["Node"] for n in c.catalog.nodes()[1]]
    assert c.catalog.node("ext-node-1")[1] is None


def test_bad_catalog_registrations(c, shoal):
    def put(path, body):
        req = urllib.request.Request(f"http://{shoal.http}/v1/catalog/{path}", data=json.dumps(body).encode(), method="PUT")
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    me = c.agent.self()["Config"]["NodeName"]
    assert put("register", {"Address": "10.0.0.1"}) == 400                    # no node
    assert put("register", {"Node": "x-node"}) == 400                         # no address
    assert put("register", {"Node": me, "Address": "127.0.0.1"}) == 400       # the agent's own node
    assert put("register", {"Node": "x-node", "Address": "10.0.0.1",
                            "Check": {"CheckID": "c", "ServiceID": "missing"}}) == 400
    assert put("register", {"Node": "x-node", "Address": "10.0.0.1", "Service": {"Service": "sup"}}) == 409
    assert put("deregister", {"ServiceID": "x"}) == 400
    # Deregistering what does not exist is fine, as in Consul.
    assert c.catalog.deregister("never-registered") is True


def test_registrations_and_events_survive_a_restart(upstream):
    """A catalog registration, a service in maintenance and a fired event live in the store:
    a second `shoal up` on the same data directory serves them again and mirrors the
    registered service for the gateway."""
    with tempfile.TemporaryDirectory(prefix="shoal-restart-") as tmp:
        workdir = Path(tmp)
        (workdir / "shoal.toml").write_text(SHOAL_TOML)
        with shoal_in(workdir) as (c, _):
            assert c.catalog.register("keep-node", "127.0.0.1",
                                      service={"Service": "kept", "ID": "kept-1", "Port": upstream.port})
            fired = c.event.fire("kept-event", "payload")
            assert c.agent.service.register("kept-agent", service_id="kept-agent-1", address="127.0.0.1",
                                            port=upstream.port, check={"TTL": "1h", "Status": "passing"})
            assert c.agent.service.maintenance("kept-agent-1", True, "draining")
        with shoal_in(workdir) as (c, gateway):
            _, entries = c.catalog.service("kept")
            assert [(e["Node"], e["ServicePort"]) for e in entries] == [("keep-node", upstream.port)]
            _, events = c.event.list(name="kept-event")
            assert [(e["ID"], e["Payload"]) for e in events] == [(fired["ID"], b"payload")]
            checks = c.agent.checks()
            assert checks["_service_maintenance:kept-agent-1"]["Notes"] == "draining"
            assert c.health.service("kept-agent", passing=True)[1] == []
            wait_until(lambda: gateway_get(gateway, "kept") == (200, b"hello from upstream"),
                       what="the restarted gateway routes to the catalog-registered service")
            wait_until(lambda: gateway_get(gateway, "kept-agent")[0] == 503,
                       what="the service in maintenance stays out of the gateway")
