"""Meta-World ML1 / ML10 / ML45 tasks (package ``metaworld`` 3.x, MuJoCo) as trial tasks.

One task of a suite is one Meta-World task class (``reach-v3``, ...). A trial is k = 3
episodes of 500 steps on one *goal variant* of that class; the variant is a pure function of
the trial seed, and all k episodes of the trial use it (same object and goal positions).
Goals are hidden (ML setting): the agent must infer them from rewards within the trial.

Observation: the 39-dim Meta-World observation as float32. Action: Box(4) in [-1, 1].
``info["success"]`` is passed through, so the trial env records episode success = success
at any step of the episode (Meta-World's own evaluation rule).

Backends
--------
``official``: the ``metaworld`` package. The benchmark object (``ML45(seed=s)`` etc.) fixes
50 goals per task class and split; a trial's goal is goal ``i`` of that list with ``i`` drawn
from the trial seed. The trial seed's range (train or test seeds of the suite) says which
list (the benchmark's train_tasks or test_tasks) it comes from. Building ML45 takes ~30 s,
so the goal lists are built once per process and also cached on disk
(``$AMAGO_BENCH_CACHE/metaworld``, default ``~/.cache/amago-bench/metaworld``), keyed by
benchmark, seed and the metaworld version; concurrent processes wait on a file lock
instead of building it twice.

``envpool``: EnvPool's C++ port of Meta-World v3 (same 39-dim observation, same Box(4)
action, same ``success`` signal, goal hidden). EnvPool offers no way to set a goal vector,
so its goal variant is the one its own random stream draws on the first reset of an env
seeded with the trial seed; the env is re-made with that seed at every episode of the
trial so all k episodes share the goal. Goals therefore come from the same per-class
distribution as the official ones, but not from the benchmark's fixed 50-goal lists:
the two backends agree in distribution, not goal by goal.
"""

from __future__ import annotations

import json
import os
import pickle  # only pickle.dumps of in-memory task data, for metaworld.Task; nothing read from disk
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from amago_bench.envs.base import StepContext, require
from amago_bench.envs.metaworld_suites import canonical_task
from amago_bench.envs.spaces import space_from_spec
from amago_bench.suite import SuiteError, SuiteSpec, TaskSpec

OBS_DIM = 39
ACT_DIM = 4
BENCHMARKS = ("ML1", "ML10", "ML45")
#: Meta-World 3.x has two reward functions per task ("v1" and "v2", default "v2"); the choice
#: moves results a lot (Meta-World+ reports MT10 success 26% vs 74%), so every suite names it in
#: ``[options] reward_function_version`` (part of the suite hash). The AMAGO-2 paper's ML45
#: 3-episode returns (~11.6k over 1,500 steps) fit v2's 0-10 reward per step.
REWARD_VERSIONS = ("v1", "v2")
BACKENDS = ("official", "envpool")
#: For amago_bench.envs.parity: EnvPool cannot be given the benchmark's goal vectors, so the
#: first observations (object and goal placement) differ by design; only the hand start agrees.
PARITY = {"first_obs": "none", "reason": "EnvPool draws its own goal variant; it cannot be set to the benchmark's goals"}


# --------------------------------------------------------------------------------------
# Benchmark goal lists: built once per process, cached on disk


@dataclass(frozen=True)
class GoalLists:
    """The goal variants of one Meta-World benchmark instance."""

    benchmark: str
    """ML1, ML10 or ML45 (for ML1 also the task class: ``ML1:reach-v3``)."""
    seed: int
    """The seed the benchmark object was built with (fixes every goal)."""
    train: dict[str, list[Any]]
    """Task class -> its train goals (``metaworld.Task`` objects, 50 per class)."""
    test: dict[str, list[Any]]
    """Task class -> its test goals."""

    def goals(self, env_name: str, split: str) -> list[Any]:
        table = self.train if split == "train" else self.test
        if env_name not in table:
            raise SuiteError(
                f"Meta-World {self.benchmark} has no {split} goals for task {env_name!r}; "
                f"its {split} tasks: {', '.join(sorted(table))}"
            )
        return table[env_name]


