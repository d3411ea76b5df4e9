#!/usr/bin/env bash
# scripts/tls-scan.sh HOST:PORT OUTDIR — scan a TLS listener with testssl (Debian's
# testssl.sh package, installed by scripts/deps) and fail on any finding of severity
# HIGH or CRITICAL. Writes OUTDIR/testssl.json (every finding, flat JSON) and
# OUTDIR/testssl.log (the text report), prints a summary table by severity and the
# findings of MEDIUM and above, and exits:
#   0  no HIGH/CRITICAL finding (other than ignored ones)
#   1  at least one HIGH or CRITICAL finding
#   2  the scan itself failed (no JSON, or a FATAL entry: e.g. nothing listening)
#
# Only the target is contacted:
#   --nodns none         no DNS lookups at all (A/AAAA/MX/CAA/PTR); the address is
#                        passed with --ip (HOST itself when it is an IP, else resolved
#                        here with getent, i.e. /etc/hosts for localhost)
#   (no --phone-out)     testssl fetches CRLs, OCSP and pwnedkeys.com only with it;
#                        PHONE_OUT=false is also exported in case the caller set it
#   NXCONNECT=127.0.0.1:0  testssl probes its openssl's options with
#                        `s_client -connect invalid.`, which costs a DNS query per
#                        probe; this makes them fail locally instead
# (checked 2026-12-07 with strace -f -e trace=connect in a network namespace holding
# only the loopback: every connect() went to 127.0.0.1 or to nscd's absent socket.)
#
# Checks run (a "quick" scan, ~1.5-2 min on 2 busy cores; the full default run adds
# per-cipher tests and client simulations): --protocols --std --fs --server-preference
# --server-defaults --headers --vulnerable. TLS_SCAN_FULL=1 runs testssl's full
# default set instead (also -e each cipher, -c client simulation).
# Environment:
#   TLS_SCAN_CA=FILE       a CA the chain of trust is checked against (--add-ca);
#                          default examples/tls/certs/ca.pem when it exists. Without
#                          it, a private CA's chain is a CRITICAL "chain of trust" finding.
#   TLS_SCAN_IGNORE=ID,..  finding ids that do not fail the scan (still listed), e.g.
#                          cert_revocation: a leaf of a private test CA names no CRL
#                          or OCSP URI, which testssl 3.0 rates HIGH.
#   TLS_SCAN_SNI=NAME      scan HOST's address but send NAME as SNI (and check the
#                          certificate against it); default: HOST (no SNI for an IP).
# testssl's own `--severity HIGH` would keep only HIGH+ in the JSON; it is not used
# so that the summary can count every severity (the filter is applied here).
set -euo pipefail

if [ $# -ne 2 ] || [[ "$1" != *:* ]]; then
    echo "usage: $0 HOST:PORT OUTDIR" >&2
    exit 2
fi
TARGET="$1"
OUTDIR="$2"
HOST="${TARGET%:*}"
PORT="${TARGET##*:}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

TESTSSL="$(command -v testssl || command -v testssl.sh || true)"
[ -n "$TESTSSL" ] || { echo "tls-scan: testssl not found (apt-get install -y testssl.sh, or scripts/deps)" >&2; exit 2; }

HOST="${HOST#[}"; HOST="${HOST%]}"
if [[ "$HOST" =~ ^[0-9.]+$ ]] || [[ "$HOST" == *:* ]]; then
    IP="$HOST"
else
    IP="$(getent ahostsv4 "$HOST" | awk 'NR == 1 {print $1}')"
    [ -n "$IP" ] || { echo "tls-scan: cannot resolve $HOST locally" >&2; exit 2; }
fi
NODE="${TLS_SCAN_SNI:-$HOST}"
[[ "$NODE" != *:* ]] || NODE="[$NODE]"

CA="${TLS_SCAN_CA:-}"
[ -n "$CA" ] || [ ! -f "$ROOT/examples/tls/certs/ca.pem" ] || CA="$ROOT/examples/tls/certs/ca.pem"

mkdir -p "$OUTDIR"
JSON="$OUTDIR/testssl.json"
LOG="$OUTDIR/testssl.log"
rm -f "$JSON" "$LOG"   # testssl refuses to overwrite them

if [ "${TLS_SCAN_FULL:-0}" = 1 ]; then
    CHECKS=()
else
    CHECKS=(--protocols --std --fs --server-preference --server-defaults --headers --vulnerable)
fi
CMD=("$TESTSSL" --quiet --color 0 --warnings off --nodns none --ip "$IP"
    --connect-timeout 5 --openssl-timeout 5 ${CA:+--add-ca "$CA"}
    "${CHECKS[@]}" --jsonfile "$JSON" --logfile "$LOG" "$NODE:$PORT")
echo "tls-scan: NXCONNECT=127.0.0.1:0 PHONE_OUT=false ${CMD[*]}" >&2
start=$(date +%s)
rc=0
NXCONNECT=127.0.0.1:0 PHONE_OUT=false "${CMD[@]}" >/dev/null 2>"$OUTDIR/testssl.stderr" </dev/null || rc=$?
echo "tls-scan: testssl exited $rc after $(( $(date +%s) - start )) s; report in $LOG" >&2

python3 - "$JSON" "${TLS_SCAN_IGNORE:-}" <<'PY'
import json, os, sys

path, ignore = sys.argv[1], {i for i in sys.argv[2].split(",") if i}
if not os.path.exists(path) or os.path.getsize(path) == 0:
    print(f"tls-scan: no findings file {path}: the scan did not run", file=sys.stderr)
    sys.exit(2)
try:
    findings = json.load(open(path))
except json.JSONDecodeError as e:
    print(f"tls-scan: {path} is not JSON ({e}): the scan did not finish", file=sys.stderr)
    sys.exit(2)

order = ["FATAL", "CRITICAL", "HIGH", "MEDIUM", "LOW", "WARN", "INFO", "OK", "DEBUG"]
counts = {}
for f in findings:
    counts[f.get("severity", "?")] = counts.get(f.get("severity", "?"), 0) + 1
print("| severity | findings |")
print("|---|---|")
for sev in order + sorted(set(counts) - set(order)):
    if counts.get(sev):
        print(f"| {sev} | {counts[sev]} |")

shown = [f for f in findings if f.get("severity") in ("FATAL", "CRITICAL", "HIGH", "MEDIUM", "WARN")]
if shown:
    print()
    print("| severity | id | finding |")
    print("|---|---|---|")
    for f in sorted(shown, key=lambda f: order.index(f["severity"])):
        note = " (ignored: TLS_SCAN_IGNORE)" if f["id"] in ignore else ""
        finding = f.get("finding", "").replace("|", "\\|")
        print(f"| {f['severity']}{note} | {f['id']} | {finding} |")

if any(f.get("severity") == "FATAL" for f in findings):
    print("tls-scan: FAILED: the scan hit a fatal problem", file=sys.stderr)
    sys.exit(2)
bad = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL") and f["id"] not in ignore]
if bad:
    print(f"tls-scan: FAILED: {len(bad)} HIGH/CRITICAL finding(s): " + ", ".join(f["id"] for f in bad), file=sys.stderr)
    sys.exit(1)
print("tls-scan: ok: no HIGH or CRITICAL finding" + (f" (ignored: {', '.join(sorted(ignore))})" if ignore else ""), file=sys.stderr)
PY
