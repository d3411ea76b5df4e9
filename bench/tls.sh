#!/usr/bin/env bash
# TLS termination side by side: nginx, HAProxy and Shoal's gateway each terminate
# HTTPS (TLS 1.2 + 1.3 offered, TLS 1.3 negotiated; ECDSA P-256 certificate from
# examples/tls/make-ca.sh; X25519 key exchange, every party's default) in front of
# the SAME two plain-HTTP upstreams (2 x nginx, 1 worker each, static 200, separate
# processes). Two measurements, CONNS=50 connections each, targets interleaved
# round-robin over ROUNDS rounds (default 3), every run printed:
#  a. handshake: new connections per second, each a FULL TLS handshake carrying ONE
#     request: `wrk -t2 -c50 -d$DURATION -H 'Connection: close'` with the LD_PRELOAD
#     shim bench/tls-noresume.c. Plain wrk (and h2load) RESUME sessions when they
#     reconnect (wrk keeps the session across SSL_clear; against nginx with tickets
#     96-98 % of the reconnections were resumptions), so the shim drops the session
#     before each new connection and counts completed and resumed client handshakes
#     (SSL_session_reused). Each run checks: resumed = 0, and handshakes ~ requests
#     (a server that ignored `Connection: close` would show fewer handshakes). Before
#     the rounds, one run against nginx with the shim in count-only mode shows what
#     share wrk alone would have resumed. The servers keep issuing tickets (their
#     defaults; nginx: shared session cache + tickets on): the client never uses them.
#     Reported: req/s (= new connections/s), full handshakes/s (shim count / wrk's
#     elapsed time) and the terminating server's CPU µs per handshake (its user+sys
#     ticks over the run / handshakes: the number least moved by the load generator,
#     which on 2 cores shares the CPUs and does the costlier ECDSA verify).
#     (openssl s_time -new also never resumes, but is one blocking connection per
#     process; h2load -D never ends when connections close, so wrk it is.)
#  b. keepalive: `wrk -t2 -c50 -d$DURATION --latency` over 50 kept-alive TLS
#     connections: req/s, p50/p99, server CPU µs/request.
# Configs: nginx `worker_processes auto` (one per core), TLSv1.2+1.3, shared session
# cache + tickets, upstream keepalive 256, no access log; HAProxy nbthread = cores,
# ssl-min-ver TLSv1.2, `bind ... ssl crt` (cert+key in one PEM), http-reuse always, no
# log lines. Debian's HAProxy 2.6 and nginx use the system OpenSSL 3.0, which
# HAProxy's developers document as markedly slower than 1.1.1 (more so with
# threads), so their handshake numbers are those builds', not their best.
# Shoal (SHOAL=0 leaves it out): `shoal up` with [platform.tls] (cert/key from
# make-ca.sh) and the two upstreams registered as service `bench` through its Consul
# agent API, as bench/proxy.sh's shoal-up target; requests go to
# https://127.0.0.1:GWPORT/ with `Host: bench`. wrk sends the IP as SNI (an OpenSSL
# client quirk); rustls >= 0.23 ignores an IP SNI as if none was sent. Shoal's
# gateway always keeps its access log (nginx and HAProxy log nothing here).
# Needs: nginx, haproxy, wrk, cc (for the shim), openssl, curl
# (apt-get install -y nginx-light haproxy wrk gcc openssl curl). h2load
# (nghttp2-client) is not needed: it resumes sessions too and the shim works with
# it (`LD_PRELOAD=... h2load --h1 -n N -c 50 -H 'Connection: close'`) if wanted.
# Builds: the shoal binary as bench/proxy.sh does (PROFILE=pgo by default, see
# lib.sh's shoal_binary; SHOAL_BINARY=PATH uses a prebuilt one); nothing with SHOAL=0.
# Output: a table appended (or replaced between markers) at the end of bench/RESULTS.md
# (with OUT=FILE, as bench/run-all.sh sets it, into FILE instead), with per-round
# ratios shoal/nginx, shoal/haproxy (and haproxy/nginx).
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
CONNS="${CONNS:-50}"
SHOAL="${SHOAL:-1}"
PROFILE="${PROFILE:-pgo}"

