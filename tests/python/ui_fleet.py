"""Helpers for the dashboard's browser tests (test_ui.py): a real `shoal up` with a small
fleet (ephemeral ports, temp dir), a headless Chromium, and HTTP helpers."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from conftest import shoal_bin, wait_until

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>'
# Service names may not contain "/", so no closing tag here.
XSS_NAME = '<img src=x onerror="window.__xss=1"><svg onload="window.__xss=1">'

# A static server that serves a file naming its version (GET /version.txt), so the gateway
# tells which version answered.
VERSIONED_HTTP = (
    "mkdir -p www/$SHOAL_VERSION && echo $SHOAL_VERSION > www/$SHOAL_VERSION/version.txt && "
    "exec python3 -m http.server $PORT --bind 127.0.0.1 --directory www/$SHOAL_VERSION"
)

# Writes lines carrying XSS payloads (plain and as an error-level JSON line) and serves HTTP.
NOISY_PY = r'''
import http.server, json, os, sys, threading, time
X = os.environ["XSS_BANNER"]
def talk():
    while True:
        print("plain " + X, flush=True)
        print(json.dumps({"level": "error", "msg": "boom " + X}), flush=True)
        time.sleep(1)
threading.Thread(target=talk, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler).serve_forever()
'''


# Answers every request by fetching web's /version.txt through its outbound proxy, passing the
# trace context on: one request makes a two-span trace (gateway -> front -> web).
FRONT_PY = r'''
import http.server, os, urllib.request
PROXY = os.environ["SHOAL_PROXY"].removeprefix("http://")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        hs = {"Host": "web"}
        for h in ("traceparent", "X-Trace-Id"):
            if self.headers.get(h):
                hs[h] = self.headers[h]
        body = urllib.request.urlopen(urllib.request.Request("http://" + PROXY + "/version.txt", headers=hs), timeout=5).read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
'''


def fleet_toml(shop_version="1", tokens=False):
    platform = """
[platform]
data_dir = "data"
http = "127.0.0.1:0"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"
"""
    if tokens:
        platform += """
[platform.tokens.viewer]
env = "UI_TEST_VIEW_TOKEN"
rights = ["read"]

[platform.tokens.ops]
env = "UI_TEST_OPS_TOKEN"
rights = ["read", "write"]
"""
        return platform + f"""
[services.web]
command = {json.dumps(VERSIONED_HTTP)}
version = "1"
instances = 1

[services.web.health]
http = "/"
interval = "200ms"
"""
    return platform + f"""
[services.web]
command = {json.dumps(VERSIONED_HTTP)}
version = "1"
instances = 2

[services.web.health]
http = "/"
interval = "200ms"

[services.shop]
command = {json.dumps(VERSIONED_HTTP)}
version = "{shop_version}"
instances = 1

[services.shop.health]
http = "/"
interval = "200ms"

[services.shop.deploy]
min_healthy = "200ms"
drain = "1s"

[services.front]
command = ["python3", "front.py"]
version = "1"
instances = 1

[services.front.health]
tcp = true
interval = "200ms"

[services.noisy]
command = ["python3", "noisy.py"]
version = "1"
instances = 1
env = {{ XSS_BANNER = {json.dumps(XSS)}, DB_PASSWORD = "${{secret:db/pw}}" }}

[services.noisy.health]
tcp = true
interval = "200ms"

[flags.ui_beta]
enabled = true
rollout = 25
"""


class Fleet:
    def __init__(self, workdir, proc, http, gateway, env):
        self.workdir, self.proc, self.http, self.gateway, self.env = workdir, proc, http, gateway, env
        self.base = "http://" + http

    def request(self, method, path, body=None, token=None, host=None, base=None, headers=None):
        """(status, headers, parsed JSON or text) of one HTTP request."""
        data = None
        hs = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            hs.setdefault("Content-Type", "application/json")
        if token:
            hs["X-Consul-Token"] = token
        if host:
            hs["Host"] = host
        req = urllib.request.Request((base or self.base) + path, data=data, method=method, headers=hs)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, rh, raw = r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            status, rh, raw = e.code, dict(e.headers), e.read()
        text = raw.decode("utf-8", "replace")
        try:
            return status, rh, json.loads(text)
        except ValueError:
            return status, rh, text

    def api(self, method, path, body=None, token=None):
        status, _, data = self.request(method, path, body, token)
        assert 200 <= status < 300, f"{method} {path} -> {status} {data}"
        return data

    def gw(self, host, path, headers=None):
        """(status, headers, body text) of a request through the gateway."""
        status, rh, data = self.request("GET", path, host=host, base="http://" + self.gateway, headers=headers)
        return status, {k.lower(): v for k, v in rh.items()}, data if isinstance(data, str) else json.dumps(data)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_fleet(toml, extra_env=None):
    """Starts `shoal up` on ephemeral ports in a new temp dir; returns the Fleet once its API answers."""
    binary = shoal_bin()
    if not binary.exists():
        raise RuntimeError(f"shoal binary not found at {binary}; build it or set SHOAL_BIN")
    workdir = Path(tempfile.mkdtemp(prefix="shoal-ui-"))
    (workdir / "shoal.toml").write_text(toml)
    (workdir / "noisy.py").write_text(NOISY_PY)
    (workdir / "front.py").write_text(FRONT_PY)
    env = dict(os.environ, **(extra_env or {}))
    log = open(workdir / "shoal.log", "wb")
    proc = subprocess.Popen([str(binary), "up", "shoal.toml"], cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env)
    endpoints = workdir / "data" / "endpoints.json"

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"shoal exited with {proc.returncode}: {(workdir / 'shoal.log').read_text()[-3000:]}")
        return endpoints.exists() and json.loads(endpoints.read_text())

    ep = wait_until(ready, timeout=30, what="data/endpoints.json")
    fleet = Fleet(workdir, proc, ep["http"], ep["gateway"], env)
    fleet.log = log
    return fleet


def cleanup(fleet):
    fleet.stop()
    fleet.log.close()
    shutil.rmtree(fleet.workdir, ignore_errors=True)


def chrome_available():
    return Path("/usr/bin/chromedriver").exists() and (shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome"))


def new_driver():
    """A headless Chromium with its console log readable through get_log("browser")."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for a in (
        "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-quic --no-first-run "
        "--disable-background-networking --disable-component-update --disable-sync --window-size=1280,800"
    ).split():
        opts.add_argument(a)
    profile = tempfile.mkdtemp(prefix="shoal-ui-chrome-")
    opts.add_argument("--user-data-dir=" + profile)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    # An exact 1280x800 viewport, whatever the window decorations.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    driver.set_page_load_timeout(20)
    driver._profile_dir = profile
    return driver


def quit_driver(driver):
    driver.quit()
    shutil.rmtree(driver._profile_dir, ignore_errors=True)
