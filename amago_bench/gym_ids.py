"""Every shipped suite and every task as a Gymnasium id, registered when ``amago_bench`` is imported.

Ids (namespace ``amago_bench``, all version 0)::

    amago_bench/<suite>-v0          the suite's multi-task trial env (:class:`~amago_bench.envs.trial.TrialEnv`)
    amago_bench/<suite>.<task>-v0   the same trial env pinned to one task
    amago_bench/trial-v0            any suite given as ``suite=`` (a name :func:`~amago_bench.suite.get_suite` knows, or a .toml path)

Keyword arguments of ``gym.make``: ``split`` (``"train"`` or ``"test"``; default ``"train"``, or
for a task id the split the task is in: :func:`default_split`) and ``backend`` (default: the
suite's). ``amago-bench evaluate`` defaults to ``"test"`` instead: a script that builds an env to
train on gets the training split, a score gets the held-out one (README: "Train on a suite with
SB3"). ``amago-bench ids`` lists every id with its default split. For example::

    import amago_bench, gymnasium as gym
    env = gym.make("amago_bench/popgym27-v0", split="test")
    env = gym.make("amago_bench/popgym27.RepeatPreviousEasy-v0")

One Gymnasium episode is one trial (k inner episodes of one task variant): a recurrent
policy trained on these ids should reset its memory at Gymnasium episode starts, which are
trial starts. ``.`` separates suite and task because a Gymnasium id allows only one ``/`` and
``gym.make`` reads ``:`` as "import this module first"; suite names never contain ``.``.

Cost: registration reads suite and task names from the shipped TOML files (about 15 ms) and
imports no benchmark package; ``gym.make`` loads and validates the suite through
:func:`make_trial_env`. ``import amago_bench`` does not import gymnasium: when gymnasium is
not imported yet, the ids are registered right after it is (a one-shot import hook), so the
CLI's ``--help`` stays fast.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import tomllib
from typing import Any

NAMESPACE = "amago_bench"
VERSION = 0
ENTRY_POINT = "amago_bench.gym_ids:make_trial_env"
#: The id that takes any suite as ``suite=``.
GENERIC_ID = f"{NAMESPACE}/trial-v{VERSION}"


def suite_id(suite: str) -> str:
    """The Gymnasium id of a suite's multi-task trial env, e.g. ``amago_bench/popgym27-v0``."""
    return f"{NAMESPACE}/{suite}-v{VERSION}"


def task_id(suite: str, task: str) -> str:
    """The Gymnasium id of one task's trial env, e.g. ``amago_bench/popgym27.RepeatPreviousEasy-v0``."""
    return f"{NAMESPACE}/{suite}.{task}-v{VERSION}"


def make_trial_env(
    suite: str | None = None,
    split: str | None = None,
    task: str | None = None,
    backend: str | None = None,
):
    """Gymnasium entry point of every id: the suite's :class:`TrialEnv`, built now.

    ``split=None`` means ``"train"``, or for a pinned task that is only in the test split, ``"test"``.
    Fails at once (not at the first reset) when the suite needs a package that is not installed.
    """
    from amago_bench.envs.base import package_installed
    from amago_bench.envs.base import MissingPackageError
    from amago_bench.envs.trial import TrialEnv
    from amago_bench.installation import pip_install
    from amago_bench.suite import SuiteError, get_suite

    if suite is None:
        raise SuiteError(f"{GENERIC_ID} needs the suite: gym.make({GENERIC_ID!r}, suite='scale-probe') "
                         f"(a name from `amago-bench suites` or a path to a suite .toml)")
    spec = get_suite(suite)
    if split is None:
        split = default_split(spec, task)
    missing = [p for p in spec.packages if not package_installed(p)]
    if missing:
        raise MissingPackageError(
            f"suite {spec.name!r} needs the Python package(s) {', '.join(missing)}, which are not installed; "
            f"install with: {pip_install(spec.extra)}"
        )
    return TrialEnv(spec, split=split, task=task, backend=backend)  # type: ignore[arg-type]


def default_split(spec, task: str | None = None) -> str:
    """The split ``gym.make`` builds without ``split=``: :data:`~amago_bench.suite.TRAIN_SPLIT`, or for
    an id pinned to a task that is only in the test split, ``"test"``."""
    from amago_bench.suite import TRAIN_SPLIT

    return "test" if task is not None and spec.task(task).split == "test" else TRAIN_SPLIT


def shipped_ids() -> dict[str, dict[str, Any]]:
    """Id -> the ``gym.make`` kwargs it stands for, for every shipped suite and task.

    Reads only the ``name`` keys of the suite files (no validation: ``gym.make`` validates).
    """
    from amago_bench.resources import data_dir

    ids: dict[str, dict[str, Any]] = {}
    for path in sorted(data_dir("suites").glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue  # a broken suite file fails loudly in `amago-bench suites` and get_suite
        name = path.stem
        ids[suite_id(name)] = {"suite": name}
        for t in raw.get("tasks", ()):
            if isinstance(t, dict) and isinstance(t.get("name"), str):
                ids[task_id(name, t["name"])] = {"suite": name, "task": t["name"]}
    return ids


def register_all() -> list[str]:
    """Register every shipped suite and task id (and the generic one); returns the ids registered.

    Idempotent: ids already in Gymnasium's registry are left as they are.
    """
    from gymnasium.envs.registration import register, registry

    done = []
    for env_id, kwargs in {GENERIC_ID: {}, **shipped_ids()}.items():
        if env_id in registry:
            continue
        register(id=env_id, entry_point=ENTRY_POINT, kwargs=kwargs, disable_env_checker=False)
        done.append(env_id)
    return done


class _RegisterAfterGymnasiumImport(importlib.abc.MetaPathFinder):
    """Import hook: lets gymnasium import as usual, then registers the ids; removes itself."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "gymnasium":
            return None
        _remove_hook()
        spec = importlib.util.find_spec(fullname)  # the ordinary finders, without this hook
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            register_all()

        spec.loader.exec_module = exec_then_register  # this spec's own loader instance only
        return spec


def _remove_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _RegisterAfterGymnasiumImport)]


def install() -> None:
    """Register now if gymnasium is imported, else right after it is (called by ``import amago_bench``)."""
    if "gymnasium.envs.registration" in sys.modules:
        register_all()
    elif not any(isinstance(f, _RegisterAfterGymnasiumImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterGymnasiumImport())
