"""Consul DNS behaviour with the real `dig`, for services registered through py-consul: the
client's EDNS0 size (all 30 SRV records at +bufsize=4096, TC without EDNS), PTR lookups,
a service registered with a host name (CNAME), SRV weights, and `consul.service.consul`."""

import shutil
import subprocess

import pytest

from conftest import wait_until

pytestmark = pytest.mark.skipif(shutil.which("dig") is None, reason="dig not installed")


def dig(shoal, *args):
    """`dig @DNS -p PORT ARGS`: its standard output."""
    if not shoal.dns:
        pytest.skip("this shoal serves no DNS")
    host, port = shoal.dns.rsplit(":", 1)
    cmd = ["dig", f"@{host}", "-p", port, "+time=2", "+tries=1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout


def answers(out, rtype):
    """The data of the answer-section records of `rtype` in dig's full output."""
    rows, section = [], None
    for line in out.splitlines():
        if line.startswith(";; ") and "SECTION:" in line:
            section = line
            continue
        parts = line.split()
        if section and "ANSWER" in section and len(parts) >= 5 and parts[3] == rtype:
            rows.append(" ".join(parts[4:]))
    return rows


def flags(out):
    return next((l for l in out.splitlines() if l.startswith(";; flags:")), "")


@pytest.fixture()
def thirty(c):
    """30 instances of `many`, each at its own loopback address, registered and passing."""
    ids = [f"many-{i}" for i in range(1, 31)]
    for i, sid in enumerate(ids, start=1):
        assert c.agent.service.register("many", service_id=sid, address=f"127.0.0.{i + 1}", port=5000 + i)
    yield ids
    for sid in ids:
        c.agent.service.deregister(sid)


def test_edns_size_is_honoured_and_udp_without_edns_is_truncated(shoal, thirty):
    def all30():
        out = dig(shoal, "+bufsize=4096", "many.service.consul", "SRV")
        return len(answers(out, "SRV")) == 30 and out

    out = wait_until(all30, timeout=10, what="30 SRV records over UDP at +bufsize=4096")
    assert " tc" not in flags(out), out
    assert "MSG SIZE  rcvd:" in out
    size = int(out.split("MSG SIZE  rcvd:")[1].split()[0])
    assert 1232 < size <= 4096, f"more than the old 1232-byte cap: {size}"
    # Every target's address rides along in the additional section.
    assert out.count("IN\tA\t127.0.0.") >= 30 or out.count(" A 127.0.0.") >= 30, out

    for args in (["+noedns"], ["+bufsize=512"]):
        out = dig(shoal, *args, "+ignore", "many.service.consul", "SRV")
        assert " tc" in flags(out), f"{args}: {out}"
        got = len(answers(out, "SRV"))
        assert 0 < got < 30, f"{args}: {got}"
    # TCP answers in full.
    assert len(answers(dig(shoal, "+tcp", "many.service.consul", "SRV"), "SRV")) == 30


def test_reverse_lookup_names_the_node_or_the_service(c, shoal):
    node = c.agent.self()["Config"]["NodeName"].lower()
    out = dig(shoal, "-x", "127.0.0.1")
    assert "status: NOERROR" in out, out
    assert answers(out, "PTR") == [f"{node}.node.dc1.shoal."], out

    assert c.agent.service.register("ptrsvc", service_id="ptrsvc-1", address="10.77.0.9", port=80)
    try:
        out = wait_until(lambda: answers(dig(shoal, "-x", "10.77.0.9"), "PTR"), timeout=5, what="PTR of a service address")
        assert out == ["ptrsvc.service.dc1.shoal."], out
    finally:
        c.agent.service.deregister("ptrsvc-1")
    out = dig(shoal, "-x", "10.77.0.200")
    assert "status: NXDOMAIN" in out and "SOA" in out, out


def test_host_name_service_answers_a_cname(c, shoal):
    assert c.agent.service.register("hosted", service_id="hosted-1", address="db.example.internal", port=5432)
    try:
        out = wait_until(lambda: answers(dig(shoal, "hosted.service.consul", "A"), "CNAME") and dig(shoal, "hosted.service.consul", "A"),
                         timeout=5, what="CNAME answer")
        assert "status: NOERROR" in out, out
        assert answers(out, "CNAME") == ["db.example.internal."], out
        srv = answers(dig(shoal, "hosted.service.consul", "SRV"), "SRV")
        assert srv == ["1 1 5432 db.example.internal."], srv
    finally:
        c.agent.service.deregister("hosted-1")


def test_srv_weights_come_from_the_registration(c, shoal):
    assert c.agent.service.register("weighted", service_id="weighted-1", address="127.0.0.1", port=6001,
                                    weights={"Passing": 7, "Warning": 2})
    assert c.agent.service.register("weighted", service_id="weighted-2", address="127.0.0.1", port=6002,
                                    weights={"Passing": 7, "Warning": 2},
                                    check={"TTL": "60s", "Status": "warning"})
    try:
        def both():
            srv = sorted(answers(dig(shoal, "weighted.service.consul", "SRV"), "SRV"))
            return len(srv) == 2 and srv

        srv = wait_until(both, timeout=5, what="two weighted SRV records")
        weights = {r.split()[2]: r.split()[1] for r in srv}
        assert weights == {"6001": "7", "6002": "2"}, srv
    finally:
        c.agent.service.deregister("weighted-1")
        c.agent.service.deregister("weighted-2")


def test_consul_service_is_this_agent(c, shoal):
    node = c.agent.self()["Config"]["NodeName"].lower()
    out = dig(shoal, "consul.service.consul", "SRV")
    assert answers(out, "SRV") == [f"1 1 8300 {node}.node.dc1.consul."], out
    assert answers(dig(shoal, "consul.service.consul", "A"), "A") == [shoal.host], out


def test_prepared_query_by_py_consul_and_dns(c, shoal):
    """`c.query.create`/`get`/`update`/`execute`/`delete` and `dig <name>.query.consul`."""
    assert c.agent.service.register("pqsvc", service_id="pq-1", address="127.0.0.1", port=7001, tags=["primary"])
    assert c.agent.service.register("pqsvc", service_id="pq-2", address="127.0.0.1", port=7002, tags=["primary", "canary"])
    assert c.agent.service.register("pqsvc", service_id="pq-3", address="127.0.0.1", port=7003, tags=["replica"])
    created = c.query.create("pqsvc", name="pq-primary", tags=["primary", "!canary"], ttl="10s")
    qid = created["ID"]
    try:
        got = c.query.get(qid)
        assert len(got) == 1 and got[0]["Name"] == "pq-primary", got
        assert got[0]["Service"]["Tags"] == ["primary", "!canary"] and got[0]["DNS"]["TTL"] == "10s"
        assert qid in [q["ID"] for q in c.query.list()]

        for key in (qid, "pq-primary"):
            out = c.query.execute(key)
            assert out["Service"] == "pqsvc" and out["Datacenter"] == "dc1" and out["DNS"]["TTL"] == "10s", out
            assert [n["Service"]["ID"] for n in out["Nodes"]] == ["pq-1"], out

        def srv():
            return answers(dig(shoal, "pq-primary.query.consul", "SRV"), "SRV")

        assert wait_until(srv, timeout=5, what="SRV of the prepared query") == ["1 1 7001 " + srv()[0].split()[3]]
        out = dig(shoal, "pq-primary.query.consul", "A")
        assert answers(out, "A") == ["127.0.0.1"], out
        ttls = [l.split()[1] for l in out.splitlines() if l.startswith("pq-primary.query.consul.")]
        assert ttls == ["10"], f"the query's DNS TTL: {out}"
        assert len(answers(dig(shoal, f"{qid}.query.consul", "SRV"), "SRV")) == 1

        # Update: the replica now; DNS follows.
        assert c.query.update(qid, "pqsvc", name="pq-primary", tags=["replica"])
        wait_until(lambda: any(" 7003 " in r for r in answers(dig(shoal, "pq-primary.query.consul", "SRV"), "SRV")),
                   timeout=5, what="DNS to follow the updated query")
        assert [n["Service"]["ID"] for n in c.query.execute("pq-primary")["Nodes"]] == ["pq-3"]
    finally:
        c.query.delete(qid)
        for sid in ("pq-1", "pq-2", "pq-3"):
            c.agent.service.deregister(sid)
    out = wait_until(lambda: "NXDOMAIN" in dig(shoal, "pq-primary.query.consul", "A") and dig(shoal, "pq-primary.query.consul", "A"),
                     timeout=5, what="NXDOMAIN once the query is gone")
    assert "status: NXDOMAIN" in out
