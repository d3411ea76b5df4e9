"""Consul transactions (`PUT /v1/txn`, KV operations) through the real py-consul client."""

import base64
import json

import consul
import pytest
import requests


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def kv(verb, key, **extra):
    return {"KV": {"Verb": verb, "Key": key, **extra}}


def conflict_errors(excinfo):
    """py-consul raises ClientError("409 <body>") for a failed transaction."""
    code, _, body = str(excinfo.value).partition(" ")
    assert code == "409"
    answer = json.loads(body)
    assert answer["Results"] is None
    return [e["OpIndex"] for e in answer["Errors"]]


def test_set_set_get(c):
    r = c.txn.put([kv("set", "t/txn/a", Value=b64("one"), Flags=7), kv("set", "t/txn/b", Value=b64("two")), kv("get", "t/txn/a")])
    assert r["Errors"] is None
    written, _, got = (x["KV"] for x in r["Results"])
    assert written["Key"] == "t/txn/a" and written["Value"] is None and written["Flags"] == 7
    assert base64.b64decode(got["Value"]) == b"one"
    assert got["ModifyIndex"] == written["ModifyIndex"] > 0
    assert c.kv.get("t/txn/a")[1]["Value"] == b"one"
    _, b = c.kv.get("t/txn/b")
    assert b["Value"] == b"two" and b["ModifyIndex"] == written["ModifyIndex"]


def test_failing_cas_writes_nothing(c):
    c.kv.put("t/txn/cas", "v")
    idx = c.kv.get("t/txn/cas")[1]["ModifyIndex"]
    with pytest.raises(consul.ConsulException) as e:
        c.txn.put([kv("set", "t/txn/ghost1", Value=b64("x")), kv("cas", "t/txn/cas", Value=b64("y"), Index=idx + 1000)])
    assert conflict_errors(e) == [1]
    assert c.kv.get("t/txn/ghost1")[1] is None
    assert c.kv.get("t/txn/cas")[1]["Value"] == b"v"
    r = c.txn.put([kv("cas", "t/txn/cas", Value=b64("y"), Index=idx)])
    assert r["Errors"] is None and c.kv.get("t/txn/cas")[1]["Value"] == b"y"


def test_check_not_exists_on_existing_key_writes_nothing(c):
    c.kv.put("t/txn/exists", "v")
    with pytest.raises(consul.ConsulException) as e:
        c.txn.put([kv("set", "t/txn/ghost2", Value=b64("x")), kv("check-not-exists", "t/txn/exists")])
    assert conflict_errors(e) == [1]
    assert c.kv.get("t/txn/ghost2")[1] is None


def test_lock_with_a_session(c):
    sid = c.session.create(ttl=30)
    r = c.txn.put([kv("lock", "t/txn/lock", Value=b64("me"), Session=sid), kv("check-session", "t/txn/lock", Session=sid)])
    assert r["Results"][0]["KV"]["Session"] == sid and r["Results"][0]["KV"]["LockIndex"] == 1
    _, item = c.kv.get("t/txn/lock")
    assert item["Session"] == sid and item["Value"] == b"me"
    with pytest.raises(consul.ConsulException) as e:
        c.txn.put([kv("lock", "t/txn/lock2", Session="00000000-0000-4000-8000-000000000000")])
    assert conflict_errors(e) == [0]
    r = c.txn.put([kv("unlock", "t/txn/lock", Session=sid)])
    assert "Session" not in c.kv.get("t/txn/lock")[1]
    c.session.destroy(sid)


def test_delete_tree_and_get_tree(c):
    for k in ["t/txn/tree/a", "t/txn/tree/b/c", "t/txn/treeish"]:
        c.kv.put(k, k)
    r = c.txn.put([kv("get-tree", "t/txn/tree/")])
    assert [x["KV"]["Key"] for x in r["Results"]] == ["t/txn/tree/a", "t/txn/tree/b/c"]
    r = c.txn.put([kv("delete-tree", "t/txn/tree/"), kv("get-tree", "t/txn/tree/")])
    assert r["Results"] == [] and r["Errors"] is None
    assert c.kv.get("t/txn/tree/", recurse=True)[1] is None
    assert c.kv.get("t/txn/treeish")[1]["Value"] == b"t/txn/treeish"


def test_malformed_bodies_are_400_json(shoal):
    url = f"http://{shoal.http}/v1/txn"
    for body in [
        [kv("frob", "t/txn/x")],
        {"KV": {}},
        [{"Node": {"Verb": "get", "Node": "n"}}],
        [kv("set", "t/txn/x")] * 65,
        [{"KV": {"Verb": "set"}}],
    ]:
        r = requests.put(url, data=json.dumps(body), timeout=10)
        assert r.status_code == 400, body
        assert r.json()["error"]
    assert "only KV" in requests.put(url, data=json.dumps([{"Node": {}}]), timeout=10).json()["error"]
