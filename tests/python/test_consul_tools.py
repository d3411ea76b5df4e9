"""Four widely used Consul clients, call by call: Prometheus' consul_sd, consul-template,
Traefik's Consul catalog provider and Fabio. Each test replays, with a real HTTP client,
exactly the requests the tool sends (read from its public source: method, path, the query
parameters its configuration turns into, in the encoding the Go client gives them, and the
headers Go sends), then reads the answer the way the tool's Go code does.

All four use github.com/hashicorp/consul/api. `GoConsulClient` below is that client's
request building, from api/api.go: `newRequest` adds the `Config`'s `dc`, `ns`,
`partition`, `wait` and `X-Consul-Token`; `setQueryOptions` turns `QueryOptions` into
`ns`, `partition`, `dc`, `peer`, `stale=` (empty value), `consistent=`, `index` (omitted
when 0), `wait` (`durToMsec`: "120000ms"), `hash`, `near`, `filter`, one `node-meta=k:v`
per pair, `cached=`; then `url.Values.Encode` sorts the keys and escapes as
`url.QueryEscape`. Go's transport sends `User-Agent: Go-http-client/1.1` and
`Accept-Encoding: gzip` (and unzips the answer). `go_unmarshal` checks an answer against
the Go struct it is decoded into (api/health.go, api/catalog.go, api/kv.go, api/agent.go):
where Go's encoding/json would refuse a value (a string where an int goes, a duration
string `time.ParseDuration` rejects, a non-object under agent/self), the tool would fail.

Blocking queries are replayed with the tool's own `wait`; a change must wake them and
move X-Consul-Index. Where a timeout is waited for, `wait` is shortened (and says so)."""

import base64
import http.server
import json
import os
import re
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import consul
import pytest
import requests

from conftest import SHOAL_TOML, running_shoal, wait_until

# --- hashicorp/consul/api, as the tools use it ----------------------------------------

# What Go's net/http sends on its own (Transport adds Accept-Encoding: gzip and unzips).
GO_HEADERS = {"User-Agent": "Go-http-client/1.1", "Accept-Encoding": "gzip"}


def go_query_escape(s):
    """url.QueryEscape: unreserved A-Z a-z 0-9 - _ . ~ kept, space as +, the rest %XX."""
    return urllib.parse.quote_plus(s, safe="")


def go_encode(values):
    """url.Values.Encode: keys sorted, each key's values in the order they were added."""
    return "&".join(f"{go_query_escape(k)}={go_query_escape(v)}"
                    for k in sorted(values) for v in values[k])


def dur_to_msec(seconds):
    """api.durToMsec: whole milliseconds, at least 1 for a positive duration."""
    ms = int(seconds * 1000)
    if seconds > 0 and ms == 0:
        ms = 1
    return f"{ms}ms"


class Q:
    """api.QueryOptions (the fields the four tools set)."""

    def __init__(self, stale=False, consistent=False, index=0, wait=None, near="",
                 filter="", node_meta=None, cached=False, dc="", ns="", partition=""):
        self.stale, self.consistent, self.index, self.wait = stale, consistent, index, wait
        self.near, self.filter, self.node_meta, self.cached = near, filter, node_meta or {}, cached
        self.dc, self.ns, self.partition = dc, ns, partition

    def but(self, **kw):
        q = Q()
        q.__dict__.update(self.__dict__, **kw)
        return q


class Answer:
    def __init__(self, url, resp, elapsed):
        self.url, self.resp, self.elapsed = url, resp, elapsed
        self.status = resp.status_code
        self.headers = resp.headers
        raw = resp.headers.get("X-Consul-Index")
        self.index = int(raw) if raw is not None else None

    def json(self):
        return self.resp.json()

    def __repr__(self):
        return f"{self.status} {self.url}: {self.resp.text[:500]}"


class GoConsulClient:
    """api.Client as a tool configures it (api.Config: Datacenter, Namespace, Partition,
    WaitTime, Token)."""

    def __init__(self, http, datacenter="", namespace="", partition="", wait_time=None, token=""):
        self.base = f"http://{http}"
        self.datacenter, self.namespace, self.partition = datacenter, namespace, partition
        self.wait_time, self.token = wait_time, token
        self.session = requests.Session()
        self.session.headers.clear()
        self.session.headers.update(GO_HEADERS)
        self.sent = []  # every request line, in order

    def _new_request(self):
        """Client.newRequest."""
        params, headers = {}, {}
        if self.datacenter:
            params["dc"] = [self.datacenter]
        if self.namespace:
            params["ns"] = [self.namespace]
        if self.partition:
            params["partition"] = [self.partition]
        if self.wait_time:
            params["wait"] = [dur_to_msec(self.wait_time)]
        if self.token:
            headers["X-Consul-Token"] = self.token
        return params, headers

    @staticmethod
    def _set_query_options(params, q):
        """request.setQueryOptions."""
        if q is None:
            return
        for key, value in (("ns", q.ns), ("partition", q.partition), ("dc", q.dc)):
            if value:
                params[key] = [value]
        if q.stale:
            params["stale"] = [""]
        if q.consistent:
            params["consistent"] = [""]
        if q.index:
            params["index"] = [str(q.index)]
        if q.wait:
            params["wait"] = [dur_to_msec(q.wait)]
        if q.near:
            params["near"] = [q.near]
        if q.filter:
            params["filter"] = [q.filter]
        for k, v in q.node_meta.items():
            params.setdefault("node-meta", []).append(f"{k}:{v}")
        if q.cached and not q.consistent:
            params["cached"] = [""]

    def request(self, method, path, q=None, set_params=(), add_params=(), body=None,
                content_type=None, timeout=60):
        params, headers = self._new_request()
        self._set_query_options(params, q)
        for k, v in set_params:  # r.params.Set after setQueryOptions
            params[k] = [v]
        for k, v in add_params:  # r.params.Add
            params.setdefault(k, []).append(v)
        url = path + (f"?{go_encode(params)}" if params else "")
        if body is not None and content_type is None:
            content_type = "application/json"  # toHTTP: set when a body is present
        if content_type:
            headers["Content-Type"] = content_type
        self.sent.append(f"{method} {url}")
        t0 = time.monotonic()
        resp = self.session.request(method, self.base + url, headers=headers, data=body,
                                    timeout=timeout)
        return Answer(url, resp, time.monotonic() - t0)

    def get(self, path, q=None, **kw):
        return self.request("GET", path, q, **kw)


def go_json(obj):
    """encoding/json.Encoder.Encode of a struct (fields in declaration order, omitempty
    already applied by the caller): compact, HTML-safe, with a trailing newline."""
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


def consul_index_ok(a):
    """api.parseQueryMeta: X-Consul-Index a uint64 (>0, or the tools never see a change),
    X-Consul-LastContact milliseconds (consul-template's max_stale compares it with 2s),
    X-Consul-KnownLeader."""
    assert a.index is not None and a.index > 0, a
    assert int(a.headers["X-Consul-LastContact"]) <= 2000, a.headers
    assert a.headers["X-Consul-KnownLeader"] == "true", a.headers


# --- what Go's encoding/json accepts -------------------------------------------------

STRING, INT, UINT, BOOL, ANY, OBJECT = ("string",), ("int",), ("uint",), ("bool",), ("any",), ("object",)
DURATION = ("duration",)        # api.ReadableDuration: "1s" or a number of nanoseconds
DURATION_IFACE = ("duration_iface",)  # interface{} fed to time.ParseDuration when a string
BYTES = ("bytes",)              # []byte: base64 (StdEncoding)


def Map(t):
    return ("map", t)


def Slice(t):
    return ("slice", t)


def Struct(name, **fields):
    return ("struct", name, fields)


GO_DURATION = re.compile(r"^[-+]?(0|((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+)$")

WEIGHTS = Struct("AgentWeights", Passing=INT, Warning=INT)
SERVICE_ADDRESS = Struct("ServiceAddress", Address=STRING, Port=INT)
LOCALITY = Struct("Locality", Region=STRING, Zone=STRING)
PROXY = Struct("AgentServiceConnectProxyConfig", DestinationServiceName=STRING,
               DestinationServiceID=STRING, LocalServiceAddress=STRING, LocalServicePort=INT,
               LocalServiceSocketPath=STRING, Mode=STRING,
               TransparentProxy=Struct("TransparentProxyConfig", OutboundListenerPort=INT,
                                       DialedDirectly=BOOL),
               Config=Map(ANY), Upstreams=Slice(OBJECT),
               MeshGateway=Struct("MeshGatewayConfig", Mode=STRING),
               Expose=Struct("ExposeConfig", Checks=BOOL, Paths=Slice(OBJECT)))
