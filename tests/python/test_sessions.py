"""Sessions and locks through py-consul: lifecycle, LockIndex, TTL expiry releasing locks."""

import json
import time
import urllib.error
import urllib.request

import consul
import pytest

from conftest import wait_until


def test_session_lifecycle(c):
    sid = c.session.create(name="life", ttl=30, behavior="release")
    assert len(sid) == 36 and sid.count("-") == 4
    _, info = c.session.info(sid)
    assert info["ID"] == sid and info["Name"] == "life" and info["TTL"] == "30s"
    assert info["Behavior"] == "release" and info["Node"]
    _, sessions = c.session.list()
    assert sid in [s["ID"] for s in sessions]
    _, on_node = c.session.node(info["Node"])
    assert sid in [s["ID"] for s in on_node]
    renewed = c.session.renew(sid)
    assert renewed["ID"] == sid
    assert c.session.destroy(sid) is True
    assert c.session.info(sid)[1] is None
    with pytest.raises(consul.NotFound):
        c.session.renew(sid)


@pytest.mark.parametrize("ttl", ["5s", "86401s", "abc"])
def test_ttl_bounds_are_enforced(shoal, ttl):
    body = json.dumps({"TTL": ttl}).encode()
    req = urllib.request.Request(f"http://{shoal.http}/v1/session/create", data=body, method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400


def test_lock_acquire_release(c):
    s1 = c.session.create(name="s1")
    s2 = c.session.create(name="s2")
    try:
        assert c.kv.put("t/lock/a", "mine", acquire=s1) is True
        _, item = c.kv.get("t/lock/a")
        assert item["Session"] == s1 and item["LockIndex"] == 1
        assert c.kv.put("t/lock/a", "again", acquire=s1) is True
        assert c.kv.get("t/lock/a")[1]["LockIndex"] == 1
        assert c.kv.put("t/lock/a", "theirs", acquire=s2) is False
        assert c.kv.put("t/lock/a", "x", release=s2) is False
        assert c.kv.put("t/lock/a", "released", release=s1) is True
        _, item = c.kv.get("t/lock/a")
        assert "Session" not in item and item["LockIndex"] == 1 and item["Value"] == b"released"
        assert c.kv.put("t/lock/a", "theirs", acquire=s2) is True
        _, item = c.kv.get("t/lock/a")
        assert item["Session"] == s2 and item["LockIndex"] == 2
        # Destroying the holder (behavior release) frees the lock.
        c.session.destroy(s2)
        _, item = c.kv.get("t/lock/a")
        assert "Session" not in item and item["Value"] == b"theirs"
    finally:
        c.session.destroy(s1)
        c.session.destroy(s2)


def test_acquire_with_unknown_session_fails(c):
    with pytest.raises(consul.ConsulException):
        c.kv.put("t/lock/bad", "x", acquire="00000000-0000-4000-8000-000000000000")


def test_delete_behavior(c):
    s = c.session.create(behavior="delete")
    assert c.kv.put("t/lock/del", "x", acquire=s) is True
    c.session.destroy(s)
    assert c.kv.get("t/lock/del")[1] is None


def test_session_ttl_expiry_releases_lock(c):
    sid = c.session.create(name="short", ttl=10)
    assert c.kv.put("t/lock/ttl", "held", acquire=sid) is True
    index, item = c.kv.get("t/lock/ttl")
    assert item["Session"] == sid
    started = time.monotonic()
    # A blocking query on the key wakes when the expiry releases the lock.
    new_index, item = c.kv.get("t/lock/ttl", index=index, wait="20s")
    elapsed = time.monotonic() - started
    assert "Session" not in item, item
    assert 8 < elapsed < 15
    assert c.session.info(sid)[1] is None
    wait_until(lambda: sid not in [s["ID"] for s in c.session.list()[1]], timeout=2, what="session gone")
