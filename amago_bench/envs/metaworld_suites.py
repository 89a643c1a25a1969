"""Meta-World suite names and the on-demand ``ml1-<task>`` suites.

This module never imports ``metaworld`` (the registry calls it to build ``ml1-*`` suites,
and ``amago-bench --help`` must stay fast): the task names are data here, and a test checks
them against the installed package.

An ``ml1-<task>`` suite is one Meta-World task class with random goals: the train split
draws goals from ML1's train goal list, the test split from its (disjoint) test goal list.
It uses the same trial protocol as ``ml10``/``ml45`` (k = 3 episodes of 500 steps, trial
score = mean success over the 3 episodes).
"""

from __future__ import annotations

from typing import Any

from amago_bench.errors import SuiteError

#: Every Meta-World v3 task class (``metaworld.env_dict.ALL_V3_ENVIRONMENTS``), sorted.
METAWORLD_V3_TASKS: tuple[str, ...] = (
    "assembly-v3", "basketball-v3", "bin-picking-v3", "box-close-v3", "button-press-topdown-v3",
    "button-press-topdown-wall-v3", "button-press-v3", "button-press-wall-v3", "coffee-button-v3",
    "coffee-pull-v3", "coffee-push-v3", "dial-turn-v3", "disassemble-v3", "door-close-v3",
    "door-lock-v3", "door-open-v3", "door-unlock-v3", "drawer-close-v3", "drawer-open-v3",
    "faucet-close-v3", "faucet-open-v3", "hammer-v3", "hand-insert-v3", "handle-press-side-v3",
    "handle-press-v3", "handle-pull-side-v3", "handle-pull-v3", "lever-pull-v3",
    "peg-insert-side-v3", "peg-unplug-side-v3", "pick-out-of-hole-v3", "pick-place-v3",
    "pick-place-wall-v3", "plate-slide-back-side-v3", "plate-slide-back-v3", "plate-slide-side-v3",
    "plate-slide-v3", "push-back-v3", "push-v3", "push-wall-v3", "reach-v3", "reach-wall-v3",
    "shelf-place-v3", "soccer-v3", "stick-pull-v3", "stick-push-v3", "sweep-into-v3", "sweep-v3",
    "window-close-v3", "window-open-v3",
)

ML1_PREFIX = "ml1-"

#: The part of every Meta-World ML suite that is the same for ml1-*, ml10 and ml45
#: (suites/ml10.toml and ml45.toml spell the same values out as data).
_ML_COMMON: dict[str, Any] = {
    "family": "metaworld",
    "packages": ["metaworld"],
    "extra": "metaworld",
    "backends": ["official", "envpool"],
    "default_backend": "official",
    "trial": {"episodes": 3, "scored_episodes": [0, 1, 2], "max_episode_steps": 500, "score": "success"},
    "spaces": {
        "observation": {"kind": "box", "shape": [39], "dtype": "float32"},
        "action": {"kind": "box", "shape": [4], "dtype": "float32", "low": -1.0, "high": 1.0},
    },
    "seeds": {"train": [0, 1000000], "test": [1000000, 2000000]},
}

SUCCESS_REFERENCE = {
    "kind": "min-max",
    "low": 0.0,
    "high": 1.0,
    "source": "success rate: the trial score is already in [0, 1]",
}


def canonical_task(name: str) -> str:
    """``reach`` or ``reach-v3`` -> ``reach-v3``; unknown names fail with the valid list."""
    full = name if name.endswith("-v3") else f"{name}-v3"
    if full not in METAWORLD_V3_TASKS:
        raise SuiteError(
            f"unknown Meta-World task {name!r}; valid: {', '.join(t[:-3] for t in METAWORLD_V3_TASKS)} "
            f"(with or without the -v3 suffix)"
        )
    return full


def ml1_suite_data(name: str) -> dict[str, Any]:
    """The raw suite table of ``ml1-<task>`` (e.g. ``ml1-reach`` or ``ml1-pick-place-v3``), which
    :func:`amago_bench.suite.get_suite` parses like a suite file."""
    if not name.startswith(ML1_PREFIX):
        raise SuiteError(f"{name!r} is not an ML1 suite name; use ml1-<task>, e.g. ml1-reach")
    task = canonical_task(name[len(ML1_PREFIX):])
    suite_name = f"{ML1_PREFIX}{task[:-3]}"
    raw = {
        "name": suite_name,
        "description": f"Meta-World ML1 {task}: one task class, train/test goal lists; 3-episode trials of 500 steps",
        **_ML_COMMON,
        "options": {"benchmark": "ML1", "benchmark_seed": 0, "reward_function_version": "v2"},
        "tasks": [{"name": task, "env_id": task, "split": "both", "reference": dict(SUCCESS_REFERENCE)}],
    }
    return raw