HEALTH_CHECK_DEFINITION = Struct(
    "HealthCheckDefinition", HTTP=STRING, Header=Map(Slice(STRING)), Method=STRING,
    Body=STRING, TLSServerName=STRING, TLSSkipVerify=BOOL, TCP=STRING, UDP=STRING,
    GRPC=STRING, OSService=STRING, GRPCUseTLS=BOOL, Interval=DURATION, Timeout=DURATION,
    DeregisterCriticalServiceAfter=DURATION, IntervalDuration=DURATION_IFACE,
    TimeoutDuration=DURATION_IFACE, DeregisterCriticalServiceAfterDuration=DURATION_IFACE)
HEALTH_CHECK = Struct(
    "HealthCheck", Node=STRING, CheckID=STRING, Name=STRING, Status=STRING, Notes=STRING,
    Output=STRING, ServiceID=STRING, ServiceName=STRING, ServiceTags=Slice(STRING),
    Type=STRING, Namespace=STRING, Partition=STRING, ExposedPort=INT, PeerName=STRING,
    Definition=HEALTH_CHECK_DEFINITION, CreateIndex=UINT, ModifyIndex=UINT)
NODE = Struct("Node", ID=STRING, Node=STRING, Address=STRING, Datacenter=STRING,
              TaggedAddresses=Map(STRING), Meta=Map(STRING), CreateIndex=UINT,
              ModifyIndex=UINT, Partition=STRING, PeerName=STRING, Locality=LOCALITY)
AGENT_SERVICE = Struct(
    "AgentService", Kind=STRING, ID=STRING, Service=STRING, Tags=Slice(STRING),
    Meta=Map(STRING), Port=INT, Address=STRING, SocketPath=STRING,
    TaggedAddresses=Map(SERVICE_ADDRESS), Weights=WEIGHTS, EnableTagOverride=BOOL,
    CreateIndex=UINT, ModifyIndex=UINT, ContentHash=STRING, Proxy=PROXY,
    Connect=Struct("AgentServiceConnect", Native=BOOL, SidecarService=OBJECT),
    PeerName=STRING, Namespace=STRING, Partition=STRING, Datacenter=STRING, Locality=LOCALITY)
SERVICE_ENTRY = Struct("ServiceEntry", Node=NODE, Service=AGENT_SERVICE, Checks=Slice(HEALTH_CHECK))
CATALOG_SERVICE = Struct(
    "CatalogService", ID=STRING, Node=STRING, Address=STRING, Datacenter=STRING,
    TaggedAddresses=Map(STRING), NodeMeta=Map(STRING), ServiceID=STRING, ServiceName=STRING,
    ServiceAddress=STRING, ServiceTaggedAddresses=Map(SERVICE_ADDRESS),
    ServiceTags=Slice(STRING), ServiceMeta=Map(STRING), ServicePort=INT,
    ServiceWeights=WEIGHTS, ServiceEnableTagOverride=BOOL, ServiceProxy=PROXY,
    ServiceLocality=LOCALITY, CreateIndex=UINT, Checks=Slice(HEALTH_CHECK), ModifyIndex=UINT,
    Namespace=STRING, Partition=STRING)
CATALOG_NODE = Struct("CatalogNode", Node=NODE, Services=Map(AGENT_SERVICE))
KV_PAIR = Struct("KVPair", Key=STRING, CreateIndex=UINT, ModifyIndex=UINT, LockIndex=UINT,
                 Flags=UINT, Value=BYTES, Session=STRING, Namespace=STRING, Partition=STRING)
AGENT_SELF = Map(Map(ANY))      # Agent.Self: map[string]map[string]interface{}
CATALOG_SERVICES = Map(Slice(STRING))


def go_unmarshal(value, t, where="$"):
    """Fails where encoding/json.Unmarshal of `value` into Go type `t` returns an error.
    JSON null is always accepted (nil, or no effect); unknown object keys are ignored;
    struct fields match case-insensitively."""
    if value is None:
        return
    kind = t[0]
    what = f"{where}: {value!r} cannot be decoded into Go {kind}"
    if kind == "any":
        return
    if kind == "object":
        assert isinstance(value, dict), what
    elif kind == "string":
        assert isinstance(value, str), what
    elif kind == "bool":
        assert isinstance(value, bool), what
    elif kind in ("int", "uint"):
        assert isinstance(value, int) and not isinstance(value, bool), what
        assert kind == "int" or value >= 0, what
    elif kind in ("duration", "duration_iface"):
        if isinstance(value, str):
            assert GO_DURATION.match(value), f"{where}: {value!r} is not a Go duration (time.ParseDuration fails)"
        else:
            assert kind == "duration_iface" or isinstance(value, (int, float)), what
    elif kind == "bytes":
        assert isinstance(value, str), what
        base64.b64decode(value, validate=True)
    elif kind == "map":
        assert isinstance(value, dict), what
        for k, v in value.items():
            go_unmarshal(v, t[1], f"{where}[{k!r}]")
    elif kind == "slice":
        assert isinstance(value, list), what
        for i, v in enumerate(value):
            go_unmarshal(v, t[1], f"{where}[{i}]")
    elif kind == "struct":
        assert isinstance(value, dict), what
        fields = t[2]
        folded = {name.lower(): ft for name, ft in fields.items()}
        for k, v in value.items():
            ft = fields.get(k) or folded.get(k.lower())
            if ft is not None:
                go_unmarshal(v, ft, f"{where}.{k}")
    else:  # pragma: no cover
        raise AssertionError(f"unknown Go type {t!r}")


def aggregated_status(checks):
    """api.HealthChecks.AggregatedStatus (api/health.go)."""
    passing = warning = critical = maintenance = False
    for ch in checks:
        if ch["CheckID"] == "_node_maintenance" or ch["CheckID"].startswith("_service_maintenance:"):
            maintenance = True
            continue
        status = ch["Status"]
        if status == "passing":
            passing = True
        elif status == "warning":
            warning = True
        elif status == "critical":
            critical = True
        else:
            return ""
    if maintenance:
        return "maintenance"
    if critical:
        return "critical"
    if warning:
        return "warning"
    return "passing"


def settled_index(go, path, q, set_params=()):
    """The index a tool's watch loop blocks on once the store has settled. An answer that
    comes at once (a relevant change since the index: e.g. the check runner mirroring a
    registration or a check update into Shoal's catalog right after it) is taken as the
    tools take it, its index becoming the next call's, until a call (with `wait`
    shortened to 0.3s) waits out its timeout."""
    index = q.index
    for _ in range(40):
        probe = go.get(path, q.but(index=index, wait=0.3), set_params=set_params)
        assert probe.status in (200, 404), probe
        if probe.elapsed >= 0.3:
            return probe.index
        index = probe.index
    pytest.fail(f"{path}: never settled")


def watch_round(go, path, q, change, what, set_params=(), park=0.5, timeout=30):
    """One turn of a tool's watch loop: the blocking call `q` (the tool's own `wait`, or
    none) with the settled index, sent in a thread; it must be parked, then `change` must
    wake it well before its `wait`. Returns the answer and the index it blocked on."""
    index = settled_index(go, path, q, set_params)
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(go.get, path, q.but(index=index), set_params=set_params)
        time.sleep(park)
        assert not fut.done(), f"{what}: answered before any change: {fut.result()!r}"
        change()
        a = fut.result(timeout=timeout)
    assert a.status == 200 and a.index > index and a.elapsed < 10, a
    return a, index


# --- test data --------------------------------------------------------------------------

def passing_ttl(c, service_id, check_id=None):
    check_id = check_id or f"service:{service_id}"
    assert c.agent.check.ttl_pass(check_id)
    return check_id


@pytest.fixture()
def go(shoal):
    return GoConsulClient(shoal.http)


# --- Prometheus ---------------------------------------------------------------------------

