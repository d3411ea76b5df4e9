#!/usr/bin/env bash
# CPU per proxied request, targets side by side: Shoal's gateway (`shoal up`), the
# proxy engine alone (proxy_bench) and nginx as a reverse proxy run at the SAME
# time over the same upstream, each under its own `wrk -t1 -c$CONNS`, so all of
# them see the same machine. On a shared machine whose speed drifts by 20-40 %
# for minutes, back-to-back runs (bench/proxy.sh) compare different moments;
# here the ratio of CPU per request (from /proc, each proxy's own processes)
# moves by about ±2 % between rounds. It measures cost, not throughput: how
# the targets share the cores decides their req/s here.
# Needs: nginx, wrk. Builds: shoal with PROFILE (pgo: scripts/build-pgo, which also needs
# llvm-profdata; or a cargo profile) and proxy_bench (release-lto for pgo, else PROFILE).
# Output: a report on stdout and, like the other benches, bench/RESULTS.md.
source "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-5s}"
ROUNDS="${ROUNDS:-6}"
CONNS="${CONNS:-70}"
PROFILE="${PROFILE:-pgo}"
ENGINE_PROFILE="$(engine_profile "$PROFILE")"
OUT_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/$ENGINE_PROFILE"
NGINX="$(tool nginx)"
tool wrk >/dev/null

(cd "$ROOT" && cargo build --profile "$ENGINE_PROFILE" -p shoal-proxy --example proxy_bench >&2)
SHOAL_BIN="$(shoal_binary "$PROFILE")"
make_tmp proxy-side
mkdir -p "$BENCH_TMP/bin" "$BENCH_TMP/up" "$BENCH_TMP/ngx" "$BENCH_TMP/shoal-up"
cp "$OUT_DIR/examples/proxy_bench" "$SHOAL_BIN" "$BENCH_TMP/bin/"

U1=$(free_port); P_NGINX=$(free_port); P_ENGINE=$(free_port); P_UP=$(free_port); P_HTTP=$(free_port)
nginx_upstreams "$BENCH_TMP/up" "$U1"
nginx_proxy "$BENCH_TMP/ngx" "$P_NGINX" "$U1"
shoal_up_config "$BENCH_TMP/shoal-up" "$P_HTTP" "$P_UP"

"$NGINX" -p "$BENCH_TMP/up" -c "$BENCH_TMP/up/nginx.conf" -g 'daemon off;' 2>"$BENCH_TMP/up/stderr" & track $!
"$NGINX" -p "$BENCH_TMP/ngx" -c "$BENCH_TMP/ngx/nginx.conf" -g 'daemon off;' 2>"$BENCH_TMP/ngx/stderr" & track $!
NGINX_MASTER=$!
"$BENCH_TMP/bin/proxy_bench" "127.0.0.1:$P_ENGINE" "127.0.0.1:$U1" 2>"$BENCH_TMP/engine.log" & track $!
ENGINE_PID=$!
(cd "$BENCH_TMP/shoal-up" && exec "$BENCH_TMP/bin/shoal" up shoal.toml >stdout 2>stderr) & track $!
UP_PID=$!
register_bench "$P_HTTP" "$U1"
wait_bench "$P_NGINX" "$P_ENGINE" "$P_UP"

declare -A PORT=([nginx]=$P_NGINX [engine]=$P_ENGINE [shoal-up]=$P_UP)
declare -A PIDS=([nginx]="$(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')" [engine]="$ENGINE_PID" [shoal-up]="$UP_PID")
TARGETS="nginx engine shoal-up"
HZ="$(getconf CLK_TCK)"
RAW="$BENCH_TMP/raw.tsv"
: > "$RAW"
for round in $(seq 1 "$ROUNDS"); do
    declare -A T0=()
    WRKS=()
    for t in $TARGETS; do
        # shellcheck disable=SC2086 # PIDS holds a list
        T0[$t]="$(cpu_ticks ${PIDS[$t]})"
        wrk -t1 -c"$CONNS" -d"$DURATION" -H 'Host: bench' "http://127.0.0.1:${PORT[$t]}/" > "$BENCH_TMP/wrk-$t.txt" 2>&1 &
        WRKS+=($!)
    done
    wait "${WRKS[@]}"
    for t in $TARGETS; do
        # shellcheck disable=SC2086
        t1="$(cpu_ticks ${PIDS[$t]})"
        n="$(awk '/ requests in / {print $1}' "$BENCH_TMP/wrk-$t.txt")"
        rps="$(awk '/^Requests\/sec:/ {print $2}' "$BENCH_TMP/wrk-$t.txt")"
        cpu="$(awk -v d=$((t1 - T0[$t])) -v hz="$HZ" -v n="${n:-0}" 'BEGIN { if (n == 0) print "nan"; else printf "%.2f", d * 1e6 / hz / n }')"
        printf '%s\t%s\t%s\t%s\n' "$round" "$t" "$rps" "$cpu" >> "$RAW"
        echo "round $round $t: $rps req/s, $cpu us/req" >&2
    done
done

REPORT="$BENCH_TMP/report.md"
{
    echo "### Proxy side by side: CPU per request, all targets at once (bench/proxy-side.sh)"
    echo
    echo '```'
    machine_info
    echo "targets: nginx (2 workers, upstream keepalive 256), the engine (proxy_bench, $ENGINE_PROFILE profile) and the gateway of \`shoal up\` (access log, spans, metrics; $(profile_note "$PROFILE")), over one nginx upstream"
    echo "command: wrk -t1 -c$CONNS -d$DURATION on each target at once; $ROUNDS rounds"
    echo '```'
    echo
    echo "| target | CPU µs/req (median of rounds) | / nginx's, per round (sorted) | / nginx's, median |"
    echo "|---|---|---|---|"
    for t in $TARGETS; do
        awk -F'\t' -v t="$t" '
            $2 == "nginx" { base[$1] = $4 } $2 == t { mine[$1] = $4 }
            END {
                n = 0; for (r in mine) if ((r in base) && base[r] > 0) { n++; c[n] = mine[r]; q[n] = mine[r] / base[r] }
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) {
                    if (c[j] < c[i]) { x = c[i]; c[i] = c[j]; c[j] = x }
                    if (q[j] < q[i]) { x = q[i]; q[i] = q[j]; q[j] = x } }
                line = ""; for (i = 1; i <= n; i++) line = line (i > 1 ? " " : "") sprintf("%.3f", q[i])
                mc = (n % 2) ? c[(n + 1) / 2] : (c[n / 2] + c[n / 2 + 1]) / 2
                mq = (n % 2) ? q[(n + 1) / 2] : (q[n / 2] + q[n / 2 + 1]) / 2
                printf "| %s | %.2f | %s | %.3f |\n", t, mc, line, mq }' "$RAW"
    done
    echo
} > "$REPORT"
cat "$REPORT"

write_report proxy-side "$REPORT"
