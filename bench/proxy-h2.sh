#!/usr/bin/env bash
# HTTP/2 (h2c) on both sides: Shoal's proxy vs nginx (grpc_pass) vs HAProxy
# (proto h2) as h2c proxies over the SAME two h2c upstreams (nginx with
# `listen ... http2` answering a static 200), plus the upstream hit directly.
# Load: h2load (nghttp2-client), prior knowledge, C connections x M concurrent
# streams each, N requests per run; targets interleaved over ROUNDS rounds.
# Needs: nginx, haproxy, h2load (apt-get install -y nginx-light haproxy nghttp2-client).
# Builds: cargo build --release -p shoal-proxy --example proxy_bench (PROXY_BENCH_H2C=1).
# Output: a table replaced between markers at the end of bench/RESULTS.md.
source "$(dirname "$0")/lib.sh"

ROUNDS="${ROUNDS:-3}"
REQUESTS="${REQUESTS:-200000}"
CONNS="${CONNS:-50}"
STREAMS="${STREAMS:-10}"

NGINX="$(tool nginx)"
HAPROXY="$(tool haproxy)"
tool h2load >/dev/null

(cd "$ROOT" && cargo build --release -p shoal-proxy --example proxy_bench >&2)
make_tmp proxy-h2
mkdir -p "$BENCH_TMP/bin" "$BENCH_TMP/up" "$BENCH_TMP/ngx"
cp "$REL/examples/proxy_bench" "$BENCH_TMP/bin/proxy_bench"

U1=$(free_port); U2=$(free_port); P_SHOAL=$(free_port); P_NGINX=$(free_port); P_HAPROXY=$(free_port)

cat > "$BENCH_TMP/up/nginx.conf" <<CONF
worker_processes 1;
pid $BENCH_TMP/up/nginx.pid;
error_log $BENCH_TMP/up/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    http2_max_requests 1000000;
    http2_max_concurrent_streams 1024;
    server { listen 127.0.0.1:$U1 http2; location / { return 200 "ok\n"; } }
    server { listen 127.0.0.1:$U2 http2; location / { return 200 "ok\n"; } }
}
CONF
cat > "$BENCH_TMP/ngx/nginx.conf" <<CONF
worker_processes 2;
pid $BENCH_TMP/ngx/nginx.pid;
error_log $BENCH_TMP/ngx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    http2_max_requests 1000000;
    http2_max_concurrent_streams 1024;
    upstream backend { server 127.0.0.1:$U1; server 127.0.0.1:$U2; keepalive 256; }
    server {
        listen 127.0.0.1:$P_NGINX http2;
        location / { grpc_pass grpc://backend; }
    }
}
CONF
cat > "$BENCH_TMP/haproxy.cfg" <<CONF
global
    nbthread 2
    maxconn 8000
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend fe
    bind 127.0.0.1:$P_HAPROXY proto h2
    default_backend be
backend be
    balance roundrobin
    server u1 127.0.0.1:$U1 proto h2
    server u2 127.0.0.1:$U2 proto h2
CONF

"$NGINX" -p "$BENCH_TMP/up" -c "$BENCH_TMP/up/nginx.conf" -g 'daemon off;' 2>"$BENCH_TMP/up/stderr" & track $!
"$NGINX" -p "$BENCH_TMP/ngx" -c "$BENCH_TMP/ngx/nginx.conf" -g 'daemon off;' 2>"$BENCH_TMP/ngx/stderr" & track $!
NGINX_MASTER=$!
"$HAPROXY" -db -f "$BENCH_TMP/haproxy.cfg" >"$BENCH_TMP/haproxy.log" 2>&1 & track $!
HAPROXY_PID=$!
PROXY_BENCH_H2C=1 "$BENCH_TMP/bin/proxy_bench" "127.0.0.1:$P_SHOAL" "127.0.0.1:$U1" "127.0.0.1:$U2" 2>"$BENCH_TMP/shoal.log" & track $!
SHOAL_PID=$!