def prometheus_targets(entries, tag_separator=","):
    """The labels Prometheus builds per entry in consulService.watch
    (prometheus/prometheus discovery/consul/consul.go)."""
    out = {}
    for e in entries:
        svc, node = e["Service"], e["Node"]
        tags = tag_separator + tag_separator.join(svc["Tags"] or []) + tag_separator
        host = svc["Address"] if svc["Address"] != "" else node["Address"]
        labels = {
            "__address__": f"{host}:{svc['Port']}",
            "__meta_consul_address": node["Address"],
            "__meta_consul_node": node["Node"],
            "__meta_consul_namespace": svc.get("Namespace", ""),
            "__meta_consul_partition": svc.get("Partition", ""),
            "__meta_consul_tags": tags,
            "__meta_consul_service_address": svc["Address"],
            "__meta_consul_service_port": str(svc["Port"]),
            "__meta_consul_service_id": svc["ID"],
            "__meta_consul_health": aggregated_status(e["Checks"]),
        }
        for k, v in (node["Meta"] or {}).items():
            labels[f"__meta_consul_metadata_{k}"] = v
        for k, v in (svc["Meta"] or {}).items():
            labels[f"__meta_consul_service_metadata_{k}"] = v
        for k, v in (node["TaggedAddresses"] or {}).items():
            labels[f"__meta_consul_tagged_address_{k}"] = v
        out[svc["ID"]] = labels
    return out


def test_prometheus_consul_sd(shoal, c, go):
    """Prometheus' consul_sd_configs, from prometheus/prometheus discovery/consul/consul.go:
    `Discovery.getDatacenter` (GET /v1/agent/self, reads Config.Datacenter),
    `Discovery.watchServices` (catalog.Services with QueryOptions{WaitIndex, WaitTime:
    watchTimeout (2m), AllowStale: allow_stale (default true), NodeMeta: node_meta, Filter:
    filter}) and `consulService.watch` (health.ServiceMultipleTags(name, tags, false, ...)
    with the same options and Filter: health_filter), whose answers become target labels.
    A watch whose index did not move is ignored ("the watch timed out with no update")."""
    # Two nodes: one in rack 2304 with a service address, one in 2305 without (the target
    # then takes the node's address). The node meta and the filters are the ones
    # Prometheus' own discovery/consul/consul_test.go sends; its expected request URIs
    # (e.g. "/v1/health/service/test?node-meta=rack_name%3A2304&stale=&tag=tag1&wait=120000ms")
    # are the encoding GoConsulClient reproduces.
    assert c.catalog.register(
        "prom-node-a", "127.0.0.2", node_meta={"rack_name": "2304"},
        tagged_addresses={"lan": "127.0.0.2", "wan": "198.51.100.2"},
        service={"ID": "prom-api-1", "Service": "prom-api", "Tags": ["prod", "metrics"],
                 "Address": "127.0.0.3", "Port": 9100, "Meta": {"metrics_path": "/m"}},
        check={"CheckID": "prom-api-1-alive", "Name": "alive", "Status": "passing",
               "ServiceID": "prom-api-1"})
    assert c.catalog.register(
        "prom-node-b", "127.0.0.4", node_meta={"rack_name": "2305"},
        service={"ID": "prom-api-2", "Service": "prom-api", "Tags": ["prod"], "Port": 9101},
        check={"CheckID": "prom-api-2-alive", "Name": "alive", "Status": "warning",
               "ServiceID": "prom-api-2"})
    try:
        # Discovery.getDatacenter: Agent().Self(), no parameters.
        a = go.get("/v1/agent/self")
        assert a.url == "/v1/agent/self" and a.status == 200, a
        go_unmarshal(a.json(), AGENT_SELF)
        dc = a.json()["Config"]["Datacenter"]
        assert isinstance(dc, str) and dc == "dc1"

        # Default config (allow_stale: true, no services/tags/filter): watch the catalog.
        q = Q(stale=True, wait=120)
        a = go.get("/v1/catalog/services", q)
        assert a.url == "/v1/catalog/services?stale=&wait=120000ms" and a.status == 200, a
        consul_index_ok(a)
        go_unmarshal(a.json(), CATALOG_SERVICES)
        assert sorted(a.json()["prom-api"]) == ["metrics", "prod"], a.json()
        catalog_index = a.index

        # consulService.watch for prom-api: no tags, passingOnly false.
        a = go.get("/v1/health/service/prom-api", Q(stale=True, wait=120))
        assert a.url == "/v1/health/service/prom-api?stale=&wait=120000ms" and a.status == 200, a
        consul_index_ok(a)
        go_unmarshal(a.json(), Slice(SERVICE_ENTRY))
        targets = prometheus_targets(a.json())
        assert targets["prom-api-1"] == {
            "__address__": "127.0.0.3:9100",
            "__meta_consul_address": "127.0.0.2",
            "__meta_consul_node": "prom-node-a",
            "__meta_consul_namespace": "",
            "__meta_consul_partition": "",
            "__meta_consul_tags": ",prod,metrics,",
            "__meta_consul_service_address": "127.0.0.3",
            "__meta_consul_service_port": "9100",
            "__meta_consul_service_id": "prom-api-1",
            "__meta_consul_health": "passing",
            "__meta_consul_metadata_rack_name": "2304",
            "__meta_consul_service_metadata_metrics_path": "/m",
            "__meta_consul_tagged_address_lan": "127.0.0.2",
            "__meta_consul_tagged_address_wan": "198.51.100.2",
        }, targets["prom-api-1"]
        t2 = targets["prom-api-2"]
        assert t2["__address__"] == "127.0.0.4:9101" and t2["__meta_consul_service_address"] == ""
        assert t2["__meta_consul_health"] == "warning" and t2["__meta_consul_metadata_rack_name"] == "2305"
        health_index = a.index

        # The watch blocks with the last index and the 2m watchTimeout; a new instance
        # wakes it, X-Consul-Index moves and the new target appears.
        a, blocked_on = watch_round(
            go, "/v1/health/service/prom-api", Q(stale=True, index=health_index, wait=120),
            lambda: c.catalog.register(
                "prom-node-b", "127.0.0.4", node_meta={"rack_name": "2305"},
                service={"ID": "prom-api-3", "Service": "prom-api", "Tags": ["prod"], "Port": 9102}),
            "health watch")
        assert a.url == f"/v1/health/service/prom-api?index={blocked_on}&stale=&wait=120000ms", a
        assert "prom-api-3" in prometheus_targets(a.json())
        health_index = a.index

        # watchServices blocks the same way on the catalog (prom-api-3 already moved its
        # index: the loop's next call starts from there); a new service wakes it.
        a, blocked_on = watch_round(
            go, "/v1/catalog/services", Q(stale=True, index=catalog_index, wait=120),
            lambda: c.catalog.register("prom-node-b", "127.0.0.4", node_meta={"rack_name": "2305"},
                                       service={"ID": "prom-new-1", "Service": "prom-new", "Port": 9200}),
            "catalog watch")
        assert a.url == f"/v1/catalog/services?index={blocked_on}&stale=&wait=120000ms", a
        assert "prom-new" in a.json(), a

        # A watch with no change answers at its timeout with an index that did not go
        # back (the tools ignore an unchanged index and reset on a lower one). `wait`
        # shortened from 2m to 1s; Shoal adds at most wait/16 of jitter, so 2m stays
        # under Prometheus' client timeout of watchTimeout + 15s.
        health_index = settled_index(go, "/v1/health/service/prom-api", Q(stale=True, index=health_index))
        a = go.get("/v1/health/service/prom-api", Q(stale=True, index=health_index, wait=1))
        assert a.status == 200 and a.index >= health_index, a
        assert 0.9 <= a.elapsed < 1 + 1 / 16 + 1.0, a.elapsed

        # A config with everything set: tags, node_meta, filter (catalog) and
        # health_filter (health) as in Prometheus' own tests, datacenter, namespace and
        # partition "default".
        pc = GoConsulClient(shoal.http, datacenter="dc1", namespace="default", partition="default")
        a = pc.get("/v1/catalog/services", Q(stale=True, wait=120, node_meta={"rack_name": "2304"},
                                             filter='NodeMeta.rack_name == "2304"'))
        assert a.url == ("/v1/catalog/services?dc=dc1&filter=NodeMeta.rack_name+%3D%3D+%222304%22"
                         "&node-meta=rack_name%3A2304&ns=default&partition=default&stale=&wait=120000ms"), a
        assert a.status == 200 and set(a.json()) == {"prom-api"}, a
        a = pc.get("/v1/catalog/services", Q(stale=True, wait=120, filter='ServiceTags contains "metrics"'))
        assert a.status == 200 and set(a.json()) == {"prom-api"}, a
        a = pc.get("/v1/health/service/prom-api",
                   Q(stale=True, wait=120, node_meta={"rack_name": "2304"},
                     filter='Service.Meta.metrics_path == "/m"'),
                   add_params=[("tag", "prod"), ("tag", "metrics")])
        assert a.url == ("/v1/health/service/prom-api?dc=dc1&filter=Service.Meta.metrics_path+"
                         "%3D%3D+%22%2Fm%22&node-meta=rack_name%3A2304&ns=default&partition=default"
                         "&stale=&tag=prod&tag=metrics&wait=120000ms"), a
        assert a.status == 200, a
        assert list(prometheus_targets(a.json())) == ["prom-api-1"], a.json()
        a = pc.get("/v1/health/service/prom-api", Q(stale=True, wait=120, filter='Service.Tags contains "metrics"'))
        assert a.status == 200 and list(prometheus_targets(a.json())) == ["prom-api-1"], a
        # Both tags are required (ServiceMultipleTags): prom-api-2 has only "prod".
        a = pc.get("/v1/health/service/prom-api", Q(stale=True, wait=120),
                   add_params=[("tag", "prod"), ("tag", "metrics")])
        assert sorted(prometheus_targets(a.json())) == ["prom-api-1"], a.json()
        # allow_stale: false drops `stale`.
        a = go.get("/v1/health/service/prom-api", Q(wait=120))
        assert a.url == "/v1/health/service/prom-api?wait=120000ms" and a.status == 200, a
    finally:
        c.catalog.deregister("prom-node-a")
        c.catalog.deregister("prom-node-b")


