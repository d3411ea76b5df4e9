"""Consul's `filter` and query parameters through the unmodified py-consul client:
services registered with tags, meta and TTL checks through the agent API, then
filtered on the catalog, health and agent endpoints; an invalid expression, an unknown
selector and an unknown parameter answer 400; another datacenter answers Consul's
"No path to datacenter" (500); `node-meta` matches this node's metadata."""

import consul
import consul.exceptions
import pytest
import requests


@pytest.fixture()
def fleet(c):
    """web-1 (v1, blue, env=prod, passing), web-2 (v2, env=qa, critical), db-1 (no tags)."""
    c.agent.service.register("fweb", service_id="fweb-1", port=8081, tags=["v1", "blue"],
                             meta={"env": "prod"}, check=consul.Check.ttl("60s"))
    c.agent.service.register("fweb", service_id="fweb-2", port=8082, tags=["v2"],
                             meta={"env": "qa"}, check=consul.Check.ttl("60s"))
    c.agent.service.register("fdb", service_id="fdb-1", port=5432)
    assert c.agent.check.ttl_pass("service:fweb-1")
    yield c
    for sid in ("fweb-1", "fweb-2", "fdb-1"):
        c.agent.service.deregister(sid)


def test_catalog_filters(fleet):
    c = fleet
    _, inst = c.catalog.service("fweb", filter_expr='ServiceMeta.env == "qa"')
    assert [i["ServiceID"] for i in inst] == ["fweb-2"]
    _, inst = c.catalog.service("fweb", filter_expr="v1 in ServiceTags and ServicePort == 8081")
    assert [i["ServiceID"] for i in inst] == ["fweb-1"]
    _, inst = c.catalog.service("fweb", filter_expr='ServiceID matches "-[12]$" and not (ServiceTags contains blue)')
    assert [i["ServiceID"] for i in inst] == ["fweb-2"]
    _, services = c.catalog.services(filter_expr='ServiceName matches "^f" and ServiceTags is not empty')
    assert services == {"fweb": ["blue", "v1", "v2"]}
    _, services = c.catalog.services(filter_expr="ServiceMeta.env == prod")
    assert services == {"fweb": ["blue", "v1"]}
    _, nodes = c.catalog.nodes(filter_expr='Datacenter == "dc1"')
    assert len(nodes) == 1
    _, nodes = c.catalog.nodes(filter_expr='Node != ""  and Meta.rack == r1')
    assert nodes == []
    _, node = c.catalog.node(c.agent.self()["Config"]["NodeName"], filter_expr="Service == fdb")
    assert list(node["Services"]) == ["fdb-1"]


def test_health_filters(fleet):
    c = fleet
    _, entries = c.health.service("fweb", filter_expr="Checks.Status == critical")
    assert [e["Service"]["ID"] for e in entries] == ["fweb-2"]
    # Consul's idiom for "every check passing": no check is not passing.
    _, entries = c.health.service("fweb", filter_expr="not Checks.Status != passing")
    assert [e["Service"]["ID"] for e in entries] == ["fweb-1"]
    _, entries = c.health.service("fweb", filter_expr='Service.Meta["env"] == prod and Node.Datacenter == dc1')
    assert [e["Service"]["ID"] for e in entries] == ["fweb-1"]
    _, checks = c.health.checks("fweb", filter_expr="Status != passing")
    assert [x["CheckID"] for x in checks] == ["service:fweb-2"]
    _, crit = c.health.state("critical", filter_expr='ServiceName == "fweb"')
    assert [x["CheckID"] for x in crit] == ["service:fweb-2"]
    node = c.agent.self()["Config"]["NodeName"]
    _, on_node = c.health.node(node, filter_expr='CheckID == "serfHealth" or ServiceID == "fweb-1"')
    assert sorted(x["CheckID"] for x in on_node) == ["serfHealth", "service:fweb-1"]


def test_agent_filters(fleet):
    c = fleet
    services = c.agent.services(filter_expr='Meta.env == "qa" or Service == fdb')
    assert sorted(services) == ["fdb-1", "fweb-2"]
    checks = c.agent.checks(filter_expr="ServiceName == fweb and Status == passing")
    assert list(checks) == ["service:fweb-1"]


def test_node_meta(fleet):
    c = fleet
    _, nodes = c.catalog.nodes(node_meta={"consul-network-segment": ""})
    assert len(nodes) == 1
    _, nodes = c.catalog.nodes(node_meta={"rack": "r1"})
    assert nodes == []
    _, entries = c.health.service("fweb", node_meta={"rack": "r1"})
    assert entries == []
    _, services = c.catalog.services(node_meta={"rack": "r1"})
    assert services == {}


def test_invalid_filters_are_400(fleet, shoal):
    c = fleet
    with pytest.raises(consul.exceptions.BadRequest) as e:
        c.catalog.service("fweb", filter_expr="ServiceTags contains")
    assert "Invalid filter expression" in str(e.value) and "column 21" in str(e.value)
    with pytest.raises(consul.exceptions.BadRequest) as e:
        c.health.service("fweb", filter_expr="Service.Nope == x")
    assert "Service.Nope" in str(e.value) and "is not valid" in str(e.value)
    r = requests.get(f"http://{shoal.http}/v1/agent/services", params={"filter": "Port matches 1"}, timeout=5)
    assert r.status_code == 400 and "Invalid match operator" in r.json()["error"]


def test_unknown_and_unsupported_parameters(fleet, shoal):
    base = f"http://{shoal.http}/v1"
    r = requests.get(f"{base}/catalog/service/fweb", params={"tags": "v1"}, timeout=5)
    assert r.status_code == 400 and '"tags"' in r.json()["error"]
    r = requests.get(f"{base}/kv/x", params={"filter": "Key == x"}, timeout=5)
    assert r.status_code == 400 and '"filter"' in r.json()["error"]
    r = requests.get(f"{base}/health/service/fweb", params={"peer": "other"}, timeout=5)
    assert r.status_code == 400 and "peering" in r.json()["error"]
    r = requests.get(f"{base}/catalog/nodes", params={"ns": "team-a"}, timeout=5)
    assert r.status_code == 400
    # The common parameters clients send everywhere are accepted.
    r = requests.get(f"{base}/catalog/nodes", params={"dc": "dc1", "ns": "default", "stale": "", "token": "t", "pretty": ""}, timeout=5)
    assert r.status_code == 200 and len(r.json()) == 1


def test_other_datacenter(fleet):
    c = fleet
    with pytest.raises(consul.ConsulException) as e:
        c.catalog.nodes(dc="dc2")
    assert "500" in str(e.value) and "No path to datacenter" in str(e.value)
    with pytest.raises(consul.ConsulException):
        c.kv.get("x", dc="dc2")
    assert c.catalog.nodes(dc="dc1")[1]
