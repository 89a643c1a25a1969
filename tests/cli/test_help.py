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
    missing = []
    count = 0
    for path, parser in _parsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            if not action.option_strings or action.default in (None, False, argparse.SUPPRESS) or not action.help:
                continue
            count += 1
            helptext = parser._get_formatter()._expand_help(action) if "%" in action.help else action.help
            if "default" not in parser._get_formatter()._get_help_string(action) and "default" not in helptext:
                missing.append((" ".join(path), action.option_strings[0]))
            assert "default" in text
    assert count > 40
    assert not missing, missing