def test_prometheus_health_filter_on_service_kind(shoal, c, go):
    """Prometheus passes `health_filter` verbatim as `filter` on GET /v1/health/service/<name>
    and `filter` on GET /v1/catalog/services (prometheus/prometheus
    discovery/consul/consul.go `consulService.watch`, `Discovery.watchServices`). Consul's
    "Filtering" tables (hashicorp/consul website/content/api-docs/health.mdx, List Nodes for
    Service; catalog.mdx, List Services) list `Service.Kind` (e.g. `Service.Kind !=
    "connect-proxy"`, to leave sidecar proxies out), `Service.Proxy.*` and
    `Service.Connect.Native`, and `ServiceProxy.*` and `ServiceConnect.Native`. On Consul these
    answer 200; Shoal runs no Connect proxies, so every service passes them."""
    everything = go.get("/v1/health/service/sup", Q(stale=True, wait=120))
    assert everything.status == 200 and everything.json(), everything
    for path, expr in (("/v1/health/service/sup", 'Service.Kind != "connect-proxy"'),
                       ("/v1/health/service/sup", "Service.Connect.Native == false"),
                       ("/v1/catalog/services", "ServiceConnect.Native == false")):
        a = go.get(path, Q(stale=True, wait=120, filter=expr))
        assert a.status == 200, a
        if path.startswith("/v1/health"):
            assert len(a.json()) == len(everything.json()), (expr, a.json())


# --- consul-template ----------------------------------------------------------------------

# watch/view.go View.fetch: QueryOptions{AllowStale: max_stale != 0 (default 2s),
# WaitTime: block_query_wait (default 60s), WaitIndex: the last index}.
CT_WAIT = 60


def ct_opts(index=0, **kw):
    return Q(stale=True, index=index, wait=CT_WAIT, **kw)


def test_consul_template_catalog_and_health(shoal, c, go):
    """consul-template's Consul dependencies, from hashicorp/consul-template
    dependency/catalog_services.go (CatalogServicesQuery.Fetch: catalog.Services, template
    `services`), catalog_service.go (CatalogServiceQuery.Fetch: catalog.Service(name, tag)
    with `near`; exported by the library, no template function uses it at HEAD),
    health_service.go (HealthServiceQuery.Fetch: health.Service(name, tag, passingOnly)
    with `near`; passingOnly when the filter is the default "passing"; the status filter
    is AggregatedStatus, client side), catalog_node.go (CatalogNodeQuery.Fetch: agent/self
    Config.NodeName when no node is named, then catalog.Node), catalog_nodes.go
    (CatalogNodesQuery.Fetch) and catalog_datacenters.go (CatalogDatacentersQuery.Fetch,
    with ignoreFailing a consistent catalog.Services per datacenter). Options from
    watch/view.go View.fetch and dependency/dependency.go QueryOptions.ToConsulOpts:
    `stale` (max_stale 2s by default), `wait` = block_query_wait (60s), `index`."""
    assert c.agent.service.register("ct-web", service_id="ct-web-1", address="127.0.0.8", port=8080,
                                    tags=["blue", "v2"], meta={"team": "core"}, weights={"Passing": 3, "Warning": 1},
                                    check=consul.Check.ttl("60s"))
    assert c.agent.service.register("ct-web", service_id="ct-web-2", port=8081, tags=["green"],
                                    check=consul.Check.ttl("60s"))
    try:
        passing_ttl(c, "ct-web-1")
        c.agent.check.ttl_warn("service:ct-web-2")

        # {{ services }}: catalog.services.
        a = go.get("/v1/catalog/services", ct_opts())
        assert a.url == "/v1/catalog/services?stale=&wait=60000ms" and a.status == 200, a
        consul_index_ok(a)
        go_unmarshal(a.json(), CATALOG_SERVICES)
        assert sorted(a.json()["ct-web"]) == ["blue", "green", "v2"], a.json()

        # {{ service "ct-web" }}: health.service, filter "passing" -> passing=1.
        a = go.get("/v1/health/service/ct-web", ct_opts(), set_params=[("passing", "1")])
        assert a.url == "/v1/health/service/ct-web?passing=1&stale=&wait=60000ms" and a.status == 200, a
        consul_index_ok(a)
        go_unmarshal(a.json(), Slice(SERVICE_ENTRY))
        [e] = a.json()
        # HealthService fields (health_service.go).
        node, svc = e["Node"], e["Service"]
        assert (node["Node"], node["Address"]) == (c.agent.self()["Config"]["NodeName"], "127.0.0.1")
        assert isinstance(node["ID"], str) and isinstance(node["TaggedAddresses"], dict)
        assert isinstance(node["Meta"], dict)
        assert (svc["ID"], svc["Service"], svc["Address"], svc["Port"]) == ("ct-web-1", "ct-web", "127.0.0.8", 8080)
        assert sorted(svc["Tags"]) == ["blue", "v2"] and svc["Meta"] == {"team": "core"}
        assert svc["Weights"] == {"Passing": 3, "Warning": 1}
        assert aggregated_status(e["Checks"]) == "passing"
        idx = a.index

        # {{ service "ct-web|any" }} and "|passing,warning": no passing=1, filtered here.
        a = go.get("/v1/health/service/ct-web", ct_opts())
        statuses = {e["Service"]["ID"]: aggregated_status(e["Checks"]) for e in a.json()}
        assert statuses == {"ct-web-1": "passing", "ct-web-2": "warning"}, statuses
        # An instance without an address: HealthService.Address falls back to the node's.
        e2 = next(e for e in a.json() if e["Service"]["ID"] == "ct-web-2")
        assert e2["Service"]["Address"] == "" and e2["Node"]["Address"] == "127.0.0.1"

        # {{ service "blue.ct-web@dc1~_agent" }}: tag, dc and near.
        a = go.get("/v1/health/service/ct-web", ct_opts(dc="dc1", near="_agent"),
                   set_params=[("tag", "blue"), ("passing", "1")])
        assert a.url == "/v1/health/service/ct-web?dc=dc1&near=_agent&passing=1&stale=&tag=blue&wait=60000ms", a
        assert [e["Service"]["ID"] for e in a.json()] == ["ct-web-1"], a

        # The view blocks on the index it got; the warning instance passing wakes it.
        a, blocked_on = watch_round(
            go, "/v1/health/service/ct-web", ct_opts(index=idx),
            lambda: passing_ttl(c, "ct-web-2"),
            "health.service watch", set_params=[("passing", "1")])
        assert a.url == f"/v1/health/service/ct-web?index={blocked_on}&passing=1&stale=&wait=60000ms", a
        assert sorted(e["Service"]["ID"] for e in a.json()) == ["ct-web-1", "ct-web-2"]

        # Maintenance shows as "maintenance" (health.service "|maintenance").
        assert c.agent.service.maintenance("ct-web-2", True, "upgrade")
        a = go.get("/v1/health/service/ct-web", ct_opts())
        statuses = {e["Service"]["ID"]: aggregated_status(e["Checks"]) for e in a.json()}
        assert statuses == {"ct-web-1": "passing", "ct-web-2": "maintenance"}, statuses
        assert c.agent.service.maintenance("ct-web-2", False)

        # CatalogServiceQuery (library only): catalog.service(name, tag).
        a = go.get("/v1/catalog/service/ct-web", ct_opts(near="_agent"), set_params=[("tag", "blue")])
        assert a.url == "/v1/catalog/service/ct-web?near=_agent&stale=&tag=blue&wait=60000ms", a
        assert a.status == 200, a
        consul_index_ok(a)
        go_unmarshal(a.json(), Slice(CATALOG_SERVICE))
        [s] = a.json()
        assert (s["ServiceID"], s["ServiceName"], s["ServiceAddress"], s["ServicePort"]) == \
            ("ct-web-1", "ct-web", "127.0.0.8", 8080)
        assert s["Datacenter"] == "dc1" and s["ServiceMeta"] == {"team": "core"}
        assert isinstance(s["TaggedAddresses"], dict) and isinstance(s["NodeMeta"], dict)
        assert isinstance(s["ID"], str) and s["Node"] and s["Address"] == "127.0.0.1"

        # {{ node }}: no name, so the agent's name from agent/self, then catalog.node.
        a = go.get("/v1/agent/self")
        go_unmarshal(a.json(), AGENT_SELF)
        name = a.json()["Config"]["NodeName"]
        assert isinstance(name, str) and name
        a = go.get(f"/v1/catalog/node/{name}", ct_opts())
        assert a.url == f"/v1/catalog/node/{name}?stale=&wait=60000ms" and a.status == 200, a
        consul_index_ok(a)
        go_unmarshal(a.json(), CATALOG_NODE)
        n = a.json()
        assert n["Node"]["Node"] == name and n["Node"]["Datacenter"] == "dc1"
        web1 = n["Services"]["ct-web-1"]
        assert (web1["ID"], web1["Service"], web1["Port"], web1["Address"]) == ("ct-web-1", "ct-web", 8080, "127.0.0.8")
        assert web1["EnableTagOverride"] is False and web1["Meta"] == {"team": "core"}
        # An unknown node is 200 null (the dependency then warns and renders nothing).
        a = go.get("/v1/catalog/node/ct-no-such-node", ct_opts())
        assert a.status == 200 and a.json() is None, a
        consul_index_ok(a)

        # {{ nodes }}: catalog.nodes (near only when "~near" is given).
        a = go.get("/v1/catalog/nodes", ct_opts())
        assert a.url == "/v1/catalog/nodes?stale=&wait=60000ms" and a.status == 200, a
        go_unmarshal(a.json(), Slice(NODE))
        me = next(n for n in a.json() if n["Node"] == name)
        assert me["Address"] == "127.0.0.1" and me["Datacenter"] == "dc1" and me["ID"]
        a = go.get("/v1/catalog/nodes", ct_opts(near="_agent"))
        assert a.url == "/v1/catalog/nodes?near=_agent&stale=&wait=60000ms" and a.status == 200, a

        # {{ datacenters }}: no options at all; `datacenters true` (ignoreFailing) then asks
        # each datacenter's catalog, consistently.
        a = go.get("/v1/catalog/datacenters")
        assert a.url == "/v1/catalog/datacenters" and a.status == 200 and a.json() == ["dc1"], a
        a = go.get("/v1/catalog/services", Q(dc="dc1", consistent=True))
        assert a.url == "/v1/catalog/services?consistent=&dc=dc1" and a.status == 200, a

        # `?ns=default&partition=default` in a dependency's query (GetConsulQueryOpts).
        a = go.get("/v1/catalog/services", ct_opts(ns="default", partition="default"))
        assert a.url == "/v1/catalog/services?ns=default&partition=default&stale=&wait=60000ms", a
        assert a.status == 200, a
    finally:
        c.agent.service.deregister("ct-web-1")
        c.agent.service.deregister("ct-web-2")


