#!/usr/bin/env bash
# Proxy throughput and latency: Shoal's proxy vs nginx vs HAProxy as reverse
# proxies over the SAME two upstreams (nginx answering a static 200), plus the
# upstream hit directly as a baseline. Runs alternate (round-robin over the
# targets, two rounds) with `wrk -t2 -c50 -d10s` and `-c200`, `--latency`.
# Needs: nginx, haproxy, wrk (apt-get install -y nginx-light haproxy wrk).
# Builds: the shoal binary with scripts/build-pgo (PROFILE=pgo, the default: release-lto
# optimized with a profile of its own run, the production build; needs llvm-profdata, see
# that script) and cargo build --profile release-lto -p shoal-proxy --example proxy_bench.
# PROFILE=release-lto (fat LTO, no profile) or PROFILE=release (the quick-start build)
# build both with that cargo profile.
# Output: a table appended (or replaced between markers) at the end of bench/RESULTS.md,
# with per-round ratios (shoal-up / nginx and others: each round's targets run back to back).
# A/B: BASELINE=/path/to/an/older/proxy_bench adds target `shoal-base` (that binary,
# same arguments; BASELINE_NOTE describes it in the report), interleaved with the others.
# Target `shoal-up` (SHOAL_UP=0 leaves it out): the gateway of a real `shoal up`, with
# its access log, spans and metrics hooks, over the same two upstreams, registered as
# service `bench` through its Consul agent API; it needs the `shoal` binary (same profile).
# Target `nginx-log` (NGINX_LOG=0 leaves it out): the nginx proxy again with an access
# log (combined format, 64k buffer, flushed each second), nginx's shipped default; it is
# the nginx to hold `shoal-up` against, since Shoal's gateway always logs each request.
# Target `shoal-up-flags` (FLAGS=0 leaves it out): `shoal-up` again with 20 feature flags
# of every rule kind evaluated on each request (set through the API before each of its
# runs, deleted after), to hold against `shoal-up` (the flags' cost).
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-2}"
FLAGS="${FLAGS:-1}"
CONNS="${CONNS:-50 200}"
BASELINE="${BASELINE:-}"

NGINX="$(tool nginx)"
HAPROXY="$(tool haproxy)"
tool wrk >/dev/null

SHOAL_UP="${SHOAL_UP:-1}"
NGINX_LOG="${NGINX_LOG:-1}"
PROFILE="${PROFILE:-pgo}"
ENGINE_PROFILE="$(engine_profile "$PROFILE")"
OUT_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/$ENGINE_PROFILE"
(cd "$ROOT" && cargo build --profile "$ENGINE_PROFILE" -p shoal-proxy --example proxy_bench >&2)
SHOAL_BIN=""
[ "$SHOAL_UP" != 1 ] || SHOAL_BIN="$(shoal_binary "$PROFILE")"
make_tmp proxy
mkdir -p "$BENCH_TMP/bin" "$BENCH_TMP/up" "$BENCH_TMP/ngx" "$BENCH_TMP/ngx-log"
cp "$OUT_DIR/examples/proxy_bench" "$BENCH_TMP/bin/proxy_bench"

U1=$(free_port); U2=$(free_port); P_SHOAL=$(free_port); P_NGINX=$(free_port); P_HAPROXY=$(free_port)

nginx_upstreams "$BENCH_TMP/up" "$U1" "$U2"
nginx_proxy "$BENCH_TMP/ngx" "$P_NGINX" "$U1" "$U2"
P_NGINX_LOG=$(free_port)
# The same proxy with nginx's default access log, buffered.
sed -e "s|access_log off;|access_log $BENCH_TMP/ngx-log/access.log combined buffer=64k flush=1s;|" \
    -e "s|listen 127.0.0.1:$P_NGINX;|listen 127.0.0.1:$P_NGINX_LOG;|" \
    -e "s|$BENCH_TMP/ngx/|$BENCH_TMP/ngx-log/|g" \
    "$BENCH_TMP/ngx/nginx.conf" > "$BENCH_TMP/ngx-log/nginx.conf"
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
    bind 127.0.0.1:$P_HAPROXY
    default_backend be
