"""BabyAI tasks (package ``minigrid``; EnvPool port as the fast backend) as trial tasks.

A trial is k = 2 episodes on the SAME seeded layout: the native env is reset with the trial
seed at the start of every episode, so the agent can use what it saw in episode 1.

Unified observation (a Dict; the suite file spells out the layout):

- ``grid``: (7, 7, 3) uint8, the egocentric partial view (object, colour, state codes).
- ``mission``: (9,) int64 tokens over the suite's fixed vocabulary (``[options] vocabulary``):
  0 = padding, 1 = out-of-vocabulary, 2 + i = the i-th word; truncated/padded to 9.
- ``direction``: (4,) float32 one-hot of the agent's heading.
- ``episode_fraction``: (1,) float32, native steps taken / the task's ``max_steps``.

Action: Discrete(7) (MiniGrid's own). Success = an episode reward > 0.

Backends: ``official`` (``gymnasium.make("BabyAI-<name>-v0")``; minigrid's "Sampling
rejected" prints are swallowed) and ``envpool`` (EnvPool's C++ port, one env re-made with
the trial seed at every episode: EnvPool draws a new layout at every reset of an env, but a
fresh env with the same seed draws the same first layout). The port draws its layouts with
its own random stream, so the two backends give different layouts for the same seed and
agree only in distribution.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from amago_bench.envs.base import StepContext, require
from amago_bench.envs.spaces import space_from_spec
from amago_bench.suite import SuiteError, SuiteSpec, TaskSpec

PAD = 0
OOV = 1
GRID_SHAPE = (7, 7, 3)
N_ACTIONS = 7
BACKENDS = ("official", "envpool")
#: For amago_bench.envs.parity: the port draws layouts with its own random stream, so the same
#: seed gives a different layout; the backends can agree only in distribution.
PARITY = {"first_obs": "none", "reason": "EnvPool's BabyAI port draws a different layout for the same seed"}


@dataclass(frozen=True)
class MissionTokenizer:
    """Missions -> fixed-length token ids over a fixed vocabulary (0 pad, 1 OOV, 2 + word index)."""

    vocabulary: tuple[str, ...]
    """The known words, in token order."""
    length: int = 9
    """Tokens per mission: longer missions are truncated, shorter ones padded with 0."""
    _cache: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_tokens(self) -> int:
        """Largest token id + 1 (padding, OOV and the words)."""
        return len(self.vocabulary) + 2

    def encode(self, mission: str) -> np.ndarray:
        """Returns int64 tokens of shape (length,). Lower-cases and drops commas."""
        out = self._cache.get(mission)
        if out is None:
            index = {w: i + 2 for i, w in enumerate(self.vocabulary)}
            words = mission.lower().replace(",", " ").split()[: self.length]
            out = np.zeros(self.length, np.int64)
            out[: len(words)] = [index.get(w, OOV) for w in words]
            out.flags.writeable = False
            self._cache[mission] = out
        return out

    def decode(self, tokens: np.ndarray) -> str:
        words = []
        for t in np.asarray(tokens).tolist():
            if t == PAD:
                continue
            words.append("<oov>" if t == OOV else self.vocabulary[t - 2])
        return " ".join(words)


def tokenizer_for(suite: SuiteSpec) -> MissionTokenizer:
    vocab = suite.options.get("vocabulary")
    length = suite.options.get("mission_tokens", 9)
    if not isinstance(vocab, list) or not vocab or not all(isinstance(w, str) for w in vocab):
        raise SuiteError(f"{suite.path} [options]: vocabulary must be a non-empty list of words")
    if len(set(vocab)) != len(vocab):
        raise SuiteError(f"{suite.path} [options]: vocabulary has duplicate words")
    if not isinstance(length, int) or length < 1:
        raise SuiteError(f"{suite.path} [options]: mission_tokens must be a positive integer, got {length!r}")
    return MissionTokenizer(tuple(vocab), length)


def _max_steps(suite: SuiteSpec, task: TaskSpec) -> int:
    table = suite.options.get("max_steps", {})
    if task.name not in table:
        raise SuiteError(f"{suite.path} [options.max_steps]: no entry for task {task.name!r}; add `{task.name} = <steps>`")
    return int(table[task.name])


class _Encoder:
    """Shared by both backends: native parts -> the unified Dict observation."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        self.observation_space = space_from_spec(suite.observation, f"{suite.path} [spaces] observation")
        self.action_space = space_from_spec(suite.action, f"{suite.path} [spaces] action")
        self.tokenizer = tokenizer_for(suite)
        want = {"grid", "mission", "direction", "episode_fraction"}
        keys = set(getattr(self.observation_space, "spaces", {}))
        if keys != want:
            raise SuiteError(f"{suite.path} [spaces] observation: BabyAI needs dict keys {sorted(want)}, got {sorted(keys)}")
        if self.observation_space["mission"].shape != (self.tokenizer.length,) or int(
            self.observation_space["mission"].high.max()
        ) != self.tokenizer.n_tokens - 1:
            raise SuiteError(
                f"{suite.path}: mission must be shape [{self.tokenizer.length}] with high = {self.tokenizer.n_tokens - 1} "
                f"(vocabulary of {len(self.tokenizer.vocabulary)} words + padding + OOV)"
            )
        if getattr(self.action_space, "n", None) != N_ACTIONS:
            raise SuiteError(f"{suite.path}: BabyAI needs action Discrete({N_ACTIONS})")
        self.max_steps = _max_steps(suite, task)
        self.t = 0
        self._dirs = np.eye(4, dtype=np.float32)

    def obs(self, grid: np.ndarray, mission: str, direction: int) -> dict[str, np.ndarray]:
        return {
            "grid": np.asarray(grid, np.uint8).reshape(GRID_SHAPE),
            "mission": self.tokenizer.encode(mission).copy(),
            "direction": self._dirs[int(direction)].copy(),
            "episode_fraction": np.array([min(self.t / self.max_steps, 1.0)], np.float32),
        }