def test_consul_template_connect_peering_and_partitions_are_refused(shoal, go):
    """The other Consul template functions of hashicorp/consul-template
    (template/template.go funcMap): `connect` (dependency/health_service.go with connect:
    health.Connect -> /v1/health/connect/<name>), `caRoots` (connect_ca.go:
    /v1/agent/connect/ca/roots), `caLeaf` (connect_leaf.go: /v1/agent/connect/ca/leaf/<svc>),
    `exportedServices` (consul_exported_services.go: /v1/exported-services), `importedServices`
    (consul_imported_services.go: /v1/imported-services), `peerings` (consul_peering.go:
    /v1/peerings) and `partitions` (consul_partitions.go: /v1/partitions, Enterprise), each
    with the view's `stale=&wait=60000ms`. Shoal provides neither Connect, peering nor
    partitions: every one is a 501 naming what to use instead, which consul-template
    reports as an error for that template (and retries)."""
    for path in ("/v1/health/connect/ct-web", "/v1/agent/connect/ca/roots",
                 "/v1/agent/connect/ca/leaf/ct-web", "/v1/exported-services",
                 "/v1/imported-services", "/v1/peerings", "/v1/partitions"):
        a = go.get(path, ct_opts())
        assert a.status == 501 and "Shoal does not provide" in a.json()["error"], a


def test_consul_template_kv(shoal, c, go):
    """consul-template's KV dependencies, from hashicorp/consul-template
    dependency/kv_get.go (KVGetQuery.Fetch: kv.Get; a 404 is nil, and `key` keeps
    blocking on nil via EnableBlocking), kv_list.go (KVListQuery.Fetch: kv.List, i.e.
    `recurse=`; reads Key, Value, CreateIndex, ModifyIndex, LockIndex, Flags, Session) and
    kv_keys.go (KVKeysQuery.Fetch: kv.Keys, `keys=`; library only, no template function
    uses it at HEAD). Templates: `key` (blocking on a missing key), `keyExists`,
    `keyOrDefault` -> kv.get; `ls`, `safeLs`, `tree`, `safeTree` -> kv.list (template/funcs.go).
    Options as View.fetch sets them:
    `stale=`, `wait=60000ms`, `index`."""
    try:
        # {{ key "ct/app/missing" }}: a 404 still carries the index to block on.
        a = go.get("/v1/kv/ct/app/missing", ct_opts())
        assert a.url == "/v1/kv/ct/app/missing?stale=&wait=60000ms" and a.status == 404, a
        consul_index_ok(a)
        idx = a.index
        # kv.block: blocking on the missing key; writing it wakes the query.
        a, blocked_on = watch_round(
            go, "/v1/kv/ct/app/missing", ct_opts(index=idx),
            lambda: c.kv.put("ct/app/missing", "now here"),
            "kv.get watch")
        assert a.url == f"/v1/kv/ct/app/missing?index={blocked_on}&stale=&wait=60000ms", a
        go_unmarshal(a.json(), Slice(KV_PAIR))
        assert base64.b64decode(a.json()[0]["Value"]) == b"now here"

        assert c.kv.put("ct/app/db/host", "10.0.0.7", flags=42)
        assert c.kv.put("ct/app/db/port", "5432")
        assert c.kv.put("ct/app/empty", "")
        # {{ tree "ct/app" }} / {{ ls "ct/app" }}: kv.list.
        a = go.get("/v1/kv/ct/app", ct_opts(), set_params=[("recurse", "")])
        assert a.url == "/v1/kv/ct/app?recurse=&stale=&wait=60000ms" and a.status == 200, a
        consul_index_ok(a)
        go_unmarshal(a.json(), Slice(KV_PAIR))
        pairs = {p["Key"]: p for p in a.json()}
        assert set(pairs) == {"ct/app/db/host", "ct/app/db/port", "ct/app/empty", "ct/app/missing"}
        host = pairs["ct/app/db/host"]
        assert base64.b64decode(host["Value"]) == b"10.0.0.7" and host["Flags"] == 42
        assert host["LockIndex"] == 0 and host.get("Session", "") == ""
        assert 0 < host["CreateIndex"] <= host["ModifyIndex"]
        assert pairs["ct/app/empty"]["Value"] in (None, "")  # Go: empty []byte either way
        idx = a.index
        a, blocked_on = watch_round(
            go, "/v1/kv/ct/app", ct_opts(index=idx),
            lambda: c.kv.put("ct/app/db/port", "5433"),
            "kv.list watch", set_params=[("recurse", "")])
        assert a.url == f"/v1/kv/ct/app?index={blocked_on}&recurse=&stale=&wait=60000ms", a
        assert base64.b64decode({p["Key"]: p for p in a.json()}["ct/app/db/port"]["Value"]) == b"5433"

        # kv.keys: `keys=`, no separator.
        a = go.get("/v1/kv/ct/app/db", ct_opts(), set_params=[("keys", "")])
        assert a.url == "/v1/kv/ct/app/db?keys=&stale=&wait=60000ms" and a.status == 200, a
        go_unmarshal(a.json(), Slice(STRING))
        assert sorted(a.json()) == ["ct/app/db/host", "ct/app/db/port"]
        # An empty prefix: 404, which kv.List and kv.Keys read as nothing.
        a = go.get("/v1/kv/ct/none", ct_opts(), set_params=[("recurse", "")])
        assert a.status == 404, a
        consul_index_ok(a)
    finally:
        c.kv.delete("ct", recurse=True)


