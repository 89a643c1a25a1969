"""Commands `reproduce` (the AMAGO-2 paper's matrix of agents x suites x seeds, then its tables
and figures) and `study scale` (scale resistance: loss variants and RL^2-PPO across reward
scales, over training seeds). Both are job matrices (:mod:`amago_bench.matrix`): resumable,
shardable across processes, with ETAs; ``--dry-run`` prints the matrix with time estimates."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
import sys
import time

from amago_bench.cli.common import add_db

#: The agents of the paper's comparisons: AMAGO-2's four loss variants, RL^2-PPO, random.
PAPER_AGENTS = ("amago2", "dep-dep", "ind-actor-dep-critic", "dep-actor-ind-critic", "rl2-ppo-gru", "random")
#: Suites per budget: the paper's suites at small/paper budgets; their cheap stand-ins for smoke.
REPRODUCE_SUITES = {
    "smoke": ("scale-probe", "popgym27", "babyai", "ml10", "atari10-smoke", "procgen-smoke"),
    "small": ("scale-probe", "popgym27", "procgen-easy5", "atari10", "babyai", "ml10"),
    "paper": ("ml45", "popgym27", "procgen-easy5", "procgen-memhard16", "atari10", "babyai"),
}
#: Evaluation trials per task of each checkpoint, per budget (reproduce).
REPRODUCE_TRIALS = {"smoke": 2, "small": 16, "paper": 32}
#: The scale study: scale-dependent vs scale-resistant agents on tasks that differ in reward scale.
STUDY_AGENTS = ("amago2", "dep-dep", "rl2-ppo-gru")
STUDY_SUITES = ("scale-probe",)


def _common(p: argparse.ArgumentParser, seeds: int, trials: int | None) -> None:
    p.add_argument("--seeds", type=int, default=seeds, help="training seeds per agent and suite (0..N-1)")
    p.add_argument("--eval-trials", type=int, default=trials,
                   help="evaluation trials per task of each checkpoint" + (
                       "" if trials else f" (default: by budget, {', '.join(f'{k} {v}' for k, v in REPRODUCE_TRIALS.items())})"))
    p.add_argument("--runs", default="runs", help="root folder of training run directories")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per job (default: $OMP_NUM_THREADS, else min(2, idle cores))")
    p.add_argument("--device", default=None, help="torch device for training (default: CUDA when present)")
    p.add_argument("--shard", default="0/1", help="run every n-th job starting at i, as i/n (one process per core)")
    p.add_argument("--dry-run", action="store_true", help="print the matrix with env steps and estimated time; run nothing")
    p.add_argument("--no-progress", action="store_true", help="hide evaluation progress bars")
    add_db(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run the paper's agents x suites x seeds, then write its tables and figures",
                       description="Trains AMAGO-2's four loss variants and RL^2-PPO on every paper suite (smoke: cheap "
                       "stand-ins), evaluates each checkpoint and the random agent, then writes every table (measured "
                       "beside reported) and figure into --out. Resumable: re-run the same command after a crash.")
    p.add_argument("--budget", choices=tuple(REPRODUCE_SUITES), default="smoke",
                   help="smoke: minutes on a CPU; small: hours, shows learning on the cheap suites; paper: GPU machines")
    p.add_argument("--suites", nargs="+", default=None, help="only these suites (default: the budget's suites)")
    p.add_argument("--agents", nargs="+", default=None, help=f"only these agents (default: {' '.join(PAPER_AGENTS)})")
    p.add_argument("--out", default=None, help="report folder (default: reports/paper-<budget>)")
    _common(p, seeds=1, trials=None)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("study", help="learning studies: `study scale` (scale resistance over training seeds)",
                       description="scale: trains amago2, dep-dep and rl2-ppo-gru on scale-probe (one task per reward "
                       "scale) for several training seeds, evaluates each, and writes a table and a figure of the "
                       "normalised score per reward scale per agent with intervals over training seeds.")
    p.add_argument("study", choices=("scale",), help="which study")
    p.add_argument("--budget", choices=("smoke", "small", "paper"), default="small", help="training budget")
    p.add_argument("--agents", nargs="+", default=list(STUDY_AGENTS), help="agents to compare")
    p.add_argument("--suites", nargs="+", default=list(STUDY_SUITES), help="suites")
    p.add_argument("--out", default="reports/study-scale", help="report folder")
    _common(p, seeds=3, trials=32)
    p.set_defaults(func=cmd_study)


def _config(args: argparse.Namespace, agents, suites):
    from amago_bench.errors import UserError
    from amago_bench.matrix import MatrixConfig

    try:
        i, n = (int(x) for x in str(args.shard).split("/"))
    except ValueError:
        raise UserError(f"--shard {args.shard!r}: write it as i/n, e.g. 0/2") from None
    if args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    trials = args.eval_trials if args.eval_trials is not None else REPRODUCE_TRIALS[args.budget]
    return MatrixConfig(agents=tuple(agents), suites=tuple(suites), seeds=tuple(range(args.seeds)), budget=args.budget,
                        eval_trials_per_task=trials, runs_root=args.runs, db=args.db, threads=args.threads,
                        device=args.device, shard=(i, n))


def _run(args: argparse.Namespace, cfg) -> bool:
    """Run the matrix (or print it); True when the reports should be written."""
    from amago_bench import matrix

    if args.dry_run:
        matrix.dry_run(cfg)
        return False
    matrix.run(cfg, progress=not args.no_progress)
    if cfg.shard[1] > 1 and cfg.shard[0] != 0:
        print("shard done; the reports are written by shard 0 (or re-run without --shard once all shards finished)",
              file=sys.stderr)
        return False
    return True


def cmd_reproduce(args: argparse.Namespace) -> int:
    from amago_bench.report.writer import ReportConfig, write_report

    cfg = _config(args, args.agents or PAPER_AGENTS, args.suites or REPRODUCE_SUITES[args.budget])
    t0 = time.perf_counter()
    if not _run(args, cfg):
        return 0
    out = args.out or f"reports/paper-{args.budget}"
    command = "amago-bench " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "amago-bench reproduce"
    res = write_report(ReportConfig(db=args.db, out=Path(out), suites=cfg.suites, command=command))
    _stamp(out, command, time.perf_counter() - t0, cfg)
    print(f"reproduction written to {out}/ ({len(res.written)} files)")
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from amago_bench.report.study import write_scale_study

    cfg = _config(args, args.agents, args.suites)
    t0 = time.perf_counter()
    if not _run(args, cfg):
        return 0
    command = "amago-bench " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "amago-bench study scale"
    written = write_scale_study(cfg, args.out, command)
    _stamp(args.out, command, time.perf_counter() - t0, cfg)
    print(f"study written to {args.out}/ ({len(written)} files)")
    return 0


def _stamp(out: str, command: str, seconds: float, cfg) -> None:
    """What produced a report folder: command, versions, git, wall time of this invocation."""
    import json
    import os
    import platform

    from amago_bench.store import environment_versions, git_state

    commit, dirty = git_state()
    doc = {"command": command, "wall_s_this_invocation": round(seconds, 1), "git_commit": commit, "git_dirty": dirty,
           "python": platform.python_version(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
           "versions": environment_versions(("torch", "gymnasium", "numpy", "popgym")),
           "matrix": {"agents": list(cfg.agents), "suites": list(cfg.suites), "seeds": list(cfg.seeds),
                      "budget": cfg.budget, "eval_trials_per_task": cfg.eval_trials_per_task}}
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "run.json").write_text(json.dumps(doc, indent=1))
