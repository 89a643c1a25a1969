"""The one stepping loop: an agent acts on a vector env of trial envs; consumers get the data.

Evaluation, off-policy collection (trajectories into a replay) and on-policy collection
(fixed-length segments for PPO) all drive envs through :class:`Rollout`; nothing else in the
package steps an env. The loop owns the protocol's bookkeeping (``new_trial`` /
``new_episode`` masks, previous action and reward, episode index and step, each env's trial
seed, slot resets) so every consumer sees the same semantics:

* ``prev_action`` / ``prev_reward`` are zero at the first step of a trial only; at the first
  step of a later episode they hold the last action and reward of the episode before.
* When a trial ends, its slot takes the next job from the :class:`JobSource` (or parks,
  inactive, when there is none) and the masks of that slot say ``new_trial``.

A job fixes everything random about one trial: the env's seed and variant (or, for training
collection, only a seed from which the env draws task and variant) and ``trial_seed``, the
seed the agent gets on ``Step.trial_seed`` for its own randomness in that trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import gymnasium as gym
import numpy as np

from amago_bench.envs.spaces import ActionError, check_actions, zeros_like_space
from amago_bench.envs.trial import TrialEnv, TrialVectorEnv
from amago_bench.errors import AgentCodeError, UserError
from amago_bench.policy import Agent, EnvSpec, Step
from amago_bench.suite import Split, SuiteSpec

VectorMode = Literal["sync", "async"]


@dataclass(frozen=True)
class Job:
    """One trial to run. ``task``/``variant`` None: the env draws them from ``env_seed``."""

    task: str | None
    trial: int
    variant: int | None
    env_seed: int
    trial_seed: int


class JobSource(Protocol):
    def take(self, k: int) -> list[Job | None]:
        """The next ``k`` jobs (None: nothing left, the slot parks)."""


class FixedJobs:
    """A fixed job list, handed out in order (evaluation)."""

    def __init__(self, jobs: list[Job]) -> None:
        self._queue = list(jobs)[::-1]

    def take(self, k: int) -> list[Job | None]:
        return [self._queue.pop() if self._queue else None for _ in range(k)]


class RandomJobs:
    """An endless stream of jobs whose env seeds come from ``rng`` (training collection):
    the env draws task and variant from its seed; the agent's trial seed is derived from it."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.count = 0

    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "count": self.count}

    def restore(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.count = int(state["count"])

    def _job(self, env_seed: int) -> Job:
        self.count += 1
        return Job(task=None, trial=self.count - 1, variant=None, env_seed=env_seed,
                   trial_seed=derive_trial_seed(env_seed))

    def take(self, k: int) -> list[Job | None]:
        if k == 1:
            return [self._job(int(self.rng.integers(0, 2**31 - 1)))]
        return [self._job(int(s)) for s in self.rng.integers(0, 2**31 - 1, k)]


def derive_trial_seed(*key: int) -> int:
    """A 63-bit seed that is a pure function of integer ``key`` (SeedSequence hashing)."""
    a, b = np.random.SeedSequence([int(k) for k in key]).generate_state(2, dtype=np.uint32)
    return (int(a) << 31) ^ int(b)


class Consumer(Protocol):
    """What a rollout hands over. Every method is optional in spirit: implement them as no-ops."""

    def on_step(self, step: Step, actions: np.ndarray, reward: np.ndarray, ended: np.ndarray, jobs: list[Job | None]) -> None:
        """After each vector step: ``step`` is what the agent saw, ``actions`` what it did,
        ``reward`` (N,) float32 and ``ended`` (N,) bool (trial over) what followed."""

    def on_episode(self, slot: int, job: Job, record: dict[str, Any]) -> None:
        """An episode of ``job`` (in env ``slot``) ended: its record (task, trial, episode, return, ...)."""

    def on_trial(self, slot: int, job: Job, episodes: list[dict[str, Any]], last: Step) -> None:
        """A trial ended. ``last`` is the state right after its final step, before the slot resets:
        its obs row is the observation after the last action, prev_action/prev_reward that action
        and reward, episode_index/step_in_episode already advanced past the ended episode."""


def make_vector_env(suite: SuiteSpec, split: Split, num_envs: int, vector: VectorMode = "sync",
                    backend: str | None = None) -> gym.vector.VectorEnv:
    """N trial envs in a Gymnasium vector env with autoreset disabled (the rollout resets):
    :class:`~amago_bench.envs.trial.TrialVectorEnv` in this process (``sync``), or one process
    per env (``async``, Gymnasium's AsyncVectorEnv)."""
    fns = [lambda: TrialEnv(suite, split, backend=backend) for _ in range(num_envs)]
    if vector == "async":
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.DISABLED, shared_memory=False)
    if vector == "sync":
        return TrialVectorEnv(fns)
    raise ValueError(f"unknown vector mode {vector!r}; valid: sync, async")


