"""The contract between the generic trial env and one benchmark family.

A family module (``amago_bench.envs.<family>``) exposes ``make_task_env(suite, task, backend)``
returning a :class:`TaskEnv`: one task's native env already mapped into the suite's unified
spaces. The trial logic (k episodes, task sampling, seeds, records) lives in
:mod:`amago_bench.envs.trial` and is the same for every family.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple, Protocol

import gymnasium as gym
import numpy as np

from amago_bench.installation import MissingPackageError, pip_install
from amago_bench.suite import SuiteError, SuiteSpec, TaskSpec


class StepContext(NamedTuple):
    """What the trial knows that a family may show in the observation.

    (A NamedTuple rather than a frozen dataclass: it is built on every env step, and a
    NamedTuple is immutable too but several times cheaper to create.)
    """

    episode_index: int
    """0-based index of the current episode inside the trial."""
    episodes_per_trial: int
    step_in_episode: int
    """Steps already taken in the current episode (0 right after a reset)."""
    max_episode_steps: int
    last_reward: float
    """Reward of the previous step, as given to the agent (0 at an episode start)."""
    last_action_valid: bool
    """False if the previous action was outside the task's own range and was replaced."""


class TaskEnv(Protocol):
    """One task's native env mapped into the suite's unified spaces."""

    observation_space: gym.Space
    action_space: gym.Space

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator) -> tuple[Any, dict]:
        """Start episode ``episode_index`` of a trial whose task variant is fixed by ``trial_seed``.

        Returns the unified observation and an info dict.
        """

    def step(self, action: Any, ctx_fn, rng: np.random.Generator) -> tuple[Any, float, bool, bool, dict]:
        """Take a unified action. ``ctx_fn(reward, valid)`` builds the :class:`StepContext`
        for the new observation. Returns (obs, native reward, terminated, truncated, info);
        info may hold ``success`` (bool) and ``action_valid`` (bool)."""

    def close(self) -> None: ...

    # Optional: ``settle_rng()``, for a task env that draws from ``rng`` ahead of need (in batches):
    # put the generator in the state its draws so far would have left. The trial env calls it
    # before it draws from the generator itself (a reset without a seed continues the stream).


def require(module: str, extra: str, suite: str | None = None) -> Any:
    """Import ``module`` or fail with the pip extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f"suite {suite!r} needs" if suite else "this needs"
        raise MissingPackageError(
            f"{what} the Python package {module!r}, which is not installed "
            f"({exc}); install with: {pip_install(extra)}"
        ) from exc


def package_installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def package_problem(module: str) -> str | None:
    """None when ``module`` imports; else why not: "not installed", or the error an installed but
    broken package raises on import (first line)."""
    if not package_installed(module):
        return "not installed"
    try:
        importlib.import_module(module)
    except Exception as exc:  # a broken install raises anything on import
        first = next((line for line in str(exc).splitlines() if line.strip()), "")
        return f"installed but fails to import ({type(exc).__name__}: {first})"
    return None


FAMILIES = ("popgym", "probe", "metaworld", "babyai", "atari", "procgen")


def family_module(suite: SuiteSpec):
    """The env family module for a suite (imported lazily)."""
    if suite.family not in FAMILIES:
        raise SuiteError(f"{suite.path}: family {suite.family!r} is not one of {', '.join(FAMILIES)}")
    return importlib.import_module(f"amago_bench.envs.{suite.family}")


def check_backend(suite: SuiteSpec, backend: str) -> None:
    """Fail with the valid backends (and the suite's note on why one is missing)."""
    if backend in suite.backends:
        return
    note = dict(suite.options.get("backend_notes", {})).get(backend)
    raise SuiteError(
        f"backend {backend!r} does not cover suite {suite.name!r}"
        + (f" ({note})" if note else "")
        + f"; valid: {', '.join(suite.backends)}"
    )


def make_task_env(suite: SuiteSpec, task: TaskSpec, backend: str | None = None) -> TaskEnv:
    backend = backend or suite.default_backend
    check_backend(suite, backend)
    for pkg in suite.packages:
        if backend == "official" or pkg == "envpool":
            require(pkg, suite.extra, suite.name)
    return family_module(suite).make_task_env(suite, task, backend)