backend be
    balance roundrobin
    server u1 127.0.0.1:$U1
    server u2 127.0.0.1:$U2
CONF

"$NGINX" -p "$BENCH_TMP/up" -c "$BENCH_TMP/up/nginx.conf" -g 'daemon off;' 2>"$BENCH_TMP/up/stderr" & track $!
"$NGINX" -p "$BENCH_TMP/ngx" -c "$BENCH_TMP/ngx/nginx.conf" -g 'daemon off;' 2>"$BENCH_TMP/ngx/stderr" & track $!
NGINX_MASTER=$!
if [ "$NGINX_LOG" = 1 ]; then
    "$NGINX" -p "$BENCH_TMP/ngx-log" -c "$BENCH_TMP/ngx-log/nginx.conf" -g 'daemon off;' 2>"$BENCH_TMP/ngx-log/stderr" & track $!
    NGINX_LOG_MASTER=$!
fi
"$HAPROXY" -db -f "$BENCH_TMP/haproxy.cfg" >"$BENCH_TMP/haproxy.log" 2>&1 & track $!
HAPROXY_PID=$!
"$BENCH_TMP/bin/proxy_bench" "127.0.0.1:$P_SHOAL" "127.0.0.1:$U1" "127.0.0.1:$U2" 2>"$BENCH_TMP/shoal.log" & track $!
SHOAL_PID=$!
if [ "$SHOAL_UP" = 1 ]; then
    UPD="$BENCH_TMP/shoal-up"
    mkdir -p "$UPD"
    cp "$SHOAL_BIN" "$BENCH_TMP/bin/shoal"
    P_UP=$(free_port)
    P_UP_HTTP=$(free_port)
    shoal_up_config "$UPD" "$P_UP_HTTP" "$P_UP"
    (cd "$UPD" && exec "$BENCH_TMP/bin/shoal" up shoal.toml >"$UPD/stdout" 2>"$UPD/stderr") & track $!
    SHOAL_UP_PID=$!
    # The same two upstreams as the other proxies, registered as service `bench`.
    register_bench "$P_UP_HTTP" "$U1" "$U2"
fi
if [ -n "$BASELINE" ]; then
    P_BASE=$(free_port)
    cp "$BASELINE" "$BENCH_TMP/bin/proxy_bench_base"
    "$BENCH_TMP/bin/proxy_bench_base" "127.0.0.1:$P_BASE" "127.0.0.1:$U1" "127.0.0.1:$U2" 2>"$BENCH_TMP/shoal-base.log" & track $!
    BASE_PID=$!
fi

wait_http "http://127.0.0.1:$U1/" 10
wait_http "http://127.0.0.1:$U2/" 10
wait_http "http://127.0.0.1:$P_NGINX/" 10
wait_http "http://127.0.0.1:$P_HAPROXY/" 10
[ "$NGINX_LOG" != 1 ] || wait_http "http://127.0.0.1:$P_NGINX_LOG/" 10
wait_bench "$P_SHOAL" ${BASELINE:+"$P_BASE"} ${P_UP:+"$P_UP"}

declare -A PORT=([direct]=$U1 [shoal]=$P_SHOAL [nginx]=$P_NGINX [haproxy]=$P_HAPROXY)
# The processes whose CPU counts as the proxy's (nginx: its workers; none for direct).
declare -A PIDS=([direct]="" [shoal]="$SHOAL_PID" [nginx]="$(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')" [haproxy]="$HAPROXY_PID")
HZ="$(getconf CLK_TCK)"
TARGETS="direct shoal nginx haproxy"
if [ -n "$BASELINE" ]; then
    PORT[shoal-base]=$P_BASE
    PIDS[shoal-base]=$BASE_PID
    TARGETS="direct shoal shoal-base nginx haproxy"
fi
if [ "$NGINX_LOG" = 1 ]; then
    PORT[nginx-log]=$P_NGINX_LOG
    PIDS[nginx-log]="$(pgrep -P "$NGINX_LOG_MASTER" | tr '\n' ' ')"
    TARGETS="$TARGETS nginx-log"