# --- Traefik ------------------------------------------------------------------------------

def traefik_labels(tags, prefix="traefik"):
    """tagsToNeutralLabels (traefik/traefik pkg/provider/consulcatalog/convert_types.go)."""
    labels = {}
    for tag in tags or []:
        if tag.startswith(prefix):
            parts = tag.split("=", 1)
            if len(parts) == 2:
                labels["traefik." + parts[0].removeprefix(prefix + ".")] = parts[1]
    return labels


def traefik_items(go, opts, exposed_by_default=True, prefix="traefik", expect_params=""):
    """Provider.getConsulServicesData and Provider.fetchService
    (pkg/provider/consulcatalog/consul_catalog.go): the items Traefik builds routers from."""
    a = go.get("/v1/catalog/services", opts)
    assert a.url == "/v1/catalog/services" + expect_params and a.status == 200, a
    go_unmarshal(a.json(), CATALOG_SERVICES)
    items = []
    for name, tags in a.json().items():
        labels = traefik_labels(tags, prefix)
        enable = labels.get("traefik.enable", str(exposed_by_default).lower()) == "true"
        if not enable:
            continue
        tag_filter = "" if exposed_by_default else f"{prefix}.enable=true"
        h = go.get(f"/v1/health/service/{name}", opts,
                   set_params=[("tag", tag_filter)] if tag_filter else [])
        assert h.status == 200, h
        go_unmarshal(h.json(), Slice(SERVICE_ENTRY))
        statuses = {e["Node"]["ID"] + e["Service"]["ID"]: aggregated_status(e["Checks"]) for e in h.json()}
        for e in h.json():
            svc, node = e["Service"], e["Node"]
            items.append({
                "ID": svc["ID"], "Node": node["Node"], "Datacenter": node["Datacenter"],
                "Namespace": svc.get("Namespace") or "default", "Name": name,
                "Address": svc["Address"] or node["Address"], "Port": str(svc["Port"]),
                "Labels": traefik_labels(svc["Tags"], prefix), "Tags": svc["Tags"],
                "Status": statuses.get(node["ID"] + svc["ID"], "any"),
            })
    return items


def test_traefik_consul_catalog(shoal, c, go):
    """Traefik's consulCatalog provider, from traefik/traefik
    pkg/provider/consulcatalog/consul_catalog.go: `Provider.getConsulServicesData`
    (catalog.Services with QueryOptions{AllowStale: stale, RequireConsistent:
    requireConsistent, UseCache: cache}), `Provider.fetchService` (health.Service(name,
    tagFilter, false): `tag=<prefix>.enable=true` when exposedByDefault is false; reads
    Service.Address/ID/Port/Tags/Namespace, Node.Address/ID/Node/Datacenter, Checks ->
    AggregatedStatus, kept if in strictChecks [passing, warning]), `createClient`
    (endpoint.datacenter -> `dc`, endpoint.endpointWaitTime -> `wait` on every request,
    endpoint.token -> X-Consul-Token) and `Provider.watchServices` (watch.Parse
    {"type": "services"} and {"type": "checks"}: hashicorp/consul api/watch/funcs.go
    servicesWatch -> catalog.Services, checksWatch -> health state "any", each with only
    WaitIndex set, run by watch.Plan.RunWithClientAndHclog)."""
    assert c.agent.service.register("tf-whoami", service_id="tf-whoami-1", address="127.0.0.9", port=8000,
                                    tags=["traefik.enable=true", "traefik.http.routers.w.rule=Host(`w.example`)"],
                                    check=consul.Check.ttl("60s"))
    assert c.agent.service.register("tf-hidden", service_id="tf-hidden-1", port=8001,
                                    tags=["traefik.enable=false"], check=consul.Check.ttl("60s"))
    assert c.agent.service.register("tf-plain", service_id="tf-plain-1", port=8002, check=consul.Check.ttl("60s"))
    try:
        passing_ttl(c, "tf-whoami-1")
        passing_ttl(c, "tf-hidden-1")
        c.agent.check.ttl_warn("service:tf-plain-1")

        # Defaults: stale, requireConsistent and cache false -> no parameters at all.
        items = {i["ID"]: i for i in traefik_items(go, Q())}
        assert "tf-hidden-1" not in items
        w = items["tf-whoami-1"]
        assert w["Address"] == "127.0.0.9" and w["Port"] == "8000" and w["Status"] == "passing"
        assert w["Labels"]["traefik.http.routers.w.rule"] == "Host(`w.example`)"
        assert w["Namespace"] == "default" and w["Datacenter"] == "dc1" and w["Node"]
        p = items["tf-plain-1"]
        assert p["Address"] == "127.0.0.1" and p["Status"] == "warning"  # node address; strictChecks keeps it
        assert go.sent[-1].startswith("GET /v1/health/service/") and "?" not in go.sent[-1]

        # exposedByDefault: false -> only tagged services, and the health read filters on
        # the enable tag (Go encodes the `=` of the value).
        items = {i["ID"]: i for i in traefik_items(go, Q(), exposed_by_default=False)}
        assert list(items) == ["tf-whoami-1"], items
        assert "GET /v1/health/service/tf-whoami?tag=traefik.enable%3Dtrue" in go.sent

        # stale + cache, and requireConsistent (which drops `cached`, as setQueryOptions
        # does), with endpointWaitTime 5s, datacenter and token set on the client.
        tc = GoConsulClient(shoal.http, datacenter="dc1", wait_time=5)
        items = traefik_items(tc, Q(stale=True, cached=True),
                              expect_params="?cached=&dc=dc1&stale=&wait=5000ms")
        assert "tf-whoami-1" in {i["ID"] for i in items}
        assert "GET /v1/health/service/tf-whoami?cached=&dc=dc1&stale=&wait=5000ms" in tc.sent
        items = traefik_items(tc, Q(consistent=True), expect_params="?consistent=&dc=dc1&wait=5000ms")
        assert "tf-whoami-1" in {i["ID"] for i in items}

        # watch: true. The plans start with no index, then block on the last one with no
        # `wait` (Consul's default 5 minutes).
        a = go.get("/v1/health/state/any", Q())
        assert a.url == "/v1/health/state/any" and a.status == 200, a
        consul_index_ok(a)
        go_unmarshal(a.json(), Slice(HEALTH_CHECK))
        checks_index = a.index
        s = go.get("/v1/catalog/services", Q())
        services_index = s.index
        a, blocked_on = watch_round(
            go, "/v1/health/state/any", Q(index=checks_index),
            lambda: c.agent.check.ttl_fail("service:tf-whoami-1"),
            "checks watch")
        assert a.url == f"/v1/health/state/any?index={blocked_on}", a
        check = next(ch for ch in a.json() if ch["CheckID"] == "service:tf-whoami-1")
        assert check["Status"] == "critical"
        # The handler's reload: the critical instance falls out of strictChecks.
        items = {i["ID"]: i for i in traefik_items(go, Q())}
        assert items["tf-whoami-1"]["Status"] == "critical"
        # The services plan: the checks change answers its pending call at once (same
        # result, which the plan drops: reflect.DeepEqual); it then blocks from there.
        a, blocked_on = watch_round(
            go, "/v1/catalog/services", Q(index=services_index),
            lambda: c.agent.service.deregister("tf-plain-1"),
            "services watch")
        assert a.url == f"/v1/catalog/services?index={blocked_on}", a
        assert "tf-plain" not in a.json(), a
    finally:
        for sid in ("tf-whoami-1", "tf-hidden-1", "tf-plain-1"):
            c.agent.service.deregister(sid)


def test_traefik_connect_aware_mode_is_refused(shoal, go):
    """Traefik with connectAware: true (opt-in) also calls, from
    pkg/provider/consulcatalog/consul_catalog.go `Provider.watchConnectTLS` (watch plans
    "connect_roots" and "connect_leaf": hashicorp/consul api/watch/funcs.go ->
    Agent.ConnectCARoots, Agent.ConnectCALeaf) and `Provider.fetchService`
    (health.Connect for services tagged traefik.consulcatalog.connect=true). Shoal does not
    provide Connect: each is a 501 naming what to use instead, so Traefik's provider keeps
    retrying with backoff and builds no configuration in that mode."""
    for path in ("/v1/agent/connect/ca/roots", "/v1/agent/connect/ca/leaf/traefik",
                 "/v1/health/connect/tf-whoami"):
        a = go.get(path)
        assert a.status == 501 and "Connect" in a.json()["error"], a


