#!/usr/bin/env bash
# Deployments under load: `shoal deploy v2.toml --wait` of a 3-instance service
# while `wrk` drives traffic through the gateway, once per strategy and round:
#   rolling       max_surge 1, max_unavailable 0, min_healthy 1s
#   blue-green    the whole new set, then one traffic switch
#   canary        steps [20, 50, 100] % held 3 s each, judged after min_requests 20
#   rolling-10s   rolling again with min_healthy 10s (Nomad's default min_healthy_time)
# Each run starts a fresh `shoal up` (ephemeral loopback ports, read back from
# data/endpoints.json), waits for 3 healthy instances of version 1, starts
# `wrk -t2 -c20 -d$DURATION` with a Lua script that counts non-2xx answers,
# deploys version 2 after WARMUP seconds, then stops shoal by PID.
# Measured: the deploy's wall time (command start to exit) and its record's
# ended_ms - started_ms, wrk's requests, failed (non-2xx + socket errors),
# p50/p99, and how long a new instance took from start to its first passing
# check (from the event stream).
# Yardstick: Nomad's default update stanza (max_parallel 1, min_healthy_time
# 10s, healthy_deadline 5m). Nomad is not installed here, so its time for 3
# instances is COMPUTED as a lower bound, 3 x (start-to-healthy measured in
# the same round + 10 s), not measured; `rolling-10s` is the like-for-like row.
#
#   bench/deploy.sh                         # ROUNDS=3, every strategy
#   ROUNDS=1 STRATEGIES="rolling canary" bench/deploy.sh
# Knobs: ROUNDS (3), STRATEGIES, DURATION (wrk seconds, 45), WARMUP (3),
# PORT_RANGE (instance ports, 24000-24099). SHOAL_BINARY=PATH skips the build
# (SHOAL_BINARY_NOTE says in the report what that binary was built from).
# Needs: wrk (installed with apt-get when missing), python3, curl.
# Output: the table on stdout and in bench/RESULTS.md between the
# `<!-- bench:deploy:begin/end -->` markers (or $OUT under bench/run-all.sh).
# Takes about (DURATION + ~8 s) x 4 strategies x ROUNDS: ~11 min by default.
source "$(dirname "$0")/lib.sh"

ROUNDS="${ROUNDS:-3}"
STRATEGIES="${STRATEGIES:-rolling blue-green canary rolling-10s}"
DURATION="${DURATION:-45}"
WARMUP="${WARMUP:-3}"
PORT_RANGE="${PORT_RANGE:-24000-24099}"
NOMAD_MIN_HEALTHY_S=10

SHOAL_PID=""
WRK_PID=""
RUN_DIR=""

# ---------------------------------------------------------------- cleanup

