"""Blocking-query wake-up latency: time from a write's acknowledgement to a
waiting reader being woken with the new value.

Reported two ways: from sending the write (includes the durable write itself,
i.e. an fsync) and from the write's acknowledgement (negative when the waiter
is woken before the writer has read its answer).

Shoal: a Consul blocking GET /v1/kv/<key>?index=N&wait=30s waiting while another
connection PUTs the key. etcd: a watch stream on the v3 JSON gateway (/v3/watch)
while another connection puts the key (/v3/kv/put). Both over HTTP/JSON on
loopback, one writer, one waiter, N rounds; prints JSON with p50/p99/max in ms.

Usage: watch_latency.py shoal HOST:PORT ROUNDS | watch_latency.py etcd HOST:PORT ROUNDS
"""

import base64
import http.client
import json
import statistics
import sys
import threading
import time


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def shoal_round(addr, key, i, index):
    host, port = addr.split(":")
    woke = {}

    def wait():
        c = http.client.HTTPConnection(host, int(port), timeout=60)
        c.request("GET", f"/v1/kv/{key}?index={index}&wait=30s")
        r = c.getresponse()
        body = r.read()
        woke["t"] = time.perf_counter()
        woke["index"] = int(r.getheader("X-Consul-Index", "0"))
        woke["value"] = base64.b64decode(json.loads(body)[0]["Value"]).decode()
        c.close()

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.05)  # let the query reach the server and block
    w = http.client.HTTPConnection(host, int(port), timeout=10)
    w.connect()
    sent = time.perf_counter()
    w.request("PUT", f"/v1/kv/{key}", body=f"v{i}")
    r = w.getresponse()
    r.read()
    acked = time.perf_counter()
    w.close()
    t.join(60)
    assert woke.get("value") == f"v{i}", woke
    return (woke["t"] - sent) * 1000, (woke["t"] - acked) * 1000, woke["index"]


def shoal(addr, rounds):
    host, port = addr.split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("PUT", "/v1/kv/bench/watch", body="v0")
    c.getresponse().read()
    c.request("GET", "/v1/kv/bench/watch")
    r = c.getresponse()
    r.read()
    index = int(r.getheader("X-Consul-Index"))
    out = []
    for i in range(1, rounds + 1):
        ms, ack_ms, index = shoal_round(addr, "bench/watch", i, index)
        out.append((ms, ack_ms))
    return out


def etcd(addr, rounds):
    host, port = addr.split(":")
    key = base64.b64encode(b"bench/watch").decode()
    out = []
    for i in range(1, rounds + 1):
        woke = {}
        ready = threading.Event()

        def wait():
            c = http.client.HTTPConnection(host, int(port), timeout=60)
            c.request("POST", "/v3/watch", body=json.dumps({"create_request": {"key": key}}))
            r = c.getresponse()
            # The stream sends one JSON object per line: first "created", then events.
            while True:
                line = r.readline()
                if not line:
                    break
                msg = json.loads(line)
                res = msg.get("result", {})
                if res.get("created"):
                    ready.set()
                    continue
                if res.get("events"):
                    woke["t"] = time.perf_counter()
                    woke["value"] = base64.b64decode(res["events"][0]["kv"]["value"]).decode()
                    break
            c.close()

        t = threading.Thread(target=wait, daemon=True)
        t.start()
        ready.wait(10)
        w = http.client.HTTPConnection(host, int(port), timeout=10)
        w.connect()
        sent = time.perf_counter()
        w.request("POST", "/v3/kv/put", body=json.dumps({"key": key, "value": base64.b64encode(f"v{i}".encode()).decode()}))
        w.getresponse().read()
        acked = time.perf_counter()
        w.close()
        t.join(60)
        assert woke.get("value") == f"v{i}", woke
        out.append(((woke["t"] - sent) * 1000, (woke["t"] - acked) * 1000))
    return out


def main():
    kind, addr, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pairs = shoal(addr, rounds) if kind == "shoal" else etcd(addr, rounds)
    xs = [p[0] for p in pairs]
    acks = [p[1] for p in pairs]
    print(json.dumps({
        "system": kind,
        "rounds": rounds,
        "write_to_wake_p50_ms": round(statistics.median(xs), 3),
        "write_to_wake_p99_ms": round(pct(xs, 99), 3),
        "write_to_wake_max_ms": round(max(xs), 3),
        "ack_to_wake_p50_ms": round(statistics.median(acks), 3),
        "ack_to_wake_p99_ms": round(pct(acks, 99), 3),
    }))


if __name__ == "__main__":
    main()
