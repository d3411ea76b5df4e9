#!/usr/bin/env bash
# The dashboard's weight and speed with 50 services and 500 instances, in headless Chromium.
# Usage: bench/ui.sh [ROUNDS]   (builds shoal with the README's release build first)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null && command -v chromedriver >/dev/null || {
  echo "bench/ui.sh needs Debian's chromium and chromium-driver" >&2; exit 2; }
python3 -c 'import selenium' 2>/dev/null || python3 -m pip install -q selenium
cargo build --release -p shoal
python3 bench/ui.py "${CARGO_TARGET_DIR:-target}/release/shoal" "${1:-5}"
