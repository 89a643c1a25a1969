"""Every command's --help states the default of every option that has one."""

from __future__ import annotations

import argparse

from amago_bench.cli import build_parser


def _parsers(parser: argparse.ArgumentParser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_with_a_default_shows_it():
    """Options without help text and options whose default is 0 included (both once slipped through)."""
    missing = []
    count = 0
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if not action.option_strings or any(action.default is x for x in (None, False, argparse.SUPPRESS)):
                continue
            count += 1
            shown = parser._get_formatter()._format_action(action)
            if "default" not in shown:
                missing.append((" ".join(path), action.option_strings[0]))
    assert count > 50
    assert not missing, missing


def test_an_option_without_help_text_shows_its_default():
    from amago_bench.cli import _Parser

    p = _Parser(prog="x")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--flag", action="store_true")
    text = p.format_help()
    assert "(default: 0)" in text
    assert "--flag" in text and "(default: False)" not in text


def test_every_help_renders_without_doubled_percent_signs():
    """`amago-bench [COMMAND ...] --help` exits 0 for every (sub)command, and no text shows a
    literal '%%' (argparse only %-formats help strings, so '95%%' in a description is printed as is)."""
    import subprocess
    import sys

    paths = [path for path, _ in _parsers(build_parser())]
    assert len(paths) > 15
    bad = []
    for path in paths:
        run = subprocess.run([sys.executable, "-m", "amago_bench", *path, "--help"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, (path, run.stderr)
        assert run.stdout.startswith("usage: amago-bench"), (path, run.stdout[:200])
        if "%%" in run.stdout:
            bad.append(" ".join(path) or "(top level)")
    assert not bad, f"'%%' shown in the --help of: {bad}"