NGINX="$(tool nginx)"
HAPROXY="$(tool haproxy)"
tool wrk >/dev/null
tool cc >/dev/null
tool openssl >/dev/null
tool curl >/dev/null

SHOAL_BIN=""
[ "$SHOAL" != 1 ] || SHOAL_BIN="$(shoal_binary "$PROFILE")"
make_tmp tls
mkdir -p "$BENCH_TMP/bin" "$BENCH_TMP/up" "$BENCH_TMP/ngx" "$BENCH_TMP/stats"

CERTS="$BENCH_TMP/certs"
KEY=ec "$ROOT/examples/tls/make-ca.sh" "$CERTS" >"$BENCH_TMP/make-ca.out"
CA="$CERTS/ca.pem"
SHIM="$(tls_noresume_shim)"

U1=$(free_port); U2=$(free_port); P_NGINX=$(free_port); P_HAPROXY=$(free_port)
nginx_upstreams "$BENCH_TMP/up" "$U1" "$U2"

# nginx: bench/lib.sh's reverse proxy, with one worker per core and TLS on its listener.
nginx_proxy "$BENCH_TMP/ngx" "$P_NGINX" "$U1" "$U2"
NGX_TLS="listen 127.0.0.1:$P_NGINX ssl; ssl_certificate $CERTS/shoal.pem; ssl_certificate_key $CERTS/shoal.key; ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m; ssl_session_tickets on;"
sed -i -e 's/^worker_processes 2;/worker_processes auto;/' \
    -e "s|listen 127.0.0.1:$P_NGINX;|$NGX_TLS|" "$BENCH_TMP/ngx/nginx.conf"
grep -q "listen 127.0.0.1:$P_NGINX ssl;" "$BENCH_TMP/ngx/nginx.conf" || { echo "nginx TLS config not applied" >&2; exit 1; }

# HAProxy wants the certificate and its key in one PEM.
cat "$CERTS/shoal.pem" "$CERTS/shoal.key" > "$BENCH_TMP/haproxy.pem"
cat > "$BENCH_TMP/haproxy.cfg" <<CONF
global
    nbthread $(nproc)
    maxconn 8000
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend fe
    bind 127.0.0.1:$P_HAPROXY ssl crt $BENCH_TMP/haproxy.pem alpn http/1.1
    default_backend be
backend be
    balance roundrobin
    server u1 127.0.0.1:$U1
    server u2 127.0.0.1:$U2
CONF

"$NGINX" -p "$BENCH_TMP/up" -c "$BENCH_TMP/up/nginx.conf" -g 'daemon off;' 2>"$BENCH_TMP/up/stderr" & track $!
"$NGINX" -p "$BENCH_TMP/ngx" -c "$BENCH_TMP/ngx/nginx.conf" -g 'daemon off;' 2>"$BENCH_TMP/ngx/stderr" & track $!
NGINX_MASTER=$!
"$HAPROXY" -db -f "$BENCH_TMP/haproxy.cfg" >"$BENCH_TMP/haproxy.log" 2>&1 & track $!
HAPROXY_PID=$!

if [ "$SHOAL" = 1 ]; then
    UPD="$BENCH_TMP/shoal-up"
    mkdir -p "$UPD"
    cp "$SHOAL_BIN" "$BENCH_TMP/bin/shoal"
    P_UP=$(free_port)
    P_UP_HTTP=$(free_port)
    cat > "$UPD/shoal.toml" <<CONF
