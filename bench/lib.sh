# Shared helpers for the bench/*.sh scripts (sourced, not run).
# Every process a script starts is recorded with `track PID`; the EXIT trap
# kills exactly those PIDs (and their process groups when they lead one),
# then removes the script's temporary directory.

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
REL="$ROOT/target/release"
# Temp data dirs live on the same disk as the repository (not tmpfs), so fsync is real.
BENCH_TMP_BASE="${BENCH_TMP_BASE:-/var/tmp}"

TRACKED_PIDS=()
BENCH_TMP=""

track() { TRACKED_PIDS+=("$1"); }

cleanup() {
    local rc=$?
    set +e
    for pid in "${TRACKED_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null
        fi
    done
    # Give them up to 10 s to exit cleanly, then SIGKILL the stragglers.
    for pid in "${TRACKED_PIDS[@]:-}"; do
        [ -n "$pid" ] || continue
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ] && [ -z "${KEEP_TMP:-}" ]; then
        rm -rf "$BENCH_TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make_tmp() {
    BENCH_TMP="$(mktemp -d "$BENCH_TMP_BASE/shoal-bench-$1.XXXXXX")"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS: poll until URL answers 2xx (bounded).
wait_http() {
    local url="$1" secs="$2" i
    for i in $(seq 1 $((secs * 20))); do
        if curl -fsS -m 1 -o /dev/null "$url" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "timed out after ${secs}s waiting for $url" >&2
    return 1
}

machine_info() {
    local cpu
    cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
    echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine: $(nproc) cores, ${cpu}, kernel $(uname -r), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
    echo "disk:    $(df -T "$BENCH_TMP_BASE" | awk 'NR==2 {print $2" on "$1}') (temp data dirs under $BENCH_TMP_BASE)"
    echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min load average when the report was written; the machine is shared)"
    echo "commit:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' + uncommitted changes in the work tree')"
}

# snapshot_bins NAME...: copy release binaries into $BENCH_TMP/bin so a rebuild of the
# shared target dir during the run cannot swap them; sets BIN to that directory.
snapshot_bins() {
    BIN="$BENCH_TMP/bin"
    mkdir -p "$BIN"
    local b
    for b in "$@"; do mkdir -p "$(dirname "$BIN/$b")"; cp "$REL/$b" "$BIN/$b"; done
}

need_bins() {
    local b
    for b in "$@"; do
        if [ ! -x "$REL/$b" ]; then
            echo "building $b (cargo build --release --workspace --bins)..." >&2
            (cd "$ROOT" && cargo build --release --workspace --bins)
            break
        fi
    done
}

# tool NAME: the path of a tool a bench needs (on PATH, or in /usr/sbin where
# Debian puts nginx and haproxy); stops the bench when it is missing.
tool() {
    command -v "$1" 2>/dev/null && return
    [ -x "/usr/sbin/$1" ] && { echo "/usr/sbin/$1"; return; }
    echo "missing $1" >&2
    exit 1
}

# cpu_ticks PID...: user+sys clock ticks of the processes (all their threads) so far.
cpu_ticks() {
    local p t=0
    for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
    echo "$t"
}

# to_ms VALUE: a load tool's "1.23ms" / "850.00us" / "1.02s" -> milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "nan" }'
}

# shoal_binary PROFILE: builds `shoal` with cargo profile PROFILE, or for
# `pgo` with scripts/build-pgo (release-lto optimized with a profile of its
# own run, ~10 min), and prints the binary's path. SHOAL_BINARY=PATH uses a
# binary built before that way instead (e.g. scripts/build-pgo's).
shoal_binary() {
    if [ -n "${SHOAL_BINARY:-}" ]; then
        echo "$SHOAL_BINARY"
    elif [ "$1" = pgo ]; then
        "$ROOT/scripts/build-pgo"
    else
        (cd "$ROOT" && cargo build --profile "$1" -p shoal --bin shoal >&2)
        echo "${CARGO_TARGET_DIR:-$ROOT/target}/$1/shoal"
    fi
}

# profile_note PROFILE: how a report names the build of `shoal`.
profile_note() {
    if [ "$1" = pgo ]; then
        echo "pgo build: release-lto optimized with a profile of a training run, scripts/build-pgo"
    else
        echo "$1 profile"
    fi
}

# engine_profile PROFILE: the cargo profile the engine (proxy_bench) is built
# with for a bench of PROFILE (`pgo` trains `shoal` only: release-lto).
engine_profile() {
    if [ "$1" = pgo ]; then echo release-lto; else echo "$1"; fi
}

# nginx_prelude DIR WORKERS: the start of the bench nginx configs (pid and
# error log in DIR, no access log, long keep-alive) up to inside `http {`.
nginx_prelude() {
    cat <<CONF
worker_processes $2;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
CONF
}

# nginx_upstreams DIR PORT...: DIR/nginx.conf for one nginx worker answering
# 200 "ok" on each 127.0.0.1:PORT (the upstreams of the proxy benches).
nginx_upstreams() {
    local dir="$1" servers="" p
    shift
    for p in "$@"; do
        servers+="    server { listen 127.0.0.1:$p; location / { return 200 \"ok\\n\"; } }"$'\n'
    done
    {
        nginx_prelude "$dir" 1
        printf '%s}\n' "$servers"
    } > "$dir/nginx.conf"
}