fi
if [ "$SHOAL_UP" = 1 ]; then
    PORT[shoal-up]=$P_UP
    # The shoal process only (its nginx instances are the upstreams, not the proxy).
    PIDS[shoal-up]=$SHOAL_UP_PID
    TARGETS="$TARGETS shoal-up"
    if [ "$FLAGS" != 0 ]; then
        # The same gateway with 20 flags evaluated on every request (set just
        # before its runs, deleted just after).
        PORT[shoal-up-flags]=$P_UP
        PIDS[shoal-up-flags]=$SHOAL_UP_PID
        TARGETS="$TARGETS shoal-up-flags"
    fi
fi

# 20 flags of every kind of rule: percentage rollouts (split by the trace id, as
# wrk sends no user id), forced by a header, allow/deny lists, constraints, variants.
flags_set() {
    local i body
    for i in $(seq 1 20); do
        case $((i % 4)) in
            0) body='{"enabled":true,"rollout":50}' ;;
            1) body='{"enabled":true,"rollout":30,"force_on_add":[{"header":"X-Beta","values":["1"]}],"deny":["u1","u2"]}' ;;
            2) body='{"enabled":true,"rollout":70,"constraints":[{"header":"Host","in":["bench","other"]},{"path_prefix":"/"}]}' ;;
            3) body='{"enabled":true,"rollout":100,"variants":[{"name":"blue","weight":50},{"name":"green","weight":50}],"allow":["u3"]}' ;;
        esac
        curl -fsS -m 5 -o /dev/null -X PUT -H 'Content-Type: application/json' -d "$body" \
            "http://127.0.0.1:$P_UP_HTTP/api/v1/flags/bench_flag_$i"
    done
    sleep 1
}
flags_clear() {
    local i
    for i in $(seq 1 20); do
        curl -fsS -m 5 -o /dev/null -X DELETE "http://127.0.0.1:$P_UP_HTTP/api/v1/flags/bench_flag_$i"
    done
    sleep 1
}
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
RAW="$BENCH_TMP/raw.tsv"
: > "$RAW"

for round in $(seq 1 "$ROUNDS"); do
    for c in $CONNS; do
        for t in $TARGETS; do
            [ "$t" != shoal-up-flags ] || flags_set
            # shellcheck disable=SC2086 # PIDS holds a list
            t0="$(cpu_ticks ${PIDS[$t]})"
            out="$(wrk -t2 -c"$c" -d"$DURATION" --latency -H 'Host: bench' "http://127.0.0.1:${PORT[$t]}/" 2>&1)"
            # shellcheck disable=SC2086
            t1="$(cpu_ticks ${PIDS[$t]})"
            rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
            n="$(awk '/ requests in / {print $1}' <<<"$out")"
            cpu="$(awk -v d=$((t1 - t0)) -v hz="$HZ" -v n="${n:-0}" -v t="$t" 'BEGIN { if (t == "direct" || n == 0) print "nan"; else printf "%.1f", d * 1e6 / hz / n }')"
            p50="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
            p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
            errs="$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "$t" "$rps" "$p50" "$p99" "${errs:-none}" "$cpu" >> "$RAW"
            echo "round $round c=$c $t: $rps req/s p50 ${p50}ms p99 ${p99}ms cpu ${cpu}us/req ${errs}" >&2
            [ "$t" != shoal-up-flags ] || flags_clear
        done
    done
done