_GOALS: dict[tuple[str, int], GoalLists] = {}


def cache_dir() -> Path:
    """Where built goal lists are kept between processes."""
    root = os.environ.get("AMAGO_BENCH_CACHE")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "amago-bench"
    return base / "metaworld"


def _group(tasks: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for t in tasks:
        out.setdefault(t.env_name, []).append(t)
    return out


def _build(benchmark: str, seed: int) -> GoalLists:
    mw = require("metaworld", "metaworld")
    if benchmark.startswith("ML1:"):
        bench = mw.ML1(benchmark[4:], seed=seed)
    elif benchmark in ("ML10", "ML45"):
        bench = getattr(mw, benchmark)(seed=seed)
    else:
        raise SuiteError(f"unknown Meta-World benchmark {benchmark!r}; valid: {', '.join(BENCHMARKS)}")
    return GoalLists(benchmark, seed, _group(bench.train_tasks), _group(bench.test_tasks))


def goal_lists(benchmark: str, seed: int, use_disk_cache: bool = True) -> GoalLists:
    """The benchmark's goal lists, built at most once per process (and once per machine
    with the disk cache: ML45 takes ~30 s to build, loading it takes milliseconds)."""
    key = (benchmark, seed)
    if key in _GOALS:
        return _GOALS[key]
    if not use_disk_cache:
        _GOALS[key] = _build(benchmark, seed)
        return _GOALS[key]
    from importlib import metadata

    version = metadata.version("metaworld")
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{benchmark.replace(':', '_')}-seed{seed}-metaworld{version}.json"
    with _FileLock(path.with_suffix(".lock")):
        goals = None
        if path.exists():
            try:
                goals = _goals_from_json(json.loads(path.read_text()))
                if (goals.benchmark, goals.seed) != key:
                    goals = None
            except Exception:  # a corrupt, stale or tampered cache file: rebuild it
                goals = None
        if goals is None:
            goals = _build(benchmark, seed)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps(_goals_to_json(goals)))
            tmp.replace(path)
    _GOALS[key] = goals
    return goals


# The goal cache is plain JSON: a Task's data (a dict of rand_vec, env_cls, flags) is written as
# values, and env classes by name, resolved only against metaworld's own v3 env classes. Task
# objects are rebuilt in memory, so nothing read from disk is ever unpickled.


