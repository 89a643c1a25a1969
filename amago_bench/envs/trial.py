"""The k-episode trial env: one Gymnasium env per suite, the same for every family.

A Gymnasium episode of :class:`TrialEnv` is one *trial*: k consecutive episodes of the same
task variant. The agent's memory should persist across the episodes of a trial and be
cleared between trials. No task id is ever shown to the agent.

Task choice. ``reset(seed=s)`` draws the task uniformly from the split (unless the env is
pinned with ``task=`` or ``options={"task": name}``) and draws the variant seed from the
split's seed range. ``options={"variant": v}`` fixes the variant seed instead.
``options={"idle": True}`` parks the env: it steps nothing and returns zero observations
(the evaluator uses it once a vector slot has no work left).

``info`` keys (flat, so Gymnasium vector envs can stack them). ``reset`` gives ``task`` and
``episode_index``. An ordinary step gives an empty dict (vector envs stack every key of every
step, so the hot path carries nothing), or ``action_valid=False`` when the action was outside
the task's own range and was replaced. The step that ends an inner episode gives ``task``,
``episode_index``, ``episode_done=True``, ``episode_return``, ``episode_length``,
``episode_success`` (NaN when the task has no success signal), ``episode_scored`` and
``episode_truncated``.
``episode_return`` is the native return times the task's reward scale, before any
zeroing of unscored rewards.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from amago_bench.envs.base import StepContext, TaskEnv, check_backend, make_task_env
from amago_bench.envs.spaces import space_from_spec, zeros_like_space
from amago_bench.suite import Split, SuiteError, SuiteSpec, TaskSpec


class TrialEnv(gym.Env):
    """One suite as a single Gymnasium env whose episodes are k-episode trials."""

    metadata = {"render_modes": []}

    def __init__(
        self,
        suite: SuiteSpec,
        split: Split = "train",
        task: str | None = None,
        backend: str | None = None,
    ) -> None:
        if split not in ("train", "test"):
            raise SuiteError(f"unknown split {split!r}; valid: train, test")
        self.suite = suite
        self.split: Split = split
        self.backend = backend or suite.default_backend
        check_backend(suite, self.backend)
        self.tasks: tuple[TaskSpec, ...] = suite.tasks_for(split)
        if task is not None:
            spec = suite.task(task)
            if not spec.in_split(split):
                raise SuiteError(
                    f"task {task!r} is not in the {split} split of {suite.name!r}; "
                    f"{split} tasks: {', '.join(t.name for t in self.tasks)}"
                )
        self.pinned_task = task
        self.observation_space = space_from_spec(suite.observation, f"{suite.path} [spaces] observation")
        self.action_space = space_from_spec(suite.action, f"{suite.path} [spaces] action")
        self._envs: dict[str, TaskEnv] = {}
        # constants read on every step
        self._k = suite.trial.episodes
        self._max_steps = suite.trial.max_episode_steps
        self._scored = frozenset(suite.trial.scored_episodes)
        self._zero_unscored = suite.trial.zero_unscored_rewards
        self._scale = 1.0
        self._env: TaskEnv | None = None
        self._task: TaskSpec | None = None
        self._idle = True
        self._trial_seed = 0
        self._episode = 0
        self._t = 0
        self._ret = 0.0
        self._success = False
        self._has_success = False

    # -- helpers ------------------------------------------------------------------------

    def _task_env(self, task: TaskSpec) -> TaskEnv:
        if task.name not in self._envs:
            self._envs[task.name] = make_task_env(self.suite, task, self.backend)
        return self._envs[task.name]

    def _ctx(self, reward: float, valid: bool) -> StepContext:
        return StepContext(
            episode_index=self._episode,
            episodes_per_trial=self.suite.trial.episodes,
            step_in_episode=self._t,
            max_episode_steps=self.suite.trial.max_episode_steps,
            last_reward=reward,
            last_action_valid=valid,
        )

    def _start_episode(self, last_reward: float = 0.0) -> tuple[Any, dict]:
        """Reset the task env for the current episode. ``last_reward`` is the final reward of the
        previous episode of this trial (0 at a trial start), so observations that show the last
        reward keep showing it across the episode boundary."""
        assert self._task is not None
        self._t, self._ret, self._success, self._has_success = 0, 0.0, False, False
        env = self._task_env(self._task)
        obs, info = env.reset_episode(self._trial_seed, self._episode, self._ctx(last_reward, True), self.np_random)
        return obs, {"task": self._task.name, "episode_index": self._episode}

    def _zero_obs(self) -> Any:
        obs = zeros_like_space(self.observation_space, 1)
        return {k: v[0] for k, v in obs.items()} if isinstance(obs, dict) else obs[0]

    @property
    def current_task(self) -> str | None:
        return None if self._idle or self._task is None else self._task.name

    # -- Gymnasium API --------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        if options.get("idle"):
            self._idle = True
            return self._zero_obs(), {"task": "", "idle": True}
        self._idle = False
        name = options.get("task", self.pinned_task)
        if name is not None:
            task = self.suite.task(name)
            if not task.in_split(self.split):
                raise SuiteError(f"task {name!r} is not in the {self.split} split of {self.suite.name!r}")
        else:
            task = self.tasks[int(self.np_random.integers(len(self.tasks)))]
        self._task = task
        self._scale = task.reward_scale
        self._env = self._task_env(task)
        lo, hi = self.suite.seed_range(self.split)
        variant = options.get("variant")
        if variant is None:
            variant = int(self.np_random.integers(lo, hi))
        elif not lo <= int(variant) < hi:
            raise SuiteError(f"variant seed {variant} is outside the {self.split} seed range [{lo}, {hi})")
        self._trial_seed = int(variant)
        self._episode = 0
        return self._start_episode()

    def _after_step(self, reward: float, valid: bool) -> StepContext:
        """Called by the task env once per step, before it builds the next observation."""
        self._t += 1
        # the observation may show the (scaled) reward even where it counts as 0
        return StepContext(self._episode, self._k, self._t, self._max_steps, reward * self._scale, valid)

    def step(self, action):
        if self._idle:
            return self._zero_obs(), 0.0, False, False, {"task": "", "idle": True}
        if self._task is None:
            raise RuntimeError("call reset() before step()")
        obs, reward, terminated, truncated, info = self._env.step(action, self._after_step, self.np_random)
        reward = float(reward) * self._scale
        self._ret += reward
        if "success" in info:
            self._has_success = True
            self._success = self._success or bool(info["success"])
        valid = info.get("action_valid", True)
        if self._t >= self._max_steps and not terminated:
            truncated = True
        scored = self._episode in self._scored
        given_reward = reward if (scored or not self._zero_unscored) else 0.0
        out_info = {} if valid else {"action_valid": False}
        if not (terminated or truncated):
            return obs, given_reward, False, False, out_info
        # an inner episode ended: record it
        out_info.update(
            task=self._task.name,
            episode_index=self._episode,
            episode_done=True,
            episode_return=self._ret,
            episode_length=self._t,
            episode_success=float(self._success) if self._has_success else float("nan"),
            episode_scored=scored,
            episode_truncated=bool(truncated and not terminated),
        )
        if self._episode + 1 < self._k:
            self._episode += 1
            obs, _ = self._start_episode(last_reward=reward)
            out_info["next_episode_index"] = self._episode
            return obs, given_reward, False, False, out_info
        return obs, given_reward, bool(terminated), bool(truncated and not terminated), out_info

    def close(self):
        for env in self._envs.values():
            env.close()
        self._envs.clear()