def env_spec(envs: gym.vector.VectorEnv, suite: SuiteSpec) -> EnvSpec:
    return EnvSpec(suite=suite.name, observation_space=envs.single_observation_space,
                   action_space=envs.single_action_space, num_envs=envs.num_envs,
                   episodes_per_trial=suite.trial.episodes, max_episode_steps=suite.trial.max_episode_steps)


def row(obs: Any, i: int) -> Any:
    """Env ``i``'s observation, copied out of a batched (possibly dict) observation."""
    return {k: np.array(v[i]) for k, v in obs.items()} if isinstance(obs, dict) else np.array(obs[i])


def _copy(obs: Any) -> Any:
    return {k: np.array(v) for k, v in obs.items()} if isinstance(obs, dict) else np.array(obs)


def _assign(obs: Any, i: int, value: Any) -> None:
    if isinstance(obs, dict):
        for k in obs:
            obs[k][i] = value[k]
    else:
        obs[i] = value


def call_agent(agent: Agent, method: str, fn, *args: Any) -> Any:
    """Call an agent method; an exception from the agent's own code becomes an AgentCodeError
    naming the agent and the method, with the original chained for ``--debug``."""
    try:
        return fn(*args)
    except UserError:
        raise
    except Exception as exc:
        raise AgentCodeError(str(getattr(agent, "name", None) or type(agent).__name__), method, exc) from exc


