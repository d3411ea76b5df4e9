#!/usr/bin/env bash
# bench/cluster.sh — cluster mode: node loss, placement rate, KV writes on etcd.
#
#   1. Node loss: bench runs of the test that cuts a host off the network (three network
#      namespaces, an etcd member and a `shoal agent` each, node lease 5 s, --grace 2 s):
#      seconds from the cut until its instances serve on the other hosts, and requests
#      through the other gateways (crates/shoal/tests/cluster_hosts.rs). Yardstick:
#      Nomad's defaults mark a node down only after min_heartbeat_ttl (10 s) plus
#      heartbeat_grace (10 s) without a heartbeat, before it reschedules anything.
#   2. Placements/s: crates/shoal-schedule/examples/placements.rs, 1,000 instances on 3 nodes.
#   3. KV writes/s on a 3-member etcd (loopback): etcd itself (bench/kvbench --target etcd,
#      gRPC) against Shoal's Consul KV API on a `shoal agent` using that etcd
#      (bench/kvbench --target shoal-http), same load, ROUNDS rounds interleaved.
#
# Env: ROUNDS (3) WRITERS (32) OPS (5000) VALUE_SIZE (256) MAX_SECS (120)
source "$(dirname "$0")/lib.sh"

ROUNDS="${ROUNDS:-3}"
WRITERS="${WRITERS:-32}"
OPS="${OPS:-5000}"
VALUE_SIZE="${VALUE_SIZE:-256}"
MAX_SECS="${MAX_SECS:-120}"
command -v etcd >/dev/null || { echo "etcd missing: apt-get install -y etcd-server" >&2; exit 1; }

echo "building (the README's release build, kvbench, the placements example)..." >&2
(cd "$ROOT" && cargo build --release -q -p shoal && cargo build --release -q -p shoal-schedule --example placements)
(cd "$BENCH_DIR/kvbench" && CARGO_TARGET_DIR="$ROOT/target/bench-cargo" cargo build --release -q)
KVBENCH="$ROOT/target/bench-cargo/release/kvbench"
make_tmp cluster

echo "## 1. Node loss (a host cut off the network)"
for r in $(seq 1 "$ROUNDS"); do
    line=$(cd "$ROOT" && cargo nextest run -p shoal --test cluster_hosts -E 'test(cut_off)' --no-capture 2>&1 \
        | grep -E "host c (cut off|back)" | tr '\n' ' ')
    echo "round $r: ${line:-FAILED}"
done

echo
echo "## 2. Placements per second (1,000 instances, 3 nodes)"
"$REL/examples/placements" "$ROUNDS"

echo
echo "## 3. KV writes/s: etcd (3 members) vs Shoal's Consul KV API on it"
members=""
cluster=""
for i in 1 2 3; do
    cp=$(free_port); pp=$(free_port)
    eval "client_$i=$cp peer_$i=$pp"
    cluster="${cluster:+$cluster,}m$i=http://127.0.0.1:$pp"
done
for i in 1 2 3; do
    cp=$(eval echo "\$client_$i"); pp=$(eval echo "\$peer_$i")
    etcd --name "m$i" --data-dir "$BENCH_TMP/etcd$i" \
        --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "$cluster" --initial-cluster-state new --max-txn-ops 10000 \
        >"$BENCH_TMP/etcd$i.log" 2>&1 &
    track $!
    members="${members:+$members,}127.0.0.1:$cp"
done
for i in 1 2 3; do wait_http "http://127.0.0.1:$(eval echo "\$client_$i")/health" 30; done
api=$(free_port)
mkdir -p "$BENCH_TMP/node"
cat >"$BENCH_TMP/node/platform.toml" <<TOML
[platform]
data_dir = "data"
http = "127.0.0.1:$api"
gateway = "127.0.0.1:$(free_port)"
dns = "127.0.0.1:$(free_port)"
statsd = "127.0.0.1:$(free_port)"
TOML
(cd "$BENCH_TMP/node" && exec "$REL/shoal" agent platform.toml --store "etcd://$members" \
    --node bench --advertise 127.0.0.1 >"$BENCH_TMP/node/agent.log" 2>&1) &
track $!
wait_http "http://127.0.0.1:$api/v1/status/leader" 30
printf '%-6s %-22s %10s %8s %8s\n' round target "writes/s" "p50 ms" "p99 ms"
for r in $(seq 1 "$ROUNDS"); do
    for target in etcd shoal-http; do
        if [ "$target" = etcd ]; then ep="127.0.0.1:$client_1"; else ep="127.0.0.1:$api"; fi
        out=$("$KVBENCH" --target "$target" --endpoint "$ep" --writers "$WRITERS" --ops "$OPS" \
            --reads 0 --value-size "$VALUE_SIZE" --max-secs "$MAX_SECS" | grep '"op":"put"')
        python3 - "$r" "$target" "$out" <<'PY'
import json, sys
r, target, line = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
name = "etcd (gRPC)" if target == "etcd" else "shoal agent (Consul KV)"
print(f"{r:<6} {name:<22} {line['ops_per_sec']:>10.0f} {line['p50_us']/1000:>8.1f} {line['p99_us']/1000:>8.1f}")
PY
    done
done
