"""Command: `report` - tables, figures and the leaderboard page from the results database.

Only parses flags; the work is :func:`amago_bench.report.writer.write_report`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from amago_bench.cli.common import add_db
from amago_bench.errors import UserError

FORMATS = ("md", "csv", "tex", "html", "png", "svg")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write tables (md/csv/tex), figures (PNG/SVG) and a leaderboard page (HTML) from the results database",
        description="Reads the results database and writes, into --out: index.html (the leaderboard page: every "
        "suite, sortable tables with 95% CIs, each row's manifest, the figures; works opened from disk), and per "
        "suite <suite>/leaderboard.* (IQM, mean, median, optimality gap per comparable group), <suite>/comparison.* "
        "(measured beside the papers' reported numbers, each with its budget) and the figures, plus README.md "
        "saying what produced each. A suite without results is skipped with a note.",
    )
    p.add_argument("--suite", action="append", default=None, metavar="SUITE",
                   help="a suite to report; repeat for several (default: every suite with results in the database)")
    p.add_argument("--out", default=None,
                   help="output folder (default: reports/<suite> for one --suite, reports/all otherwise)")
    p.add_argument("--format", default=",".join(FORMATS), dest="formats", metavar="LIST",
                   help=f"comma-separated outputs among {','.join(FORMATS)} (default: all of them)")
    p.add_argument("--split", choices=("train", "test"), default=None,
                   help="only this split's evaluations (default: every split, each on its own)")
    p.add_argument("--metric", choices=("iqm", "mean", "median", "optimality-gap"), default="iqm",
                   help="metric the leaderboard ranks by; every metric is shown (default: iqm)")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap replicates (default: 2000)")
    p.add_argument("--ci-seed", type=int, default=0,
                   help="bootstrap seed; each interval's Generator is derived from it and its own key (default: 0)")
    add_db(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from amago_bench.report.writer import ReportConfig, write_report
    from amago_bench.store import DEFAULT_DB

    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserError(f"--format {args.formats!r}: unknown {', '.join(bad) or '(empty)'}; give a comma-separated "
                        f"list of {','.join(FORMATS)}")
    suites = tuple(dict.fromkeys(args.suite or ()))
    out = Path(args.out or (f"reports/{suites[0]}" if len(suites) == 1 else "reports/all"))
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; pass a folder")
    db = str(args.db or DEFAULT_DB)
    argv = ["amago-bench", "report"] + [x for s in suites for x in ("--suite", s)] + (
        ["--split", args.split] if args.split else []) + ["--out", str(out), "--db", db]
    cfg = ReportConfig(db=db, out=out, suites=suites, split=args.split, metric=args.metric, reps=args.reps,
                       ci_seed=args.ci_seed, formats=formats, command=shlex.join(argv))
    result = write_report(cfg)
    for w in result.written:
        print(f"wrote {w}")
    for n in result.notes:
        print(f"note: {n}", file=sys.stderr if "skipped" in n else sys.stdout)
    return 0
