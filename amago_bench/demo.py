"""The main job: a real end-to-end run at a small budget, through the same CLI a user types.

    python -m amago_bench.demo [--db PATH] [--budget smoke|small] [--out reports/demo]

1. measures the random and oracle reference agents on ``scale-probe`` and the random agent
   on ``popgym27``;
2. trains the AMAGO-2 reference agent (ind/ind) and its scale-dependent variant (dep/dep, the
   paper's comparison) on ``scale-probe`` at the chosen budget and evaluates both checkpoints
   on the test split (3 evaluation seeds x 100 trials per task);
3. prints the leaderboard of ``scale-probe`` (IQM of normalised scores with 95% bootstrap CIs);
4. draws the figures (per-task normalised scores, learning curve) into ``--out``.

Every step is resumable: the results database skips work already stored, and training
resumes from its last checkpoint, so re-running the command finishes what a killed run left.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from amago_bench.cli import main as cli


def step(title: str, argv: list[str]) -> None:
    print(f"\n=== {title}\n$ amago-bench {shlex.join(argv)}", flush=True)
    t0 = time.perf_counter()
    code = cli(argv)
    if code != 0:
        raise SystemExit(f"step failed with exit code {code}: amago-bench {shlex.join(argv)}")
    print(f"({time.perf_counter() - t0:.1f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m amago_bench.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", default="results/demo.db", help="results database (default: results/demo.db)")
    p.add_argument("--budget", choices=("smoke", "small"), default="small", help="training budget for AMAGO-2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="reports/demo", help="folder for figures and tables")
    p.add_argument("--no-variants", action="store_true",
                   help="skip training the scale-dependent dep-dep variant (the paper's comparison)")
    args = p.parse_args(argv)
    db = ["--db", args.db]
    progress = ["--no-progress"] if not sys.stderr.isatty() else []

    step("Suites and their packages", ["suites"])
    step("Random agent on scale-probe (test split)",
         ["evaluate", "--suite", "scale-probe", "--agent", "random", "--trials-per-task", "100",
          "--seeds", "0", "1", "2", *progress, *db])
    step("Oracle (optimal in-context strategy) on scale-probe",
         ["evaluate", "--suite", "scale-probe", "--agent", "probe-oracle", "--trials-per-task", "100",
          "--seeds", "0", "1", "2", *progress, *db])
    step("Random agent on popgym27 (test split)",
         ["evaluate", "--suite", "popgym27", "--agent", "random", "--trials-per-task", "10",
          "--seeds", "0", "1", "2", *progress, *db])
    trained = [("amago2", "AMAGO-2 (Ind. actor / Ind. critic)")]
    if not args.no_variants:
        trained.append(("dep-dep", "the scale-dependent variant (Dep. actor / Dep. critic, AMAGO-1 style)"))
    for agent, title in trained:
        step(f"Train {title} on scale-probe, budget {args.budget}",
             ["train", "--suite", "scale-probe", "--agent", agent, "--budget", args.budget,
              "--seed", str(args.seed), *db])
        ckpt = f"runs/scale-probe/{agent}-{args.budget}-seed{args.seed}/checkpoint.pt"
        step(f"Evaluate the trained {agent} checkpoint on scale-probe (test split)",
             ["evaluate", "--suite", "scale-probe", "--agent", "amago2", "--checkpoint", ckpt,
              "--trials-per-task", "100", "--seeds", "0", "1", "2", *progress, *db])
    step("Leaderboard: scale-probe", ["leaderboard", "--suite", "scale-probe", "--metric", "iqm", *db])
    step("Leaderboard: popgym27", ["leaderboard", "--suite", "popgym27", "--metric", "iqm", *db])
    step("Figures, tables and the leaderboard page (every suite in the database)", ["report", "--out", args.out, *db])
    print("\nNote: each trained agent is one training seed; its leaderboard 'seeds' are evaluation seeds, so its "
          "interval shows evaluation noise, not training-seed variance. Train more seeds (--seed N) for that.")
    print(f"\nDone. Figures and tables are in {args.out}/; results in {args.db} "
          f"(export with: amago-bench export --db {args.db} --format csv --out episodes.csv)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
