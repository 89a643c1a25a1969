"""Arguments shared by several command groups."""

from __future__ import annotations

import argparse
from typing import Any


def add_db(p: argparse.ArgumentParser, default: Any = None) -> None:
    """``--db PATH``: every command that reads or writes results takes it."""
    p.add_argument("--db", default=default, metavar="PATH",
                   help="results database file (default: results/amago-bench.db, in the checkout's results/ "
                        "folder, or under the current folder for an installed package)")
