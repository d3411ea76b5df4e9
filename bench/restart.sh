#!/usr/bin/env bash
# bench/restart.sh — kill -9 of an instance to serving again: Shoal vs supervisord.
#
# Same program under both: target/release/shoal-demo-publications (std-only HTTP
# server on $PORT, prints its start time in ns as its first stdout line).
#   Shoal:       one service, 1 instance, backoff 1ms..1s, health http /health every 100ms
#   supervisord: autorestart=true, startsecs=0, stdout to a logfile
# Series (measurement loop in bench/restart_measure.py):
#   reset     N kills, each after the current process has run RESET_GAP s (> Shoal's
#             10 s backoff reset window), so every kill is a "first failure"
#   repeated  N_REPEAT kills back to back (next kill as soon as it serves again);
#             Shoal's exponential backoff grows here, supervisord has none
#
# Env: N (30) RESET_GAP (10.5) N_REPEAT (10) SUP_GAP (1) OUT
source "$(dirname "$0")/lib.sh"

N="${N:-30}"
RESET_GAP="${RESET_GAP:-10.5}"
SUP_GAP="${SUP_GAP:-1}"
N_REPEAT="${N_REPEAT:-10}"
command -v supervisord >/dev/null || { echo "supervisord missing: apt-get install -y supervisor" >&2; exit 1; }
need_bins shoal shoal-demo-publications
make_tmp restart
snapshot_bins shoal shoal-demo-publications
PROG="$BIN/shoal-demo-publications"
RES="$BENCH_TMP/restart.jsonl"
MEASURE="python3 $BENCH_DIR/restart_measure.py"

# --- Shoal ---------------------------------------------------------------------
SP="$(free_port)"; GP="$(free_port)"
cat >"$BENCH_TMP/shoal.toml" <<EOF
[platform]
data_dir = "$BENCH_TMP/shoal-data"
http = "127.0.0.1:$SP"
gateway = "127.0.0.1:$GP"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"

[services.pub]
command = ["$PROG"]
instances = 1
restart = { backoff = { initial = "1ms", max = "1s" } }

[services.pub.health]
http = "/health"
interval = "100ms"
EOF
"$BIN/shoal" up "$BENCH_TMP/shoal.toml" >"$BENCH_TMP/shoal.log" 2>&1 &
SHOAL_PID=$!; track "$SHOAL_PID"
wait_http "http://127.0.0.1:$SP/v1/status/leader" 30
echo "Shoal: $N kills after ${RESET_GAP}s of uptime each (about $(python3 -c "print(round($N*($RESET_GAP+0.2)/60,1))") min)..." >&2
$MEASURE --mode shoal --label shoal-reset --n "$N" --gap "$RESET_GAP" \
    --api "http://127.0.0.1:$SP" --service pub --out "$RES" >/dev/null
echo "Shoal: $N_REPEAT back-to-back kills..." >&2
$MEASURE --mode shoal --label shoal-repeated --n "$N_REPEAT" --gap 0 \
    --api "http://127.0.0.1:$SP" --service pub --out "$RES" >/dev/null
SHOAL_STATUS="$(curl -fsS "http://127.0.0.1:$SP/api/v1/instances?service=pub")"
kill -TERM "$SHOAL_PID"; wait "$SHOAL_PID" 2>/dev/null || true

# --- supervisord ---------------------------------------------------------------
XP="$(free_port)"; PP="$(free_port)"
cat >"$BENCH_TMP/supervisord.conf" <<EOF
[supervisord]
nodaemon=true
logfile=$BENCH_TMP/supervisord.log
pidfile=$BENCH_TMP/supervisord.pid
childlogdir=$BENCH_TMP

