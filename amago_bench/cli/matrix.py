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
#: Suites per budget: the paper's cheaper suites at the small budget; their stand-ins for smoke.
REPRODUCE_SUITES = {
    "smoke": ("scale-probe", "popgym27", "babyai", "ml10", "atari10-smoke", "procgen-smoke"),
    "small": ("scale-probe", "popgym27", "procgen-easy5", "atari10", "babyai", "ml10"),
}
#: The compute budgets reproduce takes; ``paper`` runs the paper's own experiments
#: (results/paper/experiments.toml) instead of a suite list.
REPRODUCE_BUDGETS = ("smoke", "small", "paper")
#: Evaluation trials per task of each checkpoint, per budget (reproduce).
REPRODUCE_TRIALS = {"smoke": 2, "small": 16, "paper": 32}
#: The scale study: scale-dependent vs scale-resistant agents on tasks that differ in reward scale.
STUDY_AGENTS = ("amago2", "dep-dep", "rl2-ppo-gru")
STUDY_SUITES = ("scale-probe",)


def _common(p: argparse.ArgumentParser, seeds: int | None, trials: int | None) -> None:
    p.add_argument("--seeds", type=int, default=seeds,
                   help="training seeds per agent and suite (0..N-1)" + (
                       "" if seeds else " (default: 1; at --budget paper, each table's own number of seeds)"))
    p.add_argument("--eval-trials", type=int, default=trials,
                   help="evaluation trials per task of each checkpoint" + (
                       "" if trials else f" (default: by budget, {', '.join(f'{k} {v}' for k, v in REPRODUCE_TRIALS.items())})"))
    p.add_argument("--runs", default="runs", help="root folder of training run directories")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads per job (default: $OMP_NUM_THREADS, else min(2, idle cores))")
    p.add_argument("--device", default=None, help="torch device for training (default: CUDA when present)")
    p.add_argument("--shard", default="0/1", help="run every n-th job starting at i, as i/n (one process per core)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the matrix with env steps, estimated device-hours and where each rate comes from; run nothing")
    p.add_argument("--calibrate", action="store_true",
                   help="measure this device's training and evaluation rates for every job kind of the matrix (a few "
                        "hundred env steps and updates each, at the jobs' model sizes), store them in <runs>/calibration.json "
                        "for --dry-run and the ETAs, then exit")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: jobs one after another in this process; ray: one Ray task per job, across a cluster")
    p.add_argument("--ray-address", default=None,
                   help="join this Ray cluster (e.g. HEAD:6379 or ray://HEAD:10001; default: start a local Ray instance). "
                        "--runs must be a folder every node sees; only this process writes --db")
    p.add_argument("--cpus-per-job", type=float, default=1.0, help="Ray: CPUs each job asks for (also its torch threads)")
    p.add_argument("--gpus-per-job", type=float, default=0.0, help="Ray: GPUs each job asks for (0: the job trains on CPU)")
    p.add_argument("--max-retries", type=int, default=3,
                   help="Ray: times a job whose worker died is started again (it resumes from its last checkpoint)")
    p.add_argument("--no-progress", action="store_true", help="hide evaluation progress bars")
    add_db(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run the paper's agents x suites x seeds, then write its tables and figures",
                       description="Trains AMAGO-2's four loss variants and RL^2-PPO on every paper suite (smoke: cheap "
                       "stand-ins), evaluates each checkpoint and the random agent, then writes every table (measured "
                       "beside reported) and figure into --out. Resumable: re-run the same command after a crash.")
    p.add_argument("--budget", choices=REPRODUCE_BUDGETS, default="smoke",
                   help="smoke: minutes on a CPU; small: hours, shows learning on the cheap suites; paper: the paper's "
                   "experiments (its budgets, seeds and splits; GPU clusters, see --executor ray)")
    p.add_argument("--suites", nargs="+", default=None, help="only these suites (default: the budget's suites)")
    p.add_argument("--agents", nargs="+", default=None, help=f"only these agents (default: {' '.join(PAPER_AGENTS)})")
    p.add_argument("--table", nargs="+", default=None, dest="tables",
                   help="--budget paper: only these of the paper's tables (see results/paper/experiments.toml; "
                        "default: all)")
    p.add_argument("--out", default=None, help="report folder (default: reports/paper-<budget>)")
    _common(p, seeds=None, trials=None)
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
    if args.seeds is not None and args.seeds < 1:
        raise UserError(f"--seeds must be >= 1, got {args.seeds}")
    from amago_bench.limits import MAX_SEEDS, MAX_THREADS, MAX_TRIALS_PER_TASK, check_count

    check_count("--threads", args.threads, 1, MAX_THREADS)
    check_count("--seeds", args.seeds, 1, MAX_SEEDS)
    check_count("--eval-trials", args.eval_trials, 1, MAX_TRIALS_PER_TASK)
    if args.max_retries < 0:
        raise UserError(f"--max-retries must be >= 0, got {args.max_retries}")
    seeds = args.seeds if args.seeds is not None else (None if args.budget == "paper" else 1)
    trials = args.eval_trials if args.eval_trials is not None else REPRODUCE_TRIALS[args.budget]
    return MatrixConfig(agents=tuple(agents or ()), suites=tuple(suites or ()), seeds=tuple(range(seeds or 0)),
                        budget=args.budget, eval_trials_per_task=trials, runs_root=args.runs, db=args.db,
                        threads=args.threads, device=args.device, shard=(i, n), tables=tuple(getattr(args, "tables", None) or ()),
                        executor=args.executor, ray_address=args.ray_address, cpus_per_job=args.cpus_per_job,
                        gpus_per_job=args.gpus_per_job, max_retries=args.max_retries)


def _run(args: argparse.Namespace, cfg) -> bool:
    """Run the matrix (or print it); True when the reports should be written."""
    from amago_bench import matrix

    if args.calibrate:
        from amago_bench import costs

        costs.calibrate_matrix(cfg)
        return False
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

    if args.budget == "paper":  # the paper's experiments; --agents / --suites only narrow them
        cfg = _config(args, args.agents, args.suites)
    else:
        cfg = _config(args, args.agents or PAPER_AGENTS, args.suites or REPRODUCE_SUITES[args.budget])
    t0 = time.perf_counter()
    if not _run(args, cfg):
        return 0
    out = args.out or f"reports/paper-{args.budget}"
    command = "amago-bench " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "amago-bench reproduce"
    from dataclasses import replace

    from amago_bench.matrix import plan

    suites = tuple(dict.fromkeys(j.suite for j in plan(replace(cfg, shard=(0, 1)))))
    res = write_report(ReportConfig(db=args.db, out=Path(out), suites=suites, command=command))
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

    import datetime as dt

    commit, dirty = git_state()
    path = Path(out) / "run.json"
    try:  # the report writer's run.json (its own command, version, UTC time) is kept and added to
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    doc.update({"command": command, "wall_s_this_invocation": round(seconds, 1), "git_commit": commit,
                "git_dirty": dirty, "utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "python": platform.python_version(), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                "versions": environment_versions(("torch", "gymnasium", "numpy", "popgym")),
                "matrix": {"agents": list(cfg.agents), "suites": list(cfg.suites), "seeds": list(cfg.seeds),
                           "budget": cfg.budget, "eval_trials_per_task": cfg.eval_trials_per_task,
                           "tables": list(cfg.tables), "executor": cfg.executor}})
    Path(out).mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
