"""Consul KV through the real py-consul client: values, flags, CAS, listing, blocking."""

import threading
import time

import pytest


def test_put_get_delete(c):
    assert c.kv.put("t/kv/a", "hello") is True
    index, item = c.kv.get("t/kv/a")
    assert item["Value"] == b"hello" and item["Key"] == "t/kv/a"
    assert item["Flags"] == 0 and item["LockIndex"] == 0 and "Session" not in item
    assert int(index) >= item["ModifyIndex"] >= item["CreateIndex"] > 0
    assert c.kv.delete("t/kv/a") is True
    _, gone = c.kv.get("t/kv/a")
    assert gone is None


def test_empty_and_binary_values_and_flags(c):
    assert c.kv.put("t/kv/empty", None) is True
    _, item = c.kv.get("t/kv/empty")
    assert item["Value"] is None
    blob = bytes(range(256))
    assert c.kv.put("t/kv/bin", blob, flags=42) is True
    _, item = c.kv.get("t/kv/bin")
    assert item["Value"] == blob and item["Flags"] == 42


def test_raw_get(c, shoal):
    import urllib.request

    c.kv.put("t/kv/raw", b"\x00\x01raw")
    with urllib.request.urlopen(f"http://{shoal.http}/v1/kv/t/kv/raw?raw") as r:
        assert r.read() == b"\x00\x01raw"
        assert int(r.headers["X-Consul-Index"]) > 0


def test_cas(c):
    assert c.kv.put("t/cas/k", "1", cas=0) is True
    assert c.kv.put("t/cas/k", "2", cas=0) is False
    _, item = c.kv.get("t/cas/k")
    idx = item["ModifyIndex"]
    assert c.kv.put("t/cas/k", "3", cas=idx + 1000) is False
    assert c.kv.put("t/cas/k", "4", cas=idx) is True
    _, item = c.kv.get("t/cas/k")
    assert item["Value"] == b"4"
    assert c.kv.delete("t/cas/k", cas=item["ModifyIndex"] + 1000) is False
    assert c.kv.delete("t/cas/k", cas=item["ModifyIndex"]) is True
    assert c.kv.get("t/cas/k")[1] is None


def test_recurse_keys_separator(c):
    for k in ["t/tree/a", "t/tree/b/c", "t/tree/b/d", "t/tree/e/f/g"]:
        c.kv.put(k, k)
    _, items = c.kv.get("t/tree/", recurse=True)
    assert [i["Key"] for i in items] == ["t/tree/a", "t/tree/b/c", "t/tree/b/d", "t/tree/e/f/g"]
    assert all(i["Value"] == i["Key"].encode() for i in items)
    _, keys = c.kv.get("t/tree/", keys=True, separator="/")
    assert keys == ["t/tree/a", "t/tree/b/", "t/tree/e/"]
    _, keys = c.kv.get("t/tree/", keys=True)
    assert len(keys) == 4
    assert c.kv.delete("t/tree/b/", recurse=True) is True
    _, keys = c.kv.get("t/tree/", keys=True)
    assert keys == ["t/tree/a", "t/tree/e/f/g"]
    assert c.kv.get("t/nothing-here/", recurse=True)[1] is None


def _blocking_get(c, key, index, wait, out):
    started = time.monotonic()
    out["result"] = c.kv.get(key, index=index, wait=wait)
    out["elapsed"] = time.monotonic() - started


def test_blocking_get_wakes_on_its_key_only(c):
    c.kv.put("t/block/k", "v1")
    index, _ = c.kv.get("t/block/k")
    out = {}
    t = threading.Thread(target=_blocking_get, args=(c, "t/block/k", index, "10s", out))
    t.start()
    time.sleep(0.5)
    c.kv.put("t/block/k-other", "x")  # same prefix, different key
    c.kv.put("t/unrelated", "x")
    time.sleep(0.5)
    assert t.is_alive(), "an unrelated write woke the blocking query"
    c.kv.put("t/block/k", "v2")
    t.join(timeout=5)
    assert not t.is_alive()
    new_index, item = out["result"]
    assert item["Value"] == b"v2"
    assert int(new_index) > int(index)
    assert 0.9 < out["elapsed"] < 5


def test_blocking_get_times_out_with_wait(c):
    c.kv.put("t/block/timeout", "v")
    index, _ = c.kv.get("t/block/timeout")
    started = time.monotonic()
    new_index, item = c.kv.get("t/block/timeout", index=index, wait="1s")
    elapsed = time.monotonic() - started
    assert item["Value"] == b"v"
    assert 1.0 <= elapsed < 1.0 + 1.0 / 16 + 1.0
    assert int(new_index) >= int(index)


def test_blocking_on_missing_key_wakes_on_create(c):
    index, item = c.kv.get("t/block/later")
    assert item is None
    out = {}
    t = threading.Thread(target=_blocking_get, args=(c, "t/block/later", index, "10s", out))
    t.start()
    time.sleep(0.3)
    c.kv.put("t/block/later", "now")
    t.join(timeout=5)
    assert out["result"][1]["Value"] == b"now"


def test_stale_index_answers_at_once(c):
    c.kv.put("t/block/stale", "1")
    index, _ = c.kv.get("t/block/stale")
    c.kv.put("t/block/stale", "2")
    started = time.monotonic()
    _, item = c.kv.get("t/block/stale", index=index, wait="10s")
    assert item["Value"] == b"2" and time.monotonic() - started < 1


@pytest.mark.parametrize("path", ["/v1/kv/x?cas=abc", "/v1/kv/x?flags=-1"])
def test_bad_parameters_are_400_json(shoal, path):
    import json
    import urllib.error
    import urllib.request

    req = urllib.request.Request(f"http://{shoal.http}{path}", data=b"v", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400
    assert "error" in json.loads(e.value.read())
