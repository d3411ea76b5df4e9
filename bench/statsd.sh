#!/usr/bin/env bash
# bench/statsd.sh — StatsD lines ingested and aggregated per second, Shoal vs Etsy's
# statsd (npm `statsd`, Node.js, with a counting backend), on one core each.
#
#   (a) in-process: crates/shoal-metrics/examples/statsd_bench.rs parses and aggregates
#       mixed lines (counters, gauges, sampled timers, histograms, sets; 1000 series,
#       tags) into one shard, flushing into the store every second; pinned to one core.
#   (b) over UDP: `shoal up` (release) and `node stats.js` each pinned to core 1, one
#       sender (statsd_bench udp, 20 lines per datagram) pinned to core 0 sending as fast
#       as it can for DURATION s. Received = lines each server counted (Shoal:
#       shoal_statsd_lines_total; Etsy: statsd.metrics_received summed over flushes).
#       Memory = the server's peak RSS (VmHWM).
#
# Env: DURATION (10) ROUNDS (3) OUT (also write the report there)
# Needs: node + npm (Etsy statsd is installed into target/bench-node), taskset, curl.
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-3}"

command -v node >/dev/null || { echo "node missing: apt-get install -y nodejs npm" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset missing: apt-get install -y util-linux" >&2; exit 1; }
need_bins shoal
echo "building statsd_bench..." >&2
(cd "$ROOT" && cargo build --release -q -p shoal-metrics --example statsd_bench)
NODE_DIR="$ROOT/target/bench-node"
if [ ! -f "$NODE_DIR/node_modules/statsd/stats.js" ]; then
    echo "installing Etsy statsd (npm) into $NODE_DIR..." >&2
    mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && npm install --no-audit --no-fund -q statsd >/dev/null)
fi
ETSY_VERSION="$(node -p "require('$NODE_DIR/node_modules/statsd/package.json').version")"

make_tmp statsd
snapshot_bins shoal examples/statsd_bench
BENCH="$BIN/examples/statsd_bench"

peak_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# --- Etsy statsd with a backend that only counts what each flush saw ----------------
cat >"$BENCH_TMP/countbackend.js" <<'EOF'
// Appends each flush's count of received metric lines to config.countFile.
const fs = require('fs');
exports.init = function (startup, config, events) {
  events.on('flush', function (ts, metrics) {
    fs.appendFileSync(config.countFile, (metrics.counters['statsd.metrics_received'] || 0) + '\n');
  });
  return true;
};
EOF

run_etsy() { # run_etsy ROUND -> "lines_per_s loss_pct peak_kb"
    local port mport count pid sent got
    port="$(free_port)"; mport="$(free_port)"; count="$BENCH_TMP/etsy-$1.count"
    : >"$count"
    cat >"$BENCH_TMP/etsy.js" <<EOF
{ port: $port, address: "127.0.0.1", mgmt_port: $mport, mgmt_address: "127.0.0.1",
  flushInterval: 1000, backends: ["$BENCH_TMP/countbackend.js"], countFile: "$count" }
EOF
    taskset -c 1 node "$NODE_DIR/node_modules/statsd/stats.js" "$BENCH_TMP/etsy.js" >"$BENCH_TMP/etsy.log" 2>&1 &
    pid=$!; track "$pid"
    sleep 1.5
    sent="$(taskset -c 0 "$BENCH" udp "127.0.0.1:$port" "$DURATION" 0 | sed 's/sent_lines=//')"
    sleep 2.5   # two more flushes
    got="$(awk '{s += $1} END {print s + 0}' "$count")"
    echo "$got $sent $(peak_kb "$pid")"
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
}

run_shoal() { # run_shoal ROUND -> "received sent peak_kb"
    local dir port hp pid sent before after
    dir="$BENCH_TMP/shoal-$1"; mkdir -p "$dir"
    port="$(free_port)"; hp="$(free_port)"
    cat >"$dir/shoal.toml" <<EOF
[platform]
data_dir = "$dir/data"
http = "127.0.0.1:$hp"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:$port"
EOF
    SHOAL_STATSD_FLUSH_MS=1000 taskset -c 1 "$BIN/shoal" up "$dir/shoal.toml" >"$dir/shoal.log" 2>&1 &
    pid=$!; track "$pid"
    wait_http "http://127.0.0.1:$hp/v1/status/leader" 30
    lines_total() { curl -fsS "http://127.0.0.1:$hp/metrics" | awk '$1 == "shoal_statsd_lines_total" {print $2}'; }
    before="$(lines_total)"
    sent="$(taskset -c 0 "$BENCH" udp "127.0.0.1:$port" "$DURATION" 0 | sed 's/sent_lines=//')"
    sleep 2.5
    after="$(lines_total)"
    echo "$(awk "BEGIN {print $after - $before}") $sent $(peak_kb "$pid")"
    kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
}

row() { # row NAME RECEIVED SENT PEAK_KB
    printf '| %-22s | %12.0f | %12.0f | %6.1f %% | %8.1f |\n' "$1" \
        "$(awk "BEGIN {print $2 / $DURATION}")" "$(awk "BEGIN {print $3 / $DURATION}")" \
        "$(awk "BEGIN {print ($3 > 0) ? 100 * (1 - $2 / $3) : 0}")" "$(awk "BEGIN {print $4 / 1024}")"
}

{
echo
machine_info
echo "command: DURATION=$DURATION ROUNDS=$ROUNDS bench/statsd.sh"
echo "servers: Shoal (release), Etsy statsd $ETSY_VERSION on node $(node --version) with a counting backend; flush every 1 s"
echo "traffic: 20 lines per datagram: 3/8 tagged counters, 1/8 plain counters, gauges, timers @0.5, histograms, sets; 1000 series"
echo
echo "In-process (parse + aggregate + flush into the store, one core):"
echo
echo "| round | lines/s | peak RSS MiB |"
echo "|---|---:|---:|"
for r in $(seq 1 "$ROUNDS"); do
    read -r lps rss < <(taskset -c 1 "$BENCH" inprocess 5 | sed 's/lines_per_sec=//; s/rss_kb=//; s/lines=.*//')
    printf '| %s | %.0f | %.1f |\n' "$r" "$lps" "$(awk "BEGIN {print $rss / 1024}")"
done
echo
echo "Over UDP (server on core 1, sender on core 0, as fast as the sender goes, ${DURATION} s):"
echo
echo "| server (round)         | received lines/s | sent lines/s | lost | peak RSS MiB |"
echo "|------------------------|-----------------:|-------------:|-----:|-------------:|"
for r in $(seq 1 "$ROUNDS"); do
    read -r got sent kb < <(run_shoal "$r"); row "Shoal ($r)" "$got" "$sent" "$kb"
    read -r got sent kb < <(run_etsy "$r"); row "Etsy statsd ($r)" "$got" "$sent" "$kb"
done
} | tee "${OUT:-/dev/null}"