def _task_data_to_json(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if isinstance(v, np.ndarray):
            out[k] = {"ndarray": v.tolist(), "dtype": str(v.dtype)}
        elif isinstance(v, type):
            out[k] = {"class": v.__name__}
        elif isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        else:
            raise TypeError(f"cannot cache Meta-World task field {k!r} of type {type(v).__name__}")
    return out


def _task_data_from_json(raw: dict[str, Any], classes: dict[str, type]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if isinstance(v, dict) and "ndarray" in v:
            out[k] = np.asarray(v["ndarray"], dtype=np.dtype(str(v["dtype"])))
        elif isinstance(v, dict) and "class" in v:
            out[k] = classes[str(v["class"])]  # KeyError (not a metaworld env class): rebuild the cache
        elif isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        else:
            raise ValueError(f"unexpected cached value for {k!r}")
    return out


def _goals_to_json(goals: GoalLists) -> dict[str, Any]:
    def table(t: dict[str, list[Any]]) -> dict[str, list[dict[str, Any]]]:
        return {name: [_task_data_to_json(pickle.loads(task.data)) for task in tasks] for name, tasks in t.items()}

    return {"benchmark": goals.benchmark, "seed": goals.seed, "train": table(goals.train), "test": table(goals.test)}


def _goals_from_json(raw: dict[str, Any]) -> GoalLists:
    mw = require("metaworld", "metaworld")
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    classes = {cls.__name__: cls for cls in ALL_V3_ENVIRONMENTS.values()}

    def table(t: dict[str, list[dict[str, Any]]]) -> dict[str, list[Any]]:
        return {str(name): [mw.Task(env_name=str(name), data=pickle.dumps(_task_data_from_json(d, classes))) for d in ds]
                for name, ds in t.items()}

    return GoalLists(str(raw["benchmark"]), int(raw["seed"]), table(raw["train"]), table(raw["test"]))


class _FileLock:
    """An exclusive advisory lock (POSIX flock); a no-op where fcntl is missing."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX
            return self
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


# --------------------------------------------------------------------------------------
# Task envs


def split_of_seed(suite: SuiteSpec, trial_seed: int) -> str:
    """Which split a trial (variant) seed belongs to: the suite's seed ranges are disjoint."""
    for split in ("train", "test"):
        lo, hi = suite.seed_range(split)
        if lo <= trial_seed < hi:
            return split
    raise SuiteError(
        f"trial seed {trial_seed} is in neither seed range of {suite.name!r}: "
        f"train {list(suite.seed_range('train'))}, test {list(suite.seed_range('test'))}"
    )


def goal_index(trial_seed: int, n_goals: int) -> int:
    """The goal a trial seed picks from a class's goal list (deterministic, well mixed)."""
    return int(np.random.default_rng([trial_seed, 0x3E7A]).integers(n_goals))


def _benchmark_key(suite: SuiteSpec, task: TaskSpec) -> tuple[str, int]:
    opts = suite.options
    bench = opts.get("benchmark")
    if bench not in BENCHMARKS:
        raise SuiteError(f"{suite.path} [options]: benchmark must be one of {', '.join(BENCHMARKS)}, got {bench!r}")
    seed = opts.get("benchmark_seed", 0)
    if not isinstance(seed, int):
        raise SuiteError(f"{suite.path} [options]: benchmark_seed must be an integer, got {seed!r}")
    return (f"ML1:{task.env_id}" if bench == "ML1" else bench), seed


def reward_version(suite: SuiteSpec) -> str:
    """The suite's pinned Meta-World reward function (``[options] reward_function_version``)."""
    v = suite.options.get("reward_function_version")
    if v not in REWARD_VERSIONS:
        raise SuiteError(f"{suite.path} [options]: reward_function_version must be one of {', '.join(REWARD_VERSIONS)} "
                         f"(got {v!r}); pin it, e.g. reward_function_version = \"v2\" (metaworld's default)")
    return str(v)


def _check_spaces(suite: SuiteSpec) -> tuple[Any, Any]:
    obs_space = space_from_spec(suite.observation, f"{suite.path} [spaces] observation")
    act_space = space_from_spec(suite.action, f"{suite.path} [spaces] action")
    if getattr(obs_space, "shape", None) != (OBS_DIM,) or getattr(act_space, "shape", None) != (ACT_DIM,):
        raise SuiteError(f"{suite.path}: Meta-World suites need a Box({OBS_DIM}) observation and a Box({ACT_DIM}) action")
    return obs_space, act_space


class MetaWorldTaskEnv:
    """One Meta-World task class through the official package."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        require("metaworld", suite.extra or "metaworld", suite.name)
        import metaworld.env_dict as env_dict

        self.suite = suite
        self.env_name = canonical_task(task.env_id)
        self.observation_space, self.action_space = _check_spaces(suite)
        self.goals = goal_lists(*_benchmark_key(suite, task))
        self.env = env_dict.ALL_V3_ENVIRONMENTS[self.env_name](reward_function_version=reward_version(suite))
        self.goal = None

    def set_goal(self, trial_seed: int) -> Any:
        """Pin the goal variant of ``trial_seed``; returns the ``metaworld.Task``."""
        goals = self.goals.goals(self.env_name, split_of_seed(self.suite, trial_seed))
        goal = goals[goal_index(trial_seed, len(goals))]
        if goal is not self.goal:
            self.env.set_task(goal)
            self.goal = goal
        return goal

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        self.set_goal(trial_seed)
        obs, _ = self.env.reset()  # goal frozen by set_task: every reset restores the same scene
        return np.asarray(obs, np.float32), {}

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        a = np.clip(np.asarray(action, np.float32).reshape(ACT_DIM), -1.0, 1.0)
        obs, reward, terminated, truncated, info = self.env.step(a)
        ctx_fn(float(reward), True)
        return np.asarray(obs, np.float32), float(reward), bool(terminated), bool(truncated), {"success": bool(info["success"])}

    def close(self) -> None:
        self.env.close()


def envpool_task_id(env_name: str) -> str:
    """``pick-place-v3`` -> EnvPool's ``MetaWorld/PickPlace-v3``."""
    base, version = env_name.rsplit("-", 1)
    return "MetaWorld/" + "".join(p[:1].upper() + p[1:] for p in base.split("-")) + f"-{version}"


class EnvpoolMetaWorldTaskEnv:
    """One Meta-World task class through EnvPool's C++ port (one env, re-made per episode)."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        self.envpool = require("envpool", "fast", suite.name)
        self.env_name = canonical_task(task.env_id)
        self.task_id = envpool_task_id(self.env_name)
        reward_version(suite)  # the pin is validated on every backend
        if self.task_id not in self.envpool.list_all_envs():
            raise SuiteError(f"EnvPool has no port of Meta-World task {self.env_name!r}; use backend 'official'")
        self.observation_space, self.action_space = _check_spaces(suite)
        self.env = None

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        # EnvPool draws a new goal at every reset; a fresh env with the same seed draws the
        # same first goal, so each episode of the trial gets a fresh env seeded the same way.
        self.close()
        self.env = self.envpool.make_gymnasium(self.task_id, num_envs=1, seed=int(trial_seed))
        obs, _ = self.env.reset()
        return np.asarray(obs[0], np.float32), {}

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        a = np.clip(np.asarray(action, np.float32).reshape(1, ACT_DIM), -1.0, 1.0)
        obs, reward, terminated, truncated, info = self.env.step(a)
        ctx_fn(float(reward[0]), True)
        return (
            np.asarray(obs[0], np.float32),
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            {"success": bool(info["success"][0] > 0)},
        )

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None


def make_task_env(suite: SuiteSpec, task: TaskSpec, backend: str):
    if backend == "official":
        return MetaWorldTaskEnv(suite, task)
    if backend == "envpool":
        return EnvpoolMetaWorldTaskEnv(suite, task)
    raise SuiteError(f"backend {backend!r} does not cover Meta-World suite {suite.name!r}; valid: {', '.join(BACKENDS)}")


# --------------------------------------------------------------------------------------
# Raw envs for `amago-bench bench envs` (the benchmark's own env, no unified layout)


def make_raw_env(suite: SuiteSpec, task: TaskSpec):
    """The official Meta-World env of ``task`` with its first train-or-test goal set."""
    require("metaworld", suite.extra or "metaworld", suite.name)
    import metaworld.env_dict as env_dict

    name = canonical_task(task.env_id)
    goals = goal_lists(*_benchmark_key(suite, task))
    split = "train" if task.in_split("train") else "test"
    env = env_dict.ALL_V3_ENVIRONMENTS[name](reward_function_version=reward_version(suite))
    env.set_task(goals.goals(name, split)[0])
    return env


def make_raw_pool(suite: SuiteSpec, task: TaskSpec, num_envs: int, seed: int = 0):
    """One batched EnvPool of ``num_envs`` envs of ``task`` (EnvPool resets finished envs itself)."""
    envpool = require("envpool", "fast", suite.name)
    return envpool.make_gymnasium(envpool_task_id(canonical_task(task.env_id)), num_envs=num_envs, seed=seed)
