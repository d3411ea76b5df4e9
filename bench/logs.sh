#!/usr/bin/env bash
# bench/logs.sh — log lines/s ingested and searchable, with the memory used.
#
#   (a) in-process: crates/shoal-logs/examples/log_bench.rs appends LINES lines
#       (half JSON with a trace_id field, half text with trace=…) into a 64 MiB
#       store on one core, then times a trace lookup (index), a full-text grep over
#       everything kept, and a service tail of 100 lines. Memory = RSS growth.
#   (b) end to end: `shoal up` (release, core 1) runs one service that writes
#       E2E_LINES pre-generated lines to stdout with `cat` (core 0); time from the
#       service's start until the store has seen every line (lines + dropped from
#       /api/v1/logs/stats), and shoal's peak RSS (VmHWM) with a 64 MiB store (set: the
#       default is 8 MiB since queries read on into the disk log); with the
#       disk log (default 256 MiB) and without it (SHOAL_LOG_MAX_DISK_BYTES=0).
#
# Env: LINES (2000000) E2E_LINES (2000000) ROUNDS (3) OUT (also write the report there)
source "$(dirname "$0")/lib.sh"

LINES="${LINES:-2000000}"
E2E_LINES="${E2E_LINES:-2000000}"
ROUNDS="${ROUNDS:-3}"

command -v taskset >/dev/null || { echo "taskset missing: apt-get install -y util-linux" >&2; exit 1; }
need_bins shoal
echo "building log_bench..." >&2
(cd "$ROOT" && cargo build --release -q -p shoal-logs --example log_bench)
make_tmp logs
snapshot_bins shoal examples/log_bench

peak_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

python3 - "$E2E_LINES" >"$BENCH_TMP/lines.txt" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    t = "%032x" % (0x5151000000000000 + i // 5 + 1)
    if i % 2:
        out.write('{"level":"info","msg":"GET /profile/%d answered","status":200,"trace_id":"%s"}\n' % (i, t))
    else:
        out.write("2026-11-27T08:00:00Z INFO handled request %d in %d ms trace=%s user=ada\n" % (i, i % 97, t))
PY

run_e2e() { # run_e2e ROUND DISK_BYTES -> "seconds peak_kb seen"
    local dir hp pid t0 t1 seen
    dir="$BENCH_TMP/e2e-$1"; mkdir -p "$dir"
    hp="$(free_port)"
    cat >"$dir/shoal.toml" <<EOF
[platform]
data_dir = "$dir/data"
http = "127.0.0.1:$hp"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"

[services.writer]
command = ["sh", "-c", "taskset -c 0 cat $BENCH_TMP/lines.txt; exec sleep 3600"]
EOF
    SHOAL_LOG_MAX_BYTES=64MiB SHOAL_LOG_MAX_DISK_BYTES="$2" taskset -c 1 "$BIN/shoal" up "$dir/shoal.toml" >"$dir/shoal.log" 2>&1 &
    pid=$!; track "$pid"
    t0="$(date +%s.%N)"
    wait_http "http://127.0.0.1:$hp/v1/status/leader" 30
    # Poll until every line was stored (kept or already evicted); bounded at 120 s.
    seen=0
    for _ in $(seq 1 2400); do
        seen="$(curl -fsS "http://127.0.0.1:$hp/api/v1/logs/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)["stats"]
print(s["lines"] + s["dropped"])')"
        [ "$seen" -ge "$E2E_LINES" ] && break
        sleep 0.05
    done
    t1="$(date +%s.%N)"
    echo "$(awk "BEGIN {print $t1 - $t0}") $(peak_kb "$pid") $seen"
    kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
}

{
echo "### Logs: ingest and search (bench/logs.sh)"
echo
echo '```'
machine_info
echo "command: LINES=$LINES E2E_LINES=$E2E_LINES ROUNDS=$ROUNDS bench/logs.sh"
echo "lines:   ~95 B each, half JSON ({\"level\",\"msg\",\"status\",\"trace_id\"}), half text with trace=ID; 5 lines per trace"
echo '```'
echo "In-process (one core, 64 MiB store; trace lookups are of kept traces):"
echo
echo "| round | ingest lines/s | MB/s | kept lines | traces indexed | RSS growth MiB | trace lookup p50/p99 ms | full grep ms | tail 100 ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for r in $(seq 1 "$ROUNDS"); do
    out="$(taskset -c 1 "$BIN/examples/log_bench" "$LINES" 64)"
    v() { echo "$out" | awk -F= -v k="$1" '$1 == k {print $2}'; }
    printf '| %s | %s | %s | %s | %s | %.1f | %s / %s | %s | %s |\n' "$r" \
        "$(v ingest_lines_per_sec)" "$(v ingest_mb_per_sec)" "$(v kept_lines)" "$(v indexed_traces)" \
        "$(awk "BEGIN {print $(v rss_growth_kb) / 1024}")" "$(v trace_query_p50_ms)" "$(v trace_query_p99_ms)" \
        "$(v grep_full_scan_p50_ms)" "$(v service_tail100_p50_ms)"
done
echo
echo "End to end (instance stdout pipe → shoal's reader → store; shoal on core 1, cat on core 0):"
echo
echo "| round | disk log | lines | seconds (start → all stored) | lines/s | shoal peak RSS MiB |"
echo "|---|---|---:|---:|---:|---:|"
for r in $(seq 1 "$ROUNDS"); do
    for disk in 256MiB 0; do
        read -r secs kb seen < <(run_e2e "$r-$disk" "$disk")
        printf '| %s | %s | %s | %.2f | %.0f | %.1f |\n' "$r" "$([ "$disk" = 0 ] && echo off || echo "$disk")" "$seen" "$secs" \
            "$(awk "BEGIN {print $seen / $secs}")" "$(awk "BEGIN {print $kb / 1024}")"
    done
done
} | tee "${OUT:-/dev/null}"
