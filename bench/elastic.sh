#!/usr/bin/env bash
# A 10x traffic step on an autoscaled service, ROUNDS times (default 3): time to
# enough capacity, served/shed/failed and p50/p99 per caller priority during the
# step, and Kubernetes HPA's defaults computed on the same instance start times
# (see bench/elastic.py). Builds `shoal` with cargo profile PROFILE (default
# release, the README's build). Prints every round.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PROFILE="${PROFILE:-release}"
ROUNDS="${ROUNDS:-3}"
(cd "$ROOT" && cargo build --profile "$PROFILE" -p shoal --bin shoal >&2)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/shoal"
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); commit $(git -C "$ROOT" rev-parse --short HEAD); $PROFILE build; $(nproc) cores"
for r in $(seq 1 "$ROUNDS"); do
    python3 "$ROOT/bench/elastic.py" "$BIN" "$r"
done