[platform]
data_dir = "$UPD/data"
http = "127.0.0.1:$P_UP_HTTP"
dns = "127.0.0.1:0"
gateway = "127.0.0.1:$P_UP"
statsd = "127.0.0.1:0"
[platform.tls]
cert = "$CERTS/shoal.pem"
key = "$CERTS/shoal.key"
CONF
    (cd "$UPD" && exec "$BENCH_TMP/bin/shoal" up shoal.toml >"$UPD/stdout" 2>"$UPD/stderr") & track $!
    SHOAL_PID=$!
    # The same two upstreams as the other proxies, registered as service `bench`.
    register_bench "$P_UP_HTTP" "$U1" "$U2"
fi

wait_http "http://127.0.0.1:$U1/" 10
wait_http "http://127.0.0.1:$U2/" 10
wait_bench_tls "$CA" 10 "$P_NGINX" "$P_HAPROXY"
if [ "$SHOAL" = 1 ] && ! wait_bench_tls "$CA" 30 "$P_UP"; then
    echo "shoal up did not answer over HTTPS; its stderr:" >&2
    tail -20 "$UPD/stderr" >&2
    exit 1
fi

declare -A PORT=([nginx]=$P_NGINX [haproxy]=$P_HAPROXY)
# The processes whose CPU counts as the TLS terminator's (nginx: its workers).
declare -A PIDS=([nginx]="$(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')" [haproxy]="$HAPROXY_PID")
TARGETS="nginx haproxy"
if [ "$SHOAL" = 1 ]; then
    PORT[shoal]=$P_UP
    # The shoal process only (the upstream nginx instances are not the proxy).
    PIDS[shoal]=$SHOAL_PID
    TARGETS="$TARGETS shoal"
fi
HZ="$(getconf CLK_TCK)"

# What the TLS connection looks like (the same for every target is the point).
tls_info() {
    openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile "$CA" </dev/null 2>/dev/null |
        awk '/^New, / {p=$2; sub(/,$/, "", p); c=$NF} /^Server Temp Key:/ {sub(/^Server Temp Key: /, ""); k=$0}
             /^Peer signature type:/ {s=$NF} /^Verify return code:/ && !v {sub(/^Verify return code: /, ""); v=$0}
             END {printf "%s %s, key exchange %s, signature %s, verify against ca.pem: %s", p, c, k, s, v}'
}
declare -A INFO
for t in $TARGETS; do
    INFO[$t]="$(tls_info "${PORT[$t]}")"
    echo "$t: ${INFO[$t]}" >&2
done

# wrk_run MODE TARGET STATS: one wrk run; MODE handshake (new connection per request,
# no resumption, counted by the shim into STATS) or keepalive.
wrk_run() {
    local url="https://127.0.0.1:${PORT[$2]}/"
    if [ "$1" = handshake ]; then
        TLS_NORESUME_STATS="$3" LD_PRELOAD="$SHIM" \
            wrk -t2 -c"$CONNS" -d"$DURATION" -H 'Host: bench' -H 'Connection: close' "$url" 2>&1
    else
        wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H 'Host: bench' "$url" 2>&1
    fi
}

# How much plain wrk would resume: the shim in count-only mode, against nginx (tickets on).
PROBE="$(TLS_NORESUME_COUNT_ONLY=1 TLS_NORESUME_STATS="$BENCH_TMP/stats/probe" LD_PRELOAD="$SHIM" \
    wrk -t2 -c"$CONNS" -d2s -H 'Host: bench' -H 'Connection: close' "https://127.0.0.1:$P_NGINX/" 2>&1)"
