"""POPGym tasks in one unified layout (the AMAGO-2 27-task multi-domain suite).

Observation (30 floats): the task's own observation flattened into 26 dims (one-hot for
discrete parts, raw values for boxes, zero padded), then the episode timer / 1000, the
episode index in the trial, a flag that is 0 when the previous action was outside the
task's own range, and the last reward. Action: Discrete(26); an index outside the task's
range is replaced by a uniformly random valid one and flagged invalid in the next
observation. (CountRecallEasy/Medium have 27 native actions; the 27th is unreachable
through the unified Discrete(26), as in the suite definition.)
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from amago_bench.envs.base import StepContext, require
from amago_bench.envs.spaces import space_from_spec
from amago_bench.suite import SuiteSpec, TaskSpec

TASK_DIMS = 26
EXTRA_DIMS = 4  # timer/1000, episode index, valid-action flag, last reward


def flat_dim(space: spaces.Space) -> int:
    """Width of :func:`flatten_obs` for a native POPGym observation space."""
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Tuple):
        return sum(flat_dim(s) for s in space.spaces)
    raise TypeError(f"unsupported POPGym observation space {space}")


def flatten_obs(space: spaces.Space, obs: Any) -> np.ndarray:
    """One-hot discrete parts, keep box values; returns float32 of length flat_dim(space)."""
    if isinstance(space, spaces.Discrete):
        out = np.zeros(space.n, np.float32)
        out[int(obs) - int(space.start)] = 1.0
        return out
    if isinstance(space, spaces.MultiDiscrete):
        parts = []
        for n, o in zip(space.nvec.ravel(), np.asarray(obs).ravel()):
            one = np.zeros(int(n), np.float32)
            one[int(o)] = 1.0
            parts.append(one)
        return np.concatenate(parts)
    if isinstance(space, spaces.Box):
        return np.asarray(obs, np.float32).ravel()
    if isinstance(space, spaces.Tuple):
        return np.concatenate([flatten_obs(s, o) for s, o in zip(space.spaces, obs)])
    raise TypeError(f"unsupported POPGym observation space {space}")


def obs_writer(space: spaces.Space, offset: int = 0):
    """A function ``write(out, obs)`` that puts :func:`flatten_obs` of ``obs`` into
    ``out[offset : offset + flat_dim(space)]`` of a zeroed ``out`` (the same values; it only sets
    the one-hot ones and the box values, which is what costs on every step)."""
    if isinstance(space, spaces.Discrete):
        base = offset - int(space.start)

        def write(out: np.ndarray, obs: Any) -> None:
            out[base + int(obs)] = 1.0

        return write
    if isinstance(space, spaces.MultiDiscrete):
        bases = (offset + np.concatenate([[0], np.cumsum(space.nvec.ravel())[:-1]])).tolist()

        def write(out: np.ndarray, obs: Any) -> None:
            for b, o in zip(bases, np.asarray(obs).ravel().tolist()):
                out[b + int(o)] = 1.0

        return write
    if isinstance(space, spaces.Box):
        end = offset + flat_dim(space)

        def write(out: np.ndarray, obs: Any) -> None:
            out[offset:end] = np.asarray(obs, np.float32).ravel()

        return write
    if isinstance(space, spaces.Tuple):
        starts = np.cumsum([offset] + [flat_dim(s) for s in space.spaces]).tolist()[:-1]
        if all(isinstance(s, spaces.Discrete) for s in space.spaces):  # e.g. Autoencode: one index per part
            bases = [at - int(s.start) for at, s in zip(starts, space.spaces)]

            def write(out: np.ndarray, obs: Any) -> None:
                for b, o in zip(bases, obs):
                    out[b + int(o)] = 1.0

            return write
        parts = [obs_writer(s, at) for at, s in zip(starts, space.spaces)]

        def write(out: np.ndarray, obs: Any) -> None:
            for w, o in zip(parts, obs):
                w(out, o)

        return write
    raise TypeError(f"unsupported POPGym observation space {space}")


def native_action_count(space: spaces.Space) -> int:
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiDiscrete):
        return int(np.prod(space.nvec))
    raise TypeError(f"unsupported POPGym action space {space}")


def decode_action(space: spaces.Space, action: int) -> Any:
    if isinstance(space, spaces.Discrete):
        return int(space.start) + int(action)
    return np.array(np.unravel_index(int(action), tuple(space.nvec)), dtype=np.int64)


class ReplacementDraws:
    """The uniformly random valid actions that replace out-of-range ones, drawn from the trial's
    Generator ``BATCH`` at a time (one draw costs about as much as a POPGym step).

    The values, in order, are those of one ``int(rng.integers(n))`` per replacement: numpy draws a
    batch of bounded integers element by element from the same stream, so k at once equal k one
    by one, and leave the same state (tests/envs/test_popgym.py checks both). Drawing ahead moves
    the generator past the draws used so far; :meth:`settle` puts it back where one-by-one draws
    would have left it, for whoever draws from it next. A new generator (a reseeded trial) drops
    what was drawn from the old one."""

    BATCH = 64

    def __init__(self, n: int) -> None:
        self.n = n
        self.rng: np.random.Generator | None = None
        self.ahead: list[int] = []  # drawn and not yet used, next last
        self.state: dict[str, Any] = {}  # the generator's state before the batch
        self.used = 0  # values of the batch used so far

    def draw(self, rng: np.random.Generator) -> int:
        if rng is not self.rng:
            self.rng, self.ahead = rng, []
        if not self.ahead:
            self.state = rng.bit_generator.state
            self.ahead = rng.integers(self.n, size=self.BATCH).tolist()[::-1]
            self.used = 0
        self.used += 1
        return self.ahead.pop()

    def settle(self) -> None:
        if self.ahead and self.rng is not None:
            self.rng.bit_generator.state = self.state
            if self.used:
                self.rng.integers(self.n, size=self.used)
            self.ahead = []


class PopgymTaskEnv:
    """One POPGym env mapped into the 30-dim / Discrete(26) layout."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        require("popgym", suite.extra or "popgym", suite.name)
        self.env = gym.make(task.env_id, disable_env_checker=True, **dict(task.kwargs))
        self.observation_space = space_from_spec(suite.observation)
        self.action_space = space_from_spec(suite.action)
        self.native_obs_space = self.env.observation_space
        self.native_act_space = self.env.action_space
        width = flat_dim(self.native_obs_space)
        if width > TASK_DIMS:
            raise ValueError(f"POPGym task {task.name!r} needs {width} observation dims > {TASK_DIMS}")
        self.n_valid = int(min(native_action_count(self.native_act_space), self.action_space.n))
        self._write = obs_writer(self.native_obs_space)
        self._replacements = ReplacementDraws(self.n_valid)
        self._discrete_act = isinstance(self.native_act_space, spaces.Discrete)
        self._act_start = int(self.native_act_space.start) if self._discrete_act else 0
        dims = self.observation_space.shape[0]
        if dims != TASK_DIMS + EXTRA_DIMS:
            raise ValueError(f"{suite.path}: popgym observation must have {TASK_DIMS + EXTRA_DIMS} dims, got {dims}")

    def _encode(self, native_obs: Any, ctx: StepContext) -> np.ndarray:
        out = np.zeros(TASK_DIMS + EXTRA_DIMS, np.float32)
        self._write(out, native_obs)  # flatten_obs(native space, native_obs) into out[:26], in place
        out[TASK_DIMS] = ctx.step_in_episode / 1000.0
        out[TASK_DIMS + 1] = ctx.episode_index
        out[TASK_DIMS + 2] = float(ctx.last_action_valid)
        out[TASK_DIMS + 3] = ctx.last_reward
        return out

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        # The "variant" of a POPGym task is the task itself: the first episode is seeded by the
        # trial seed, later episodes continue the env's own random stream (a fresh episode of
        # the same task, not a replay of the first).
        obs, info = self.env.reset(seed=trial_seed if episode_index == 0 else None)
        return self._encode(obs, ctx), {}

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        a = int(action)
        if 0 <= a < self.n_valid:
            native = a + self._act_start if self._discrete_act else decode_action(self.native_act_space, a)
            obs, reward, terminated, truncated, _ = self.env.step(native)
            reward = float(reward)
            return self._encode(obs, ctx_fn(reward, True)), reward, bool(terminated), bool(truncated), {}
        a = self._replacements.draw(rng)  # outside the task's own actions: a uniformly random valid one
        native = a + self._act_start if self._discrete_act else decode_action(self.native_act_space, a)
        obs, reward, terminated, truncated, _ = self.env.step(native)
        reward = float(reward)
        return (self._encode(obs, ctx_fn(reward, False)), reward, bool(terminated), bool(truncated),
                {"action_valid": False})

    def settle_rng(self) -> None:
        """Called by the trial env before it draws from the trial's Generator itself."""
        self._replacements.settle()

    def close(self) -> None:
        self.env.close()


def make_task_env(suite: SuiteSpec, task: TaskSpec, backend: str) -> PopgymTaskEnv:
    if backend != "official":
        raise ValueError(f"POPGym has only the 'official' backend, not {backend!r}")
    return PopgymTaskEnv(suite, task)
