"""Where the files that ship with the package live, and where the package writes its own.

Shipped data lives in top-level folders of the repository, and the wheel maps each into the
package (``[tool.setuptools.package-dir]`` in pyproject.toml), so there is one copy of every file:

==============  ==============================  =======================================
kind            in the source tree              in an installed wheel
==============  ==============================  =======================================
``suites``      ``suites/``                     ``amago_bench/suites/``
``reference``   ``suites/reference/``           ``amago_bench/suites/reference/``
``baselines``   ``baselines/``                  ``amago_bench/baselines/``
``paper``       ``results/paper/``              ``amago_bench/results/paper/``
==============  ==============================  =======================================

The measured reference scores (uniform-random returns, ``<suite>-random.json``) sit beside
the suites because they are part of how a suite is scored: the low end of its normalisation.
This module is the only place that knows the layout; every reader goes through :func:`data_dir`.

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

#: Kind of shipped data -> its folder, relative to the repository root in a source checkout and
#: to the package in an installed wheel (the same relative path: pyproject.toml maps one onto the other).
DATA_LAYOUT: dict[str, tuple[str, ...]] = {
    "suites": ("suites",),
    "reference": ("suites", "reference"),
    "baselines": ("baselines",),
    "paper": ("results", "paper"),
}
#: The kinds of shipped data.
DATA_KINDS: tuple[str, ...] = tuple(DATA_LAYOUT)


def _check_kind(kind: str) -> None:
    if kind not in DATA_LAYOUT:
        raise ValueError(f"unknown data kind {kind!r}; one of {', '.join(DATA_KINDS)}")


def package_dir() -> Path:
    """The folder of the imported ``amago_bench`` package."""
    return Path(str(files("amago_bench")))


def in_source_checkout() -> bool:
    """True when the package is imported from a source tree (``pip install -e .`` or PYTHONPATH),
    not from an installed wheel: the folder above the package holds amago-bench's pyproject.toml."""
    pyproject = package_dir().parent / "pyproject.toml"
    try:
        return 'name = "amago-bench"' in pyproject.read_text()
    except OSError:
        return False


def repo_root() -> Path | None:
    """The source checkout the package runs from, or None for an installed package."""
    return package_dir().parent if in_source_checkout() else None


def default_db() -> Path:
    """Where results go without ``--db``: ``results/amago-bench.db`` in the checkout, or for an
    installed package under the current folder (relative, so never inside site-packages)."""
    root = repo_root()
    return (root / "results" if root is not None else Path("results")) / "amago-bench.db"


def default_reports_dir() -> Path:
    """``reports/``: the checkout's own, or for an installed package the current folder's."""
    root = repo_root()
    return root / "reports" if root is not None else Path("reports")


def data_dir(kind: str) -> Path:
    """The shipped folder of one kind of data (:data:`DATA_KINDS`): under the repository root in a
    source checkout, under the package in an installed wheel."""
    _check_kind(kind)
    return (repo_root() or package_dir()).joinpath(*DATA_LAYOUT[kind])


def user_data_dir(kind: str) -> Path:
    """The per-user folder for one kind of data: ``$AMAGO_BENCH_DATA/<kind>``, else
    ``$XDG_DATA_HOME/amago-bench/<kind>``, else ``~/.local/share/amago-bench/<kind>``."""
    _check_kind(kind)
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