# --- Fabio --------------------------------------------------------------------------------

FABIO_PREFIX = "urlprefix-"


def fabio_checks_with_tag_prefix(checks, prefix=FABIO_PREFIX):
    """checksWithTagPrefix (fabiolb/fabio registry/consul/service.go)."""
    out = []
    for ch in checks:
        if ch["CheckID"] in ("serfHealth", "_node_maintenance") or ch["CheckID"].startswith("_service_maintenance"):
            out.append(ch)
        elif any(t.startswith(prefix) for t in ch["ServiceTags"] or []):
            out.append(ch)
    return out


def fabio_passing(checks, status=("passing",), strict=False):
    """passingServices (fabiolb/fabio registry/consul/passing.go)."""
    def is_service_check(ch):
        return (ch["ServiceID"] != "" and ch["CheckID"] not in ("serfHealth", "_node_maintenance")
                and not ch["CheckID"].startswith("_service_maintenance:"))
    out = []
    for svc in checks:
        if not is_service_check(svc):
            continue
        total = passing = 0
        skip = False
        for ch in checks:
            if svc["Node"] == ch["Node"]:
                if svc["ServiceID"] == ch["ServiceID"]:
                    total += 1
                    passing += ch["Status"] in status
                if ((ch["CheckID"] == "serfHealth" and ch["Status"] == "critical")
                        or ch["CheckID"] == "_node_maintenance"
                        or (ch["CheckID"] == "_service_maintenance:" + svc["ServiceID"] and ch["Status"] == "critical")):
                    skip = True
                    break
        if skip or passing == 0 or (strict and total != passing):
            continue
        out.append(svc)
    return out


def fabio_route_cmds(svc, prefix=FABIO_PREFIX):
    """routecmd.build and parseURLPrefixTag (fabiolb/fabio registry/consul/routecmd.go),
    for the options this test uses."""
    svctags = [t.strip() for t in svc["ServiceTags"] if not t.strip().startswith(prefix)]
    cmds = []
    for tag in (t.strip() for t in svc["ServiceTags"]):
        if not tag.startswith(prefix):
            continue
        route, _, opts = tag[len(prefix):].strip().partition(" ")
        if "/" in route and not route.startswith(":"):
            host, path = route.split("/", 1)
            route = host.lower() + "/" + path
        addr = svc["ServiceAddress"] or svc["Address"]
        addr = f"{addr}:{svc['ServicePort']}"
        dst = f"http://{addr}/"
        ropts = []
        for o in opts.split():
            if o == "proto=https":
                dst = f"https://{addr}"
            elif o == "proto=tcp":
                dst = f"tcp://{addr}"
            else:
                ropts.append(o)
        cmd = f"route add {svc['ServiceName']} {route} {dst}"
        if svctags:
            cmd += " tags " + json.dumps(",".join(svctags))
        if ropts:
            cmd += " opts " + json.dumps(" ".join(ropts))
        cmds.append(cmd)
    return cmds


def fabio_config(go, checks, q):
    """ServiceMonitor.makeConfig and serviceConfig (registry/consul/service.go): the passing
    instances per service name, then catalog.Service(name, "") for their route tags."""
    passing = fabio_passing(fabio_checks_with_tag_prefix(checks))
    by_name = {}
    for ch in passing:
        by_name.setdefault(ch["ServiceName"], set()).add(f"{ch['Node']}.{ch['ServiceID']}")
    config = []
    for name, ids in by_name.items():
        a = go.get(f"/v1/catalog/service/{name}", q)
        assert a.url == f"/v1/catalog/service/{name}?consistent=" and a.status == 200, a
        go_unmarshal(a.json(), Slice(CATALOG_SERVICE))
        for svc in a.json():
            if f"{svc['Node']}.{svc['ServiceID']}" in ids:
                config += fabio_route_cmds(svc)
    return "\n".join(sorted(config, reverse=True))


