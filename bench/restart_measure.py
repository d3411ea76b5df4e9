#!/usr/bin/env python3
"""Measurement loop of bench/restart.sh (stdlib only): kill -9 the one instance of a
service N times and time how long until it is back.

For each kill, with t0 = CLOCK_REALTIME just before kill(SIGKILL):
  spawn    t0 -> the replacement process started (the NANOS it prints first:
           "publications listening on PORT (process started at NANOS ns)")
  serving  t0 -> GET /health on the instance's port answers 200 again (polled every
           1 ms, a new TCP connection per attempt; polling starts once the old
           process is dead so a 200 can only come from the replacement)
  passing  (shoal only) t0 -> GET /api/v1/instances?service=NAME shows a new pid with
           health "passing" (polled every 1 ms in a second thread)

Modes: shoal (logs from /api/v1/logs) and supervisord (pid from XML-RPC, NANOS from
the program's stdout logfile). Every wait is bounded; a kill that does not come
back within --timeout seconds is reported as a failure and ends the series.
"""

import argparse
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
import xmlrpc.client

STARTED_RE = re.compile(r"publications listening on (\d+) \(process started at (\d+) ns\)")


def http_json(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def health_200(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            data = s.recv(64)
            return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def pid_dead(pid):
    """Gone or a zombie: its sockets are closed."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


class Shoal:
    def __init__(self, api, service):
        self.api, self.service = api, service

    def instance(self):
        q = urllib.parse.quote(self.service)
        recs = http_json(f"{self.api}/api/v1/instances?service={q}")
        return recs[0] if recs else None

    def steady(self):
        """(pid, port, extra) once the instance runs and passes, else None."""
        try:
            r = self.instance()
        except OSError:
            return None
        if r and r.get("pid") and r.get("state") == "running" and r.get("health") == "passing":
            return r["pid"], r["port"], {"consecutive_failures_before": r.get("consecutive_failures", 0),
                                         "restarts_before": r.get("restarts", 0)}
        return None

    def start_nanos(self):
        q = urllib.parse.urlencode({"service": self.service, "grep": "process started at", "limit": 50})
        lines = http_json(f"{self.api}/api/v1/logs?{q}")
        return [int(m.group(2)) for l in lines if (m := STARTED_RE.search(l["line"]))]


class Supervisord:
    def __init__(self, xmlrpc_url, program, logfile, port):
        self.rpc = xmlrpc.client.ServerProxy(xmlrpc_url)
        self.program, self.logfile, self.port = program, logfile, port

    def steady(self):
        try:
            info = self.rpc.supervisor.getProcessInfo(self.program)
        except (OSError, xmlrpc.client.Error):
            return None
        if info["statename"] == "RUNNING" and info["pid"] and health_200(self.port):
            return info["pid"], self.port, {}
        return None

    def start_nanos(self):
        with open(self.logfile, errors="replace") as f:
            return [int(m.group(2)) for l in f if (m := STARTED_RE.search(l))]


def wait_until(pred, timeout, every=0.001):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(every)
    return None


def one_kill(target, mode, timeout):
    st = wait_until(target.steady, timeout, 0.005)
    if not st:
        raise RuntimeError("instance not in steady state before the kill")
    old_pid, port, extra = st
    passing = {}

    def poll_catalog(t0):
        def ok():
            try:
                r = target.instance()
            except OSError:
                return None
            return r and r.get("pid") not in (None, old_pid) and r.get("health") == "passing"
        if wait_until(ok, timeout):
            passing["ns"] = time.time_ns() - t0

    t0 = time.time_ns()
    os.kill(old_pid, signal.SIGKILL)
    poller = None
    if mode == "shoal":
        poller = threading.Thread(target=poll_catalog, args=(t0,), daemon=True)
        poller.start()
    if not wait_until(lambda: pid_dead(old_pid), timeout, 0.0002):
        raise RuntimeError(f"pid {old_pid} still alive after SIGKILL")
    dead_ns = time.time_ns() - t0
    if not wait_until(lambda: health_200(port), timeout):
        raise RuntimeError(f"port {port} did not answer 200 within {timeout}s")
    serving_ns = time.time_ns() - t0
    if poller:
        poller.join(timeout)
        if "ns" not in passing:
            raise RuntimeError("catalog never showed the new instance passing")
    nanos = wait_until(lambda: [n for n in target.start_nanos() if n > t0], 5, 0.01)
    if not nanos:
        raise RuntimeError("no 'process started at' line after the kill")
    spawn_ns = min(nanos) - t0
    rec = {"old_pid": old_pid, "dead_ms": dead_ns / 1e6, "spawn_ms": spawn_ns / 1e6,
           "serving_ms": serving_ns / 1e6, "started_ns": min(nanos), **extra}
    if mode == "shoal":
        rec["passing_ms"] = passing["ns"] / 1e6
    return rec


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round((len(xs) - 1) * p)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["shoal", "supervisord"], required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--gap", type=float, default=0.0,
                    help="before each kill, wait until the current process has run this many seconds")
    ap.add_argument("--api")
    ap.add_argument("--service", default="pub")
    ap.add_argument("--xmlrpc")
    ap.add_argument("--logfile")
    ap.add_argument("--port", type=int)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.mode == "shoal":
        target = Shoal(a.api, a.service)
    else:
        target = Supervisord(a.xmlrpc, a.service, a.logfile, a.port)

    results = []
    last_start_ns = None
    for i in range(a.n):
        if a.gap and last_start_ns is None:
            st = wait_until(target.steady, a.timeout, 0.01)
            if not st:
                raise SystemExit("instance never became steady")
            last_start_ns = max(target.start_nanos() or [time.time_ns()])
        if a.gap:
            wait = a.gap - (time.time_ns() - last_start_ns) / 1e9
            if wait > 0:
                time.sleep(wait)
        try:
            rec = one_kill(target, a.mode, a.timeout)
        except RuntimeError as e:
            print(f"[{a.label}] kill {i + 1}: FAILED: {e}", file=sys.stderr)
            results.append({"failed": str(e)})
            break
        last_start_ns = rec["started_ns"]
        results.append(rec)
        line = f"[{a.label}] kill {i + 1:2}/{a.n}: spawn {rec['spawn_ms']:8.2f} ms  serving {rec['serving_ms']:8.2f} ms"
        if "passing_ms" in rec:
            line += f"  passing {rec['passing_ms']:8.2f} ms  (failures before: {rec['consecutive_failures_before']})"
        print(line, file=sys.stderr, flush=True)

    ok = [r for r in results if "failed" not in r]
    summary = {"mode": a.mode, "label": a.label, "n": len(ok), "failed": len(results) - len(ok),
               "gap_s": a.gap}
    for k in ("spawn_ms", "serving_ms", "passing_ms"):
        xs = [r[k] for r in ok if k in r]
        if xs:
            summary[k] = {"p50": pct(xs, 0.5), "p95": pct(xs, 0.95), "max": max(xs), "min": min(xs)}
    with open(a.out, "a") as f:
        f.write(json.dumps({"summary": summary, "kills": results}) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
