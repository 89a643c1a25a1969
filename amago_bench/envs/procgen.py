"""Procgen games in one unified layout: trials of 2 attempts at the same level (AMAGO-2).

A trial fixes one game and one level (the trial's variant seed is the Procgen level seed).
Attempt 1 plays the level; attempt 2 resets to the *same* level, and every frame of attempt 2
carries the second-attempt marker: a small black box painted in the top-left corner (rows and
columns 1-4 of the 64x64 frame, as in the AMAGO reference code), so the agent can tell the
attempts apart without a reset flag.

Observation: ``(3, 64, 64)`` uint8, channels first. Action: ``Discrete(15)`` (every game has 15).
Distribution mode per task (``easy``, ``hard``, ``extreme``, ``memory``, ``exploration``); a mode a
game lacks fails with the modes it has. Each game keeps its own time limit (e.g. 1000 steps for
coinrun, 500 for leaper and maze, 6000 for bigfish); hitting it truncates the attempt.

Backend. Only ``envpool``: the ``procgen`` package has no wheel for Python 3.11, and
``procgen2`` (same 0.10.7 game code) pins numpy<2 and old gym, so it cannot share an
environment with EnvPool. EnvPool's port draws the same level layout for the same level seed;
its in-game random stream differs from the official build, so the two agree in distribution.
EnvPool's Procgen needs the system Qt 5 runtime (Debian: ``apt-get install -y libqt5gui5``).
EnvPool seeds are fixed at creation, so each trial builds a fresh one-env pool (about 1 ms).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from amago_bench.envs.base import StepContext, require
from amago_bench.envs.spaces import space_from_spec
from amago_bench.errors import UserError
from amago_bench.suite import SuiteError, SuiteSpec, TaskSpec

#: Distribution modes each game has (Procgen 0.10.7 game.cpp, as registered by EnvPool 1.2.5).
GAME_MODES: dict[str, tuple[str, ...]] = {
    "bigfish": ("easy", "hard"),
    "bossfight": ("easy", "hard"),
    "caveflyer": ("easy", "hard", "memory", "exploration"),
    "chaser": ("easy", "hard", "extreme"),
    "climber": ("easy", "hard", "exploration"),
    "coinrun": ("easy", "hard", "exploration"),
    "dodgeball": ("easy", "hard", "extreme", "memory"),
    "fruitbot": ("easy", "hard"),
    "heist": ("easy", "hard", "memory", "exploration"),
    "jumper": ("easy", "hard", "memory", "exploration"),
    "leaper": ("easy", "hard", "extreme", "exploration"),
    "maze": ("easy", "hard", "memory", "exploration"),
    "miner": ("easy", "hard", "memory"),
    "ninja": ("easy", "hard", "exploration"),
    "plunder": ("easy", "hard"),
    "starpilot": ("easy", "hard", "extreme"),
}

#: The second-attempt marker: rows/cols [1, 5) of the 64x64 frame set to 0 (black).
MARKER = (slice(1, 5), slice(1, 5))

#: No official backend here, so the parity check has nothing to compare for this family.
PARITY = {"first_obs": "exact"}

OFFICIAL_UNAVAILABLE = (
    "the 'procgen' package has no wheel for Python 3.11 and 'procgen2' pins numpy<2 and gym<1, "
    "so it cannot be installed next to EnvPool; use backend 'envpool'"
)


class ProcgenModeError(SuiteError):
    """A task asks for a game or distribution mode that does not exist."""


def check_game_mode(game: str, mode: str, where: str = "procgen") -> None:
    """Fail with the valid choices when ``game`` or ``mode`` is unknown."""
    if game not in GAME_MODES:
        raise ProcgenModeError(f"{where}: unknown Procgen game {game!r}; known: {', '.join(sorted(GAME_MODES))}")
    if mode not in GAME_MODES[game]:
        raise ProcgenModeError(
            f"{where}: Procgen game {game!r} has no distribution mode {mode!r}; "
            f"its modes: {', '.join(GAME_MODES[game])}"
        )


def task_game_mode(suite: SuiteSpec, task: TaskSpec) -> tuple[str, str]:
    """(game, mode) of a task: ``env_id`` is the game, ``kwargs.distribution_mode`` (or the
    suite's ``options.distribution_mode``) the mode."""
    game = task.env_id
    mode = dict(task.kwargs).get("distribution_mode", suite.options.get("distribution_mode", "easy"))
    check_game_mode(game, mode, f"{suite.path} task {task.name!r}")
    return game, mode


def envpool_task_id(game: str, mode: str) -> str:
    """``("coinrun", "easy")`` -> ``"CoinrunEasy-v0"``."""
    return f"{game.capitalize()}{mode.capitalize()}-v0"


def paint_marker(obs: np.ndarray) -> np.ndarray:
    """Black box in the top-left corner of a (3, 64, 64) frame (in place; returns it)."""
    obs[:, MARKER[0], MARKER[1]] = 0
    return obs


def _import_envpool(suite: SuiteSpec):
    envpool = require("envpool", suite.extra or "procgen", suite.name)
    try:
        import envpool.procgen as ep_procgen

        ep_procgen.ProcgenEnvSpec  # noqa: B018 - raises the Qt error if the runtime is missing
    except ImportError as exc:
        raise QtMissingError(
            f"suite {suite.name!r}: EnvPool's Procgen needs the system Qt 5 runtime ({exc}); "
            "on Debian/Ubuntu install it with: apt-get install -y libqt5gui5"
        ) from exc
    return envpool


class QtMissingError(UserError, ImportError):
    """EnvPool's Procgen cannot load its Qt 5 libraries."""


class ProcgenTaskEnv:
    """One game through EnvPool; a trial is attempts at one level, attempt >= 2 marked."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        self.envpool = _import_envpool(suite)
        self.game, self.mode = task_game_mode(suite, task)
        self.task_id = envpool_task_id(self.game, self.mode)
        self.observation_space = space_from_spec(suite.observation)
        self.action_space = space_from_spec(suite.action)
        if self.observation_space.shape != (3, 64, 64) or self.observation_space.dtype != np.uint8:
            raise SuiteError(f"{suite.path}: procgen observation must be uint8 [3, 64, 64], got {self.observation_space}")
        if not isinstance(self.action_space, gym.spaces.Discrete) or self.action_space.n != 15:
            raise SuiteError(f"{suite.path}: procgen action must be discrete n = 15, got {self.action_space}")
        self.pool = None
        self._level: int | None = None
        self._marked = False

    def _make_pool(self, level: int):
        if self.pool is not None:
            self.pool.close()
        # num_levels=1 from start_level=level: every reset of this pool replays that level
        self.pool = self.envpool.make_gymnasium(
            self.task_id, num_envs=1, seed=int(level), start_level=int(level), num_levels=1
        )
        self._level = level

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        if self.pool is None or (episode_index == 0) or self._level != trial_seed:
            self._make_pool(trial_seed)
        obs, info = self.pool.reset()
        self._marked = episode_index > 0
        return self._frame(obs), {"level": int(info["level_seed"][0])}

    def _frame(self, obs: np.ndarray) -> np.ndarray:
        # No copy: EnvPool hands out a new array at every step and reset and never writes into it
        # again (tests/envs/test_procgen.py checks), so the frame can be painted in place and kept.
        out = obs[0]
        return paint_marker(out) if self._marked else out

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        obs, reward, terminated, truncated, _ = self.pool.step(np.array([int(action)]))
        r = float(reward[0])
        ctx_fn(r, True)
        return self._frame(obs), r, bool(terminated[0]), bool(truncated[0]), {}

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def make_task_env(suite: SuiteSpec, task: TaskSpec, backend: str) -> ProcgenTaskEnv:
    if backend == "official":
        raise SuiteError(f"suite {suite.name!r} has no 'official' backend: {OFFICIAL_UNAVAILABLE}")
    if backend != "envpool":
        raise SuiteError(f"procgen has no backend {backend!r}; valid: envpool")
    return ProcgenTaskEnv(suite, task)


# --------------------------------------------------------------------------------------
# Raw envs for `amago-bench bench envs`


class RawProcgen:
    """A plain one-env EnvPool Procgen env (random levels from the train range), no trial logic."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec, seed: int = 0) -> None:
        envpool = _import_envpool(suite)
        game, mode = task_game_mode(suite, task)
        lo, hi = suite.seed_range("train")
        self.pool = envpool.make_gymnasium(envpool_task_id(game, mode), num_envs=1, seed=seed,
                                           start_level=lo, num_levels=hi - lo)
        self.action_space = gym.spaces.Discrete(15)

    def reset(self, seed: int | None = None):
        obs, info = self.pool.reset()
        return obs[0], info

    def step(self, action):
        obs, r, te, tr, info = self.pool.step(np.array([int(action)]))
        return obs[0], float(r[0]), bool(te[0]), bool(tr[0]), info

    def close(self) -> None:
        self.pool.close()


def make_raw_env(suite: SuiteSpec, task: TaskSpec):
    """Single env for speed measurements. Procgen's own env is the EnvPool port here."""
    return RawProcgen(suite, task)


def make_raw_pool(suite: SuiteSpec, task: TaskSpec, num_envs: int, seed: int = 0):
    """A batched EnvPool of ``num_envs`` envs on the train levels (auto-resets itself)."""
    envpool = _import_envpool(suite)
    game, mode = task_game_mode(suite, task)
    lo, hi = suite.seed_range("train")
    return envpool.make_gymnasium(envpool_task_id(game, mode), num_envs=num_envs, seed=seed,
                                  start_level=lo, num_levels=hi - lo)
