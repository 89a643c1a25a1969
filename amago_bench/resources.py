"""Where the files that ship with the package live: suites, agent configs, reference scores.

They are package data under ``amago_bench/data/`` (so a wheel carries them), found through
:mod:`importlib.resources`. This module is the only place that knows the layout.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_dir(kind: str) -> Path:
    """The folder of one kind of shipped data: ``suites``, ``agents``, ``reference`` or ``paper``."""
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data kind {kind!r}; one of {', '.join(DATA_KINDS)}")
    return Path(str(files("amago_bench").joinpath("data", kind)))


#: The kinds of shipped data, each a folder under ``amago_bench/data/``.
DATA_KINDS: tuple[str, ...] = ("suites", "agents", "reference", "paper")
