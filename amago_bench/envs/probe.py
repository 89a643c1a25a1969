"""Cheap in-context probes (no benchmark package needed), one class per ``env_id``.

``bandit`` - the scale probe. Each trial draws one "good" arm out of ``n_arms`` (from the
trial seed). An episode is ``episode_length`` pulls; the good arm pays ``1 x scale``, the
others 0. A trial is k episodes on the same good arm, and only the later episodes are scored,
so the best in-context strategy is to search in the first episode and exploit afterwards.
The normalised score is scale free: (R - R_random) / (R_oracle - R_random) with
R_random = episode_length / n_arms and R_oracle = episode_length (both x scale, exact).
A scale-resistant agent should score the same on every scale; a scale-dependent one won't.
Observation: one-hot of the previous arm, a flag for "the previous pull paid", the
fraction of the episode elapsed and the episode index. Action: Discrete(n_arms).

``point-nav`` - 2-D point navigation to a hidden goal, the continuous-action probe (the
classic meta-RL task of MAML and PEARL). The goal lies on an arc of radius ``radius`` around
the origin (angle uniform in [0, ``arc_degrees``], a pure function of the trial seed); every
episode starts at the origin. Action: Box(-1, 1, (2,)), times ``max_step``, and a step longer
than ``max_step`` is shortened to it (so no direction is faster than another). Reward: minus
the distance to the goal after the step. Observation: the position (x, y) only; the goal is
never shown, so the agent must infer it from rewards in the first episode and walk straight
to it in the later (scored) ones. Success: the point came within ``success_radius`` of the goal.
Normalisation ends are measured by :func:`measure_point_nav`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from amago_bench.envs.base import StepContext
from amago_bench.envs.spaces import space_from_spec
from amago_bench.suite import SuiteError, SuiteSpec, TaskSpec


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


POINT_NAV_KWARGS = ("radius", "arc_degrees", "max_step", "success_radius")


def point_nav_goal(trial_seed: int, radius: float, arc_degrees: float) -> np.ndarray:
    """The hidden goal of a point-nav trial: (2,) float64 on the arc, a pure function of the seed."""
    angle = math.radians(arc_degrees) * float(np.random.default_rng(trial_seed).random())
    return np.array([radius * math.cos(angle), radius * math.sin(angle)])


class PointNavTaskEnv:
    """2-D point navigation to a goal hidden from the agent (see the module docstring)."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        where = f"{suite.path}: task {task.name!r}"
        kw = dict(task.kwargs)
        unknown = sorted(set(kw) - set(POINT_NAV_KWARGS))
        if unknown:
            raise SuiteError(f"{where}: unknown point-nav kwargs {', '.join(map(repr, unknown))}; valid: {', '.join(POINT_NAV_KWARGS)}")
        self.radius = float(kw.get("radius", 1.0))
        self.arc_degrees = float(kw.get("arc_degrees", 180.0))
        self.max_step = float(kw.get("max_step", 0.1))
        self.success_radius = float(kw.get("success_radius", 0.2))
        self.observation_space = space_from_spec(suite.observation)
        self.action_space = space_from_spec(suite.action)
        if self.action_space.shape != (2,) or not (np.all(self.action_space.low == -1) and np.all(self.action_space.high == 1)):
            raise SuiteError(f"{where}: point-nav needs action = {{ kind = \"box\", shape = [2], low = -1.0, high = 1.0 }}")
        if self.observation_space.shape != (2,):
            raise SuiteError(f"{where}: point-nav observation is the position: shape = [2]")
        # the arena: positions are clipped to the observation bounds (never reached from the
        # origin when max_episode_steps x max_step <= the bound)
        self.low = self.observation_space.low.astype(np.float64)
        self.high = self.observation_space.high.astype(np.float64)
        self.goal = np.zeros(2)
        self.pos = np.zeros(2)

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        self.goal = point_nav_goal(trial_seed, self.radius, self.arc_degrees)
        self.pos = np.zeros(2)
        return self.pos.astype(np.float32), {}

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        delta = np.asarray(action, np.float64) * self.max_step
        norm = math.hypot(delta[0], delta[1])
        if norm > self.max_step:
            delta *= self.max_step / norm
        self.pos = np.clip(self.pos + delta, self.low, self.high)
        dist = math.hypot(self.pos[0] - self.goal[0], self.pos[1] - self.goal[1])
        ctx_fn(-dist, True)
        return self.pos.astype(np.float32), -dist, False, False, {"success": dist <= self.success_radius}

    def close(self) -> None:
        pass


ENV_IDS = {"bandit": BanditTaskEnv, "point-nav": PointNavTaskEnv}


def make_task_env(suite: SuiteSpec, task: TaskSpec, backend: str) -> BanditTaskEnv | PointNavTaskEnv:
    if task.env_id not in ENV_IDS:
        raise SuiteError(f"{suite.path}: probe task {task.name!r} has env_id {task.env_id!r}; valid: {', '.join(ENV_IDS)}")
    return ENV_IDS[task.env_id](suite, task)


def measure_point_nav(suite: SuiteSpec, task: str, split: str = "test", trials: int = 2000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Measure a point-nav task's two normalisation ends through the trial env, deterministically.

    ``random``: actions uniform in Box(-1, 1, (2,)); ``oracle``: knows the goal and steps
    straight at it at full speed (optimal: no step can shorten the distance by more than
    ``max_step``). Both play the same ``trials`` trials (variant seeds drawn from the split's
    range by ``numpy.random.default_rng(seed)``). Returns, per policy, the mean trial score (sum
    of the scored episodes' returns, as the harness scores it), its standard error, min and max.
    """
    from amago_bench.envs.trial import TrialEnv  # the trial env imports this family lazily

    spec = suite.task(task)
    if spec.env_id != "point-nav":
        raise SuiteError(f"task {task!r} of suite {suite.name!r} is not a point-nav task (env_id {spec.env_id!r})")
    kw = dict(spec.kwargs)
    radius, arc, max_step = float(kw.get("radius", 1.0)), float(kw.get("arc_degrees", 180.0)), float(kw.get("max_step", 0.1))
    lo, hi = suite.seed_range(split)  # type: ignore[arg-type]
    variants = np.random.default_rng(seed).integers(lo, hi, trials)
    action_rng = np.random.default_rng([seed, 1])

    def random_action(pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return action_rng.uniform(-1.0, 1.0, 2)

    def oracle_action(pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
        a = (goal - pos) / max_step
        n = math.hypot(a[0], a[1])
        return a / n if n > 1 else a

    out = {}
    for name, policy in (("random", random_action), ("oracle", oracle_action)):
        env = TrialEnv(suite, split, task=task)  # type: ignore[arg-type]
        scores = np.zeros(trials)
        for i, v in enumerate(variants):
            goal = point_nav_goal(int(v), radius, arc)
            obs, _ = env.reset(seed=int(v), options={"variant": int(v)})
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step(policy(np.asarray(obs, np.float64), goal))
                if info.get("episode_done") and info["episode_scored"]:
                    scores[i] += info["episode_return"]
                done = terminated or truncated
        env.close()
        out[name] = {"mean": float(scores.mean()), "sem": float(scores.std(ddof=1) / math.sqrt(trials)),
                     "min": float(scores.min()), "max": float(scores.max())}
    return out