read -r _ PROBE_HS _ PROBE_RES < "$BENCH_TMP/stats/probe"
PROBE_NOTE="plain wrk with Connection: close against nginx (2 s): $PROBE_RES of $PROBE_HS handshakes were resumptions; with the shim: 0 (checked on every run below)"
echo "$PROBE_NOTE" >&2
[ "${PROBE_HS:-0}" -gt 0 ] || { echo "the probe run made no handshakes:" >&2; echo "$PROBE" >&2; exit 1; }

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
RAW="$BENCH_TMP/raw.tsv"
: > "$RAW"
for round in $(seq 1 "$ROUNDS"); do
    for mode in handshake keepalive; do
        for t in $TARGETS; do
            stats="$BENCH_TMP/stats/$round-$mode-$t"
            # shellcheck disable=SC2086 # PIDS holds a list
            t0="$(cpu_ticks ${PIDS[$t]})"
            out="$(wrk_run "$mode" "$t" "$stats")"
            # shellcheck disable=SC2086
            t1="$(cpu_ticks ${PIDS[$t]})"
            rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
            n="$(awk '/ requests in / {print $1}' <<<"$out")"
            secs="$(awk '/ requests in / {sub(/s,$/, "", $4); print $4}' <<<"$out")"
            errs="$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')"
            hs=nan res=nan hsps=nan p50=nan p99=nan
            if [ "$mode" = handshake ]; then
                read -r _ hs _ res < "$stats" || true
                hsps="$(awk -v h="${hs:-0}" -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.1f", h / s; else print "nan" }')"
                # Every request must have come on a full handshake of its own.
                [ "${res:-1}" = 0 ] || errs="$errs RESUMED: $res of $hs handshakes;"
                [ "${hs:-0}" -ge $(( ${n:-0} * 95 / 100 )) ] || errs="$errs kept alive: ${n:-0} requests on ${hs:-0} handshakes;"
                ops="${hs:-0}"
            else
                p50="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
                p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
                ops="${n:-0}"
            fi
            cpu="$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="$ops" 'BEGIN { if (n == 0) print "nan"; else printf "%.1f", d * 1e6 / hz / n }')"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                "$round" "$mode" "$t" "${rps:-0}" "$hsps" "$p50" "$p99" "${errs:-none}" "$cpu" "$hs" "$res" "${n:-0}" >> "$RAW"
            if [ "$mode" = handshake ]; then
                echo "round $round $mode $t: ${rps:-0} req/s, $hsps full handshakes/s ($hs handshakes, $res resumed, ${n:-0} requests), server cpu ${cpu}us/handshake ${errs}" >&2
            else
                echo "round $round $mode $t: ${rps:-0} req/s p50 ${p50}ms p99 ${p99}ms, server cpu ${cpu}us/req ${errs}" >&2
            fi
        done
    done
done

