#!/usr/bin/env bash
# The main job: set up, then a real end-to-end run at a small budget (see README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec python -m amago_bench.demo "$@"
