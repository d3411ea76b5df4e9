#!/usr/bin/env bash
# bench/store.sh — durable KV writes/s and reads/s, Shoal vs etcd single node.
#
#   (a) shoal-store in-process   crates/shoal-store/examples/store_bench.rs
#   (b) etcd 3.4 single node     bench/kvbench --target etcd        (gRPC, etcd-client)
#   (c) shoal up, Consul KV API  bench/kvbench --target shoal-http  (HTTP/1.1 keep-alive)
#
# Same shape everywhere: OPS puts of VALUE_SIZE bytes by WRITERS concurrent
# clients (key bench/<client>/<i>, each put acknowledged only after fsync), then
# 10 x OPS gets of random existing keys by the same number of clients.
# ROUNDS rounds interleave a, b, c (fresh data dir each time) so load from
# elsewhere on the machine hits all three alike; the table shows the median round.
#
# Env: WRITERS (64) OPS (20000) VALUE_SIZE (256) ETCD_CONNS (1) ROUNDS (3)
#      MAX_SECS (300, per client run) BENCH_TMP_BASE (/var/tmp) OUT (also write the report there)
source "$(dirname "$0")/lib.sh"

WRITERS="${WRITERS:-64}"
OPS="${OPS:-20000}"
VALUE_SIZE="${VALUE_SIZE:-256}"
ETCD_CONNS="${ETCD_CONNS:-1}"
ROUNDS="${ROUNDS:-3}"
MAX_SECS="${MAX_SECS:-300}"

command -v etcd >/dev/null || { echo "etcd missing: apt-get install -y etcd-server" >&2; exit 1; }
command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }

need_bins shoal
echo "building store_bench and kvbench..." >&2
(cd "$ROOT" && cargo build --release -q -p shoal-store --example store_bench)
(cd "$BENCH_DIR/kvbench" && CARGO_TARGET_DIR="$ROOT/target/bench-cargo" cargo build --release -q)

make_tmp store
snapshot_bins shoal examples/store_bench
STORE_BENCH="$BIN/examples/store_bench"
KVBENCH="$ROOT/target/bench-cargo/release/kvbench"
RESULTS="$BENCH_TMP/results.jsonl"
: >"$RESULTS"

# A short fsync probe so readers can judge the disk: 200 x (4 KiB pwrite + fdatasync).
FSYNC_US="$(python3 - "$BENCH_TMP" <<'PY'
import os, sys, time
p = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
lat = []
for i in range(200):
    t = time.perf_counter()
    os.pwrite(fd, b"x" * 4096, (i % 16) * 4096)
    os.fdatasync(fd)
    lat.append((time.perf_counter() - t) * 1e6)
os.close(fd); os.unlink(p)
lat.sort()
print(f"{lat[len(lat)//2]:.0f}")
PY
)"

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
CMD_A="target/release/examples/store_bench --dir DIR --writers $WRITERS --ops $OPS --value-size $VALUE_SIZE"
CMD_B="kvbench --target etcd --endpoint 127.0.0.1:PORT --writers $WRITERS --ops $OPS --value-size $VALUE_SIZE --conns $ETCD_CONNS"
CMD_C="kvbench --target shoal-http --endpoint 127.0.0.1:PORT --writers $WRITERS --ops $OPS --value-size $VALUE_SIZE"
ETCD_RSS_KB=0
SHOAL_RSS_KB=0

tag() { sed "s/^{/{\"round\":$1,\"target\":\"$2\",/"; }

# (a) embedded store, in process, fresh directory.
run_embedded() {
    local r="$1"
    timeout "$MAX_SECS" "$STORE_BENCH" --dir "$BENCH_TMP/embedded-$r" --writers "$WRITERS" \
        --ops "$OPS" --value-size "$VALUE_SIZE" | tag "$r" shoal-embedded >>"$RESULTS"
    rm -rf "$BENCH_TMP/embedded-$r"
}

# (b) etcd single node, fresh data dir, default fsync on commit.
run_etcd() {
    local r="$1" ep epp pid
    ep="$(free_port)"
    epp="$(free_port)"
    etcd --name bench --data-dir "$BENCH_TMP/etcd-$r" \
        --listen-client-urls "http://127.0.0.1:$ep" --advertise-client-urls "http://127.0.0.1:$ep" \
        --listen-peer-urls "http://127.0.0.1:$epp" --initial-advertise-peer-urls "http://127.0.0.1:$epp" \
        --initial-cluster "bench=http://127.0.0.1:$epp" >"$BENCH_TMP/etcd-$r.log" 2>&1 &
    pid=$!
    track "$pid"
    wait_http "http://127.0.0.1:$ep/health" 30
    "$KVBENCH" --target etcd --endpoint "127.0.0.1:$ep" --writers "$WRITERS" --ops "$OPS" \
        --value-size "$VALUE_SIZE" --conns "$ETCD_CONNS" --max-secs "$MAX_SECS" \
        | sed 's/"target":"etcd",//' | tag "$r" etcd >>"$RESULTS"
    # Serializable reads (no ReadIndex round; closer to what Shoal's local reads do).
    # This second pass re-puts the same keys first; only its get phase is kept.
    "$KVBENCH" --target etcd --endpoint "127.0.0.1:$ep" --writers "$WRITERS" --ops "$OPS" \
        --value-size "$VALUE_SIZE" --conns "$ETCD_CONNS" --max-secs "$MAX_SECS" --serializable \
        | grep get_serializable | sed 's/"target":"etcd",//' | tag "$r" etcd >>"$RESULTS"
    ETCD_RSS_KB="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$BENCH_TMP/etcd-$r"
}

