"""Where the files that ship with the package live, and where the package writes its own.

Shipped data (suites, agent configs, reference scores, the paper's numbers) is package data
under ``amago_bench/data/`` (so a wheel carries it), found through :mod:`importlib.resources`.
This module is the only place that knows the layout.

Files the harness writes next to that data (``amago-bench calibrate``'s measured reference
scores) go into :func:`writable_data_dir`: the shipped folder itself in a source checkout
(so they can be committed), else a per-user folder, ``$AMAGO_BENCH_DATA`` or
``$XDG_DATA_HOME/amago-bench`` (``~/.local/share/amago-bench``), since an installed package's
folder belongs to pip. Lookups read :func:`data_dirs`: the writable folder first.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

#: The kinds of shipped data, each a folder under ``amago_bench/data/``.
DATA_KINDS: tuple[str, ...] = ("suites", "agents", "reference", "paper")


def data_dir(kind: str) -> Path:
    """The folder of one kind of shipped data: ``suites``, ``agents``, ``reference`` or ``paper``."""
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data kind {kind!r}; one of {', '.join(DATA_KINDS)}")
    return Path(str(files("amago_bench").joinpath("data", kind)))


def in_source_checkout() -> bool:
    """True when the package is imported from a source tree (``pip install -e .`` or PYTHONPATH),
    not from an installed wheel: the folder above the package holds amago-bench's pyproject.toml."""
    pyproject = Path(str(files("amago_bench"))).parent / "pyproject.toml"
    try:
        return 'name = "amago-bench"' in pyproject.read_text()
    except OSError:
        return False


def user_data_dir(kind: str) -> Path:
    """The per-user folder for one kind of data: ``$AMAGO_BENCH_DATA/<kind>``, else
    ``$XDG_DATA_HOME/amago-bench/<kind>``, else ``~/.local/share/amago-bench/<kind>``."""
    if kind not in DATA_KINDS:
        raise ValueError(f"unknown data kind {kind!r}; one of {', '.join(DATA_KINDS)}")
    root = os.environ.get("AMAGO_BENCH_DATA")
    if not root:
        xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
        root = os.path.join(xdg, "amago-bench")
    return Path(root) / kind


def writable_data_dir(kind: str) -> Path:
    """Where the harness writes data of this kind: ``$AMAGO_BENCH_DATA`` when set, else the
    shipped folder in a source checkout, else the per-user folder."""
    if os.environ.get("AMAGO_BENCH_DATA") or not in_source_checkout():
        return user_data_dir(kind)
    return data_dir(kind)


def data_dirs(kind: str) -> list[Path]:
    """The folders to read data of this kind from, in order: the writable one, then the shipped one."""
    first, shipped = writable_data_dir(kind), data_dir(kind)
    return [first] if first == shipped else [first, shipped]


def find_data_file(kind: str, name: str) -> Path | None:
    """The first ``<folder>/<name>`` that exists among :func:`data_dirs`, or None."""
    for d in data_dirs(kind):
        if (d / name).is_file():
            return d / name
    return None