class Rollout:
    """Steps ``agent`` on ``envs`` through the jobs of ``jobs``; state persists across :meth:`run`
    calls, so a collector can run a fixed number of steps per epoch with trials spanning epochs.

    ``resumable``: keep each slot's actions since its trial began, so that :meth:`snapshot` can
    save the rollout between two :meth:`run` calls and :meth:`restore` can rebuild it in a new
    process (each env is reset with its trial's seed and the actions are replayed: the trial env
    is a pure function of its seed and actions). Needs a sync vector env."""

    def __init__(self, envs: gym.vector.VectorEnv, suite: SuiteSpec, agent: Agent, seed: int, jobs: JobSource,
                 resumable: bool = False) -> None:
        self.envs, self.suite, self.agent, self.jobs = envs, suite, agent, jobs
        self.trial_actions: list[list[np.ndarray]] | None = [[] for _ in range(envs.num_envs)] if resumable else None
        self.n = n = envs.num_envs
        self.spec = env_spec(envs, suite)
        self._where = f"agent {getattr(agent, 'name', '?')!r} on suite {suite.name!r}"  # for action errors
        call_agent(agent, "start()", agent.start, self.spec, seed)
        self.slot: list[Job | None] = jobs.take(n)
        self.episodes: list[list[dict]] = [[] for _ in range(n)]
        obs, _ = envs.reset(options={"idle": True})  # every slot parked, then filled one by one
        self.obs = _copy(obs)
        for i in range(n):
            _assign(self.obs, i, self._reset_slot(i, self.slot[i]))
        self.prev_action = zeros_like_space(envs.single_action_space, n)
        self.prev_reward = np.zeros(n, np.float32)
        self.new_trial = np.ones(n, bool)
        self.new_episode = np.ones(n, bool)
        self.ep_index = np.zeros(n, np.int64)
        self.t_in_ep = np.zeros(n, np.int64)
        self.trial_seed = np.array([0 if j is None else j.trial_seed for j in self.slot], np.int64)
        self.active = np.array([j is not None for j in self.slot])

    def _reset_slot(self, i: int, job: Job | None) -> Any:
        mask = np.zeros(self.n, bool)
        mask[i] = True
        seeds: list[int | None] = [None] * self.n
        options: dict[str, Any] = {"reset_mask": mask}
        if job is None:
            options["idle"] = True
        else:
            seeds[i] = job.env_seed
            if job.task is not None:
                options.update(task=job.task, variant=job.variant)
        obs, _ = self.envs.reset(seed=seeds, options=options)
        return row(obs, i)

    @property
    def done(self) -> bool:
        return not self.active.any()

    def run(self, consumer: Consumer, max_steps: int | None = None) -> int:
        """Step until every slot is parked or ``max_steps`` vector steps; returns the env steps
        taken by active envs.

        An array handed out in a Step (or to the consumer) is never written afterwards: the
        rollout's state arrays are replaced, not updated in place, on the common step, and
        copied before an update in place at an episode or trial end."""
        n, total, steps = self.n, 0, 0
        n_active = int(self.active.sum())
        while n_active and (max_steps is None or steps < max_steps):
            step = Step(obs=self.obs, prev_action=self.prev_action, prev_reward=self.prev_reward,
                        new_trial=self.new_trial, new_episode=self.new_episode, episode_index=self.ep_index,
                        step_in_episode=self.t_in_ep, active=self.active, trial_seed=self.trial_seed)
            actions = self._checked(call_agent(self.agent, "act()", self.agent.act, step))
            if self.trial_actions is not None:
                for i in np.flatnonzero(self.active):
                    self.trial_actions[i].append(np.array(actions[i]))
            obs, reward, terminated, truncated, info = self.envs.step(actions)
            self.obs = obs  # a fresh array (the vector env copies): slot resets may write into it
            steps += 1
            total += n_active
            reward = np.asarray(reward).astype(np.float32)
            ended = np.asarray(terminated) | np.asarray(truncated)
            if n_active < n:
                ended &= self.active
            consumer.on_step(step, actions, reward, ended, list(self.slot))
            self.prev_action = actions
            self.prev_reward = reward
            self.new_trial = np.zeros(n, bool)
            self.new_episode = np.zeros(n, bool)
            self.t_in_ep = self.t_in_ep + 1
            if "episode_done" not in info:  # the common step: no episode ended anywhere
                continue
            done_ep = info["episode_done"] & info["_episode_done"] & self.active
            self.ep_index = self.ep_index.copy()
            for i in np.flatnonzero(done_ep):
                job = self.slot[i]
                record = {
                    "task": str(info["task"][i]),
                    "trial": job.trial,
                    "episode": int(info["episode_index"][i]),
                    "return": float(info["episode_return"][i]),
                    "length": int(info["episode_length"][i]),
                    "success": float(info["episode_success"][i]),
                    "scored": bool(info["episode_scored"][i]),
                    "truncated": bool(info["episode_truncated"][i]),
                    "variant": job.variant,
                }
                self.episodes[i].append(record)
                consumer.on_episode(int(i), job, record)
                self.new_episode[i] = True
                self.ep_index[i] += 1
                self.t_in_ep[i] = 0
            if not ended.any():
                continue
            last = Step(obs=self.obs, prev_action=actions, prev_reward=reward, new_trial=np.zeros(n, bool),
                        new_episode=self.new_episode.copy(), episode_index=self.ep_index.copy(),
                        step_in_episode=self.t_in_ep.copy(), active=self.active, trial_seed=self.trial_seed)
            self.active, self.trial_seed = self.active.copy(), self.trial_seed.copy()
            self.prev_action, self.prev_reward = actions.copy(), reward.copy()
            for i in np.flatnonzero(ended):
                job = self.slot[i]
                if len(self.episodes[i]) != self.suite.trial.episodes:
                    raise RuntimeError(f"trial of {job.task!r} ended after {len(self.episodes[i])} episodes, "
                                       f"expected {self.suite.trial.episodes}")
                consumer.on_trial(int(i), job, self.episodes[i], last)
                self.episodes[i] = []
                if self.trial_actions is not None:
                    self.trial_actions[i] = []
                self.slot[i] = self.jobs.take(1)[0]
                self.active[i] = self.slot[i] is not None
                _assign(self.obs, i, self._reset_slot(i, self.slot[i]))
                self.new_trial[i] = True
                self.new_episode[i] = True
                self.ep_index[i] = 0
                self.t_in_ep[i] = 0
                self.trial_seed[i] = 0 if self.slot[i] is None else self.slot[i].trial_seed
                self.prev_action[i] = 0
                self.prev_reward[i] = 0.0
            n_active = int(self.active.sum())
        return total

    def _checked(self, raw: Any) -> np.ndarray:
        try:
            return check_actions(raw, self.envs.single_action_space, self.n, self._where)
        except ActionError as exc:
            i = exc.env_index
            if i is not None and self.slot[i] is not None:
                job = self.slot[i]
                raise ActionError(f"{exc} [task {job.task or '(drawn by the env)'!r}, trial {job.trial}, episode {int(self.ep_index[i])}, "
                                  f"step {int(self.t_in_ep[i])}]", i) from None
            raise

    # -- saving and restoring between runs ----------------------------------------------------------
    def snapshot(self) -> dict[str, Any] | None:
        """The rollout's state between two :meth:`run` calls (a tree for :mod:`amago_bench.snapshot`),
        or None when it cannot be restored (not resumable, an async vector env, a job source
        without state)."""
        if self.trial_actions is None or not isinstance(self.envs, gym.vector.SyncVectorEnv) or not hasattr(self.jobs, "state"):
            return None
        space = self.envs.single_action_space
        empty = zeros_like_space(space, 0)
        return {
            "slot": [None if j is None else dict(j.__dict__) for j in self.slot],
            "episodes": [list(e) for e in self.episodes],
            "trial_actions": [np.stack(a) if a else empty for a in self.trial_actions],
            "obs": _copy(self.obs), "prev_action": self.prev_action.copy(), "prev_reward": self.prev_reward.copy(),
            "new_trial": self.new_trial.copy(), "new_episode": self.new_episode.copy(), "ep_index": self.ep_index.copy(),
            "t_in_ep": self.t_in_ep.copy(), "trial_seed": self.trial_seed.copy(), "active": self.active.copy(),
            "jobs": self.jobs.state(),
        }

    def restore(self, snap: dict[str, Any]) -> list[int]:
        """Rebuild the state of :meth:`snapshot` (the agent's memory is the agent's to restore):
        each slot's env is reset with its trial's job and its actions are replayed. Returns the
        slots whose replayed observation differs from the saved one (an env that is not a pure
        function of its seed and actions); the rollout goes on from the envs' own state."""
        if len(snap["slot"]) != self.n:
            raise ValueError(f"the saved rollout has {len(snap['slot'])} envs, this one {self.n}")
        self.jobs.restore(snap["jobs"])
        self.slot = [None if d is None else Job(**d) for d in snap["slot"]]
        mismatched = []
        for i, job in enumerate(self.slot):
            obs_i = self._reset_slot(i, job)
            for a in snap["trial_actions"][i] if job is not None else ():
                obs_i = self.envs.envs[i].step(a)[0]
            saved = row(snap["obs"], i)
            same = (all(np.array_equal(obs_i[k], saved[k]) for k in saved) if isinstance(saved, dict)
                    else np.array_equal(obs_i, saved))
            if not same:
                mismatched.append(i)
            _assign(self.obs, i, obs_i)
        self.episodes = [list(e) for e in snap["episodes"]]
        self.trial_actions = [list(a) for a in snap["trial_actions"]]
        for k in ("prev_action", "prev_reward", "new_trial", "new_episode", "ep_index", "t_in_ep", "trial_seed", "active"):
            setattr(self, k, np.array(snap[k]))
        return mismatched

    def close(self) -> None:
        self.envs.close()
