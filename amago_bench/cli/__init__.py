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
    "amago_bench.cli.matrix",      # reproduce, study
)


def _has_default(value: object) -> bool:
    """Whether --help should show this default (identity checks: a default of 0 is shown, False is not)."""
    return not any(value is x for x in (None, False, argparse.SUPPRESS))


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where the help text already states one or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not _has_default(action.default) or not action.option_strings:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: --help shows each option's default (subparsers inherit the class)."""

    def __init__(self, *args, **kwargs) -> None:
        fc = kwargs.get("formatter_class") or argparse.HelpFormatter
        if fc is argparse.HelpFormatter:
            kwargs["formatter_class"] = _HelpFormatter
        elif not issubclass(fc, _HelpFormatter):  # keep e.g. raw descriptions, add the defaults
            kwargs["formatter_class"] = type(
                f"{fc.__name__}WithDefaults", (fc, _HelpFormatter), {})
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):  # an option without help text still shows its default
        if kwargs.get("help") is None and _has_default(kwargs.get("default")) and args and args[0].startswith("-"):
            kwargs["help"] = "(default: %(default)s)"
        return super().add_argument(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="amago-bench",
        description="Multi-task / meta-RL benchmark harness: suites, agents, results database, leaderboards.",
    )
    parser.add_argument("--debug", action="store_true",
                        help=f"show full tracebacks instead of one-line errors (or set {DEBUG_ENV}=1)")
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


#: Set to 1 to get full tracebacks instead of one-line errors (same as --debug).
DEBUG_ENV = "AMAGO_BENCH_DEBUG"


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGINT: stop like Ctrl-C (runs are marked interrupted), exit 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum


#: The signal this process received, if any: an interruption that surfaced as another error (SQLite
#: reports one that lands inside a query as "interrupted") still exits as the interruption it was.
_RECEIVED: dict[str, int | None] = {"signum": None}


def _on_signal(signum, frame):  # Ctrl-C or a polite kill
    _RECEIVED["signum"] = signum
    raise Terminated(signum)


def _one_line(exc: BaseException) -> tuple[str, int]:
    """(message, exit code) for an error that reached the top: bad input and environment faults
    (unwritable paths, full disks, damaged or read-only databases) are the user's to fix (2)."""
    from amago_bench.errors import UserError, describe_fault

    if isinstance(exc, UserError):
        return str(exc), 2
    fault = describe_fault(exc)
    if fault is not None:
        return fault, 2
    return (f"internal error: {type(exc).__name__}: {exc} (re-run with --debug or {DEBUG_ENV}=1 for the traceback, "
            f"and report it)"), 1


def main(argv: list[str] | None = None) -> int:
    import os
    import signal

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    debug = bool(args.debug) or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    _RECEIVED["signum"] = None
    try:
        signal.signal(signal.SIGTERM, _on_signal)
        # Ctrl-C stops a run as an interruption even when the shell started us with SIGINT ignored
        # (background jobs of non-interactive shells): finished work is kept, the run is marked.
        signal.signal(signal.SIGINT, _on_signal)
    except ValueError:
        pass  # not the main thread
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as exc:  # exit 128 + the signal's number, as a shell reports a killed process
        print("amago-bench: interrupted; finished work is stored, re-run the same command to resume", file=sys.stderr)
        return 128 + (exc.signum if isinstance(exc, Terminated) else int(signal.SIGINT))
    except Exception as exc:
        if _RECEIVED["signum"] is not None and not debug:  # the interruption surfaced as another error
            print("amago-bench: interrupted; finished work is stored, re-run the same command to resume",
                  file=sys.stderr)
            return 128 + int(_RECEIVED["signum"])
        if debug:
            raise
        msg, code = _one_line(exc)
        print(f"amago-bench: error: {msg}", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
