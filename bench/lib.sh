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
