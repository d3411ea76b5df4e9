"""The OpenAPI document (/api/v1/openapi.json) against the live server: schemathesis
(PyPI) runs every check, in every phase, on every documented operation of a real
`shoal up`, and must find nothing.

What makes it safe: the platform is a throwaway one (temp dir, ephemeral ports, one small
service whose [scale] bounds cap it at 2 instances, so no generated count can start more);
every deploy schemathesis sends is made a dry run (schemathesis_hooks.py), so no generated
service file starts a process; chaos is off on this platform (its endpoints answer 403).
Nothing else in the API reaches outside the platform: stopping, scaling, restarting,
rolling back, deleting flags and secrets only change this platform's store. The live tails
(/api/v1/logs/stream, /api/v1/events/stream) are read for at most a few events and a
second each (schemathesis.toml). The Consul API (/v1/) is not in the document."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import running_shoal, wait_until

try:
    import schemathesis  # noqa: F401 - the CLI below is this package's
except ImportError:  # the test command installs it (scripts/deps): fail, never skip
    pytest.fail("test_openapi.py needs schemathesis: python3 -m pip install 'schemathesis==4.32.5' "
                "(scripts/deps does)", pytrace=False)

HERE = Path(__file__).resolve().parent
TOKEN_ENV = "OPENAPI_TEST_TOKEN"
TOKEN = "openapi-test-token-0123456789"
# Per operation; small enough for well under 90 s on two busy cores. SHOAL_SCHEMATHESIS_EXAMPLES
# and SHOAL_SCHEMATHESIS_SEED widen or vary a run by hand (`... -n 50 --seed 7`).
EXAMPLES = os.environ.get("SHOAL_SCHEMATHESIS_EXAMPLES", "10")
SEED = os.environ.get("SHOAL_SCHEMATHESIS_SEED", "1")

FLEET = f"""
[platform]
data_dir = "data"
http = "127.0.0.1:0"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"

[platform.tokens.admin]
env = "{TOKEN_ENV}"
rights = ["read", "write", "secrets"]

[services.web]
command = "exec python3 -m http.server $PORT --bind 127.0.0.1"
version = "1"
instances = 1

[services.web.health]
http = "/"
interval = "500ms"

# No generated count may start more than two instances.
[services.web.scale]
min = 1
max = 2

[flags.beta]
enabled = true
rollout = 50

[flags.colour]
enabled = true
variants = {{ blue = 50, green = 50 }}
"""


def call(base, method, path, body=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


@pytest.fixture(scope="module")
def platform():
    env = dict(os.environ, **{TOKEN_ENV: TOKEN})
    with running_shoal(FLEET, "shoal-openapi-", env) as (proc, ep, workdir):
        base = "http://" + ep["http"]
        wait_until(lambda: any(s["healthy"] for s in call(base, "GET", "/api/v1/services")),
                   timeout=30, what="web healthy")
        # Something in every list, so answers are checked with data in them.
        call(base, "PUT", "/api/v1/secrets/db/pw", {"value": "hunter2"})
        call(base, "PUT", "/v1/kv/app/greeting", b"hello")
        yield base, workdir, proc


def test_schemathesis_finds_no_mismatch(platform):
    base, workdir, proc = platform
    env = dict(os.environ, SCHEMATHESIS_HOOKS=str(HERE / "schemathesis_hooks.py"))
    cmd = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(HERE / "schemathesis.toml"),
        "run", base + "/api/v1/openapi.json", "--url", base,
        "--checks", "all",  # every check, in every phase (examples, coverage, fuzzing, stateful)
        "--max-examples", EXAMPLES, "--seed", SEED,
        "-H", f"Authorization: Bearer {TOKEN}",
        # The token is the one above; generated tokens would only be refused (403).
        "--generation-with-security-parameters", "false",
        "--request-timeout", "10", "--no-color",
    ]
    started = time.monotonic()
    run = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=240)
    took = time.monotonic() - started
    out = run.stdout + run.stderr
    summary = out[out.find("= SUMMARY ="):] if "= SUMMARY =" in out else out[-3000:]
    warnings = out[out.find("= WARNINGS ="):out.find("= SUMMARY =")] if "= WARNINGS =" in out else ""
    print(f"schemathesis ({took:.0f} s, exit {run.returncode}):\n{warnings}{summary}")
    # Exit 0: no failure and no error; every case generated passed.
    assert run.returncode == 0, out[-20000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", summary)
    assert counts and counts[1] == counts[2] and int(counts[1]) > 0, summary
    # The platform is still whole: it did not crash, and no count escaped the bounds.
    assert proc.poll() is None, (workdir / "shoal.log").read_text()[-3000:]
    assert len(call(base, "GET", "/api/v1/instances?service=web")) <= 2
