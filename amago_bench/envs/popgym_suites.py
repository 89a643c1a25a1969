"""The on-demand POPGym suites: ``popgym-single-<Task>`` (one task alone, one episode per trial) and
the named task subsets of :data:`POPGYM_SUBSETS` (a few tasks, one episode per trial).

This module never imports ``popgym`` (the registry calls it to build suites, and
``amago-bench --help`` must stay fast): each task's native action count is data here, and a test
checks the table against the installed package. The task's env id and reference scores are read
from the ``popgym27`` suite (one place for them), and the measured uniform-random low end from
popgym27's calibration file: a uniform-random episode is scored the same whether it is a trial's
only episode or the scored second one, and popgym27 replaces an action outside a task's own range
with a uniform one inside it.

A ``popgym-single-<Task>`` suite is the single-task, single-episode setting of the fidelity study
(``popgym-repeat-single`` and ``popgym-cartpole-single`` are two of them, kept as files because
stored results key on their text): the task's own actions, the unified 30-dim observation.
"""

from __future__ import annotations

from typing import Any, Mapping

from amago_bench.errors import SuiteError

POPGYM_SINGLE_PREFIX = "popgym-single-"
#: Named multi-task subsets of popgym27, single-episode trials, actions up to the largest native count
#: (a smaller task's extra actions are replaced by a uniformly random valid one, as in popgym27).
POPGYM_SUBSETS: dict[str, tuple[str, ...]] = {
    # issue 20 item 3: the paper's multi-task POPGym comparison in miniature, on tasks our agent and
    # the reference learn alone within ~10-30k env steps at the small budget (reports/fidelity/):
    # two pure-memory tasks and one memory-control task
    "popgym-mini3": ("RepeatPreviousEasy", "RepeatFirstEasy", "PositionOnlyCartPoleEasy"),
}
#: The multi-task suite whose task table the single-task suites take their tasks from.
SOURCE_SUITE = "popgym27"

#: Native action count of every popgym27 task (MultiDiscrete flattened to one Discrete).
NATIVE_ACTIONS: dict[str, int] = {
    "AutoencodeEasy": 4, "AutoencodeMedium": 4, "AutoencodeHard": 4,
    "RepeatPreviousEasy": 4, "RepeatPreviousMedium": 4, "RepeatPreviousHard": 4,
    "RepeatFirstEasy": 4, "RepeatFirstMedium": 4, "RepeatFirstHard": 4,
    "CountRecallEasy": 27, "CountRecallMedium": 27, "CountRecallHard": 17,
    "PositionOnlyCartPoleEasy": 2, "PositionOnlyCartPoleMedium": 2, "PositionOnlyCartPoleHard": 2,
    "VelocityOnlyCartpoleEasy": 2, "VelocityOnlyCartpoleMedium": 2, "VelocityOnlyCartpoleHard": 2,
    "NoisyPositionOnlyCartPoleEasy": 2, "NoisyPositionOnlyCartPoleMedium": 2, "NoisyPositionOnlyCartPoleHard": 2,
    "MultiarmedBanditEasy": 10, "MultiarmedBanditMedium": 20,
    "HigherLowerEasy": 2, "HigherLowerMedium": 2, "HigherLowerHard": 2,
    "MineSweeperEasy": 16,
}


def popgym_single_suite_data(name: str, source: Mapping[str, Any]) -> dict[str, Any]:
    """The raw suite table of ``popgym-single-<Task>``, built from the raw ``popgym27`` table
    ``source``; :func:`amago_bench.suite.get_suite` parses it like a suite file."""
    if not name.startswith(POPGYM_SINGLE_PREFIX):
        raise SuiteError(f"{name!r} is not a single-task POPGym suite name; use {POPGYM_SINGLE_PREFIX}<Task>, "
                         f"e.g. {POPGYM_SINGLE_PREFIX}RepeatFirstEasy")
    task = name[len(POPGYM_SINGLE_PREFIX):]
    rows = {row["name"]: row for row in source["tasks"]}
    if task not in rows or task not in NATIVE_ACTIONS:
        raise SuiteError(f"unknown POPGym task {task!r}; valid: {', '.join(sorted(rows))} "
                         f"(as in {POPGYM_SINGLE_PREFIX}RepeatFirstEasy)")
    return {
        "name": name,
        "family": source["family"],
        "description": f"POPGym {task} alone, 1 episode per trial, its own {NATIVE_ACTIONS[task]} actions",
        "packages": list(source["packages"]),
        "extra": source["extra"],
        "backends": list(source["backends"]),
        "trial": {"episodes": 1, "scored_episodes": [0], "max_episode_steps": source["trial"]["max_episode_steps"],
                  "score": "return"},
        "spaces": {"observation": dict(source["spaces"]["observation"]),
                   "action": {"kind": "discrete", "n": NATIVE_ACTIONS[task]}},
        "seeds": {split: list(bounds) for split, bounds in source["seeds"].items()},
        "tasks": [{"name": task, "env_id": rows[task]["env_id"], "reference": dict(rows[task]["reference"])}],
    }


def popgym_subset_suite_data(name: str, source: Mapping[str, Any]) -> dict[str, Any]:
    """The raw suite table of a named subset (:data:`POPGYM_SUBSETS`), built from the raw ``popgym27``
    table ``source`` like :func:`popgym_single_suite_data`."""
    if name not in POPGYM_SUBSETS:
        raise SuiteError(f"unknown POPGym subset {name!r}; valid: {', '.join(sorted(POPGYM_SUBSETS))}")
    tasks = POPGYM_SUBSETS[name]
    rows = {row["name"]: row for row in source["tasks"]}
    n = max(NATIVE_ACTIONS[t] for t in tasks)
    raw = popgym_single_suite_data(POPGYM_SINGLE_PREFIX + tasks[0], source)
    raw.update(name=name, description=f"POPGym {', '.join(tasks)}: 1 episode per trial, no task id, Discrete({n})",
               tasks=[{"name": t, "env_id": rows[t]["env_id"], "reference": dict(rows[t]["reference"])} for t in tasks])
    raw["spaces"]["action"] = {"kind": "discrete", "n": n}
    return raw
