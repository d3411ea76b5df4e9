#!/usr/bin/env python3
"""The dashboard's weight and speed with a big fleet (bench/ui.sh runs this).

`shoal up` runs 50 services of 10 cheap instances each (`sleep`, 500 processes), then
headless Chromium (Debian's chromium + chromedriver, over WebDriver) opens `/ui/` ROUNDS
times, each with a new empty profile (a cold cache, as a first visit). Measured in the
browser per round, from Navigation Timing and Resource Timing:
- `fcp_ms`: first contentful paint;
- `overview_ms`: when the overview table holds every service's row (the page sets the
  `shoal:overview` performance mark then; the charts' numbers come after);
- `numbers_ms`: when the req/s, error, latency, CPU and memory numbers are drawn too
  (`shoal:overview-numbers`);
- `dcl_ms`, `load_ms`: DOMContentLoaded and load event ends;
- `transfer_kb`: bytes on the wire for the page, its modules and every API answer it
  fetched until the overview's numbers were drawn (transferSize: compressed bytes, headers
  included).
Every round is printed, then a JSON line of all rounds.
Usage: bench/ui.py SHOAL_BINARY [ROUNDS]
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

SHOAL = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
SERVICES, PER = 50, 10


def fleet_toml() -> str:
    lines = ["[platform]", 'data_dir = "data"', 'http = "127.0.0.1:0"', 'gateway = "127.0.0.1:0"',
             'dns = "127.0.0.1:0"', 'statsd = "127.0.0.1:0"', ""]
    for i in range(SERVICES):
        lines += [f"[services.svc{i:02d}]", 'command = "exec sleep 100000"',
                  f"instances = {PER}", f'version = "{1 + i % 3}"', ""]
    return "\n".join(lines)


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception:  # noqa: BLE001 - keep polling through start-up
            pass
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {what}")


def browser(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--window-size=1280,800",
              f"--user-data-dir={profile}"]:
        opts.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


MEASURE = """
const nav = performance.getEntriesByType('navigation')[0];
const fcp = performance.getEntriesByName('first-contentful-paint')[0];
const mark = performance.getEntriesByName('shoal:overview')[0];
const numbers = performance.getEntriesByName('shoal:overview-numbers')[0];
const until = numbers ? numbers.startTime : performance.now();
let bytes = nav.transferSize;
for (const r of performance.getEntriesByType('resource')) {
  if (r.startTime <= until) bytes += r.transferSize;
}
return {
  fcp_ms: fcp ? fcp.startTime : null,
  overview_ms: mark ? mark.startTime : null,
  numbers_ms: numbers ? numbers.startTime : null,
  dcl_ms: nav.domContentLoadedEventEnd,
  load_ms: nav.loadEventEnd,
  transfer_kb: bytes / 1024,
  requests: performance.getEntriesByType('resource').filter(r => r.startTime <= until).length + 1,
};
"""


def main():
    with tempfile.TemporaryDirectory(prefix="shoal-ui-bench-") as tmp:
        with open(os.path.join(tmp, "shoal.toml"), "w") as f:
            f.write(fleet_toml())
        log = open(os.path.join(tmp, "shoal.log"), "wb")
        proc = subprocess.Popen([SHOAL, "up", "shoal.toml"], cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        try:
            ep = wait_until(lambda: json.load(open(os.path.join(tmp, "data", "endpoints.json"))), 60, "endpoints.json")
            api = f"http://{ep['http']}"

            def healthy():
                services = json.load(urllib.request.urlopen(f"{api}/api/v1/services"))
                return len(services) == SERVICES and sum(s["healthy"] for s in services) == SERVICES * PER

            t0 = time.monotonic()
            wait_until(healthy, 180, f"{SERVICES * PER} healthy instances")
            print(f"fleet: {SERVICES} services, {SERVICES * PER} instances healthy after {time.monotonic() - t0:.1f} s")
            print(f"{'round':>5} {'fcp ms':>8} {'overview ms':>12} {'numbers ms':>11} {'dcl ms':>8} {'load ms':>8} {'KB':>8} {'requests':>9}")
            rounds = []
            for r in range(1, ROUNDS + 1):
                with tempfile.TemporaryDirectory(prefix="shoal-ui-profile-") as prof:
                    d = browser(prof)
                    try:
                        d.get(f"{api}/ui/")
                        wait_until(lambda: d.execute_script(
                            "return performance.getEntriesByName('shoal:overview-numbers').length > 0"), 30, "the overview's numbers")
                        m = d.execute_script(MEASURE)
                        rows = d.execute_script("return document.querySelectorAll('[data-test=service-row]').length")
                    finally:
                        d.quit()
                m["rows"] = rows
                rounds.append(m)
                print(f"{r:>5} {m['fcp_ms'] or 0:>8.0f} {m['overview_ms'] or 0:>12.0f} {m['numbers_ms'] or 0:>11.0f} {m['dcl_ms']:>8.0f} "
                      f"{m['load_ms']:>8.0f} {m['transfer_kb']:>8.1f} {m['requests']:>9}  rows={rows}")
            print(json.dumps({"services": SERVICES, "instances": SERVICES * PER, "rounds": rounds}))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


if __name__ == "__main__":
    main()