# nginx_proxy DIR LISTEN_PORT UPSTREAM_PORT...: DIR/nginx.conf for nginx as a
# reverse proxy on 127.0.0.1:LISTEN_PORT over the upstreams (2 workers,
# upstream keepalive 256, no access log).
nginx_proxy() {
    local dir="$1" listen="$2" servers="" p
    shift 2
    for p in "$@"; do servers+=" server 127.0.0.1:$p;"; done
    {
        nginx_prelude "$dir" 2
        cat <<CONF
    upstream backend {$servers keepalive 256; }
    server {
        listen 127.0.0.1:$listen;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
    } > "$dir/nginx.conf"
}

# shoal_up_config DIR HTTP_PORT GATEWAY_PORT: DIR/shoal.toml for a bench's
# `shoal up` (data in DIR/data; instance ports below the kernel's ephemeral
# range, as the tests do, though none run here).
shoal_up_config() {
    local lo=$((23000 + $$ % 50 * 20))
    cat > "$1/shoal.toml" <<CONF
[platform]
data_dir = "data"
http = "127.0.0.1:$2"
gateway = "127.0.0.1:$3"
dns = "127.0.0.1:$(free_port)"
statsd = "127.0.0.1:$(free_port)"
port_range = "$lo-$((lo + 19))"
CONF
}

# register_bench HTTP_PORT UPSTREAM_PORT...: each upstream as instance bench-N
# of service `bench`, through the Consul agent API of the `shoal up` on
# HTTP_PORT, with an HTTP check each second (as one registers a service Shoal
# does not run). Retries for up to 10 s while that `shoal up` starts.
register_bench() {
    local http="$1" i=0 u body
    shift
    for u in "$@"; do
        i=$((i + 1))
        body="{\"Name\":\"bench\",\"ID\":\"bench-$i\",\"Address\":\"127.0.0.1\",\"Port\":$u,\"Check\":{\"HTTP\":\"http://127.0.0.1:$u/\",\"Interval\":\"1s\"}}"
        for _ in $(seq 1 200); do
            curl -fsS -m 1 -o /dev/null -X PUT -d "$body" "http://127.0.0.1:$http/v1/agent/service/register" 2>/dev/null && break
            sleep 0.05
        done
    done
}

# wait_bench PORT...: until each proxy on 127.0.0.1:PORT answers `Host: bench`
# (at most ~30 s each).
wait_bench() {
    local p
    for p in "$@"; do
        for _ in $(seq 1 600); do
            curl -fsS -m 1 -o /dev/null -H 'Host: bench' "http://127.0.0.1:$p/" 2>/dev/null && break
            sleep 0.05
        done
    done
}

# write_report NAME FILE: with OUT set (bench/run-all.sh), the report goes
# there (run-all puts it between the markers); run directly, it replaces the
# block between `<!-- bench:NAME:begin/end -->` in bench/RESULTS.md (appended
# under a heading "## NAME" when there is none yet).
write_report() {
    if [ -n "${OUT:-}" ]; then
        cp "$2" "$OUT"
        echo "wrote $OUT" >&2
        return
    fi
    python3 - "$BENCH_DIR/RESULTS.md" "$1" "$2" <<'PY'
import os, sys
out, name, report = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
text = open(out).read() if os.path.exists(out) else ""
block = f"{begin}\n{report}{end}\n"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1].lstrip("\n")
    text = head + block + ("\n" + tail if tail else "")
else:
    text = text.rstrip("\n") + f"\n\n## {name}\n\n" + block
open(out, "w").write(text)
PY
    echo "updated the $1 section of $BENCH_DIR/RESULTS.md" >&2
}

# tls_noresume_shim: compiles bench/tls-noresume.c (an LD_PRELOAD shim for wrk and
# h2load: no TLS session resumption, completed and resumed handshakes counted into
# $TLS_NORESUME_STATS at exit) into $BENCH_TMP and prints the .so's path. Needs cc.
tls_noresume_shim() {
    local so="$BENCH_TMP/tls-noresume.so"
    cc -shared -fPIC -O2 -o "$so" "$BENCH_DIR/tls-noresume.c" -ldl >&2
    echo "$so"
}

# wait_bench_tls CAFILE SECONDS PORT...: until each TLS proxy on 127.0.0.1:PORT
# answers `Host: bench` over HTTPS with a certificate CAFILE verifies (bounded;
# returns 1 on a timeout).
wait_bench_tls() {
    local ca="$1" secs="$2" p ok
    shift 2
    for p in "$@"; do
        ok=""
        for _ in $(seq 1 $((secs * 20))); do
            if curl -fsS -m 1 -o /dev/null --cacert "$ca" -H 'Host: bench' "https://127.0.0.1:$p/" 2>/dev/null; then
                ok=1
                break
            fi
            sleep 0.05
        done
        [ -n "$ok" ] || { echo "timed out after ${secs}s waiting for https://127.0.0.1:$p/ (Host: bench)" >&2; return 1; }
    done
}
