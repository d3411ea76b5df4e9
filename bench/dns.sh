#!/usr/bin/env bash
# bench/dns.sh — DNS queries/s and latency: Shoal's DNS vs dnsmasq serving the same records.
#
# Shoal runs a fleet (web: 5 instances, api: 3, no health check: passing while running);
# dnsmasq gets the same answers as static records (--host-record, --srv-host, --cache-size).
# dnsperf sends the same query file to both, over UDP, for DURATION seconds per run,
# alternating Shoal / dnsmasq ROUNDS times so neither always runs first.
# Query mix: web A 40%, api A 20%, _web._tcp SRV 20%, node A 10%, unknown (NXDOMAIN) 10%.
#
# Env: DURATION (10) ROUNDS (2) CLIENTS (4) OUTSTANDING (200) SHOAL_BIN (target/release/shoal)
# Needs: dnsperf, dnsmasq (apt-get install -y dnsperf dnsmasq-base), dig (dnsutils).
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-10}"
ROUNDS="${ROUNDS:-2}"
CLIENTS="${CLIENTS:-4}"
OUTSTANDING="${OUTSTANDING:-200}"
for tool in dnsperf dnsmasq dig; do
    command -v "$tool" >/dev/null || {
        echo "$tool missing: apt-get install -y dnsperf dnsmasq-base dnsutils" >&2
        exit 1
    }
done
if [ -z "${SHOAL_BIN:-}" ]; then
    need_bins shoal
    SHOAL_BIN="$REL/shoal"
fi
make_tmp dns

# --- Shoal ---------------------------------------------------------------------
SP="$(free_port)"; GP="$(free_port)"; DP="$(free_port)"
cat >"$BENCH_TMP/shoal.toml" <<EOF
[platform]
data_dir = "$BENCH_TMP/shoal-data"
http = "127.0.0.1:$SP"
gateway = "127.0.0.1:$GP"
dns = "127.0.0.1:$DP"
statsd = "127.0.0.1:0"
port_range = "41000-41099"

[services.web]
command = ["sleep", "100000"]
instances = 5

[services.api]
command = ["sleep", "100000"]
instances = 3
EOF
"$SHOAL_BIN" up "$BENCH_TMP/shoal.toml" >"$BENCH_TMP/shoal.log" 2>&1 &
SHOAL_PID=$!; track "$SHOAL_PID"
wait_http "http://127.0.0.1:$SP/v1/status/leader" 30
for _ in $(seq 1 200); do
    n="$(dig @127.0.0.1 -p "$DP" +tcp +short _web._tcp.service.shoal SRV | wc -l)"
    [ "$n" = 5 ] && break
    sleep 0.1
done
[ "$n" = 5 ] || { echo "Shoal DNS did not list 5 web instances" >&2; cat "$BENCH_TMP/shoal.log" >&2; exit 1; }
NODE="$(dig @127.0.0.1 -p "$DP" +tcp +short _web._tcp.service.shoal SRV | awk 'NR==1 {print $4}' | cut -d. -f1)"

# --- dnsmasq with the same records ---------------------------------------------
MP="$(free_port)"
args=(-k -C /dev/null --port="$MP" --listen-address=127.0.0.1 --bind-interfaces
      --no-resolv --no-hosts --local=/shoal/ --cache-size=10000 --pid-file=
      --host-record=web.service.shoal,127.0.0.1
      --host-record=api.service.shoal,127.0.0.1
      --host-record="$NODE.node.shoal,127.0.0.1"
      --host-record="$NODE.node.dc1.shoal,127.0.0.1")
while read -r _ _ port target; do
    args+=(--srv-host="_web._tcp.service.shoal,${target%.},$port,1,1")
done < <(dig @127.0.0.1 -p "$DP" +tcp +short _web._tcp.service.shoal SRV)
dnsmasq "${args[@]}" >"$BENCH_TMP/dnsmasq.log" 2>&1 &
DNSMASQ_PID=$!; track "$DNSMASQ_PID"
for _ in $(seq 1 100); do
    dig @127.0.0.1 -p "$MP" +short web.service.shoal A | grep -q 127.0.0.1 && break
    sleep 0.05
