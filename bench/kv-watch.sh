#!/usr/bin/env bash
# Blocking-query wake-up latency: Shoal's Consul blocking GET vs etcd's watch,
# both over HTTP/JSON on loopback (bench/watch_latency.py), same rounds.
# Needs: target/release/shoal, etcd (Debian etcd-server), python3.
source "$(dirname "$0")/lib.sh"
ROUNDS="${ROUNDS:-200}"
make_tmp kvwatch

http_port=$(free_port)
mkdir -p "$BENCH_TMP/shoal"
cat > "$BENCH_TMP/shoal/shoal.toml" <<TOML
[platform]
data_dir = "data"
http = "127.0.0.1:$http_port"
gateway = "127.0.0.1:0"
dns = "127.0.0.1:0"
statsd = "127.0.0.1:0"
TOML
(cd "$BENCH_TMP/shoal" && exec "$REL/shoal" up shoal.toml >/dev/null 2>&1) &
track $!
wait_http "http://127.0.0.1:$http_port/v1/status/leader" 30

etcd_port=$(free_port); peer_port=$(free_port)
etcd --data-dir "$BENCH_TMP/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
     --advertise-client-urls "http://127.0.0.1:$etcd_port" \
     --listen-peer-urls "http://127.0.0.1:$peer_port" >/dev/null 2>&1 &
track $!
for _ in $(seq 1 100); do curl -fsS -m 1 "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break; sleep 0.1; done

# With OUT set (bench/run-all.sh), the report also goes to that file.
if [ -n "${OUT:-}" ]; then exec > >(tee "$OUT"); fi
echo "### KV blocking-query wake-up latency (bench/kv-watch.sh)"
echo
echo '```'
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rounds:  $ROUNDS per system, alternating two runs each"
for run in 1 2; do
  python3 "$BENCH_DIR/watch_latency.py" shoal "127.0.0.1:$http_port" "$ROUNDS"
  python3 "$BENCH_DIR/watch_latency.py" etcd "127.0.0.1:$etcd_port" "$ROUNDS"
done
echo '```'
