#!/usr/bin/env bash
# bench/logs-deep.sh — how long log queries and trace lookups take when they reach
# past the memory ring into the disk log. A real `shoal up` (release) proxies wrk
# traffic (one access line per request) to an nginx upstream until the disk log is
# full (default 256 MiB), then each query is timed ROUNDS times with curl against
# the API: the ring alone, the disk walk with and without matches, trace lookups
# of a trace in the ring, in a middle segment and in the oldest one, a trace that
# does not exist, and trace listings. Also checks the 100k lines a deep query
# returns are numbered consecutively (ring and disk agree).
#
# Needs: nginx, wrk. Env: FILL (25s of wrk -c50) ROUNDS (3) OUT
source "$(dirname "$0")/lib.sh"

FILL="${FILL:-25s}"
ROUNDS="${ROUNDS:-3}"
NGINX="$(tool nginx)"
tool wrk >/dev/null
need_bins shoal
make_tmp logs-deep
snapshot_bins shoal

U=$(free_port); HTTP=$(free_port); GW=$(free_port)
mkdir -p "$BENCH_TMP/up" "$BENCH_TMP/shoal"
cat > "$BENCH_TMP/up/nginx.conf" <<CONF
worker_processes 1;
pid $BENCH_TMP/up/nginx.pid;
error_log $BENCH_TMP/up/error.log warn;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$U; location / { return 200 "ok\n"; } } }
CONF
"$NGINX" -c "$BENCH_TMP/up/nginx.conf"
track "$(cat "$BENCH_TMP/up/nginx.pid")"
LO=$((23000 + $$ % 50 * 20))
cat > "$BENCH_TMP/shoal/shoal.toml" <<CONF
[platform]
data_dir = "data"
http = "127.0.0.1:$HTTP"
gateway = "127.0.0.1:$GW"
dns = "127.0.0.1:$(free_port)"
statsd = "127.0.0.1:$(free_port)"
port_range = "$LO-$((LO + 19))"
CONF
(cd "$BENCH_TMP/shoal" && exec "$BIN/shoal" up shoal.toml >stdout 2>stderr) & track $!
API="http://127.0.0.1:$HTTP"
wait_http "$API/v1/agent/self" 30
body="{\"Name\":\"bench\",\"ID\":\"bench-1\",\"Address\":\"127.0.0.1\",\"Port\":$U}"
curl -fsS -o /dev/null -X PUT -d "$body" "$API/v1/agent/service/register"
for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench' "http://127.0.0.1:$GW/")" = 200 ] && break
    sleep 0.1
done
echo "filling the log: wrk -c50 -d$FILL..." >&2
reqs=$(wrk -t2 -c50 -d"$FILL" -H 'Host: bench' "http://127.0.0.1:$GW/" | awk '/requests in/ {print $1}')
sleep 1
stats=$(curl -fsS "$API/api/v1/logs/stats")
LOGS="$BENCH_TMP/shoal/data/logs"
segs=$(ls "$LOGS"/*.jsonl | wc -l)
trace_at() { grep -o '"tr":"[0-9a-f]*"' | head -1 | cut -d'"' -f4; }
oldest=$(head -n 100 "$(ls "$LOGS"/*.jsonl | head -1)" | trace_at)
middle=$(sed -n 1000,1100p "$(ls "$LOGS"/*.jsonl | sed -n "$((segs / 2))p")" | trace_at)
newest=$(curl -fsS "$API/api/v1/logs?service=bench&limit=20" | grep -o '"trace_id":"[0-9a-f]*"' | tail -1 | cut -d'"' -f4)

# time_query NAME PATH: "| NAME | median ms | max ms | status | bytes |" over ROUNDS curls.
time_query() {
    local name="$1" path="$2" i out times
    out=$(for i in $(seq 1 "$ROUNDS"); do
        curl -s -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' "$API$path"
    done)
    times=$(echo "$out" | awk '{printf "%.1f\n", $2 * 1000}' | sort -n)
    printf '| %s | %s | %s | %s | %s |\n' "$name" \
        "$(echo "$times" | sed -n "$(((ROUNDS + 1) / 2))p")" "$(echo "$times" | tail -1)" \
        "$(echo "$out" | tail -1 | cut -d' ' -f1)" "$(echo "$out" | tail -1 | cut -d' ' -f3)"
}

REPORT="$BENCH_TMP/report.md"
{
    echo "### Logs past memory: queries that reach the disk log (bench/logs-deep.sh)"
    echo
    echo '```'
    machine_info
    echo "command: FILL=$FILL ROUNDS=$ROUNDS bench/logs-deep.sh"
    echo "filled:  $reqs proxied requests (one access line each); $segs segment files, $(du -sm "$LOGS" | cut -f1) MiB on disk"
    echo "store:   $stats"
    echo '```'
    echo
    echo "| query (API) | median ms | max ms | status | bytes |"
    echo "|---|---:|---:|---:|---:|"
    time_query "newest 1000 lines (ring only)" "/api/v1/logs?limit=1000"
    time_query "newest 100000 lines (ring + disk)" "/api/v1/logs?limit=100000"
    time_query "grep matching nothing (whole disk)" "/api/v1/logs?grep=no-such-text&limit=10"
    time_query "service matching nothing (whole disk)" "/api/v1/logs?service=nope&limit=10"
    time_query "trace in the ring" "/api/v1/traces/$newest"
    time_query "trace in a middle segment" "/api/v1/traces/$middle"
    time_query "trace in the oldest segment" "/api/v1/traces/$oldest"
    time_query "trace in the oldest segment, as log lines" "/api/v1/logs?trace=$oldest"
    time_query "trace that does not exist (whole disk)" "/api/v1/traces/0123456789abcdef0123456789abcdef"
    time_query "trace listing, 20 newest" "/api/v1/traces?limit=20"
    time_query "trace listing matching nothing (ring + 100k disk lines)" "/api/v1/traces?min_ms=100000&limit=20"
    echo
    curl -fsS "$API/api/v1/logs?limit=100000" | python3 -c '
import json, sys
seqs = [l["seq"] for l in json.load(sys.stdin)]
ok = all(b == a + 1 for a, b in zip(seqs, seqs[1:]))
print(f"The 100000-line answer: {len(seqs)} lines, seq {seqs[0]}..{seqs[-1]}, consecutive: {ok}.")'
} > "$REPORT"
cat "$REPORT"
write_report logs-deep "$REPORT"
