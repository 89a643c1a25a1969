#!/usr/bin/env bash
# The GPU check: run it on any machine with a CUDA GPU, from anywhere in the checkout.
#
#     scripts/gpu-check.sh
#
# Five steps, each capped (the caps add up to 7 min 50 s, so the check ends within 8 minutes on
# any GPU; a step that fails or hits its cap is marked so and the check goes on):
#   1. cuda-tests   the tests marked `cuda` (tests/agents/test_cuda.py: bf16 updates, acting
#                   with the cache = recompute, DDP with 1 rank on nccl, training runs whose
#                   checkpoints the CPU evaluates); they skip without a GPU
#   2. bench-agent  amago-bench bench agent --device cuda: the amago2 update in fp32 and bf16
#                   with its peak GPU memory, acting with the cache at context 16/128/512, and
#                   rl2-ppo-gru collection and update
#   3. train-bf16   amago2 on popgym-repeat-single, 1 epoch of the small budget (2,000 env steps,
#                   250 updates, one evaluation), bf16
#   4. ddp-1-rank   the same run through torchrun --nproc-per-node 1 (DDP on nccl)
#   5. calibrate    amago-bench reproduce --budget paper --calibrate for the popgym27 and babyai
#                   tables: env steps/s of every job kind at the paper's model sizes, the rates
#                   `reproduce --dry-run` turns into device-hours
# Then it prints one table and writes it, with the device's name, to
# reports/bench/gpu-<device>.md, and the calibrated rates to reports/bench/calibration-gpu-<device>.json;
# commit both. Exit status: 0 when every step passed.
#
# Python: .venv/bin/python when it exists, else $PYTHON, else python3; it needs a CUDA build of
# torch and `pip install -e '.[agent,popgym,babyai,dev]'` (popgym and babyai for steps 3-5).
#
# Rehearsal without a GPU: GPU_CHECK_DEVICE=cpu scripts/gpu-check.sh runs the same steps on the
# CPU (the cuda tests skip, the caps are 10x) and writes the table into its temporary folder, not
# into reports/bench: it checks the script, and measures nothing worth committing.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=${PYTHON:-python3}; fi
DEVICE=${GPU_CHECK_DEVICE:-cuda}
SCALE=1
if [[ $DEVICE == cpu ]]; then
    SCALE=10
    echo "gpu-check: rehearsal on the CPU (GPU_CHECK_DEVICE=cpu); the table stays in the temporary folder"
elif [[ $DEVICE != cuda ]]; then
    echo "gpu-check: GPU_CHECK_DEVICE must be cuda (the default) or cpu (a rehearsal), not '$DEVICE'" >&2
    exit 2
