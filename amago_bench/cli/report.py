"""Command: `report` - tables and figures for one suite from the results database."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import warnings
from pathlib import Path

from amago_bench.cli.common import add_db
from amago_bench.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a suite's leaderboard, per-task scores and learning curves (md/csv + PNG/SVG figures)",
        description="Reads the results database and writes, into --out: leaderboard.md/.csv, task_scores.csv, "
        "figures task_scores / aggregate / learning_curve (PNG and SVG), and README.md saying what produced each.",
    )
    p.add_argument("--suite", required=True)
    p.add_argument("--out", default=None, help="output folder (default: reports/<suite>)")
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--metric", choices=("iqm", "mean", "median", "optimality-gap"), default="iqm")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replicates")
    p.add_argument("--ci-seed", type=int, default=0, help="seed of the bootstrap Generator")
    add_db(p)
    p.set_defaults(func=cmd_report)


def _provenance(db: str, runs, args) -> str:
    from amago_bench.store import git_state

    commit, dirty = git_state()
    seeds = sorted(set(int(s) for s in runs["seed"]))
    return (f"amago-bench report --suite {args.suite} --split {args.split} | git {str(commit)[:10]}"
            f"{' (dirty tree)' if dirty else ''} | db {db} | {runs['run_id'].nunique()} runs, seeds {seeds} | "
            f"bootstrap: numpy Generator seed {args.ci_seed}, {args.reps} reps, 95% CI | "
            f"{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")


def cmd_report(args: argparse.Namespace) -> int:
    import numpy as np

    from amago_bench.report import build, figures
    from amago_bench.scoring import leaderboard
    from amago_bench.store import DEFAULT_DB, ResultsStore
    from amago_bench.suite import get_suite

    spec = get_suite(args.suite)
    db = str(args.db or DEFAULT_DB)
    if not Path(db).exists():
        raise UserError(f"results database {db} does not exist; run `amago-bench evaluate --db {db} ...` first")
    out = Path(args.out or f"reports/{spec.name}")
    out.mkdir(parents=True, exist_ok=True)
    with ResultsStore(db, create=False) as store:
        episodes = store.episodes(suite=spec.name)
    if episodes.empty:
        raise UserError(f"no results for suite {spec.name!r} in {db}; run `amago-bench evaluate --suite {spec.name}` first")
    current = episodes[episodes["suite_hash"] == spec.spec_hash]
    if current.empty:
        raise UserError(f"every stored result of {spec.name!r} was made with another version of its suite file; "
                        "re-run the evaluations")
    evals = current[(current["kind"] == "evaluate") & (current["split"] == args.split)]
    trains = current[current["kind"] == "train"]
    written: list[str] = []
    notes: list[str] = []

    if not evals.empty:
        group = build.largest_group(evals)
        runs = group.drop_duplicates("run_id")
        prov = _provenance(db, runs, args)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            board = leaderboard(group, spec, metric=args.metric, rng=np.random.default_rng(args.ci_seed), reps=args.reps)
        notes += [str(w.message) for w in caught]
        cols = ["rank", "agent", "estimate", "lower", "upper", "seeds", "trials", "tasks"]
        board[cols].to_csv(out / "leaderboard.csv", index=False)
        lines = [f"| {' | '.join(cols)} |", "|" + "---|" * len(cols)]
        for r in board[cols].itertuples(index=False):
            lines.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
        (out / "leaderboard.md").write_text(
            f"# {spec.name} leaderboard ({args.split} split, {args.metric} of normalised trial scores, 95% CI)\n\n"
            + "\n".join(lines) + f"\n\n{prov}\n")
        written += [str(out / "leaderboard.md"), str(out / "leaderboard.csv")]

        tasks = build.per_task_scores(group, spec, np.random.default_rng(args.ci_seed), reps=args.reps)
        tasks.to_csv(out / "task_scores.csv", index=False)
        written.append(str(out / "task_scores.csv"))
        ax = figures.plot_task_scores(tasks)
        written += figures.save(ax, out / "task_scores",
                                f"{spec.name}: per-task normalised score ({args.split} split, mean over trials, 95% CI)",
                                prov)
        agg = board[["agent", "estimate", "lower", "upper"]]
        ax = figures.plot_aggregate(agg, xlabel=f"{args.metric} of normalised score")
        written += figures.save(ax, out / "aggregate", f"{spec.name}: {args.metric} over seeds x tasks (95% CI)", prov)
    else:
        notes.append(f"no evaluation runs on the {args.split} split: no leaderboard or per-task figure")

    if not trains.empty and trains["env_steps"].notna().any():
        curve = build.learning_curve(trains, spec, np.random.default_rng(args.ci_seed), reps=min(args.reps, 1000))
        curve.to_csv(out / "learning_curve.csv", index=False)
        prov = _provenance(db, trains.drop_duplicates("run_id"), args)
        ax = figures.plot_learning_curve(curve)
        written += figures.save(ax, out / "learning_curve",
                                f"{spec.name}: evaluation during training (mean over tasks and trials, 95% CI)", prov)
        by_task = build.learning_curve(trains, spec, np.random.default_rng(args.ci_seed), reps=min(args.reps, 500),
                                       by_task=True)
        ax = figures.plot_learning_curve(by_task)
        written += figures.save(ax, out / "learning_curve_by_task", f"{spec.name}: evaluation during training, per task",
                                prov)
    else:
        notes.append("no training runs with evaluations: no learning curve")

    (out / "README.md").write_text(
        f"# Report: {spec.name}\n\nGenerated by `amago-bench report --suite {spec.name} --split {args.split} "
        f"--db {db}`; every number is computed from the episodes stored in that database.\n\n"
        + "\n".join(f"- `{Path(w).name}`" for w in written)
        + ("\n\nNotes:\n" + "\n".join(f"- {n}" for n in notes) if notes else "") + "\n")
    for w in written:
        print(f"wrote {w}")
    for n in notes:
        print(f"note: {n}")
    return 0
