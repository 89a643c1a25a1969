#!/usr/bin/env bash
# Set up, then run the test suite. Extra arguments go to pytest (e.g. -k store, --runslow).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
exec python -m pytest -q "$@"