# ready PORT: an h2c request answers 200 (bounded wait).
ready() {
    for _ in $(seq 1 200); do
        h2load -n 1 -c 1 -H ':authority: bench' "http://127.0.0.1:$1/" 2>/dev/null | grep -q "1 succeeded" && return 0
        sleep 0.05
    done
    echo "port $1 never answered over h2c" >&2
    exit 1
}
for p in "$U1" "$U2" "$P_SHOAL" "$P_NGINX" "$P_HAPROXY"; do ready "$p"; done

declare -A PORT=([direct]=$U1 [shoal]=$P_SHOAL [nginx]=$P_NGINX [haproxy]=$P_HAPROXY)
declare -A PIDS=([direct]="" [shoal]="$SHOAL_PID" [nginx]="$(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')" [haproxy]="$HAPROXY_PID")
HZ="$(getconf CLK_TCK)"
TARGETS="direct shoal nginx haproxy"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
RAW="$BENCH_TMP/raw.tsv"
: > "$RAW"

for round in $(seq 1 "$ROUNDS"); do
    for t in $TARGETS; do
        # shellcheck disable=SC2086 # PIDS holds a list
        t0="$(cpu_ticks ${PIDS[$t]})"
        out="$(h2load -n "$REQUESTS" -c "$CONNS" -m "$STREAMS" -t 2 -H ':authority: bench' "http://127.0.0.1:${PORT[$t]}/" 2>&1)"
        # shellcheck disable=SC2086
        t1="$(cpu_ticks ${PIDS[$t]})"
        rps="$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")"
        ok="$(awk '/^requests:/ {print $8}' <<<"$out")"
        failed="$(awk '/^requests:/ {print $10 + $12}' <<<"$out")"
        mean="$(to_ms "$(awk '/^time for request:/ {print $6}' <<<"$out")")"
        sd="$(to_ms "$(awk '/^time for request:/ {print $7}' <<<"$out")")"
        cpu="$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="${ok:-0}" -v t="$t" 'BEGIN { if (t == "direct" || n == 0) print "nan"; else printf "%.1f", d * 1e6 / hz / n }')"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$t" "$rps" "$mean" "$sd" "${failed:-nan}" "$cpu" >> "$RAW"
        echo "round $round $t: $rps req/s, mean ${mean}ms sd ${sd}ms, failed ${failed}, cpu ${cpu}us/req" >&2
    done
done

REPORT="$BENCH_TMP/report.md"
{
    echo "### Proxy over HTTP/2 (h2c both sides): Shoal vs nginx vs HAProxy (bench/proxy-h2.sh)"
    echo
    echo '```'
    machine_info
    echo "load avg before the run: $LOAD_BEFORE"
    echo "nginx:   $("$NGINX" -v 2>&1 | sed 's/.*: //'), 2 workers, listen http2 + grpc_pass to the upstreams (keepalive 256)"
    echo "haproxy: $("$HAPROXY" -v 2>&1 | head -1 | awk '{print $3}'), nbthread 2, bind proto h2, servers proto h2, http-reuse always"
    echo "shoal:   proxy_bench (release) with PROXY_BENCH_H2C=1: the service's protocol is h2c (one HTTP/2 connection per upstream per serving thread)"
    echo "upstreams: 2 x nginx (1 worker, listen http2) return 200 \"ok\"; direct = h2load to one upstream, no proxy"
    echo "command: h2load -n $REQUESTS -c $CONNS -m $STREAMS -t 2 -H ':authority: bench'; $ROUNDS rounds, targets interleaved"
    echo '```'
    echo
    echo "| target | req/s (mean of rounds) | mean ms | sd ms | failed | proxy CPU µs/req | per-round req/s |"
    echo "|---|---|---|---|---|---|---|"
    for t in $TARGETS; do
        awk -F'\t' -v t="$t" '
            $2==t { r+=$3; m+=$4; s+=$5; f+=$6; n++; rounds = rounds (rounds ? " / " : "") int($3)
                    if ($7 != "nan") { cpu+=$7; nc++ } }
            END { if (n) printf "| %s | %d | %.2f | %.2f | %d | %s | %s |\n", t, r/n, m/n, s/n, f,
                  (nc ? sprintf("%.1f", cpu/nc) : "-"), rounds }' "$RAW"
    done
    echo
} > "$REPORT"
cat "$REPORT"

write_report proxy-h2 "$REPORT"
