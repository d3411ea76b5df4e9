#!/usr/bin/env bash
# bench/idle.sh — what supervising 200 idle instances costs `shoal up` itself.
#
# Runs (each a fresh `shoal up`, temp data dir, free ports):
#   sleep     command = ["sleep", "100000"], instances = 200, no health check
#   http      shoal-demo-publications (listens on $PORT), instances = 200,
#             [health] http = "/health", interval = "1s"
#   supervisord (reference for "sleep"): numprocs = 200 of the same sleep
# For each: time from starting the supervisor to all 200 running/passing (Shoal:
# GET /api/v1/services polled every 50 ms; supervisord: XML-RPC getAllProcessInfo),
# then the supervisor's own VmRSS (from /proc/PID/status, max of 1 s samples) and CPU
# (utime+stime from /proc/PID/stat) over a WINDOW-second window -> % of one core.
#
# Env: INSTANCES (200) WINDOW (30) OUT
source "$(dirname "$0")/lib.sh"

INSTANCES="${INSTANCES:-200}"
WINDOW="${WINDOW:-30}"
READY_TIMEOUT="${READY_TIMEOUT:-150}"
need_bins shoal shoal-demo-publications
make_tmp idle
snapshot_bins shoal shoal-demo-publications
RES="$BENCH_TMP/idle.jsonl"
: >"$RES"

# sample PID LABEL READY_SECONDS: RSS/CPU of PID over WINDOW seconds -> one JSON line.
sample() {
    python3 - "$1" "$2" "$3" "$WINDOW" >>"$RES" <<'PY'
import json, os, sys, time
pid, label, ready, window = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
tck = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])  # utime + stime (fields 14, 15)
def status(key):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(key + ":"):
            return int(l.split()[1])
rss, t0, c0 = [], time.monotonic(), cpu()
while time.monotonic() - t0 < window:
    rss.append(status("VmRSS"))
    time.sleep(1)
c1, el = cpu(), time.monotonic() - t0
print(json.dumps({"label": label, "ready_s": ready, "note": os.environ.get("NOTE", ""), "rss_mib_start": rss[0] / 1024,
                  "rss_mib_max": max(rss) / 1024, "hwm_mib": status("VmHWM") / 1024,
                  "threads": status("Threads"), "cpu_pct": 100.0 * (c1 - c0) / tck / el,
                  "window_s": round(el, 1)}))
PY
}

# wait_shoal_ready API T_START: seconds until every service has INSTANCES healthy; after
# READY_TIMEOUT s prints "timeout:HEALTHY" instead (then the run is sampled anyway).
wait_shoal_ready() {
    python3 - "$1" "$INSTANCES" "$2" "$READY_TIMEOUT" <<'PY2'
import json, sys, time, urllib.request
api, n, t_start, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
end, healthy = time.time() + limit, 0
while time.time() < end:
    try:
        svcs = json.load(urllib.request.urlopen(f"{api}/api/v1/services", timeout=5))
        healthy = sum(s["healthy"] for s in svcs)
        if svcs and all(s["healthy"] >= n for s in svcs):
            print(f"{time.time() - t_start:.2f}")
            sys.exit(0)
    except OSError:
        pass
    time.sleep(0.05)
print(f"timeout:{healthy}")
PY2
}

# duplicate_ids LOG: instance ids that `shoal up` started more than once at the same time.
duplicate_ids() {
    sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -o 'starting instance instance=[^ ]*' | sort | uniq -d \
        | sed 's/.*instance=//' | tr '\n' ' ' || true
}

run_shoal() {
    local label="$1" svc="$2" sp gp pid t_start ready
    sp="$(free_port)"
    gp="$(free_port)"
    {
        printf '%s\n' "[platform]" "data_dir = \"$BENCH_TMP/data-$label\"" "http = \"127.0.0.1:$sp\"" \
            "gateway = \"127.0.0.1:$gp\"" "dns = \"127.0.0.1:0\"" "statsd = \"127.0.0.1:0\"" ""
        echo "$svc"
    } >"$BENCH_TMP/$label.toml"
    echo "shoal [$label]: starting $INSTANCES instances..." >&2
    t_start="$(date +%s.%N)"
    "$BIN/shoal" up "$BENCH_TMP/$label.toml" >"$BENCH_TMP/$label.log" 2>&1 &
    pid=$!
    track "$pid"
    wait_http "http://127.0.0.1:$sp/v1/status/leader" 30
    ready="$(wait_shoal_ready "http://127.0.0.1:$sp" "$t_start")"
    local note="" dups
    if [ "${ready#timeout:}" != "$ready" ]; then
        dups="$(duplicate_ids "$BENCH_TMP/$label.log")"
        note="only ${ready#timeout:} of $INSTANCES healthy after ${READY_TIMEOUT}s"
        [ -n "$dups" ] && note="$note; instance ids started twice: $dups"
        echo "shoal [$label]: $note" >&2
        ready=-1
    fi
    note="$note$(sed 's/\x1b\[[0-9;]*m//g' "$BENCH_TMP/$label.log" | grep -o 'shoal: .*instances healthy after [0-9.]*s' | head -1 | sed 's/^/ (shoal says: /; s/$/)/' || true)"
    echo "shoal [$label]: ready after ${ready}s; sampling ${WINDOW}s..." >&2
    NOTE="$note" sample "$pid" "shoal-$label" "$ready"
    kill -TERM "$pid"
    # Stopping 200 instances: bounded by lib.sh's cleanup if it hangs.
    for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid" 2>/dev/null || true
}

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
run_shoal sleep "$(printf '%s\n' "[services.idle]" 'command = ["sleep", "100000"]' "instances = $INSTANCES")"
run_shoal http "$(printf '%s\n' "[services.pub]" "command = [\"$BIN/shoal-demo-publications\"]" \
    "instances = $INSTANCES" "" "[services.pub.health]" 'http = "/health"' 'interval = "1s"')"

