"""Commands: `suites`, `evaluate`, `calibrate`."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from amago_bench.cli.common import add_db
from amago_bench.errors import UserError
from amago_bench.suite import EVAL_SPLIT, SPLITS, TRAIN_SPLIT


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("suites", help="list suites: task counts, packages, installed or not")
    p.add_argument("--tasks", metavar="SUITE", help="list the tasks of one suite with their reference scores")
    p.set_defaults(func=cmd_suites)

    p = sub.add_parser(
        "ids", help="list the Gymnasium ids of every shipped suite and task, with the split gym.make builds by default",
        description="After `import amago_bench`, gym.make(ID, split=..., backend=...) builds any of these ids: "
        "a suite's multi-task trial env, the same env pinned to one task, or any suite (a name or a .toml path) "
        f"through amago_bench/trial-v0. Without split=, gym.make builds the {TRAIN_SPLIT} split (the one to train "
        f"on); `amago-bench evaluate` scores the {EVAL_SPLIT} split by default.",
    )
    p.add_argument("--suite", action="append", default=None, metavar="SUITE",
                   help="only this suite's ids; repeat for several (default: every shipped suite)")
    p.set_defaults(func=cmd_ids)

    p = sub.add_parser(
        "evaluate",
        help="evaluate an agent on a suite (fixed trials per task), store results, print a per-task summary",
        description="Evaluate an agent on every task of a suite's split with a fixed quota of trials per task and seed. "
        "Results go to the results database; re-running the same command resumes and skips finished trials.",
    )
    p.add_argument("--suite", required=True, help="suite name (see `amago-bench suites`) or a path to a suite .toml")
    p.add_argument("--agent", default="random", help="built-in agent name (random, probe-oracle, amago2) or module:attr")
    p.add_argument("--checkpoint", default=None, help="trained checkpoint for the agent (e.g. from `amago-bench train`)")
    p.add_argument("--split", choices=SPLITS, default=EVAL_SPLIT,
                   help=f"which split's tasks and seed range (default: {EVAL_SPLIT}, the held-out split results "
                        f"are ranked on; gym.make defaults to {TRAIN_SPLIT}, the split to train on)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="evaluation seeds (one run each)")
    p.add_argument("--trials-per-task", type=int, default=4, help="trials per task per seed")
    p.add_argument("--tasks", nargs="+", default=None, help="only these tasks (default: all tasks of the split)")
    p.add_argument("--num-envs", type=int, default=8, help="parallel envs in the vector env")
    p.add_argument("--vector", choices=("sync", "async"), default="sync", help="Gymnasium vector env kind")
    p.add_argument("--backend", default=None, help="env backend (default: the suite's default)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--rerun", action="store_true",
                   help="evaluate again even if stored: replaces the stored run of this exact command "
                        "(a user agent's edited code or a changed `version` attribute makes a new run by itself)")
    add_db(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "calibrate",
        help="measure uniform-random reference scores for a suite and store them with provenance",
        description="Runs the uniform random agent on every task (both splits) and writes <suite>-random.json, "
        "the low end of normalisation for suites that say low = \"measured\", into the reference data folder: "
        "suites/reference in a source checkout, else $AMAGO_BENCH_DATA/reference or "
        "~/.local/share/amago-bench/reference (normalisation reads that folder before the shipped files).",
    )
    p.add_argument("--suite", required=True)
    p.add_argument("--trials-per-task", type=int, default=200)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--backend", default=None)
    p.add_argument("--out", default=None, help="output file (default: <suite>-random.json in the reference data folder above)")
    p.set_defaults(func=cmd_calibrate)


# --------------------------------------------------------------------------------------


def cmd_ids(args: argparse.Namespace) -> int:
    from amago_bench.gym_ids import GENERIC_ID, default_split, shipped_ids, suite_id
    from amago_bench.suite import get_suite, list_suites

    ids = shipped_ids()
    names = list_suites()
    unknown = [s for s in args.suite or () if s not in names]
    if unknown:
        try:
            get_suite(unknown[0])
        except UserError:
            raise UserError(f"unknown suite {unknown[0]!r}; known: {', '.join(names)}") from None
        raise UserError(f"{unknown[0]} is built on demand and has no registered ids of its own; make it with "
                        f"gym.make({GENERIC_ID!r}, suite={unknown[0]!r})")
    wanted = set(args.suite or names)
    rows = [] if args.suite else [(GENERIC_ID, "suite= (a name or a .toml path)", TRAIN_SPLIT)]
    specs = {}
    for env_id, kw in ids.items():
        if kw["suite"] not in wanted:
            continue
        spec = specs.setdefault(kw["suite"], get_suite(kw["suite"]))
        rows.append((env_id, kw["suite"] + (f", task {kw['task']}" if "task" in kw else ""),
                     default_split(spec, kw.get("task"))))
    w = max(len(r[0]) for r in rows)
    print(f"{'id':{w}s}  {'default split':13s}  stands for")
    for env_id, what, split in rows:
        print(f"{env_id:{w}s}  {split:13s}  {what}")
    print(f"{len(rows)} ids. In Python: import amago_bench, gymnasium as gym; "
          f"env = gym.make({suite_id(sorted(wanted)[0])!r}, split={TRAIN_SPLIT!r})")
    return 0


def cmd_suites(args: argparse.Namespace) -> int:
    from amago_bench.envs.base import package_problem
    from amago_bench.installation import pip_install
    from amago_bench.suite import GENERATED_SUITES, get_suite, list_suites

    if args.tasks:
        spec = get_suite(args.tasks)
        print(f"{spec.name}: {spec.description}")
        print(f"trial: k={spec.trial.episodes} scored={list(spec.trial.scored_episodes)} score={spec.trial.score}")
        print(f"{'task':36s} {'split':5s} {'ref kind':14s} {'low':>10s} {'high':>10s}")
        for t in spec.tasks:
            r = t.reference
            low = "unmeasured" if r.low is None and r.low_measured else ("-" if r.low is None else f"{r.low:.4g}")
            high = "-" if r.high is None else f"{r.high:.4g}"
            print(f"{t.name:36s} {t.split:5s} {r.kind:14s} {low:>10s} {high:>10s}")
        return 0
    rows = []
    for name in list_suites():
        try:
            spec = get_suite(name)
        except UserError as exc:
            rows.append((name, "?", "?", "?", f"invalid: {exc}"))
            continue
        pkgs = ", ".join(spec.packages) or "-"
        problems = {p: package_problem(p) for p in spec.packages}
        missing = [p for p, why in problems.items() if why == "not installed"]
        broken = [f"{p} {why}" for p, why in problems.items() if why not in (None, "not installed")]
        status = ("ok" if not missing and not broken else
                  "; ".join([*([f"missing {', '.join(missing)}: {pip_install(spec.extra)}"] if missing else []),
                             *(f"{b}: reinstall it" for b in broken)]))
        rows.append((name, f"{len(spec.task_names('train'))}/{len(spec.task_names('test'))}", pkgs,
                     ",".join(spec.backends), status))
    print(f"{'suite':28s} {'tasks tr/te':11s} {'packages':22s} {'backends':18s} installed")
    for r in rows:
        print(f"{r[0]:28s} {r[1]:11s} {r[2]:22s} {r[3]:18s} {r[4]}")
    print("Built on demand (`amago-bench suites --tasks NAME` shows one):")
    for pattern, what in GENERATED_SUITES.items():
        print(f"  {pattern:32s} {what}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from amago_bench.jobs import EvalRequest, run_evaluation
    from amago_bench.scoring import task_summary
    from amago_bench.suite import get_suite

    spec = get_suite(args.suite)
    req = EvalRequest(suite=args.suite, agent=args.agent, checkpoint=args.checkpoint, split=args.split,
                      seeds=tuple(args.seeds), trials_per_task=args.trials_per_task,
                      tasks=tuple(args.tasks) if args.tasks else None, num_envs=args.num_envs, vector=args.vector,
                      backend=args.backend, db=args.db, progress=not args.no_progress, rerun=args.rerun)
    episodes = run_evaluation(req, spec)
    summary = task_summary(episodes, spec)
    if args.json:
        print(json.dumps(json.loads(summary.reset_index().to_json(orient="records")), indent=1))
        return 0
    _print_summary(summary, spec, args)
    return 0


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if abs(x) < 1e-9:
        return "0"
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:.3e}"


def _print_summary(summary, spec, args) -> None:
    print(f"\n{spec.name} / {args.split} / agent {args.agent} / seeds {args.seeds} / "
          f"{args.trials_per_task} trials per task per seed")
    print(f"trial score = {spec.trial.score} of episodes {list(spec.trial.scored_episodes)} of {spec.trial.episodes}")
    print(f"{'task':36s} {'trials':>6s} {'score':>11s} {'normalised':>10s} {'success':>8s}")
    for task, row in summary.iterrows():
        print(f"{task:36s} {int(row['trials']):6d} {_fmt(row['score']):>11s} {_fmt(row['normalised']):>10s} "
              f"{_fmt(row['success']):>8s}")
    norm = summary["normalised"]
    if norm.notna().any():
        print(f"{'mean over tasks':36s} {'':6s} {'':11s} {_fmt(float(norm.mean())):>10s} "
              f"{_fmt(float(summary['success'].mean())):>8s}")
    unknown = [t.name for t in spec.tasks if t.reference.low is None and t.reference.low_measured]
    if unknown:
        print(f"note: {len(unknown)} task(s) have no measured random reference yet, so no normalised score; "
              f"run `amago-bench calibrate --suite {spec.name}`")


def cmd_calibrate(args: argparse.Namespace) -> int:
    import datetime as dt
    import platform

    import numpy as np
    import pandas as pd

    from amago_bench.evaluate import evaluate
    from amago_bench.policy import RandomAgent
    from amago_bench.scoring import trial_scores
    from amago_bench.resources import writable_data_dir
    from amago_bench.suite import get_suite

    spec = get_suite(args.suite)
    if args.trials_per_task < 1:
        raise UserError(f"--trials-per-task must be >= 1, got {args.trials_per_task}")
    if args.num_envs < 1:
        raise UserError(f"--num-envs must be >= 1, got {args.num_envs}")
    if any(s < 0 for s in args.seeds) or len(set(args.seeds)) != len(args.seeds):
        raise UserError(f"--seeds must be distinct and >= 0, got {args.seeds}")
    backend = args.backend or spec.default_backend
    if backend not in spec.backends:
        raise UserError(f"unknown backend {backend!r} for suite {spec.name!r}; valid: {', '.join(spec.backends)}")
    if args.out is not None:
        parent = Path(args.out).resolve().parent
        if Path(args.out).is_dir() or not parent.is_dir():
            raise UserError(f"--out {args.out}: give a file path in an existing folder")
    frames = []
    for split in ("train", "test"):
        for seed in args.seeds:
            recs = evaluate(RandomAgent(), spec, split=split, trials_per_task=args.trials_per_task, seed=seed,
                            num_envs=args.num_envs, backend=backend, progress=True)
            df = pd.DataFrame(recs)
            df["seed"] = seed
            df["split_"] = split
            frames.append(df)
    episodes = pd.concat(frames, ignore_index=True)
    tasks: dict[str, list] = {}
    successes: dict[str, list] = {}
    for split in ("train", "test"):
        ts = trial_scores(episodes[episodes["split_"] == split], spec)
        for task, g in ts.groupby("task"):
            tasks.setdefault(task, []).append(g["score"].to_numpy())
            successes.setdefault(task, []).append(g["success"].to_numpy(float))
    out = {}
    for task, parts in tasks.items():
        s = np.concatenate(parts)
        out[task] = {"mean": float(s.mean()), "std": float(s.std(ddof=1)) if len(s) > 1 else 0.0,
                     "stderr": float(s.std(ddof=1) / np.sqrt(len(s))) if len(s) > 1 else 0.0, "trials": int(len(s))}
        succ = np.concatenate(successes[task])
        if np.isfinite(succ).any():
            out[task]["success_rate"] = float(np.nanmean(succ))
    versions = _versions(spec.packages)
    doc = {
        "suite": spec.name,
        "what": f"uniform-random trial score ({spec.trial.score} of scored episodes {list(spec.trial.scored_episodes)})",
        "command": f"amago-bench calibrate --suite {spec.name} --trials-per-task {args.trials_per_task} "
        f"--seeds {' '.join(map(str, args.seeds))} --num-envs {args.num_envs} --backend {backend}",
        "trials_per_task_per_seed_per_split": args.trials_per_task,
        "seeds": list(args.seeds),
        "splits": ["train", "test"],
        "backend": backend,
        "agent": "amago_bench.policy:RandomAgent (uniform over the unified action space)",
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "packages": versions,
        "tasks": out,
    }
    path = Path(args.out) if args.out else writable_data_dir("reference") / f"{spec.name}-random.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(path)
    counts = sorted({row["trials"] for row in out.values()})
    print(f"wrote {path}: {len(out)} tasks, {' or '.join(map(str, counts))} random trials per task "
          f"(every split the task is in, seeds {list(args.seeds)})")
    return 0


def _versions(packages) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for p in ("numpy", "gymnasium", *packages):
        dist = {"ale_py": "ale-py"}.get(p, p)
        try:
            out[p] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out
