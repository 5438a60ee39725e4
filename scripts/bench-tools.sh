#!/usr/bin/env bash
# Installs the load generator the tile benchmark drives: wrk (Debian's package). Idempotent;
# without it the benchmark falls back to Python threads and says so.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
if ! command -v wrk >/dev/null; then
  echo "bench-tools: installing wrk"
  { as_root apt-get update -qq || true; } &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
    echo "bench-tools: cannot install wrk; the tile benchmark will use Python threads"
fi
