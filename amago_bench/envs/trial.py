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

from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import iterate

from amago_bench.envs.base import StepContext, TaskEnv, check_backend, make_task_env
from amago_bench.envs.spaces import space_from_spec, zeros_like_space
from amago_bench.suite import Split, SuiteError, SuiteSpec, TaskSpec


_new_tuple = tuple.__new__


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
        self._reward_shown = True  # the current episode's rewards reach the agent (see TrialSpec)

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
        self._reward_shown = self._episode in self._scored or not self._zero_unscored
        return obs, {"task": self._task.name, "episode_index": self._episode}

    def _zero_obs(self) -> Any:
        obs = zeros_like_space(self.observation_space, 1)
        return {k: v[0] for k, v in obs.items()} if isinstance(obs, dict) else obs[0]

    @property
    def current_task(self) -> str | None:
        return None if self._idle or self._task is None else self._task.name

    # -- Gymnasium API --------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None and self._env is not None and hasattr(self._env, "settle_rng"):
            self._env.settle_rng()  # the stream continues: as if the task env had drawn one by one
        super().reset(seed=seed)
        self.np_random  # noqa: B018 - creates the Generator if no seed ever came, so step can read _np_random
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
        # the observation may show the (scaled) reward even where it counts as 0; tuple.__new__ is
        # StepContext(...) without the Python-level __new__ of a NamedTuple (half the cost, every step)
        return _new_tuple(StepContext, (self._episode, self._k, self._t, self._max_steps, reward * self._scale, valid))

    def step(self, action):
        if self._idle:
            return self._zero_obs(), 0.0, False, False, {"task": "", "idle": True}
        if self._env is None:
            raise RuntimeError("call reset() before step()")
        # (the hot path of every suite: each line here runs once per env step)
        obs, reward, terminated, truncated, info = self._env.step(action, self._after_step, self._np_random)
        reward = float(reward) * self._scale
        self._ret += reward
        valid = True
        if info:  # a task env's ordinary step may say nothing
            if "success" in info:
                self._has_success = True
                self._success = self._success or bool(info["success"])
            valid = info.get("action_valid", True)
        if self._t >= self._max_steps and not terminated:
            truncated = True
        given_reward = reward if self._reward_shown else 0.0
        out_info = {} if valid else {"action_valid": False}
        if not (terminated or truncated):
            return obs, given_reward, False, False, out_info
        scored = self._episode in self._scored
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


class TrialVectorEnv(gym.vector.SyncVectorEnv):
    """``N`` trial envs stepped one after the other in this process, autoreset disabled: the
    rollout resets a slot whose trial ended (``reset`` with ``options["reset_mask"]``) before
    stepping it again, and stepping an ended env that was not reset fails.

    Gymnasium's SyncVectorEnv with a step (and a one-slot reset) that return the same values (bit
    for bit: tests/envs/test_trial.py compares them, tests/test_rollout.py digests whole rollouts)
    with less work per step: the observations go into a new array with one ``np.array`` call
    instead of being stacked into a buffer that is then deep-copied, and an env's info is merged
    only when it is not empty (a trial env's ordinary step returns ``{}``, see the module
    docstring), its scalars without ``_add_info``'s generic per-key work.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]) -> None:
        super().__init__(env_fns, copy=True, autoreset_mode=gym.vector.AutoresetMode.DISABLED)
        space = self.single_observation_space
        #: (key, batch shape, dtype) of each observation part; key None: the observation is one array
        self._parts = ([(k, (self.num_envs, *s.shape), s.dtype) for k, s in space.spaces.items()]
                       if isinstance(space, gym.spaces.Dict) else [(None, (self.num_envs, *space.shape), space.dtype)])
        self._discrete = isinstance(self.single_action_space, gym.spaces.Discrete)
        self._pending = False  # some env ended and has not been reset yet

    def reset(self, *, seed=None, options=None):
        if not isinstance(seed, list) or not options or "reset_mask" not in options:
            out = super().reset(seed=seed, options=options)
            self._pending = bool(self._autoreset_envs.any())
            return out
        # the rollout's reset of one slot: SyncVectorEnv's, without re-stacking a buffer and copying it
        options = dict(options)
        mask = options.pop("reset_mask")
        if not isinstance(mask, np.ndarray) or mask.shape != (self.num_envs,) or mask.dtype != np.bool_ or not mask.any():
            raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},) with a True value, "
                             f"got {mask!r}")
        if len(seed) != self.num_envs:
            raise ValueError(f"{len(seed)} seeds for {self.num_envs} envs")
        infos: dict[str, Any] = {}
        for i in np.flatnonzero(mask).tolist():
            self._env_obs[i], info = self.envs[i].reset(seed=seed[i], options=options)
            infos = self._add_info(infos, info, i)
        self._terminations[mask] = False
        self._truncations[mask] = False
        self._autoreset_envs[mask] = False
        self._pending = bool(self._autoreset_envs.any())
        return self._observations_batch(self._env_obs), infos

    def step(self, actions):
        if self._pending:
            raise RuntimeError(f"{type(self).__name__}: envs {np.flatnonzero(self._autoreset_envs).tolist()} ended "
                               "and were not reset (autoreset is disabled: reset them with options={'reset_mask': ...})")
        if self._discrete and isinstance(actions, np.ndarray):
            actions = actions.tolist()  # Python ints, which the trial envs take fastest
        else:
            actions = list(iterate(self.action_space, actions))
        obs, rewards, terminated, truncated, env_infos = zip(
            *[env.step(a) for env, a in zip(self.envs, actions, strict=True)])
        self._env_obs = list(obs)
        infos = self._merge_infos(env_infos)
        ended = True in terminated or True in truncated
        terminated, truncated = np.array(terminated, np.bool_), np.array(truncated, np.bool_)
        if ended:  # the state SyncVectorEnv.reset updates for the envs it resets
            self._terminations, self._truncations = terminated.copy(), truncated.copy()
            self._autoreset_envs = terminated | truncated
            self._pending = True
        return self._observations_batch(obs), np.array(rewards, np.float64), terminated, truncated, infos

    def _observations_batch(self, obs: Sequence[Any]) -> Any:
        if self._parts[0][0] is None:
            return self._batch(obs, *self._parts[0])
        return {k: self._batch([o[k] for o in obs], k, shape, dtype) for k, shape, dtype in self._parts}

    @staticmethod
    def _batch(parts: Sequence[np.ndarray], key: str | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """N observations as a new (N, ...) array of the space's dtype (np.array: several times
        cheaper than np.stack into an out buffer for small observations)."""
        out = np.array(parts, dtype)
        if out.shape != shape:
            raise ValueError(f"observations{'' if key is None else f'[{key!r}]'} batch to {out.shape}, expected {shape}")
        return out

    def _merge_infos(self, env_infos: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The envs' infos batched as SyncVectorEnv batches them (``VectorEnv._add_info``, env by
        env: an array per key typed by its first value, and a ``_key`` mask). A bool, int or float
        value is written here directly (a POPGym step with a random agent carries
        ``action_valid=False`` in most envs); anything else goes through ``_add_info``."""
        infos: dict[str, Any] = {}
        for i, info in enumerate(env_infos):
            if not info:
                continue
            for key, value in info.items():
                t = type(value)
                if t is bool or t is int or t is float:
                    column = infos.get(key)
                    if column is None:
                        infos[key] = column = np.zeros(self.num_envs, dtype=t)
                        infos["_" + key] = np.zeros(self.num_envs, np.bool_)
                    column[i] = value
                    infos["_" + key][i] = True
                else:
                    infos = self._add_info(infos, {key: value}, i)
        return infos