# stop_pid PID SECONDS: SIGTERM, wait up to SECONDS, then SIGKILL; only this PID.
stop_pid() {
    local pid="$1" secs="$2" i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 $((secs * 10))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "pid $pid still running after ${secs}s: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# reap_instances DIR: safety net after a shoal that had to be SIGKILLed: the
# process groups of the instances it recorded in DIR/data/instances.json
# (all started by this script's shoal) are killed if still alive.
reap_instances() {
    local dir="$1" pid
    [ -f "$dir/data/instances.json" ] || return 0
    for pid in $(python3 - "$dir/data/instances.json" <<'PY'
import json, sys
def pids(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "pid" and isinstance(x, int): yield x
            else: yield from pids(x)
    elif isinstance(v, list):
        for x in v: yield from pids(x)
try: print(" ".join(str(p) for p in pids(json.load(open(sys.argv[1])))))
except Exception: pass
PY
    ); do
        if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    done
}

# stop_run: stops this run's wrk and shoal (by PID), then any instance left.
stop_run() {
    stop_pid "$WRK_PID" 5
    WRK_PID=""
    stop_pid "$SHOAL_PID" 30
    SHOAL_PID=""
    [ -z "$RUN_DIR" ] || reap_instances "$RUN_DIR"
}

on_exit() {
    local rc=$?
    set +e
    stop_run
    set_status "$rc"
    cleanup # lib.sh: tracked PIDs (none here), the temp dir, exit with rc
}
set_status() { return "$1"; }
trap on_exit EXIT

# ---------------------------------------------------------------- setup

if ! command -v wrk >/dev/null; then
    echo "wrk missing: apt-get install -y wrk" >&2
    apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
fi
tool wrk >/dev/null

if [ -z "${SHOAL_BINARY:-}" ]; then
    echo "building (cargo build --release -p shoal)..." >&2
    (cd "$ROOT" && cargo build --release -p shoal >&2)
fi
make_tmp deploy
mkdir -p "$BENCH_TMP/bin"
# A copy, so another build of target/ during the run cannot swap the binary.
cp "${SHOAL_BINARY:-$REL/shoal}" "$BENCH_TMP/bin/shoal"
SHOAL="$BENCH_TMP/bin/shoal"

# The instance: a small asyncio HTTP/1.1 server (keep-alive), version from
# VERSION, port from PORT. Every path answers 200 with a short JSON body. On
# SIGTERM it stops accepting, answers what is in flight with
# `Connection: close` and exits half a second later (Shoal has already taken
# it out of routing 200 ms before the SIGTERM).
cat > "$BENCH_TMP/app.py" <<'PY'
import asyncio, json, os, signal
VERSION = os.environ.get("VERSION", "?")
BODY = json.dumps({"version": VERSION, "instance": os.environ.get("SHOAL_INSTANCE", "?")}).encode()
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(BODY)
KEEP, CLOSE = HEAD + b"\r\n" + BODY, HEAD + b"Connection: close\r\n\r\n" + BODY
draining = False

async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:" and int(line[15:]) > 0:
                    await reader.readexactly(int(line[15:]))
            writer.write(CLOSE if draining else KEEP)
            await writer.drain()
            if draining:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(os.environ["PORT"]), backlog=1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    global draining
    draining = True
    server.close()
    await asyncio.sleep(0.5)

asyncio.run(main())
PY

# wrk's Lua: count every answer that is not 2xx (wrk's own report counts only
# >= 400), and print the totals in one parseable block at the end.
cat > "$BENCH_TMP/count.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0 end
function response(status, headers, body)
    if status < 200 or status > 299 then non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
    local n = 0
    for _, t in ipairs(threads) do n = n + t:get("non2xx") end
    local e = summary.errors
    io.write(string.format("BENCH requests %d\nBENCH non2xx %d\nBENCH connect %d\nBENCH read %d\nBENCH write %d\nBENCH timeout %d\n",
        summary.requests, n, e.connect, e.read, e.write, e.timeout))
    io.write(string.format("BENCH p50_us %d\nBENCH p99_us %d\nBENCH max_us %d\nBENCH duration_us %d\n",
        latency:percentile(50), latency:percentile(99), latency.max, summary.duration))
end
LUA

# ---------------------------------------------------------------- service files

# deploy_table STRATEGY: the [services.web.deploy] table for one strategy row.
deploy_table() {
    case "$1" in
        rolling) printf 'strategy = "rolling"\nmax_surge = 1\nmax_unavailable = 0\nmin_healthy = "1s"\ndrain = "2s"\n' ;;
        rolling-10s) printf 'strategy = "rolling"\nmax_surge = 1\nmax_unavailable = 0\nmin_healthy = "10s"\ndrain = "2s"\n' ;;
        blue-green) printf 'strategy = "blue-green"\nmin_healthy = "1s"\ndrain = "2s"\n' ;;
        canary) printf 'strategy = "canary"\nmin_healthy = "1s"\ndrain = "2s"\ncanary = { steps = [20, 50, 100], interval = "3s", min_requests = 20 }\n' ;;
        *) echo "unknown strategy $1" >&2; exit 2 ;;
    esac
}

# service_file STRATEGY VERSION: the whole service file (platform + web).
service_file() {
    cat <<TOML
[platform]
data_dir = "data"
http = "127.0.0.1:0"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"
port_range = "$PORT_RANGE"

[services.web]
command = ["python3", "app.py"]
version = "$2"
instances = 3
env = { VERSION = "$2" }

[services.web.health]
http = "/health"
interval = "200ms"
timeout = "1s"

[services.web.deploy]
$(deploy_table "$1")
TOML
}

# ---------------------------------------------------------------- one run

# json_get FILE EXPR: a value from a JSON file (python expression over `d`).
json_get() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}

now_ms() { date +%s%3N; }