def test_fabio(shoal, c, go):
    """Fabio with its defaults (fabiolb/fabio config/default.go: registry.consul
    requireConsistent true, allowStale false, kvpath /fabio/config, noroutehtmlpath
    /fabio/noroute.html, tagprefix urlprefix-, register true, serviceName fabio,
    checkInterval 1s, checkTimeout 3s, pollInterval 0 = blocking), from
    registry/consul/backend.go (`NewBackend` -> `datacenter`: agent/self Config.Datacenter;
    `ManualPaths`, `ReadManual`, `WriteManual`, `WatchManual`, `WatchNoRouteHTML`),
    register.go (`register`: Agent.Services, Agent.ServiceRegister with the body
    `serviceRegistration` builds, Agent.UpdateTTL, Agent.ServiceDeregister), service.go
    (`ServiceMonitor.Watch`: health.State("any") blocking on the last index with no
    `wait`; `serviceConfig`: catalog.Service(name, "")), passing.go (`passingServices`),
    routecmd.go (`routecmd.build`) and kv.go (`watchKV`, `listKV`, `getKV`, `putKV`: CAS)."""
    # Fabio's own /health, which its HTTP check probes.
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass
    ui = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=ui.serve_forever, daemon=True).start()
    port = ui.server_address[1]
    service_id = f"fabio-testhost-{port}"
    consistent = Q(consistent=True)

    # Backends with urlprefix- tags: a catalog node with a service address, an agent
    # service without one (node address), one critical, one in maintenance.
    assert c.catalog.register(
        "fb-node", "127.0.0.6",
        service={"ID": "fb-web-1", "Service": "fb-web", "Tags": ["urlprefix-/fbweb", "blue"],
                 "Address": "127.0.0.7", "Port": 8080},
        check={"CheckID": "fb-web-1-alive", "Name": "alive", "Status": "passing", "ServiceID": "fb-web-1"})
    for sid, tags in (("fb-api-1", ["urlprefix-API.example/ proto=https"]),
                      ("fb-down-1", ["urlprefix-/down"]), ("fb-maint-1", ["urlprefix-/maint"])):
        assert c.agent.service.register(sid.rsplit("-", 1)[0], service_id=sid, port=8443, tags=tags,
                                        check=consul.Check.ttl("60s"))
    try:
        passing_ttl(c, "fb-api-1")
        passing_ttl(c, "fb-maint-1")
        c.agent.check.ttl_fail("service:fb-down-1")
        assert c.agent.service.maintenance("fb-maint-1", True, "drain")

        # NewBackend -> datacenter(): Agent().Self(), Config.Datacenter must be a string.
        a = go.get("/v1/agent/self")
        assert a.status == 200, a
        go_unmarshal(a.json(), AGENT_SELF)
        assert a.json()["Config"]["Datacenter"] == "dc1"

        # register(): not registered yet (Agent.Services), so ServiceRegister with the
        # body Go encodes from serviceRegistration (nil Tags and Check: omitempty / null),
        # then UpdateTTL(<id>-ttl, "", passing).
        a = go.get("/v1/agent/services")
        assert a.url == "/v1/agent/services" and a.status == 200, a
        go_unmarshal(a.json(), Map(AGENT_SERVICE))
        assert service_id not in a.json()
        body = go_json({
            "ID": service_id, "Name": "fabio", "Port": port, "Address": "127.0.0.1",
            "Check": None,
            "Checks": [
                {"CheckID": f"{service_id}-ttl", "TTL": "15s", "DeregisterCriticalServiceAfter": "1m0s"},
                {"Interval": "1s", "Timeout": "3s", "HTTP": f"http://127.0.0.1:{port}/health"},
            ],
        })
        a = go.request("PUT", "/v1/agent/service/register", body=body)
        assert a.url == "/v1/agent/service/register" and a.status == 200, a
        a = go.request("PUT", f"/v1/agent/check/update/{service_id}-ttl",
                       body=go_json({"Status": "passing", "Output": ""}))
        assert a.status == 200, a
        a = go.get("/v1/agent/services")
        assert a.json()[service_id]["Service"] == "fabio" and a.json()[service_id]["Port"] == port
        wait_until(lambda: {ch["CheckID"]: ch["Status"] for ch in c.health.checks("fabio")[1]}
                   == {f"{service_id}-ttl": "passing", f"service:{service_id}:2": "passing"},
                   what="fabio's TTL and HTTP checks passing")

        # ServiceMonitor.Watch: health.State("any") with RequireConsistent, first without
        # an index; the checks carry the ServiceTags checksWithTagPrefix filters on.
        a = go.get("/v1/health/state/any", consistent)
        assert a.url == "/v1/health/state/any?consistent=" and a.status == 200, a
        consul_index_ok(a)
        go_unmarshal(a.json(), Slice(HEALTH_CHECK))
        by_id = {ch["CheckID"]: ch for ch in a.json()}
        assert by_id["fb-web-1-alive"]["ServiceTags"] == ["urlprefix-/fbweb", "blue"]
        assert by_id["fb-web-1-alive"]["Node"] == "fb-node" and by_id["fb-web-1-alive"]["ServiceName"] == "fb-web"
        assert by_id["serfHealth"]["Status"] == "passing"
        assert by_id["_service_maintenance:fb-maint-1"]["Status"] == "critical"
        config = fabio_config(go, a.json(), consistent)
        assert config == "\n".join([
            'route add fb-web /fbweb http://127.0.0.7:8080/ tags "blue"',
            "route add fb-api api.example/ https://127.0.0.1:8443",
        ]), config
        idx = a.index

        # The next Watch blocks on that index (no `wait`); fb-api's check failing wakes it.
        a, blocked_on = watch_round(
            go, "/v1/health/state/any", Q(consistent=True, index=idx),
            lambda: c.agent.check.ttl_fail("service:fb-api-1"),
            "health state watch")
        assert a.url == f"/v1/health/state/any?consistent=&index={blocked_on}", a
        assert fabio_config(go, a.json(), consistent) == 'route add fb-web /fbweb http://127.0.0.7:8080/ tags "blue"'

        # WatchManual / ManualPaths: kv.List("/fabio/config") (the leading / trimmed),
        # consistent, blocking on the last index with no `wait`. Nothing there: 404 + index.
        a = go.get("/v1/kv/fabio/config", consistent, set_params=[("recurse", "")])
        assert a.url == "/v1/kv/fabio/config?consistent=&recurse=" and a.status == 404, a
        consul_index_ok(a)
        kv_index = a.index
        # WriteManual("/manual", value, 0): putKV -> CAS with index 0 (create only),
        # Content-Type application/octet-stream; it wakes the watch.
        routes = "route add fb-static /static http://127.0.0.1:9000/"

        def write_manual():
            a = go.request("PUT", "/v1/kv/fabio/config/manual", set_params=[("cas", "0")],
                           body=routes.encode(), content_type="application/octet-stream")
            assert a.url == "/v1/kv/fabio/config/manual?cas=0" and a.status == 200, a
            assert "true" in a.resp.text, a  # KV.put: strings.Contains(body, "true")
        a, blocked_on = watch_round(
            go, "/v1/kv/fabio/config", Q(consistent=True, index=kv_index), write_manual,
            "manual routes watch", set_params=[("recurse", "")])
        assert a.url == f"/v1/kv/fabio/config?consistent=&index={blocked_on}&recurse=", a
        go_unmarshal(a.json(), Slice(KV_PAIR))
        # listKV with separator: "# --- <key>\n<value>".
        listed = "\n\n".join("# --- " + p["Key"] + "\n" + base64.b64decode(p["Value"]).decode().strip()
                             for p in a.json())
        assert listed == f"# --- fabio/config/manual\n{routes}", listed
        # ReadManual: getKV(kvpath + path), consistent.
        a = go.get("/v1/kv/fabio/config/manual", consistent)
        assert a.url == "/v1/kv/fabio/config/manual?consistent=" and a.status == 200, a
        version = a.json()[0]["ModifyIndex"]
        # WriteManual again: create-only fails (false), then CAS on the version read.
        a = go.request("PUT", "/v1/kv/fabio/config/manual", set_params=[("cas", "0")],
                       body=b"x", content_type="application/octet-stream")
        assert a.status == 200 and "true" not in a.resp.text, a
        a = go.request("PUT", "/v1/kv/fabio/config/manual", set_params=[("cas", str(version))],
                       body=(routes + "\n").encode(), content_type="application/octet-stream")
        assert a.url == f"/v1/kv/fabio/config/manual?cas={version}" and "true" in a.resp.text, a

        # WatchNoRouteHTML: kv.List("/fabio/noroute.html"), same options.
        a = go.get("/v1/kv/fabio/noroute.html", consistent, set_params=[("recurse", "")])
        assert a.url == "/v1/kv/fabio/noroute.html?consistent=&recurse=" and a.status == 404, a
        consul_index_ok(a)

        # register() loop: still registered (Agent.Services), refresh the TTL; at exit
        # DeregisterAll -> ServiceDeregister.
        assert service_id in go.get("/v1/agent/services").json()
        a = go.request("PUT", f"/v1/agent/check/update/{service_id}-ttl",
                       body=go_json({"Status": "passing", "Output": ""}))
        assert a.status == 200, a
        a = go.request("PUT", f"/v1/agent/service/deregister/{service_id}")
        assert a.url == f"/v1/agent/service/deregister/{service_id}" and a.status == 200, a
        assert service_id not in go.get("/v1/agent/services").json()
    finally:
        ui.shutdown()
        ui.server_close()
        c.agent.service.deregister(service_id)
        for sid in ("fb-api-1", "fb-down-1", "fb-maint-1"):
            c.agent.service.deregister(sid)
        c.catalog.deregister("fb-node")
        c.kv.delete("fabio", recurse=True)


# --- tokens -------------------------------------------------------------------------------

READ_TOKEN = "tools-read-0123456789abcdef"
WRITE_TOKEN = "tools-write-0123456789abcdef"


def test_tools_send_their_token_as_x_consul_token():
    """Each tool's `token` setting becomes api.Config.Token, which Client.newRequest sends
    as X-Consul-Token on every request (hashicorp/consul api/api.go): Prometheus
    (discovery/consul/consul.go NewDiscovery: Token), Traefik (consul_catalog.go
    createClient: endpoint.token), Fabio (registry/consul/backend.go NewBackend:
    cfg.Token), consul-template (dependency/client_set.go CreateConsulClient). With Shoal's
    [platform.tokens] set, a read token serves the reads; Fabio's registration, TTL update
    and KV CAS writes need the write right."""
    toml = SHOAL_TOML.replace(
        '[platform]\n',
        '[platform]\ntokens = { tools_read = { env = "SHOAL_TOOLS_READ" }, '
        'tools_write = { env = "SHOAL_TOOLS_WRITE", rights = ["read", "write"] } }\n', 1)
    env = dict(os.environ, SHOAL_TOOLS_READ=READ_TOKEN, SHOAL_TOOLS_WRITE=WRITE_TOKEN)
    with running_shoal(toml, "shoal-tools-token-", env) as (_, ep, _):
        reader = GoConsulClient(ep["http"], token=READ_TOKEN)
        anonymous = GoConsulClient(ep["http"])
        reads = [
            ("/v1/agent/self", None, ()),                                     # Prometheus, Fabio
            ("/v1/catalog/services", Q(stale=True, wait=120), ()),            # Prometheus
            ("/v1/health/service/sup", Q(stale=True, wait=120), ()),          # Prometheus
            ("/v1/catalog/services", Q(), ()),                                # Traefik
            ("/v1/health/state/any", Q(), ()),                                # Traefik watch
            ("/v1/health/service/sup", ct_opts(), (("passing", "1"),)),       # consul-template
            ("/v1/health/state/any", Q(consistent=True), ()),                 # Fabio
        ]
        for path, q, params in reads:
            a = reader.get(path, q, set_params=params)
            assert a.status == 200, a
            a = anonymous.get(path, q, set_params=params)
            assert a.status == 401, a
        a = reader.get("/v1/kv/fabio/config", Q(consistent=True), set_params=[("recurse", "")])
        assert a.status == 404, a  # read allowed, nothing there
        a = reader.request("PUT", "/v1/kv/fabio/config/manual", set_params=[("cas", "0")],
                           body=b"x", content_type="application/octet-stream")
        assert a.status == 403, a
        writer = GoConsulClient(ep["http"], token=WRITE_TOKEN)
        a = writer.request("PUT", "/v1/kv/fabio/config/manual", set_params=[("cas", "0")],
                           body=b"x", content_type="application/octet-stream")
        assert a.status == 200 and "true" in a.resp.text, a
        a = writer.request("PUT", "/v1/agent/service/register",
                           body=go_json({"ID": "fabio-tok", "Name": "fabio", "Port": 9998,
                                         "Address": "127.0.0.1", "Check": None,
                                         "Checks": [{"CheckID": "fabio-tok-ttl", "TTL": "15s"}]}))
        assert a.status == 200, a
        a = writer.request("PUT", "/v1/agent/check/update/fabio-tok-ttl",
                           body=go_json({"Status": "passing", "Output": ""}))
        assert a.status == 200, a
