#!/usr/bin/env python3
"""A 10x traffic step on an autoscaled service (bench/elastic.sh runs this).

`shoal up` runs `work` (each instance serves at most 4 requests at a time, 50 ms
each: 80 requests/s), autoscaled on `rps = 20` per instance (min 1, max 10), and
two idle callers whose outbound listeners carry the load: `front` (critical) and
`reports` (low), with `max_inflight = 20` on `work`. Load: 5 + 5 requests/s for
10 s, then 50 + 50 requests/s (10x) for 30 s, paced, each request on a new
connection. Printed per round: seconds from the step until enough instances
(ceil(100 / 20) = 5) are healthy, served / shed / failed per caller during the
step, p50 and p99 latency per caller during the step, and what Kubernetes' HPA
with its defaults would give on the same step, computed from this run's own
instance start-to-healthy times: the step is seen at the next 15 s sync (7.5 s
on average, 15 s at worst), HPA's default scale-up policy allows 1 -> 5 in one
sync (max of +4 pods or +100 %), and a pod takes traffic at the first readiness
probe after it is up (default period 10 s), so a new instance counts from
`start + ceil(startup / 10 s) * 10 s`.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import http.client
import urllib.request

SHOAL = sys.argv[1]
ROUND = sys.argv[2] if len(sys.argv) > 2 else "1"

WORK = r'''
import os, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
SLOTS = threading.Semaphore(4)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path != "/health":
            with SLOTS:
                time.sleep(0.05)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''

IDLE = "exec python3 -c 'import time; time.sleep(100000)'"

TOML = f'''
[platform]
data_dir = "data"
http = "127.0.0.1:0"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"

[services.front]
command = "{IDLE}"

[services.reports]
command = "{IDLE}"

[services.work]
command = ["python3", "work.py"]

[services.work.health]
http = "/health"
interval = "200ms"

[services.work.resilience]
limits = {{ max_inflight = 20 }}
callers = {{ front = "critical", reports = {{ priority = "low" }} }}

[services.work.scale]
min = 1
max = 10
target = {{ rps = 20 }}
up_cooldown = "1s"
down_stabilization = "60s"
'''

STEP_RPS = 50  # per caller
BASE_RPS = 5
NEEDED = math.ceil(2 * STEP_RPS / 20)


def get(http, path):
    with urllib.request.urlopen(f"http://{http}{path}", timeout=5) as r:
        return json.loads(r.read())


class Caller:
    def __init__(self, addr):
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)
        self.rate = BASE_RPS
        self.stop = False
        self.results = []  # (t_sent, status, reason, latency_s)
        self.lock = threading.Lock()

    def one(self):
        t0 = time.monotonic()
        status, reason = 0, ""
        try:
            c = http.client.HTTPConnection(self.host, self.port, timeout=10)
            c.request("GET", "/", headers={"Host": "work"})
            r = c.getresponse()
            r.read()
            status, reason = r.status, r.getheader("X-Shoal-Reason") or ""
            c.close()
        except Exception as e:  # noqa: BLE001 - counted as failed
            reason = str(e)
        with self.lock:
            self.results.append((t0, status, reason, time.monotonic() - t0))

    def run(self):
        next_at = time.monotonic()
        while not self.stop:
            threading.Thread(target=self.one, daemon=True).start()
            next_at += 1.0 / self.rate
            time.sleep(max(0.0, next_at - time.monotonic()))


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main():
    with tempfile.TemporaryDirectory(prefix="shoal-elastic-") as d:
        open(os.path.join(d, "shoal.toml"), "w").write(TOML)
        open(os.path.join(d, "work.py"), "w").write(WORK)
        log = open(os.path.join(d, "shoal.log"), "wb")
        proc = subprocess.Popen([SHOAL, "up", "shoal.toml"], cwd=d, stdout=log, stderr=subprocess.STDOUT)
        try:
            ep_file = os.path.join(d, "data", "endpoints.json")
            for _ in range(300):
                if os.path.exists(ep_file):
                    break
                time.sleep(0.1)
            ep = json.load(open(ep_file))
            http_addr = ep["http"]
            for _ in range(300):
                s = get(http_addr, "/api/v1/services/work")["service"]
                if s["healthy"] >= 1:
                    break
                time.sleep(0.1)
            proxy = get(http_addr, "/api/v1/proxy")
            front, reports = Caller(proxy["outbound"]["front"]), Caller(proxy["outbound"]["reports"])
            for c in (front, reports):
                threading.Thread(target=c.run, daemon=True).start()
            time.sleep(10)
            step = time.monotonic()
            step_ms = int(time.time() * 1000)
            front.rate = reports.rate = STEP_RPS
            enough = None
            while time.monotonic() - step < 30:
                s = get(http_addr, "/api/v1/services/work")["service"]
                if enough is None and s["healthy"] >= NEEDED:
                    enough = time.monotonic() - step
                time.sleep(0.2)
            front.stop = reports.stop = True
            time.sleep(1)
            inst = get(http_addr, "/api/v1/instances?service=work")
            startups = [
                (i["healthy_since_ms"] - i["started_ms"]) / 1000
                for i in inst
                if i.get("healthy_since_ms") and i["started_ms"] >= step_ms
            ]
            startup = max(startups) if startups else float("nan")
            ready_k8s = math.ceil(startup / 10) * 10 if startups else float("nan")
            out = []
            for name, c in (("critical", front), ("low", reports)):
                during = [r for r in c.results if r[0] >= step]
                served = sum(1 for r in during if r[1] == 200)
                shed = sum(1 for r in during if r[2] == "shed")
                failed = len(during) - served - shed
                lat = [r[3] * 1000 for r in during if r[1] == 200]
                out.append(f"{name}: {served} served, {shed} shed, {failed} failed, p50 {pct(lat, .5):.0f} ms, p99 {pct(lat, .99):.0f} ms")
            line = f"round {ROUND}: "
            line += (f"enough capacity ({NEEDED} healthy) after {enough:.1f} s" if enough is not None
                     else f"not {NEEDED} healthy within 30 s")
            line += "; " + "; ".join(out)
            if startups:
                line += f"; new instances healthy {min(startups):.2f}-{startup:.2f} s after their start"
                line += f"; HPA defaults on the same starts: {7.5 + ready_k8s:.1f} s on average, {15 + ready_k8s:.1f} s at worst"
            print(line, flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


if __name__ == "__main__":
    main()
