#!/usr/bin/env bash
# bench/run-all.sh — build once, run every side-by-side benchmark, and rewrite its
# section of bench/RESULTS.md (between `<!-- bench:NAME:begin -->` and
# `<!-- bench:NAME:end -->`; a missing section is appended). Text outside the
# markers (the notes on what each number does and does not show) is kept.
#
#   bench/run-all.sh                 # every executable bench/*.sh (store, restart, idle, ...)
#   bench/run-all.sh store idle      # only these
#   NO_WRITE=1 bench/run-all.sh      # print the blocks, leave RESULTS.md alone
#
# Each script's own environment knobs pass through (ROUNDS, N, WINDOW, ...).
# Rough durations on 2 cores: store ~6 min (3 rounds), restart ~7 min, idle ~2 min,
# deploy ~13 min (4 strategies x 3 rounds of a deploy under wrk).
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
RESULTS_MD="$BENCH_DIR/RESULTS.md"

if [ "$#" -gt 0 ]; then
    NAMES=("$@")
else
    # Every executable bench/*.sh except the helpers (other benchmarks join by existing).
    NAMES=()
    for f in "$BENCH_DIR"/*.sh; do
        n="$(basename "$f" .sh)"
        case "$n" in lib | run-all) continue ;; esac
        [ -x "$f" ] && NAMES+=("$n")
    done
fi

echo "building (cargo build --release --workspace --bins)..." >&2
(cd "$ROOT" && cargo build --release --workspace --bins)

OUTDIR="$(mktemp -d /var/tmp/shoal-bench-all.XXXXXX)"
trap 'rm -rf "$OUTDIR"' EXIT
FAILED=()
for name in "${NAMES[@]}"; do
    script="$BENCH_DIR/$name.sh"
    [ -x "$script" ] || { echo "no $script" >&2; FAILED+=("$name"); continue; }
    echo "=== $name ===" >&2
    if OUT="$OUTDIR/$name.md" "$script"; then
        if [ ! -s "$OUTDIR/$name.md" ]; then
            echo "$name wrote no report to \$OUT; RESULTS.md not updated for it" >&2
        elif [ -z "${NO_WRITE:-}" ]; then
            python3 - "$RESULTS_MD" "$name" "$OUTDIR/$name.md" <<'PY'
import os, sys
path, name, block_file = sys.argv[1], sys.argv[2], sys.argv[3]
block = open(block_file).read().rstrip("\n")
begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
new = f"{begin}\n{block}\n{end}"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    text = head + new + tail
else:
    text = text.rstrip("\n") + "\n\n" + new + "\n"
open(path, "w").write(text)
print(f"updated the {name} section of {path}", file=sys.stderr)
PY
        fi
    else
        echo "=== $name FAILED (exit $?) ===" >&2
        FAILED+=("$name")
    fi
done
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "failed: ${FAILED[*]}" >&2
    exit 1
fi
