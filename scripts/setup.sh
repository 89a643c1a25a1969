#!/usr/bin/env bash
# Create or reuse the local virtual environment (.venv) and install amago-bench with everything it needs.
# Sourced by scripts/main.sh and scripts/test.sh; safe to run again (it only installs what is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AMAGO_BENCH_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"

log() { printf '[setup] %s\n' "$*" >&2; }

# Debian's Qt5 GUI library: EnvPool's Procgen port loads it at run time.
if ! ldconfig -p 2>/dev/null | grep -q libQt5Gui.so.5; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's libqt5gui5 (needed by EnvPool's Procgen)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libqt5gui5 >/dev/null) \
      || log "could not install libqt5gui5: the Procgen suites will not run (everything else will)"
  else
    log "libqt5gui5 is missing and we are not root: install it for the Procgen suites (apt-get install libqt5gui5)"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
"$VPY" -m pip install -q --upgrade pip >/dev/null

# torch first, as the local CPU build; a bare 'torch' requirement would pull several GB of CUDA packages.
if ! "$VPY" -c "import torch" >/dev/null 2>&1; then
  log "installing torch==2.13.0"
  "$VPY" -m pip install -q "torch==2.13.0"
fi

# The project with every suite's benchmark package, the agent and the test tools.
STAMP="$VENV/.amago-bench-installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  log "installing amago-bench[all] (editable)"
  "$VPY" -m pip install -q -e "$ROOT[all]"
  touch "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