REPORT="$BENCH_TMP/report.md"
{
    echo "### TLS termination: full handshakes/s and keep-alive req/s, Shoal vs nginx vs HAProxy (bench/tls.sh)"
    echo
    echo '```'
    machine_info
    echo "load avg before the run: $LOAD_BEFORE"
    echo "nginx:   $("$NGINX" -v 2>&1 | sed 's/.*: //'), worker_processes auto ($(nproc)), TLSv1.2+1.3, session cache + tickets on, upstream keepalive 256, no access log"
    echo "haproxy: $("$HAPROXY" -v 2>&1 | head -1 | awk '{print $3}'), nbthread $(nproc), ssl-min-ver TLSv1.2, http-reuse always, no log"
    echo "openssl: $(openssl version) (nginx, haproxy and the load tool's library)"
    [ "$SHOAL" != 1 ] || echo "shoal:   the HTTPS gateway of \`shoal up\` ($(if [ -n "${SHOAL_BINARY:-}" ]; then echo "prebuilt binary $SHOAL_BINARY"; else profile_note "$PROFILE"; fi)), rustls, with its access log, over the same 2 upstreams registered through its Consul agent API"
    echo "upstreams: 2 x nginx (1 worker) over plain HTTP return 200 \"ok\""
    echo "certificate: ECDSA P-256 leaf (examples/tls/make-ca.sh), leaf only, no OCSP stapling"
    for t in $TARGETS; do echo "tls $t: ${INFO[$t]}"; done
    echo "handshake: LD_PRELOAD=bench/tls-noresume.c wrk -t2 -c$CONNS -d$DURATION -H 'Host: bench' -H 'Connection: close' (one request per connection, sessions never offered for resumption)"
    echo "           $PROBE_NOTE"
    echo "keepalive: wrk -t2 -c$CONNS -d$DURATION --latency -H 'Host: bench'"
    echo "$ROUNDS rounds, targets interleaved; server CPU = the terminating process(es)' user+sys during the run"
    echo '```'
    echo
    echo "Full TLS handshakes (a new connection with one request each, $CONNS connections):"
    echo
    echo "| target | new conns/s = req/s (mean) | full handshakes/s | resumed | server CPU µs/handshake | per-round req/s | errors |"
    echo "|---|---|---|---|---|---|---|"
    for t in $TARGETS; do
        awk -F'\t' -v t="$t" '
            $2=="handshake" && $3==t { r+=$4; h+=$5; n++; res+=$11; rounds = rounds (rounds ? " / " : "") int($4); if ($8 != "none") e = e $8
                                       if ($9 != "nan") { cpu+=$9; nc++ } }
            END { if (n) printf "| %s | %d | %d | %d | %s | %s | %s |\n", t, r/n, h/n, res, (nc ? sprintf("%.0f", cpu/nc) : "-"), rounds, (e ? e : "none") }' "$RAW"
    done
    echo
    echo "Keep-alive requests over TLS ($CONNS connections):"
    echo
    echo "| target | req/s (mean) | p50 ms | p99 ms | server CPU µs/req | per-round req/s | errors |"
    echo "|---|---|---|---|---|---|---|"
    for t in $TARGETS; do
        awk -F'\t' -v t="$t" '
            $2=="keepalive" && $3==t { r+=$4; p50+=$6; p99+=$7; n++; rounds = rounds (rounds ? " / " : "") int($4); if ($8 != "none") e = e $8
                                       if ($9 != "nan") { cpu+=$9; nc++ } }
            END { if (n) printf "| %s | %d | %.2f | %.2f | %s | %s | %s |\n", t, r/n, p50/n, p99/n, (nc ? sprintf("%.1f", cpu/nc) : "-"), rounds, (e ? e : "none") }' "$RAW"
    done
    echo
    # Paired ratios: each round's targets ran back to back.
    echo "Per-round ratios (the targets of a round run back to back; sorted, the median in brackets; CPU ratios below 1 mean less CPU per operation):"
    echo
    for mode in handshake keepalive; do
        for pair in "shoal nginx" "shoal haproxy" "haproxy nginx"; do
            set -- $pair
            awk -F'\t' -v m="$mode" -v a="$1" -v b="$2" '
                function line(arr, n,   i, j, t, s, med) {
                    for (i=1;i<=n;i++) for (j=i+1;j<=n;j++) if (arr[j] < arr[i]) { t=arr[i]; arr[i]=arr[j]; arr[j]=t }
                    s = ""; for (i=1;i<=n;i++) s = s (i>1 ? " " : "") sprintf("%.2f", arr[i])
                    med = (n % 2) ? arr[(n+1)/2] : (arr[n/2] + arr[n/2+1]) / 2
                    return s sprintf(" [%.2f]", med)
                }
                $2==m && $3==a { ra[$1]=$4; ca[$1]=$9 } $2==m && $3==b { rb[$1]=$4; cb[$1]=$9 }
                END { n=0; k=0
                      for (r in ra) if ((r in rb) && rb[r] > 0) {
                          v[++n]=ra[r]/rb[r]
                          if (ca[r] != "nan" && cb[r] != "nan" && cb[r] > 0) w[++k]=ca[r]/cb[r] }
                      if (n == 0) exit
                      printf "- %s, %s / %s: req/s %s", m, a, b, line(v, n)
                      if (k) printf "; server CPU per op %s", line(w, k)
                      printf "\n" }' "$RAW"
        done
    done
    echo
} > "$REPORT"
cat "$REPORT"

write_report tls "$REPORT"
