#!/usr/bin/env bash
# bench/profile.sh — what `shoal profile` costs the instance it samples: requests/s
# through the gateway with and without a capture running, side by side, per round.
#
# One `shoal up` (the README's build, target/release) with two services of one
# instance each: `pub` (the demo's Rust publications server, `?work=N` burns CPU in
# citation_rank, sampled by perf) and `py` (a Python server with a hot loop, sampled
# by py-spy). Per service and round:
#   off   wrk -t1 -c$CONNS -d${SECONDS_}s through the gateway
#   on    the same wrk while `shoal profile SERVICE --seconds $SECONDS_ --rate $RATE`
#         runs (started first; wrk starts 1 s later so the sampler is attached)
# Printed per round: req/s off and on, on/off, the sampler's CPU and its sample count.
# Both share this machine's cores with wrk, the gateway and the instance.
#
# Env: SERVICES ("pub py") ROUNDS (3) SECONDS_ (8) RATE (99) CONNS (4) WORK (100: ~3 ms of citation_rank a request)
source "$(dirname "$0")/lib.sh"

ROUNDS="${ROUNDS:-3}"
SECONDS_="${SECONDS_:-8}"
RATE="${RATE:-99}"
CONNS="${CONNS:-4}"
WORK="${WORK:-100}"
tool wrk >/dev/null
command -v perf >/dev/null || { echo "perf missing: apt-get install -y linux-perf" >&2; exit 1; }
command -v py-spy >/dev/null || { echo "py-spy missing: pip install py-spy" >&2; exit 1; }
need_bins shoal shoal-demo-publications
make_tmp profile
snapshot_bins shoal shoal-demo-publications

cp "$ROOT/examples/profiling/hot.py" "$BENCH_TMP/hot.py"

SP="$(free_port)"; GP="$(free_port)"
cat >"$BENCH_TMP/shoal.toml" <<EOF
[platform]
data_dir = "$BENCH_TMP/shoal-data"
http = "127.0.0.1:$SP"
gateway = "127.0.0.1:$GP"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"

[services.pub]
command = ["$BIN/shoal-demo-publications"]
instances = 1
[services.pub.health]
http = "/health"
interval = "1s"

[services.py]
command = ["python3", "hot.py"]
instances = 1
env = { HOT_N = "5000" }
[services.py.health]
http = "/health"
interval = "1s"
EOF
(cd "$BENCH_TMP" && exec "$BIN/shoal" up shoal.toml >"$BENCH_TMP/shoal.log" 2>&1) &
track $!
wait_http "http://127.0.0.1:$SP/v1/status/leader" 30
for s in pub py; do
    for _ in $(seq 1 100); do
        curl -fsS -m 1 -o /dev/null -H "Host: $s" "http://127.0.0.1:$GP/x" 2>/dev/null && break
        sleep 0.2
    done
done

rps() { awk '/^Requests\/sec:/ {print $2}'; }
load() { wrk -t1 -c"$CONNS" -d"${SECONDS_}s" -H "Host: $1" "http://127.0.0.1:$GP$2" 2>&1; }

echo "# shoal profile overhead: ${SECONDS_}s captures at ${RATE} Hz, wrk -t1 -c$CONNS, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-4s %-5s %10s %10s %7s %12s %8s\n' svc round off_rps on_rps on/off sampler_cpu samples
for svc in ${SERVICES:-pub py}; do
    path="/publications/ada?work=$WORK"; [ "$svc" = py ] && path="/spin"
    for r in $(seq 1 "$ROUNDS"); do
        off="$(load "$svc" "$path" | rps)"
        "$BIN/shoal" profile "$svc" --seconds "$((SECONDS_ + 2))" --rate "$RATE" --json \
            --addr "http://127.0.0.1:$SP" >"$BENCH_TMP/prof.json" 2>"$BENCH_TMP/prof.err" &
        prof=$!; track "$prof"
        sleep 1
        on="$(load "$svc" "$path" | rps)"
        wait "$prof" || { cat "$BENCH_TMP/prof.err" >&2; exit 1; }
        read -r cpu samples < <(python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["profiles"][0]
print("%.1f%%" % (p["overhead"]["sampler_cores"] * 100), p["samples"])' "$BENCH_TMP/prof.json")
        ratio="$(python3 -c "print(f'{$on/$off:.3f}')")"
        printf '%-4s %-5s %10s %10s %7s %12s %8s\n' "$svc" "$r" "$off" "$on" "$ratio" "$cpu" "$samples"
    done
done