done

# --- the same answers from both -------------------------------------------------
same_answers() { # NAME PORT
    local s a x
    s="$(dig @127.0.0.1 -p "$2" +tcp +short _web._tcp.service.shoal SRV | wc -l)"
    a="$(dig @127.0.0.1 -p "$2" +short web.service.shoal A | tr '\n' ' ')"
    x="$(dig @127.0.0.1 -p "$2" nope.service.shoal A | grep -o 'status: [A-Z]*')"
    printf '%-8s _web._tcp SRV: %s records; web A: %s; unknown name: %s\n' "$1" "$s" "$a" "$x"
}

# --- query file -----------------------------------------------------------------
Q="$BENCH_TMP/queries.txt"
for _ in $(seq 1 1000); do
    printf 'web.service.shoal A\nweb.service.shoal A\nweb.service.shoal A\nweb.service.shoal A\n'
    printf 'api.service.shoal A\napi.service.shoal A\n'
    printf '_web._tcp.service.shoal SRV\n_web._tcp.service.shoal SRV\n'
    printf '%s.node.shoal A\n' "$NODE"
    printf 'nope.service.shoal A\n'
done >"$Q"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() { # run NAME PORT ROUND PID
    local out t0 t1
    t0="$(cpu_ticks "$4")"
    out="$(dnsperf -s 127.0.0.1 -p "$2" -d "$Q" -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" -T 1 2>&1)"
    t1="$(cpu_ticks "$4")"
    echo "$out" >"$BENCH_TMP/dnsperf-$1-$3.txt"
    local qps lat min max lost
    qps="$(awk '/Queries per second/ {print $4}' <<<"$out")"
    # "Average Latency (s):  0.000794 (min 0.000010, max 0.010117)"
    read -r lat min max < <(awk '/Average Latency/ {gsub(/[(),:]/," "); print $4, $6, $8}' <<<"$out")
    lost="$(awk '/Queries lost/ {print $3, $4}' <<<"$out")"
    # Server CPU (user + system) per answered query: robust on a shared machine.
    local done cpu
    done="$(awk '/Queries completed/ {print $3}' <<<"$out")"
    cpu="$(awk "BEGIN {printf \"%.1f\", ($t1 - $t0) * 1e6 / $(getconf CLK_TCK) / $done}")"
    printf '| %-8s | %5s | %12.0f | %8.0f | %8.0f | %8.0f | %8s | %-10s |\n' "$1" "$3" "$qps" \
        "$(awk "BEGIN {print $lat*1e6}")" "$(awk "BEGIN {print $min*1e6}")" \
        "$(awk "BEGIN {print $max*1e6}")" "$cpu" "$lost"
}

# With OUT set (bench/run-all.sh), the report also goes to that file.
if [ -n "${OUT:-}" ]; then exec > >(tee "$OUT"); fi
echo "### DNS: queries/s and latency, Shoal vs dnsmasq (bench/dns.sh)"
echo
echo '```'
machine_info
echo "dnsperf: dnsperf -T 1 -c $CLIENTS -q $OUTSTANDING -l $DURATION over UDP, $(wc -l <"$Q") queries in the file"
echo "servers: Shoal ($("$SHOAL_BIN" --version 2>/dev/null || echo shoal)), $(dnsmasq --version | head -1 | sed 's/  Copyright.*//')"
same_answers shoal "$DP"
same_answers dnsmasq "$MP"
echo '```'
echo
echo "| server   | round |    queries/s |   avg µs |   min µs |   max µs | CPU µs/q | lost       |"
echo "|----------|-------|--------------|----------|----------|----------|----------|------------|"
for r in $(seq 1 "$ROUNDS"); do
    run shoal "$DP" "$r" "$SHOAL_PID"
    run dnsmasq "$MP" "$r" "$DNSMASQ_PID"
done
