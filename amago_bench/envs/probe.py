"""The scale probe: one cheap in-context bandit at reward scales spanning many orders of magnitude.

Each trial draws one "good" arm out of ``n_arms`` (from the trial seed). An episode is
``episode_length`` pulls; the good arm pays ``1 x scale``, the others 0. A trial is k
episodes on the same good arm, and only the later episodes are scored, so the best
in-context strategy is to search in the first episode and exploit afterwards.

The normalised score is scale free: (R - R_random) / (R_oracle - R_random) with
R_random = episode_length / n_arms and R_oracle = episode_length (both x scale, exact).
A scale-resistant agent should score the same on every scale; a scale-dependent one won't.

Observation: one-hot of the previous arm, a flag for "the previous pull paid", the
fraction of the episode elapsed and the episode index. Action: Discrete(n_arms).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from amago_bench.envs.base import StepContext
from amago_bench.envs.spaces import space_from_spec
from amago_bench.suite import SuiteSpec, TaskSpec


class BanditTaskEnv:
    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        kw = dict(task.kwargs)
        self.n_arms = int(kw.get("n_arms", 4))
        self.length = int(kw.get("episode_length", 4))
        self.observation_space = space_from_spec(suite.observation)
        self.action_space = space_from_spec(suite.action)
        if self.action_space.n != self.n_arms:
            raise ValueError(f"{suite.path}: task {task.name!r} has {self.n_arms} arms but the action space has {self.action_space.n}")
        if self.observation_space.shape != (self.n_arms + 3,):
            raise ValueError(f"{suite.path}: bandit observation must have n_arms + 3 = {self.n_arms + 3} dims")
        self.good = 0
        self.t = 0

    def _obs(self, last_action: int | None, paid: bool, episode: int) -> np.ndarray:
        out = np.zeros(self.n_arms + 3, np.float32)
        if last_action is not None:
            out[last_action] = 1.0
        out[self.n_arms] = float(paid)
        out[self.n_arms + 1] = self.t / self.length
        out[self.n_arms + 2] = episode
        return out

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        # the good arm is a pure function of the trial seed: the same in every episode
        self.good = int(np.random.default_rng(trial_seed).integers(self.n_arms))
        self.t = 0
        self.episode = episode_index
        return self._obs(None, False, episode_index), {}

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        a = int(action)
        paid = a == self.good
        self.t += 1
        ctx_fn(float(paid), True)
        # success: the episode found the good arm at least once
        return self._obs(a, paid, self.episode), float(paid), False, self.t >= self.length, {"success": paid}

    def close(self) -> None:
        pass


def make_task_env(suite: SuiteSpec, task: TaskSpec, backend: str) -> BanditTaskEnv:
    if task.env_id != "bandit":
        raise ValueError(f"{suite.path}: probe task {task.name!r} has env_id {task.env_id!r}; valid: bandit")
    return BanditTaskEnv(suite, task)