REPORT="$BENCH_TMP/report.md"
{
    echo "### Proxy: requests/s and latency, Shoal vs nginx vs HAProxy (bench/proxy.sh)"
    echo
    echo '```'
    machine_info
    echo "load avg before the run: $LOAD_BEFORE"
    echo "nginx:   $("$NGINX" -v 2>&1 | sed 's/.*: //'), 2 workers, upstream keepalive 256"
    echo "haproxy: $("$HAPROXY" -v 2>&1 | head -1 | awk '{print $3}'), nbthread 2, http-reuse always"
    echo "shoal:   shoal-proxy example proxy_bench ($ENGINE_PROFILE profile, mimalloc), one serving thread per core (current-thread runtime, SO_REUSEPORT socket and upstream pool each), P2C least-loaded"
    [ -z "$BASELINE" ] || echo "shoal-base: ${BASELINE_NOTE:-$BASELINE} (A/B baseline, same arguments)"
    [ "$NGINX_LOG" != 1 ] || echo "nginx-log: the nginx proxy above with an access log (combined, buffer=64k flush=1s)"
    [ "$SHOAL_UP" != 1 ] || [ "$FLAGS" = 0 ] || echo "shoal-up-flags: shoal-up with 20 feature flags evaluated per request (rollouts split by trace id, force_on + deny, header-in + path constraints, variants + allow), set before each run and deleted after"
    [ "$SHOAL_UP" != 1 ] || echo "shoal-up: the gateway of \`shoal up\` ($(profile_note "$PROFILE")) with its access-log, span and metrics hooks, over the same 2 upstreams, registered through its Consul agent API with HTTP checks (until 2026-11-27 it ran its own 2 nginx instances: 2 more processes on the 2 cores)"
    echo "upstreams: 2 x nginx (1 worker) return 200 \"ok\"; direct = wrk to one upstream, no proxy"
    echo "command: wrk -t2 -c{50,200} -d$DURATION --latency -H 'Host: bench'; $ROUNDS rounds, targets interleaved"
    echo '```'
    echo
    echo "| conns | target | req/s (mean of rounds) | p50 ms | p99 ms | p99 added vs direct ms | proxy CPU µs/req | per-round req/s | errors |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for c in $CONNS; do
        direct_p99="$(awk -F'\t' -v c="$c" '$2==c && $3=="direct" {s+=$6; n++} END {if (n) printf "%.3f", s/n}' "$RAW")"
        for t in $TARGETS; do
            awk -F'\t' -v c="$c" -v t="$t" -v d="$direct_p99" '
                $2==c && $3==t { r+=$4; p50+=$5; p99+=$6; n++; rounds = rounds (rounds ? " / " : "") int($4); if ($7 != "none") e = e $7
                                 if ($8 != "nan") { cpu+=$8; nc++ } }
                END { if (n) printf "| %s | %s | %d | %.2f | %.2f | %s | %s | %s | %s |\n", c, t, r/n, p50/n, p99/n,
                      (t == "direct" ? "-" : sprintf("%+.2f", p99/n - d)), (nc ? sprintf("%.1f", cpu/nc) : "-"), rounds, (e ? e : "none") }' "$RAW"
        done
    done
    echo
    # Paired ratios: each round's targets ran back to back, so a round's ratio
    # is less moved by the machine's drift between rounds than a ratio of means.
    echo "Per-round req/s ratios (the targets of a round run back to back; sorted, the median in brackets):"
    echo
    for c in $CONNS; do
        for pair in "shoal-up nginx" "shoal-up nginx-log" "shoal nginx" "shoal haproxy" "shoal-up-flags shoal-up"; do
            set -- $pair
            awk -F'\t' -v c="$c" -v a="$1" -v b="$2" '
                $2==c && $3==a { ra[$1]=$4 } $2==c && $3==b { rb[$1]=$4 }
                END { n=0; line="";
                      for (r in ra) if ((r in rb) && rb[r] > 0) { v[++n]=ra[r]/rb[r] }
                      if (n == 0) exit
                      for (i=1;i<=n;i++) for (j=i+1;j<=n;j++) if (v[j] < v[i]) { t=v[i]; v[i]=v[j]; v[j]=t }
                      for (i=1;i<=n;i++) line = line (i>1 ? " " : "") sprintf("%.2f", v[i])
                      med = (n % 2) ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
                      printf "- %s conns, %s / %s: %s [%.2f]\n", c, a, b, line, med }' "$RAW"
        done
    done
    echo
} > "$REPORT"
cat "$REPORT"

write_report proxy "$REPORT"