elif ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu-check: $PY has no torch that sees a CUDA GPU (torch $("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo 'not installed'));" >&2
    echo "run it on a GPU machine with a CUDA build of torch (pip install torch --index-url https://download.pytorch.org/whl/cu124)" >&2
    exit 2
fi

WORK=$(mktemp -d -t amago-gpu-check-XXXXXX)
LOGS=$WORK/logs
mkdir -p "$LOGS"
: >"$LOGS/steps.tsv"
export PYTHONUNBUFFERED=1
echo "gpu-check: logs and runs in $WORK"

step() {  # step NAME CAP_S COMMAND...: run it under its cap, log to $LOGS/NAME.log, note rc and seconds
    local name=$1 cap=$2
    shift 2
    echo "== $name (cap $((cap * SCALE)) s): $*"
    local t0=$SECONDS
    timeout --kill-after=5 "$((cap * SCALE))" "$@" >"$LOGS/$name.log" 2>&1
    local rc=$?
    printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" "$*" >>"$LOGS/steps.tsv"
    tail -n 3 "$LOGS/$name.log"
}

TRAIN=(train --suite popgym-repeat-single --budget small --epochs 1 --precision bf16 --device "$DEVICE" --no-store)
step cuda-tests 100 "$PY" -m pytest -q -p no:cacheprovider -m cuda -rs tests/agents/test_cuda.py
step bench-agent 80 "$PY" -m amago_bench bench agent --device "$DEVICE" --out "$WORK/agent.json"
step train-bf16 70 "$PY" -m amago_bench "${TRAIN[@]}" --runs "$WORK/runs"
step ddp-1-rank 70 "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 -m amago_bench "${TRAIN[@]}" \
    --runs "$WORK/runs-ddp"
step calibrate 150 "$PY" -m amago_bench reproduce --budget paper --table popgym27 babyai --calibrate --device "$DEVICE" \
    --runs "$WORK/calibrate" --db "$WORK/calibrate.db"

"$PY" - "$WORK" "$DEVICE" <<'EOF'
"""One table of the five steps; written to reports/bench/gpu-<device>.md."""
import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

import torch

from amago_bench.costs import device_name

work, device = Path(sys.argv[1]), sys.argv[2]
logs = work / "logs"
name = torch.cuda.get_device_name(0) if device == "cuda" else device_name("cpu")
slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()


def log(step):
    p = logs / f"{step}.log"
    return p.read_text(errors="replace") if p.exists() else ""


def tests(text):
    m = re.findall(r"^=*\s*(\d+ (?:passed|failed|skipped|errors?|deselected)\b.*?) in [\d.]+s", text, re.M)
    return m[-1] if m else "no pytest summary (see the log)"


def rate(x):
    """A rate with the digits that matter: 0.83, 9.4, 1,441."""
    return f"{x:.2g}" if x < 10 else f"{x:,.0f}"


def gib(x):
    return "n/a" if x is None else f"{x:.2f}"


def bench(_text):
    try:
        r = json.loads((work / "agent.json").read_text())
    except (OSError, ValueError):
        return "no agent.json (see the log)"
    up, peak = r.get("update_s_by_precision", {}), r.get("update_peak_gib_by_precision", {})
    act = ", ".join(f"{a['context']}: {a['cache_ms']:.2f}" for a in r["acting"])
    out = (f"amago2 update (24 x 128) fp32 {up.get('fp32', float('nan')):.3f} s / bf16 {up.get('bf16', float('nan')):.3f} s, "
           f"peak GPU memory {gib(peak.get('fp32'))} / {gib(peak.get('bf16'))} GiB; "
           f"acting ms with the cache at context {act}")
    rl2 = work / "agent.rl2-ppo-gru.json"
    if rl2.exists():
        q = json.loads(rl2.read_text())
        out += f"; rl2-ppo-gru {rate(q['collect_steps_per_s'])} env steps/s collecting, {rate(q['update_steps_per_s'])} updating"
    return out


def train(text):
    m = re.search(r"done: (\d+) epochs, (\d+) env steps, (\d+) updates in ([\d.]+) s", text)
    if not m:
        return "no `done:` line (see the log)"
    steps, updates, secs = int(m[2]), int(m[3]), float(m[4])
    ev = re.search(r"mean normalised (-?[\d.]+)", text)
    return (f"{steps:,} env steps + {updates} updates + 1 evaluation in {secs:.1f} s ({rate(steps / secs)} env steps/s "
            f"all in); normalised {ev[1] if ev else '?'}")


def calibrate(_text):
    try:
        rates = json.loads((work / "calibrate" / "calibration.json").read_text())["rates"]
    except (OSError, ValueError, KeyError):
        return "no calibration.json (see the log)"
    parts = []
    for r in rates:
        if "train_env_steps_per_s" in r:
            parts.append(f"{r['agent']} on {r['suite']}: train {rate(r['train_env_steps_per_s'])} env steps/s "
                         f"({r['update_s'] * 1e3:,.0f} ms/update)")
        else:
            parts.append(f"{r['agent']} on {r['suite']}: eval {rate(r['eval_env_steps_per_s'])} env steps/s")
    return "; ".join(parts)


figures = {"cuda-tests": tests, "bench-agent": bench, "train-bf16": train, "ddp-1-rank": train, "calibrate": calibrate}
rows, ok = [], True
for line in (logs / "steps.tsv").read_text().splitlines():
    step, rc, secs, cmd = line.split("\t", 3)
    text = log(step)
    status = "passed" if rc == "0" else ("hit its cap" if rc in ("124", "137") else f"failed (exit {rc})")
    if step == "cuda-tests" and rc == "0" and "skipped" in tests(text):
        status = "passed, some skipped"
    ok &= rc == "0"
    rows.append(f"| {step} | {status} | {secs} | {figures[step](text)} |")

when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
head = (f"GPU check on {name} (torch {torch.__version__}, CUDA {torch.version.cuda}, commit {commit}"
        f"{' with uncommitted changes' if dirty else ''}, {when})")
table = "\n".join([head, "", "| step | result | seconds | figures |", "|---|---|---|---|", *rows])
print()
print(table)
folder = Path("reports/bench") if device == "cuda" else work
out = folder / f"gpu-{slug}.md"
calibration = work / "calibrate" / "calibration.json"
if calibration.exists():  # the rates, for `reproduce --dry-run` (copy to <runs>/calibration.json)
    (folder / f"calibration-gpu-{slug}.json").write_text(calibration.read_text())
bench_text = re.search(r"amago2 agent benchmark on .*", log("bench-agent"), re.S)
out.write_text(
    f"# GPU check: {name}\n\n"
    "Made by `scripts/gpu-check.sh` (five capped steps; the script's header says what each runs).\n\n"
    + table + "\n"
    + (f"\n`amago-bench bench agent --device {device}`:\n\n```\n{bench_text[0].strip()}\n```\n" if bench_text else "")
    + (f"\nThe calibration's rates are in `calibration-gpu-{slug}.json` beside this file: copy it to "
       "`<runs>/calibration.json` and `amago-bench reproduce --budget paper --dry-run --runs <runs>` turns them "
       "into device-hours for this GPU.\n" if calibration.exists() else "")
    + f"\nLogs of this run: {logs} (not kept).\n")
print(f"\nwritten: {out}")
sys.exit(0 if ok else 1)
EOF
