"""Score checkpoints of amago2 with greedy and with sampled actions on the same test trials.

    python scripts/fidelity/eval_modes.py --trials 64 --out reports/fidelity/data/popgym_tasks_eval_modes.csv CHECKPOINT...
    python scripts/fidelity/eval_modes.py --gammas 0.9 0.99 0.999 --modes greedy --out OUT.csv CHECKPOINT...

Per checkpoint and mode: the suite's normalised test score over ``--trials`` trials per task (seed 0
of the evaluation; the same trials in both modes), the run's env steps and seed. The reference AMAGO
evaluates with sampled actions, our runs greedily (``eval_sample = false``, the amago2 default).
``--gammas``: act with each of these discounts' policy heads in turn (each must be one the run
learned; default: the run's own acting discount), a probe of which head a run should act with.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--trials", type=int, default=64, help="test trials per task (default: 64)")
    ap.add_argument("--out", type=Path, required=True, help="CSV to write")
    ap.add_argument("--modes", nargs="+", choices=("greedy", "sampled"), default=["greedy", "sampled"],
                    help="action modes (default: both)")
    ap.add_argument("--gammas", nargs="+", type=float, default=None,
                    help="act with these discounts' policy heads (default: the run's act_gamma)")
    args = ap.parse_args()
    from amago_bench.agents.amago2.agent import from_checkpoint
    from amago_bench.agents.amago2.learner import read_checkpoint
    from amago_bench.evaluate import evaluate
    from amago_bench.scoring import task_summary
    from amago_bench.suite import get_suite

    rows = []
    for ck in args.checkpoints:
        data = read_checkpoint(ck)
        suite = get_suite(data["suite"])
        learned = list(data["config"]["model"]["gammas"])
        agent = from_checkpoint(str(ck))  # loaded once; the head and the action mode are switched below
        for gamma in args.gammas or [data["config"]["model"]["act_gamma"]]:
            if gamma not in learned:
                raise SystemExit(f"eval_modes: {ck} learned discounts {learned}, not {gamma}; pass --gammas from those")
            for mode in args.modes:
                agent.sample, agent.gamma_index = mode == "sampled", learned.index(gamma)
                eps = pd.DataFrame(evaluate(agent, suite, split="test", trials_per_task=args.trials, seed=0))
                for task, r in task_summary(eps, suite).iterrows():
                    rows.append({"suite": suite.name, "task": task, "seed": int(data["extra"]["seed"]),
                                 "env_steps": int(data["extra"]["counters"]["env_steps"]), "mode": mode, "act_gamma": gamma,
                                 "normalised": round(float(r["normalised"]), 4), "trials": int(r["trials"])})
                    print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