[inet_http_server]
port=127.0.0.1:$XP

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:pub]
command=$PROG
environment=PORT="$PP"
autostart=true
autorestart=true
startsecs=0
stopsignal=TERM
stdout_logfile=$BENCH_TMP/pub.out
stdout_logfile_maxbytes=0
redirect_stderr=true
EOF
supervisord -c "$BENCH_TMP/supervisord.conf" >"$BENCH_TMP/supervisord.stdout" 2>&1 &
SUP_PID=$!; track "$SUP_PID"
wait_http "http://127.0.0.1:$PP/health" 30
echo "supervisord: $N kills, ${SUP_GAP}s apart..." >&2
$MEASURE --mode supervisord --label supervisord --n "$N" --gap "$SUP_GAP" \
    --xmlrpc "http://127.0.0.1:$XP/RPC2" --service pub --logfile "$BENCH_TMP/pub.out" --port "$PP" \
    --out "$RES" >/dev/null
echo "supervisord: $N_REPEAT back-to-back kills..." >&2
$MEASURE --mode supervisord --label supervisord-repeated --n "$N_REPEAT" --gap 0 \
    --xmlrpc "http://127.0.0.1:$XP/RPC2" --service pub --logfile "$BENCH_TMP/pub.out" --port "$PP" \
    --out "$RES" >/dev/null
kill -TERM "$SUP_PID"; wait "$SUP_PID" 2>/dev/null || true

# --- report -------------------------------------------------------------------
report() {
    echo "### Restart: kill -9 to serving again (bench/restart.sh)"
    echo
    echo '```'
    machine_info
    echo "supervisord: $(supervisord --version)"
    echo "command: N=$N RESET_GAP=$RESET_GAP N_REPEAT=$N_REPEAT SUP_GAP=$SUP_GAP bench/restart.sh"
    echo "program: target/release/shoal-demo-publications (same binary under both)"
    echo '```'
    echo
    python3 - "$RES" <<'EOF'
import json, sys
series = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
names = {
    "shoal-reset": "Shoal, each kill after ≥10.5 s uptime (backoff reset: 1 ms delay)",
    "shoal-repeated": "Shoal, back-to-back kills (backoff 1 ms doubling, cap 1 s)",
    "supervisord": "supervisord, kills 1 s apart",
    "supervisord-repeated": "supervisord, back-to-back kills",
}
def cell(s, k):
    v = s["summary"].get(k)
    return f"{v['p50']:.1f} / {v['p95']:.1f} / {v['max']:.1f}" if v else "n/a"
print("| series | kills (failed) | kill → new process started, ms p50 / p95 / max | kill → /health 200, ms p50 / p95 / max | kill → catalog passing, ms p50 / p95 / max |")
print("|---|---:|---:|---:|---:|")
for s in series:
    m = s["summary"]
    print(f"| {names.get(m['label'], m['label'])} | {m['n']} ({m['failed']}) | {cell(s, 'spawn_ms')} | {cell(s, 'serving_ms')} | {cell(s, 'passing_ms')} |")
by = {s["summary"]["label"]: s for s in series}
if "shoal-reset" in by and "supervisord" in by:
    a, b = by["shoal-reset"]["summary"], by["supervisord"]["summary"]
    print()
    print(f"Ratio supervisord / Shoal (p50, reset series): spawn {b['spawn_ms']['p50'] / a['spawn_ms']['p50']:.1f}x, "
          f"serving {b['serving_ms']['p50'] / a['serving_ms']['p50']:.1f}x.")
    ok = a["spawn_ms"]["p95"] < 10
    print(f"Goal (exit to replacement spawned < 10 ms): {'met' if ok else 'NOT met'} at p95 "
          f"({a['spawn_ms']['p95']:.1f} ms; max {a['spawn_ms']['max']:.1f} ms).")
if "shoal-repeated" in by:
    print()
    print("Shoal back-to-back kills, one by one (consecutive failures before the kill → spawn ms):")
    print()
    print("`" + ", ".join(f"{k.get('consecutive_failures_before', '?')}→{k['spawn_ms']:.1f}" for k in by["shoal-repeated"]["kills"] if "spawn_ms" in k) + "`")
EOF
}
report | tee "${OUT:-/dev/null}"
