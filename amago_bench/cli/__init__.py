"""`amago-bench`: the command line. The only place that wires suites, agents, store and reports.

Each command group lives in its own module exposing ``register(subparsers)``; handlers import
heavy dependencies (torch, benchmark packages) only when they run, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: (module, description) of each command group, in --help order.
COMMAND_MODULES = (
    "amago_bench.cli.core",        # suites, evaluate, calibrate
    "amago_bench.cli.results",     # leaderboard, runs, export
    "amago_bench.cli.train",       # train
    "amago_bench.cli.bench",       # bench envs | agent, parity
    "amago_bench.cli.report",      # report
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amago-bench",
        description="Multi-task / meta-RL benchmark harness: suites, agents, results database, leaderboards.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # command group not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from amago_bench.errors import UserError

    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"amago-bench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("amago-bench: interrupted; finished work is stored, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