# supervisord reference: same 200 sleeps.
XP="$(free_port)"
cat >"$BENCH_TMP/supervisord.conf" <<CONF
[supervisord]
nodaemon=true
logfile=$BENCH_TMP/supervisord.log
pidfile=$BENCH_TMP/supervisord.pid
childlogdir=$BENCH_TMP
minfds=4096

[inet_http_server]
port=127.0.0.1:$XP

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:idle]
command=sleep 100000
numprocs=$INSTANCES
process_name=%(program_name)s_%(process_num)03d
autorestart=true
startsecs=0
stdout_logfile=$BENCH_TMP/idle-%(process_num)03d.out
redirect_stderr=true
CONF
echo "supervisord: starting $INSTANCES sleeps..." >&2
T_START="$(date +%s.%N)"
supervisord -c "$BENCH_TMP/supervisord.conf" >"$BENCH_TMP/supervisord.stdout" 2>&1 &
SUP_PID=$!
track "$SUP_PID"
READY="$(python3 - "http://127.0.0.1:$XP/RPC2" "$INSTANCES" "$T_START" <<'PY'
import sys, time, xmlrpc.client
url, n, t_start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.time() + 300
while time.time() < end:
    try:
        infos = xmlrpc.client.ServerProxy(url).supervisor.getAllProcessInfo()
        if sum(i["statename"] == "RUNNING" for i in infos) >= n:
            print(f"{time.time() - t_start:.2f}")
            sys.exit(0)
    except (OSError, xmlrpc.client.Error):
        pass
    time.sleep(0.05)
sys.exit("supervisord: not all running within 300 s")
PY
)"
echo "supervisord: all $INSTANCES running after ${READY}s; sampling ${WINDOW}s..." >&2
sample "$SUP_PID" supervisord-sleep "$READY"
kill -TERM "$SUP_PID"
wait "$SUP_PID" 2>/dev/null || true
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

report() {
    echo "### Idle: supervising $INSTANCES instances (bench/idle.sh)"
    echo
    echo '```'
    machine_info
    echo "load avg before / after the run: $LOAD_BEFORE / $LOAD_AFTER"
    echo "supervisord: $(supervisord --version)"
    echo "command: INSTANCES=$INSTANCES WINDOW=$WINDOW bench/idle.sh"
    echo '```'
    echo
    python3 - "$RES" "$INSTANCES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
n = sys.argv[2]
names = {
    "shoal-sleep": f"`shoal up`, {n} x `sleep 100000`, no health check",
    "shoal-http": f"`shoal up`, {n} x shoal-demo-publications, HTTP /health every 1 s",
    "supervisord-sleep": f"supervisord, {n} x `sleep 100000` (reference)",
}
print(f"| run | start → all {n} running/passing, s | supervisor RSS MiB (first / max sample) | VmHWM MiB | threads | supervisor CPU, % of one core |")
print("|---|---:|---:|---:|---:|---:|")
for r in rows:
    ready = f"{r['ready_s']:.2f}" if r["ready_s"] >= 0 else "never (see note)"
    print(f"| {names.get(r['label'], r['label'])} | {ready} | {r['rss_mib_start']:.1f} / {r['rss_mib_max']:.1f} | {r['hwm_mib']:.1f} | {r['threads']} | {r['cpu_pct']:.2f} (over {r['window_s']} s) |")
print()
for r in rows:
    if r.get("note"):
        print(f"- {r['label']}: {r['note'].strip()}")
for r in rows:
    if r["label"].startswith("shoal"):
        ok = r["rss_mib_max"] < 50
        print(f"- Goal, under 50 MB RSS for {n} instances ({r['label']}): {'met' if ok else 'NOT met'} ({r['rss_mib_max']:.1f} MiB).")
PY
}
report | tee "${OUT:-/dev/null}"