class BabyAITaskEnv(_Encoder):
    """One BabyAI level through minigrid."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        super().__init__(suite, task)
        require("minigrid", suite.extra or "babyai", suite.name)
        import gymnasium as gym

        with contextlib.redirect_stdout(io.StringIO()):
            self.env = gym.make(task.env_id, disable_env_checker=True).unwrapped
        self.where = f"{suite.path} [options.max_steps]"
        self.name = task.name

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        self.t = 0
        with contextlib.redirect_stdout(io.StringIO()):  # minigrid prints "Sampling rejected: ..."
            obs, _ = self.env.reset(seed=int(trial_seed))
        if self.env.max_steps != self.max_steps:  # minigrid sets max_steps at reset
            raise SuiteError(
                f"{self.where}: {self.name} = {self.max_steps}, but the installed minigrid uses "
                f"{self.env.max_steps} for seed {trial_seed}; set it to {self.env.max_steps}"
            )
        return self.obs(obs["image"], obs["mission"], obs["direction"]), {}

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        obs, reward, terminated, truncated, _ = self.env.step(int(action))
        self.t += 1
        ctx_fn(float(reward), True)
        return (
            self.obs(obs["image"], obs["mission"], obs["direction"]),
            float(reward),
            bool(terminated),
            bool(truncated),
            {"success": bool(reward > 0)},
        )

    def close(self) -> None:
        self.env.close()


class EnvpoolBabyAITaskEnv(_Encoder):
    """One BabyAI level through EnvPool's C++ port (one env, re-made per episode)."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        super().__init__(suite, task)
        self.envpool = require("envpool", "fast", suite.name)
        if task.env_id not in self.envpool.list_all_envs():
            raise SuiteError(f"EnvPool has no port of {task.env_id!r}; use backend 'official'")
        self.env_id = task.env_id
        self.env = None
        self._missions: dict[bytes, str] = {}

    def _mission(self, raw: np.ndarray) -> str:
        key = np.asarray(raw, np.uint8).tobytes().rstrip(b"\0")
        text = self._missions.get(key)
        if text is None:
            text = self._missions[key] = key.decode("ascii", errors="replace")
        return text

    def _obs(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.obs(obs["image"][0], self._mission(obs["mission"][0]), obs["direction"][0])

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        self.close()
        self.t = 0
        self.env = self.envpool.make_gymnasium(self.env_id, num_envs=1, seed=int(trial_seed))
        obs, _ = self.env.reset()
        return self._obs(obs), {}

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        obs, reward, terminated, truncated, _ = self.env.step(np.array([int(action)], np.int32))
        self.t += 1
        r = float(reward[0])
        ctx_fn(r, True)
        return self._obs(obs), r, bool(terminated[0]), bool(truncated[0]), {"success": bool(r > 0)}

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None


def make_task_env(suite: SuiteSpec, task: TaskSpec, backend: str):
    if backend == "official":
        return BabyAITaskEnv(suite, task)
    if backend == "envpool":
        return EnvpoolBabyAITaskEnv(suite, task)
    raise SuiteError(f"backend {backend!r} does not cover BabyAI suite {suite.name!r}; valid: {', '.join(BACKENDS)}")


# --------------------------------------------------------------------------------------
# Raw envs for `amago-bench bench envs` (the benchmark's own env, no unified layout)


class _QuietReset:
    """A minigrid env whose reset does not print "Sampling rejected" lines (no Wrapper overhead)."""

    def __init__(self, env) -> None:
        self.env = env
        self.action_space = env.action_space
        self.observation_space = env.observation_space
        self.step = env.step
        self.close = env.close

    def reset(self, **kwargs):
        with contextlib.redirect_stdout(io.StringIO()):
            return self.env.reset(**kwargs)


def make_raw_env(suite: SuiteSpec, task: TaskSpec):
    """``gymnasium.make(env_id)`` for ``task`` (env checker off), resets kept quiet."""
    require("minigrid", suite.extra or "babyai", suite.name)
    import gymnasium as gym

    return _QuietReset(gym.make(task.env_id, disable_env_checker=True))


def make_raw_pool(suite: SuiteSpec, task: TaskSpec, num_envs: int, seed: int = 0):
    """One batched EnvPool of ``num_envs`` envs of ``task`` (EnvPool resets finished envs itself)."""
    envpool = require("envpool", "fast", suite.name)
    return envpool.make_gymnasium(task.env_id, num_envs=num_envs, seed=seed)
