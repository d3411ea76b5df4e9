"""Fixtures: one real `shoal up` (ephemeral ports, temp dir, one supervised service) per
test session, and a py-consul client pointed at it."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import consul
import pytest

REPO = Path(__file__).resolve().parents[2]

SHOAL_TOML = """
[platform]
data_dir = "data"
http = "127.0.0.1:0"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"

[services.sup]
command = "exec python3 -m http.server $PORT --bind 127.0.0.1"
version = "7"
instances = 1

[services.sup.health]
http = "/"
interval = "200ms"

# Defined here, run elsewhere: outside instances may join it.
[services.shared]
command = "exec python3 -m http.server $PORT --bind 127.0.0.1"
instances = 0
allow_external = true
"""


def shoal_bin() -> Path:
    if os.environ.get("SHOAL_BIN"):
        return Path(os.environ["SHOAL_BIN"]).resolve()
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    return target / "debug" / "shoal"


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a truthy value; fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as e:  # noqa: BLE001 - keep polling through transient errors
            last = e
        else:
            if last:
                return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Shoal:
    def __init__(self, proc, http, gateway, workdir, dns=None):
        self.dns = dns
        self.proc = proc
        self.http = http
        self.gateway = gateway
        self.workdir = workdir
        host, port = http.rsplit(":", 1)
        self.host, self.port = host, int(port)


@contextlib.contextmanager
def shoal_up_in(workdir, env=None):
    """`shoal up` of `workdir/shoal.toml` in `workdir`: yields (process, endpoints
    (data/endpoints.json)) once it listens; stopped with SIGTERM after (SIGKILL past
    20 s), its log's tail printed if it did not exit cleanly. The log is appended to, so
    a second run in the same directory (a restart on the same data) keeps the first's."""
    binary = shoal_bin()
    if not binary.exists():
        pytest.fail(f"shoal binary not found at {binary}; build it (cargo build -p shoal) or set SHOAL_BIN")
    endpoints = workdir / "data" / "endpoints.json"
    endpoints.unlink(missing_ok=True)
    with open(workdir / "shoal.log", "ab") as log:
        proc = subprocess.Popen([str(binary), "up", "shoal.toml"], cwd=workdir, env=env,
                                stdout=log, stderr=subprocess.STDOUT)

        def ready():
            if proc.poll() is not None:
                raise RuntimeError(f"shoal exited with {proc.returncode}: {(workdir / 'shoal.log').read_text()[-3000:]}")
            return endpoints.exists() and json.loads(endpoints.read_text())

        try:
            yield proc, wait_until(ready, timeout=30, what="data/endpoints.json")
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.returncode not in (0, -signal.SIGKILL):
                sys.stderr.write((workdir / "shoal.log").read_text()[-4000:])


@contextlib.contextmanager
def running_shoal(toml, prefix, env=None):
    """`shoal up` of the service file `toml` in a new directory: yields (process,
    endpoints, directory) once it listens (see `shoal_up_in`)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        workdir = Path(tmp)
        (workdir / "shoal.toml").write_text(toml)
        with shoal_up_in(workdir, env) as (proc, ep):
            yield proc, ep, workdir


@contextlib.contextmanager
def shoal_in(workdir):
    """`shoal up` in `workdir` (kept between runs, so a second one restarts on the same
    data): yields a py-consul client and the gateway address once it listens."""
    with shoal_up_in(workdir) as (_, ep):
        host, port = ep["http"].rsplit(":", 1)
        yield consul.Consul(host=host, port=int(port)), ep["gateway"]


@pytest.fixture(scope="session")
def shoal():
    with running_shoal(SHOAL_TOML, "shoal-consul-") as (proc, ep, workdir):
        yield Shoal(proc, ep["http"], ep["gateway"], workdir, ep.get("dns"))


@pytest.fixture()
def c(shoal):
    return consul.Consul(host=shoal.host, port=shoal.port)