# start_shoal DIR: `shoal up` in DIR; sets SHOAL_PID, API, GATEWAY.
start_shoal() {
    local dir="$1" i
    (cd "$dir" && exec "$SHOAL" up shoal.toml >"$dir/shoal.stdout" 2>"$dir/shoal.stderr") &
    SHOAL_PID=$!
    API="" GATEWAY=""
    for i in $(seq 1 300); do
        kill -0 "$SHOAL_PID" 2>/dev/null || { echo "shoal up exited early:" >&2; tail -20 "$dir/shoal.stderr" >&2; return 1; }
        if [ -s "$dir/data/endpoints.json" ]; then
            API="$(json_get "$dir/data/endpoints.json" 'd["http"]')" || true
            GATEWAY="$(json_get "$dir/data/endpoints.json" 'd["gateway"]')" || true
            [ -n "$API" ] && [ -n "$GATEWAY" ] && return 0
        fi
        sleep 0.1
    done
    echo "no endpoints.json after 30 s" >&2
    return 1
}

# wait_healthy N SECONDS: until exactly N instances of web run and pass, and
# the gateway answers for web.
wait_healthy() {
    local n="$1" secs="$2" i
    for i in $(seq 1 $((secs * 10))); do
        if curl -fsS -m 1 "http://$API/api/v1/instances?service=web" 2>/dev/null | python3 -c '
import json, sys
l = json.load(sys.stdin)
ok = sum(1 for i in l if i.get("state") == "running" and i.get("health") == "passing")
sys.exit(0 if ok == int(sys.argv[1]) and len(l) == int(sys.argv[1]) else 1)' "$n" &&
            curl -fsS -m 1 -o /dev/null -H 'Host: web' "http://$GATEWAY/" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "web not healthy ($n instances) after ${secs}s" >&2
    return 1
}

# healthy_ms: median ms from start to first passing check of the instances of
# version 2 (the event stream of this run's shoal).
healthy_ms() {
    curl -fsS -m 5 "http://$API/api/v1/events?service=web&limit=50000" | python3 -c '
import json, statistics, sys
started, took = {}, []
for e in json.load(sys.stdin):
    f = e.get("fields") or {}
    if e["kind"] == "instance_started" and str(f.get("version")) == "2":
        started[e["instance"]] = e["time_ms"]
    elif e["kind"] == "health_changed" and f.get("to") == "passing" and e["instance"] in started:
        took.append(e["time_ms"] - started.pop(e["instance"]))
print(int(statistics.median(took)) if took else "nan")'
}

# one_run STRATEGY ROUND: a fresh shoal, load, deploy, numbers; appends to $RAW.
one_run() {
    local strategy="$1" round="$2"
    RUN_DIR="$BENCH_TMP/$strategy-$round"
    mkdir -p "$RUN_DIR"
    cp "$BENCH_TMP/app.py" "$RUN_DIR/app.py"
    service_file "$strategy" 1 > "$RUN_DIR/shoal.toml"
    service_file "$strategy" 2 > "$RUN_DIR/v2.toml"

    start_shoal "$RUN_DIR"
    wait_healthy 3 60

    local wrk_start t0 t1 rc=0
    wrk_start="$(now_ms)"
    wrk -t2 -c20 -d"${DURATION}s" -s "$BENCH_TMP/count.lua" -H 'Host: web' "http://$GATEWAY/" \
        >"$RUN_DIR/wrk.out" 2>&1 &
    WRK_PID=$!
    sleep "$WARMUP"

    t0="$(now_ms)"
    SHOAL_ADDR="http://$API" "$SHOAL" deploy "$RUN_DIR/v2.toml" --wait </dev/null >"$RUN_DIR/deploy.out" 2>&1 || rc=$?
    t1="$(now_ms)"

    SHOAL_ADDR="http://$API" "$SHOAL" history web --json >"$RUN_DIR/history.json" 2>/dev/null || true
    local rec_s status healthy
    rec_s="$(json_get "$RUN_DIR/history.json" '"%.2f" % ((d[0]["ended_ms"] - d[0]["started_ms"]) / 1000) if d[0].get("ended_ms") else "nan"')" || rec_s=nan
    status="$(json_get "$RUN_DIR/history.json" 'd[0]["status"]')" || status="?"
    [ "$rc" = 0 ] || status="$status (exit $rc)"
    healthy="$(healthy_ms)" || healthy=nan
    local late=""
    [ "$t1" -le $((wrk_start + DURATION * 1000)) ] || late="deploy outlasted wrk"

    wait "$WRK_PID" || true
    WRK_PID=""
    stop_run
    RUN_DIR=""

    local out="$BENCH_TMP/$strategy-$round/wrk.out" k
    declare -A w=()
    for k in requests non2xx connect read write timeout p50_us p99_us; do
        w[$k]="$(awk -v k="$k" '$1 == "BENCH" && $2 == k {print $3}' "$out")"
        [ -n "${w[$k]}" ] || { echo "wrk gave no $k:" >&2; cat "$out" >&2; w[$k]=0; }
    done
    local sock=$((w[connect] + w[read] + w[write] + w[timeout]))
    local failed=$((w[non2xx] + sock))
    printf '%s\t%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\n' \
        "$strategy" "$round" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print (b - a) / 1000}')" "$rec_s" "$status" \
        "${w[requests]}" "$failed" "${w[non2xx]}" \
        "c${w[connect]}/r${w[read]}/w${w[write]}/t${w[timeout]}" \
        "$(awk -v v="${w[p50_us]}" 'BEGIN {print v / 1000}')" "$(awk -v v="${w[p99_us]}" 'BEGIN {print v / 1000}')" \
        "$healthy" "${late:--}" >> "$RAW"
    echo "$(tail -1 "$RAW" | tr '\t' ' ')" >&2
}

