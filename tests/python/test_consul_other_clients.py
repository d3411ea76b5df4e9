"""Two more Consul clients from PyPI, unmodified, against `shoal up`: consul-kv (its
`Connection`: put, get, a dict in one transaction, ModifyIndex, recursive delete) and python-consul2 (KV,
agent registration with a TTL check, catalog and health reads, sessions and a lock,
events, transactions, a blocking KV read). python-consul2 imports as `consul`, like
py-consul, so it runs in its own interpreter with the folder `scripts/deps` installs it
into on its path."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYDEPS = Path(os.environ.get("SHOAL_PYDEPS", Path.home() / ".cache" / "shoal-pydeps"))


def need(module):
    if not (PYDEPS / module).is_dir():
        pytest.fail(f"{module} is not installed in {PYDEPS}: run scripts/deps")


def run_with_pydeps(code, shoal):
    """Runs `code` in a new interpreter whose path starts with PYDEPS; SHOAL_HTTP is set."""
    env = dict(os.environ, PYTHONPATH=str(PYDEPS), SHOAL_HTTP=shoal.http)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_consul_kv(shoal):
    need("consul_kv")
    out = run_with_pydeps("""
        import os
        import consul_kv
        c = consul_kv.Connection(endpoint=f"http://{os.environ['SHOAL_HTTP']}/v1/")
        c.put("ckv/app/name", "shoal")
        assert c.get("ckv/app/name") == {"ckv/app/name": "shoal"}, c.get("ckv/app/name")
        # A dict put in one transaction, read back recursively.
        c.put_dict({"ckv": {"db": {"host": "10.0.0.7", "port": "5432"}}})
        got = c.get("ckv/db", recurse=True)
        assert got == {"ckv/db/host": "10.0.0.7", "ckv/db/port": "5432"}, got
        # get_cas gives each key's ModifyIndex. (Its own CAS put and get_meta are not
        # used: they send `<key>/?cas=N` and `/v1/<key>` without kv/, which name another
        # key and a missing endpoint on Consul too.)
        _, index = c.get_cas("ckv/app/name")["ckv/app/name"]
        assert isinstance(index, int) and index > 0, index
        c.delete("ckv", recurse=True)
        try:
            c.get("ckv/app/name")
            raise SystemExit("still there after delete")
        except Exception as e:
            assert "404" in str(e), e
        print("consul-kv ok")
    """, shoal)
    assert "consul-kv ok" in out


def test_python_consul2(shoal):
    need("consul")
    out = run_with_pydeps("""
        import os, threading, time
        import consul
        assert consul.__file__.startswith(os.environ["PYTHONPATH"]), consul.__file__
        host, port = os.environ["SHOAL_HTTP"].rsplit(":", 1)
        c = consul.Consul(host=host, port=int(port))

        assert c.kv.put("pc2/key", "v1") is True
        index, kv = c.kv.get("pc2/key")
        assert kv["Value"] == b"v1"
        # A blocking read woken by a write.
        got = {}
        def block():
            got["answer"] = c.kv.get("pc2/key", index=index, wait="20s")
        t = threading.Thread(target=block); t.start()
        time.sleep(0.3)
        c.kv.put("pc2/key", "v2")
        t.join(25)
        assert got["answer"][1]["Value"] == b"v2", got

        assert c.agent.service.register("pc2-web", service_id="pc2-web-1", port=8080,
                                        tags=["v1"], check=consul.Check.ttl("30s")) is True
        assert c.agent.check.ttl_pass("service:pc2-web-1") is True
        _, services = c.catalog.services()
        assert services.get("pc2-web") == ["v1"], services
        _, healthy = c.health.service("pc2-web", passing=True)
        assert [h["Service"]["ID"] for h in healthy] == ["pc2-web-1"], healthy

        sid = c.session.create(name="pc2-lock", ttl=30)
        assert c.kv.put("pc2/leader", "me", acquire=sid) is True
        other = c.session.create(name="pc2-other", ttl=30)
        assert c.kv.put("pc2/leader", "them", acquire=other) is False
        assert c.kv.put("pc2/leader", "me", release=sid) is True
        c.session.destroy(sid); c.session.destroy(other)

        ev = c.event.fire("pc2-event", "hello")
        _, events = c.event.list(name="pc2-event")
        assert [e["ID"] for e in events][-1] == ev["ID"], events

        result = c.txn.put([{"KV": {"Verb": "get", "Key": "pc2/key"}}])
        assert result["Results"][0]["KV"]["Key"] == "pc2/key", result

        assert c.agent.service.deregister("pc2-web-1") is True
        c.kv.delete("pc2", recurse=True)
        print("python-consul2 ok")
    """, shoal)
    assert "python-consul2 ok" in out
