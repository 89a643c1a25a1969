"""Commands: `leaderboard`, `runs` (list, show, delete), `export`, `import`.

Every command takes ``--db PATH`` (default ``results/amago-bench.db``). Commands that only
read refuse to create a missing database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import warnings
from typing import Any, Iterator

from amago_bench.cli.common import add_db
from amago_bench.errors import UserError

METRIC_CHOICES = ("iqm", "mean", "median", "optimality-gap")
METRIC_LABELS = {"iqm": "IQM", "mean": "mean", "median": "median", "optimality-gap": "optimality gap"}
SCORE_CHOICES = ("normalised", "success", "score")
SCORE_LABELS = {"normalised": "normalised trial score", "success": "trial success rate",
                "score": "raw trial score (not normalised)"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="rank agents on a suite with bootstrap confidence intervals",
        description="Rank agents on a suite by an aggregate metric over per-(seed, task) scores, with stratified-"
        "bootstrap confidence intervals and the seeds and trials behind each row. Results that differ in suite "
        "spec, split, trial protocol, backend, evaluation size or task subset are shown in separate groups, "
        "never ranked together.",
    )
    p.add_argument("--suite", required=True, help="suite name (see `amago-bench suites`)")
    p.add_argument("--metric", choices=METRIC_CHOICES, default="iqm", help="aggregate metric (default: iqm)")
    p.add_argument("--score", choices=SCORE_CHOICES, default="normalised",
                   help="per-trial score to aggregate (default: normalised)")
    p.add_argument("--split", choices=("train", "test"), default=None, help="only this split (default: both, as groups)")
    p.add_argument("--agent", nargs="+", default=None, help="only these agents (default: all)")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replicates (default: 2000)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of intervals (default: 0.95)")
    p.add_argument("--ci-seed", type=int, default=0, help="bootstrap seed; each agent's Generator is derived from it and the agent's own key, "
                   "so adding an agent changes no other interval (default: 0)")
    p.add_argument("--include-training", action="store_true",
                   help="also rank the evaluations made during training runs (learning-curve points; default: off)")
    p.add_argument("--include-stale", action="store_true",
                   help="also show runs recorded under another version of the suite spec (as separate groups; "
                   "default: off)")
    p.add_argument("--format", choices=("table", "md", "csv", "json"), default="table", dest="fmt",
                   help="output format (default: table)")
    add_db(p)
    p.set_defaults(func=cmd_leaderboard)

    p = sub.add_parser("runs", help="list runs, show a run's manifest, delete runs",
                       description="`runs` or `runs list`: list runs; `runs show RUN_ID`: the full manifest and "
                       "provenance; `runs delete RUN_ID... --yes`: delete runs and their episodes.")
    add_db(p)
    p.add_argument("--suite", default=None, help="only runs of this suite (default: all)")
    p.set_defaults(func=cmd_runs, runs_cmd="list", agent=None, status=None, fmt="table")
    rsub = p.add_subparsers(dest="runs_cmd", metavar="{list,show,delete}")
    q = rsub.add_parser("list", help="list runs")
    add_db(q, argparse.SUPPRESS)
    q.add_argument("--suite", default=argparse.SUPPRESS, help="only runs of this suite")
    q.add_argument("--agent", default=None, help="only runs of this agent (default: all)")
    q.add_argument("--status", default=None,
                   help="only runs with this status (running, finished, failed, interrupted: its process is gone; "
                   "re-run the same command to resume it; default: all)")
    q.add_argument("--format", choices=("table", "csv", "json"), default="table", dest="fmt",
                   help="output format (default: table)")
    q = rsub.add_parser("show", help="show one run's manifest, provenance and sessions")
    q.add_argument("run_id")
    add_db(q, argparse.SUPPRESS)
    q = rsub.add_parser("delete", help="delete runs with their trials and episodes")
    q.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    q.add_argument("--yes", action="store_true", help="really delete (default: off, only say what would go)")
    add_db(q, argparse.SUPPRESS)

    p = sub.add_parser("export", help="export episodes (one row each, with run columns) as parquet or csv",
                       description="Write one row per episode with its run's agent, suite, split, seed and the full "
                       "run record (column run_record), so `amago-bench import` can rebuild the runs elsewhere.")
    p.add_argument("--out", required=True, metavar="PATH", help="output file")
    p.add_argument("--format", choices=("parquet", "csv"), default=None, dest="fmt",
                   help="file format (default: from --out's suffix, parquet otherwise)")
    p.add_argument("--suite", default=None, help="only this suite (default: all)")
    p.add_argument("--agent", default=None, help="only this agent (default: all)")
    p.add_argument("--split", choices=("train", "test"), default=None, help="only this split (default: both)")
    p.add_argument("--run", nargs="+", default=None, dest="run_ids", metavar="RUN_ID", help="only these runs (default: all)")
    add_db(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="merge an exported parquet/csv file into the database (all or nothing)")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--format", choices=("parquet", "csv"), default=None, dest="fmt",
                   help="file format (default: from the suffix)")
    add_db(p)
    p.set_defaults(func=cmd_import)


# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    from amago_bench.scoring import MissingDataWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MissingDataWarning)
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, MissingDataWarning):
                    print(f"amago-bench: warning: {w.message}", file=sys.stderr)
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    if abs(x) < 1e-9:
        return "0"
    return f"{x:.{digits}g}" if abs(x) < 1e5 else f"{x:.3e}"


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    return str(o)


def _key_differences(groups: list[dict]) -> list[str]:
    keys = [k for k in groups[0] if k.startswith("key_")]
    return [k[4:] for k in keys if len({str(g[k]) for g in groups}) > 1]


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from amago_bench.scoring import leaderboard
    from amago_bench.store import ResultsStore, StoreError
    from amago_bench.suite import get_suite

    if args.reps < 100:
        raise UserError(f"--reps {args.reps} is too few for a 95% interval; use >= 100 (default 2000)")
    if not 0.5 <= args.confidence < 1:
        raise UserError(f"--confidence must be in [0.5, 1), got {args.confidence}")
    spec = get_suite(args.suite)
    with ResultsStore(args.db, create=False) as store:
        eps = store.episodes(suite=spec.name, split=args.split)
    if args.agent:
        eps = eps[eps["agent"].isin(args.agent)]
    training_only = 0
    if not args.include_training:
        # evaluations made during training (kind "train") are learning-curve points taken at
        # several env-step counts: they are drawn by `report`, not ranked
        training_only = int((eps["kind"] == "train").sum())
        eps = eps[eps["kind"] == "evaluate"]
    if eps.empty:
        what = f"suite {spec.name!r}" + (f", split {args.split}" if args.split else "") + \
            (f", agent(s) {', '.join(args.agent)}" if args.agent else "")
        hint = (f"; it holds only evaluations made during training: rank them with --include-training, or "
                f"evaluate a checkpoint with `amago-bench evaluate --suite {spec.name} --agent amago2 --checkpoint PATH`"
                if training_only else f"; run `amago-bench evaluate --suite {spec.name} --db {store.path}` first")
        raise StoreError(f"no results for {what} in {store.path}{hint}")
    stale = eps[eps["suite_hash"] != spec.spec_hash]
    if not stale.empty and not args.include_stale:
        n = stale["run_id"].nunique()
        msg = (f"{n} run(s) of {spec.name!r} were recorded under suite spec hash(es) "
               f"{', '.join(sorted(stale['suite_hash'].unique()))}, but {spec.path or spec.name} now has hash "
               f"{spec.spec_hash} (the file or its measured references changed)")
        eps = eps[eps["suite_hash"] == spec.spec_hash]
        if eps.empty:
            raise StoreError(f"{msg}; nothing matches the current spec. Re-run `amago-bench evaluate` for these "
                             "agents, or pass --include-stale to show the old runs (scored with the current references)")
        print(f"amago-bench: warning: {msg}; they are left out (pass --include-stale to show them as separate groups)",
              file=sys.stderr)
    if args.ci_seed < 0:
        raise UserError(f"--ci-seed must be >= 0, got {args.ci_seed}")
    with _warnings_to_stderr():
        table = leaderboard(eps, spec, metric=args.metric, score=args.score, ci_seed=args.ci_seed, reps=args.reps,
                            alpha=1 - args.confidence)
    table["key_current_spec"] = table["key_suite_hash"] == spec.spec_hash
    if args.fmt == "csv":
        table.to_csv(sys.stdout, index=False)
        return 0
    if args.fmt == "json":
        print(json.dumps(table.to_dict(orient="records"), indent=1, default=_json_default))
        return 0
    _print_leaderboard(table, spec, args)
    return 0


def _group_title(row: dict, spec) -> str:
    tasks = json.loads(row["key_tasks"]) if row["key_tasks"] else None
    tasks_txt = f"all {row['tasks']} {row['key_split']} tasks" if tasks is None else f"tasks {', '.join(tasks)}"
    cur = "current spec" if row["key_current_spec"] else "STALE spec: not the current suite file"
    return (f"{spec.name} / split {row['key_split']} / backend {row['key_backend']} / "
            f"{row['key_trials_per_task']} trials per task per seed / {tasks_txt} / "
            f"trial: {row['key_trial_protocol'] or '?'} / spec {row['key_suite_hash']} ({cur})")


def _print_leaderboard(table, spec, args) -> None:
    md = args.fmt == "md"
    mlabel = METRIC_LABELS[args.metric]
    pct = f"{100 * args.confidence:g}%"
    groups = [g.to_dict(orient="records") for _, g in table.groupby("group", sort=True)]
    better = "lower is better" if args.metric == "optimality-gap" else "higher is better"
    print(("## " if md else "") + f"Leaderboard: {spec.name}, {mlabel} of {SCORE_LABELS[args.score]} ({better})")
    print(f"{pct} CIs: stratified bootstrap over seeds within each task, {args.reps} replicates, "
          f"numpy Generator per agent from seed {args.ci_seed}")
    if len(groups) > 1:
        diff = _key_differences([g[0] for g in groups])
        print(f"{len(groups)} groups of results differ in {', '.join(diff)}: each is ranked on its own, never together")
    for rows in groups:
        print()
        print(("### " if md else "== ") + _group_title(rows[0], spec))
        header = ["rank", "agent", mlabel, f"{pct} CI", "seeds", "trials"]
        body = [[str(r["rank"]), r["agent"], _fmt(r["estimate"]), f"[{_fmt(r['lower'])}, {_fmt(r['upper'])}]",
                 str(r["seeds"]), str(r["trials"])] for r in rows]
        if md:
            print("| " + " | ".join(header) + " |")
            print("|" + "|".join("---" for _ in header) + "|")
            for b in body:
                print("| " + " | ".join(b) + " |")
        else:
            widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
            print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
            for b in body:
                print("  ".join(c.ljust(w) for c, w in zip(b, widths)))
        single = [r["agent"] for r in rows if r["seeds"] < 2]
        if single:
            print(f"note: {', '.join(single)}: one seed only, so the interval has no spread across runs "
                  "to resample; evaluate more --seeds")


def cmd_runs(args: argparse.Namespace) -> int:
    from amago_bench.store import ResultsStore

    cmd = args.runs_cmd or "list"
    with ResultsStore(args.db, create=False) as store:
        if cmd == "show":
            info = store.run_info(args.run_id)
            for key in ("agent_config", "versions", "tasks"):
                if isinstance(info.get(key), str):
                    info[key] = json.loads(info[key])
            print(json.dumps(info, indent=1, default=_json_default))
            return 0
        if cmd == "delete":
            known = set(store.runs()["run_id"])
            unknown = [r for r in args.run_ids if r not in known]
            if unknown:
                raise UserError(f"no run(s) {', '.join(unknown)} in {store.path}; nothing deleted. "
                                f"List runs with `amago-bench runs --db {store.path}`")
            if not args.yes:
                df = store.runs(run_ids=args.run_ids)
                for r in df.itertuples():
                    print(f"would delete run {r.run_id} ({r.agent} on {r.suite}/{r.split} seed {r.seed}, "
                          f"{r.episodes} episodes)")
                print("pass --yes to delete")
                return 1
            for run_id in args.run_ids:
                n = store.delete_run(run_id)
                print(f"deleted run {run_id} ({n} episodes)")
            return 0
        df = store.runs(suite=args.suite)
        df["status"] = [_live_status(store, r, st) for r, st in zip(df["run_id"], df["status"])]
    if args.agent:
        df = df[df["agent"] == args.agent]
    if args.status:
        df = df[df["status"] == args.status]
    if args.fmt == "csv":
        df.to_csv(sys.stdout, index=False)
        return 0
    if args.fmt == "json":
        print(json.dumps(df.to_dict(orient="records"), indent=1, default=_json_default))
        return 0
    if df.empty:
        print("no runs" + (f" of suite {args.suite!r}" if args.suite else ""))
        return 0
    header = ["run_id", "status", "kind", "agent", "suite", "split", "seed", "trials", "episodes", "started", "git"]
    rows = []
    for r in df.to_dict(orient="records"):
        git = "-" if not r["git_commit"] else r["git_commit"][:8] + ("+dirty" if r["git_dirty"] else "")
        rows.append([r["run_id"], r["status"], r["kind"], r["agent"], r["suite"], r["split"], str(r["seed"]),
                     f"{r['trials']}", str(r["episodes"]), str(r["started"]), git])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    return 0


def _live_status(store, run_id: str, status: str) -> str:
    """"running" as stored, or "interrupted" when its last process on this host is gone."""
    import os
    import socket

    if status != "running":
        return status
    host, pid = store.last_session(run_id)
    if host != socket.gethostname() or pid is None:
        return status
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return "interrupted"
    except OSError:
        pass
    return status


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from amago_bench.store import ResultsStore

    suffix = Path(args.out).suffix.lower()
    if args.fmt is None and suffix not in (".csv", ".parquet", ".pq"):
        raise UserError(f"--out {args.out}: cannot tell the format from {suffix or 'no suffix'!r}; "
                        f"use a .csv or .parquet file name, or pass --format csv|parquet")
    fmt = args.fmt or ("csv" if suffix == ".csv" else "parquet")
    with ResultsStore(args.db, create=False) as store:
        n = store.export(args.out, fmt, suite=args.suite, agent=args.agent, split=args.split, run_ids=args.run_ids)
    print(f"wrote {n} episode rows to {args.out} ({fmt})")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from amago_bench.store import ResultsStore

    with ResultsStore(args.db) as store:
        counts = store.import_file(args.path, args.fmt)
    print(f"imported {args.path} into {store.path}: {counts['runs_new']} new run(s), {counts['runs_merged']} merged, "
          f"{counts['trials_added']} trial(s) added, {counts['trials_skipped']} already present")
    return 0
