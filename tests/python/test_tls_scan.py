"""A TLS scan of the HTTPS gateway with testssl (Debian's testssl.sh): a `shoal up`
with certificates from examples/tls/make-ca.sh, scanned by scripts/tls-scan.sh,
which fails on any finding of severity HIGH or worse. `cert_revocation` is ignored:
a private test CA's leaf names no CRL or OCSP URI, a property of the certificate,
not of the server. Only 127.0.0.1 is contacted (see scripts/tls-scan.sh)."""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import running_shoal

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("testssl") is None, reason="testssl not installed (scripts/deps installs it)")
def test_the_gateway_s_tls_has_no_high_finding():
    with tempfile.TemporaryDirectory(prefix="shoal-tls-scan-") as certs:
        subprocess.run([str(ROOT / "examples/tls/make-ca.sh"), certs], check=True, capture_output=True)
        toml = f"""
[platform]
data_dir = "data"
http = "127.0.0.1:0"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"
[platform.tls]
cert = "{certs}/shoal.pem"
key = "{certs}/shoal.key"
"""
        with running_shoal(toml, "shoal-tls-scan-") as (_, ep, workdir):
            port = ep["gateway"].rsplit(":", 1)[1]
            out = workdir / "scan"
            env = dict(os.environ, TLS_SCAN_CA=f"{certs}/ca.pem", TLS_SCAN_SNI="localhost",
                       TLS_SCAN_IGNORE="cert_revocation")
            scan = subprocess.run([str(ROOT / "scripts/tls-scan.sh"), f"127.0.0.1:{port}", str(out)],
                                  env=env, capture_output=True, text=True, timeout=600)
            print(scan.stdout[-3000:], scan.stderr[-3000:])
            assert scan.returncode == 0, scan.stdout + scan.stderr
            findings = json.loads((out / "testssl.json").read_text())
            by_id = {f["id"]: f for f in findings}
            # What the scan saw: TLS 1.0 and 1.1 not offered, 1.2 and 1.3 offered.
            assert "not offered" in by_id["TLS1"]["finding"]
            assert "not offered" in by_id["TLS1_1"]["finding"]
            assert by_id["TLS1_2"]["finding"].startswith("offered")
            assert by_id["TLS1_3"]["finding"].startswith("offered")
