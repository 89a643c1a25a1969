#!/usr/bin/env bash
# Update time of our AMAGO-2 and the reference AMAGO at the same parameter count, in one run
# (reports/fidelity/README.md, "Update time"). Needs the reference checkout and its own virtual
# environment, set up as that README describes (nothing here downloads it):
#   bash scripts/fidelity/bench_update.sh REF_PYTHON REF_TIMING_SCRIPT [THREADS] [REPS] [ROUNDS]
# REF_TIMING_SCRIPT is scripts/fidelity/time_reference_update.py. Run it on an otherwise idle machine. Pairs (trainable parameters within 1%):
#   ours per-action head, d_model 240        vs reference `agent` (AMAGO-1 critic), d_model 256
#   ours action-input head, d_model 296      vs reference `multitask` (AMAGO-2), d_model 256
set -euo pipefail
REF_PY="$1"; REF_SCRIPT="$2"; THREADS="${3:-2}"; REPS="${4:-10}"; ROUNDS="${5:-2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="$ROOT/reports/fidelity/data/update_time"
mkdir -p "$OUT"
export OMP_NUM_THREADS="$THREADS"
PY="$ROOT/.venv/bin/python"
for round in $(seq 1 "$ROUNDS"); do  # interleaved rounds: drift on a shared machine shows up as a round difference
  "$PY" "$ROOT/scripts/fidelity/time_update.py" --d-model 240 --critic-head per-action --threads "$THREADS" --reps "$REPS" --json "$OUT/ours-per-action-r$round.json"
  TORCHDYNAMO_DISABLE=1 "$REF_PY" "$REF_SCRIPT" --agent_type agent --d_model 256 --d_ff 1024 --layers 3 --heads 8 --threads "$THREADS" --reps "$REPS" --json "$OUT/ref-agent-r$round.json" > "$OUT/ref-agent-r$round.log" 2>&1
  "$PY" "$ROOT/scripts/fidelity/time_update.py" --d-model 296 --critic-head action-input --threads "$THREADS" --reps "$REPS" --json "$OUT/ours-action-input-r$round.json"
  TORCHDYNAMO_DISABLE=1 "$REF_PY" "$REF_SCRIPT" --agent_type multitask --d_model 256 --d_ff 1024 --layers 3 --heads 8 --threads "$THREADS" --reps "$REPS" --json "$OUT/ref-multitask-r$round.json" > "$OUT/ref-multitask-r$round.log" 2>&1
done
"$PY" - "$OUT" <<'PYEOF'
import json, sys, glob, os
out = sys.argv[1]
rows = []
for f in sorted(glob.glob(os.path.join(out, "*.json"))):
    r = json.load(open(f))
    if "parameters" in r:  # ours
        params, med = r["parameters"], r["update_s_median"]
    else:  # the reference script: trainable = what its optimizer updates (targets excluded, as ours)
        params = next(v for k, v in r["params"].items() if k.startswith("trainable_total"))
        med = r["timing"]["median_s"]
    rows.append((os.path.basename(f)[:-5], params, med))
print(f"{'run':<28} {'trainable params':>16} {'update s (median)':>18}")
for name, p, m in rows:
    print(f"{name:<28} {p if p is not None else '?':>16} {m if m is not None else float('nan'):>18.3f}")
PYEOF