# (c) `shoal up` with no services, Consul KV API over HTTP/1.1 keep-alive.
run_shoal_http() {
    local r="$1" sp gp pid
    sp="$(free_port)"
    gp="$(free_port)"
    printf '%s\n' "# No services: only the platform (store + API) runs." "[platform]" \
        "data_dir = \"$BENCH_TMP/shoal-data-$r\"" "http = \"127.0.0.1:$sp\"" \
        "gateway = \"127.0.0.1:$gp\"" "dns = \"127.0.0.1:0\"" "statsd = \"127.0.0.1:0\"" \
        >"$BENCH_TMP/shoal-$r.toml"
    "$BIN/shoal" up "$BENCH_TMP/shoal-$r.toml" >"$BENCH_TMP/shoal-$r.log" 2>&1 &
    pid=$!
    track "$pid"
    wait_http "http://127.0.0.1:$sp/v1/status/leader" 30
    "$KVBENCH" --target shoal-http --endpoint "127.0.0.1:$sp" --writers "$WRITERS" --ops "$OPS" \
        --value-size "$VALUE_SIZE" --max-secs "$MAX_SECS" \
        | sed 's/"target":"shoal-http",//' | tag "$r" shoal-http >>"$RESULTS"
    SHOAL_RSS_KB="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    rm -rf "$BENCH_TMP/shoal-data-$r"
}

for r in $(seq 1 "$ROUNDS"); do
    echo "round $r/$ROUNDS: (a) shoal-store in-process" >&2
    run_embedded "$r"
    echo "round $r/$ROUNDS: (b) etcd single node" >&2
    run_etcd "$r"
    echo "round $r/$ROUNDS: (c) shoal up + /v1/kv over HTTP" >&2
    run_shoal_http "$r"
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- report -------------------------------------------------------------------
report() {
    echo "### Store: durable writes/s and reads/s (bench/store.sh)"
    echo
    echo '```'
    machine_info
    echo "load avg before / after the run: $LOAD_BEFORE / $LOAD_AFTER"
    echo "etcd:    $(etcd --version | head -1), default fsync on commit, single member"
    echo "fsync:   p50 ${FSYNC_US} us for a 4 KiB pwrite+fdatasync on the temp disk"
    echo "load:    $WRITERS concurrent clients, $OPS puts of $VALUE_SIZE B, then $((OPS * 10)) gets of random existing keys"
    echo "command: WRITERS=$WRITERS OPS=$OPS VALUE_SIZE=$VALUE_SIZE ETCD_CONNS=$ETCD_CONNS ROUNDS=$ROUNDS bench/store.sh"
    echo "  (a) $CMD_A"
    echo "  (b) $CMD_B   [then again with --serializable]"
    echo "  (c) $CMD_C"
    echo "RSS at the end of the last round: etcd $((ETCD_RSS_KB / 1024)) MiB, shoal up $((SHOAL_RSS_KB / 1024)) MiB"
    echo '```'
    echo
    python3 - "$RESULTS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def all_of(t, op):
    return [r for r in rows if r["target"] == t and r["op"] == op]
def get(t, op):
    """The round with the median ops/s (latencies are from that same round)."""
    rs = sorted(all_of(t, op), key=lambda r: r["ops_per_sec"])
    return rs[(len(rs) - 1) // 2] if rs else None
names = {
    "shoal-embedded": "(a) Shoal store, in-process",
    "etcd": "(b) etcd 3.4, gRPC",
    "shoal-http": "(c) `shoal up`, /v1/kv over HTTP",
}
print("Median of %d rounds by ops/s (latencies from that round); the last column lists every round's ops/s." % max(r["round"] for r in rows))
print()
print("| system | op | ops | ops/s | p50 µs | p99 µs | max µs | ops/s per round |")
print("|---|---|---:|---:|---:|---:|---:|---|")
for t in ["shoal-embedded", "etcd", "shoal-http"]:
    for op in ["put", "get", "get_serializable"]:
        r = get(t, op)
        if r:
            label = {"put": "put (durable)", "get": "get" + (" (linearizable)" if t == "etcd" else ""),
                     "get_serializable": "get (serializable)"}[op]
            per = ", ".join(f"{x['ops_per_sec']:.0f}" for x in sorted(all_of(t, op), key=lambda x: x["round"]))
            print(f"| {names[t]} | {label} | {r['ops']} | {r['ops_per_sec']:.0f} | {r['p50_us']} | {r['p99_us']} | {r['max_us']} | {per} |")
print()
e_put, e_get, e_ser = get("etcd", "put"), get("etcd", "get"), get("etcd", "get_serializable")
print("| ratio Shoal / etcd (median rounds) | writes/s | reads/s vs linearizable | reads/s vs serializable |")
print("|---|---:|---:|---:|")
for t in ["shoal-embedded", "shoal-http"]:
    p, g = get(t, "put"), get(t, "get")
    if p and g and e_put and e_get:
        ser = f"{g['ops_per_sec'] / e_ser['ops_per_sec']:.2f}x" if e_ser else "-"
        print(f"| {names[t]} | {p['ops_per_sec'] / e_put['ops_per_sec']:.2f}x | {g['ops_per_sec'] / e_get['ops_per_sec']:.2f}x | {ser} |")
w = get("shoal-http", "put")
if w and e_put:
    ok = w["ops_per_sec"] >= 2 * e_put["ops_per_sec"]
    print()
    print(f"Goal, durable writes/s at least 2x etcd's, like for like over the network: "
          f"{'met' if ok else 'NOT met'} ({w['ops_per_sec'] / e_put['ops_per_sec']:.2f}x).")
PY
}
report | tee "${OUT:-/dev/null}"
