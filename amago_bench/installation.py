"""How this copy of amago-bench was installed, and the pip command that adds an extra to it.

Hints for a missing package name a command the reader can run as is:

=================================================  ==============================================
installed as                                       the hint
=================================================  ==============================================
a source checkout (``pip install -e`` or           ``pip install -e '/path/to/checkout[atari]'``
``PYTHONPATH``)
from a git URL (``pip install 'amago-bench @        ``pip install 'amago-bench[atari] @ git+URL@COMMIT'``
git+URL'``)
from a wheel or sdist file                         ``pip install '/path/to/amago_bench-...whl[atari]'``
                                                   (the file pip recorded, while it exists)
from an index                                      ``pip install 'amago-bench[atari]'``
=================================================  ==============================================

The way is read from the installed distribution's ``direct_url.json`` (PEP 610), which pip writes
for every install that did not come from an index.
"""

from __future__ import annotations

import importlib
import json
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from amago_bench.errors import UserError
from amago_bench.resources import repo_root

DIST = "amago-bench"

#: Import name of an optional dependency -> the extra (pyproject.toml) that installs it.
EXTRA_OF_MODULE: dict[str, str] = {
    "torch": "agent", "tensorboard": "agent",
    "popgym": "popgym", "mazelib": "popgym",
    "metaworld": "metaworld", "ale_py": "atari", "minigrid": "babyai", "envpool": "fast",
    "stable_baselines3": "sb3", "sb3_contrib": "sb3", "ray": "ray",
}


class MissingPackageError(UserError, ImportError):
    """An optional package (a suite's benchmark, torch, SB3, Ray) is not installed; the message
    names the command that installs it."""


def _direct_url() -> dict | None:
    """The installed distribution's ``direct_url.json``, or None (an index install, or none)."""
    try:
        text = metadata.distribution(DIST).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def pip_install(extra: str | None = None, direct_url: dict | None = None, checkout: Path | None = None,
                upgrade: bool = False) -> str:
    """The pip command that installs amago-bench with ``extra`` the way this copy was installed
    (``upgrade``: with ``-U``).

    ``direct_url`` and ``checkout`` default to what this process sees (``direct_url.json`` of the
    installed distribution; the source checkout the package runs from, if any); tests pass them.
    """
    pip = "pip install -U" if upgrade else "pip install"
    ext = f"[{extra}]" if extra else ""
    checkout = checkout if checkout is not None else repo_root()
    if checkout is not None:
        return f"{pip} -e '{checkout}{ext}'"
    info = direct_url if direct_url is not None else _direct_url()
    if info and isinstance(info.get("url"), str):
        url = info["url"]
        vcs = info.get("vcs_info")
        if isinstance(vcs, dict):
            rev = None if upgrade else vcs.get("commit_id") or vcs.get("requested_revision")
            return f"{pip} '{DIST}{ext} @ {vcs.get('vcs', 'git')}+{url}{'@' + rev if rev else ''}'"
        parsed = urlparse(url)
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path))
            if (info.get("dir_info") or {}).get("editable"):
                return f"{pip} -e '{path}{ext}'"
            if path.exists() and not upgrade:
                return f"{pip} '{path}{ext}'"
        elif "archive_info" in info and not upgrade:
            return f"{pip} '{DIST}{ext} @ {url}'"
    return f"{pip} '{DIST}{ext}'"


def upgrade_hint() -> str:
    """How to get a newer amago-bench: update the checkout, or pip's upgrade command."""
    root = repo_root()
    if root is not None:
        return f"update the checkout at {root} (git pull)"
    return pip_install(upgrade=True)


def missing_package_hint(module: str | None) -> str | None:
    """'install with: <command>' for an optional dependency's import name (top level), or None."""
    extra = EXTRA_OF_MODULE.get((module or "").split(".")[0])
    return f"install with: {pip_install(extra)}" if extra else None


def import_optional(name: str, needed_by: str):
    """Import module ``name``; when an optional dependency it imports is missing, fail with
    :class:`MissingPackageError` naming ``needed_by`` and the install command."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        hint = missing_package_hint(exc.name)
        if hint is None:
            raise
        raise MissingPackageError(f"{needed_by} needs the Python package {exc.name!r}, which is not installed; "
                                  f"{hint}") from exc