# ---------------------------------------------------------------- the runs

RAW="$BENCH_TMP/raw.tsv"
: > "$RAW"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
    for strategy in $STRATEGIES; do
        echo "=== round $round: $strategy ===" >&2
        one_run "$strategy" "$round"
    done
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report

REPORT="$BENCH_TMP/report.md"
{
    echo "### Deployments under load: 3 instances, v1 -> v2 through the gateway (bench/deploy.sh)"
    echo
    echo '```'
    machine_info
    echo "load avg before / after the run: $LOAD_BEFORE / $LOAD_AFTER"
    echo "command: ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP STRATEGIES=\"$STRATEGIES\"${SHOAL_BINARY:+ SHOAL_BINARY=$SHOAL_BINARY} bench/deploy.sh"
    if [ -n "${SHOAL_BINARY:-}" ]; then
        echo "shoal:   $SHOAL_BINARY${SHOAL_BINARY_NOTE:+ ($SHOAL_BINARY_NOTE)}, copied before the run"
    else
        echo "shoal:   cargo build --release -p shoal (target/release/shoal of this work tree, copied before the run)"
    fi
    echo "service: web, 3 instances of a Python asyncio HTTP/1.1 app, HTTP check every 200ms, min_healthy 1s, drain 2s"
    echo "load:    wrk -t2 -c20 -d${DURATION}s -H 'Host: web' gateway/ (Lua counts non-2xx); deploy starts ${WARMUP}s in"
    echo "deploy:  SHOAL_ADDR=... shoal deploy v2.toml --wait (wall = command start to exit; record = ended_ms - started_ms)"
    echo '```'
    echo
    echo "| strategy | round | deploy s (wall) | record s | status | requests | failed | non-2xx | socket errors c/r/w/timeout | p50 ms | p99 ms | new instance healthy ms | note |"
    echo "|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---|"
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }' "$RAW"
    echo
    echo "Nomad's default update stanza (max_parallel 1, min_healthy_time 10s, healthy_deadline 5m), 3 instances:"
    echo "COMPUTED lower bound, not a measurement (Nomad is not installed here): 3 x (new-instance start-to-healthy"
    echo "measured in the same round of the rolling row + ${NOMAD_MIN_HEALTHY_S} s). Nomad also waits for its own check"
    echo "intervals and allocation placement, so its real time is higher."
    echo
    echo "| round | Shoal rolling, min_healthy 1s (s) | Shoal rolling, min_healthy 10s (s) | Nomad default, computed lower bound (s) |"
    echo "|---:|---:|---:|---:|"
    awk -F'\t' -v mh="$NOMAD_MIN_HEALTHY_S" -v n="$ROUNDS" '
        $1 == "rolling" { r[$2] = $3; h[$2] = $12; rounds[$2] = 1 }
        $1 == "rolling-10s" { r10[$2] = $3; rounds[$2] = 1 }
        END {
            for (i = 1; i <= n; i++) {
                if (!(i in rounds)) continue
                nomad = (h[i] != "" && h[i] != "nan") ? sprintf("%.2f", 3 * (h[i] / 1000 + mh)) : "-"
                printf "| %d | %s | %s | %s |\n", i, (i in r) ? r[i] : "-", (i in r10) ? r10[i] : "-", nomad
            }
        }' "$RAW"
    echo
} > "$REPORT"
cat "$REPORT"

write_report deploy "$REPORT"
