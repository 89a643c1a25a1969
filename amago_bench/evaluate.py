"""The evaluation protocol: a fixed quota of trials per task, on vector envs, deterministic.

Every task of the split gets exactly ``trials_per_task`` trials per seed, whatever its episode
length (no bias towards tasks with short episodes). Trial j of task t under seed s always runs
the same task variant: its variant seed and env seed are pure functions of (s, t, j). Jobs are
handed to vector-env slots in a fixed order as slots free up, so with the same seed, agent and
number of envs two runs give identical records.

Results are emitted one finished trial at a time (``on_trial``), so a caller can store them
atomically and a resumed run can skip the trials already stored (``skip``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal

import gymnasium as gym
import numpy as np

from amago_bench.envs.spaces import ActionError, check_actions, zeros_like_space
from amago_bench.envs.trial import TrialEnv
from amago_bench.policy import Agent, EnvSpec, Step
from amago_bench.suite import Split, SuiteSpec

VectorMode = Literal["sync", "async"]


@dataclass(frozen=True)
class Job:
    """One trial to run: task ``task`` (its ``trial``-th trial) on variant seed ``variant``."""

    task: str
    trial: int
    variant: int
    env_seed: int


def plan_jobs(suite: SuiteSpec, split: Split, trials_per_task: int, seed: int, tasks: Iterable[str] | None = None) -> list[Job]:
    """The fixed job list of one evaluation, interleaved trial-major so tasks progress evenly."""
    if trials_per_task < 1:
        raise ValueError(f"trials_per_task must be >= 1, got {trials_per_task}")
    names = list(tasks) if tasks is not None else suite.task_names(split)
    for n in names:
        if not suite.task(n).in_split(split):
            raise ValueError(f"task {n!r} is not in the {split} split of {suite.name!r}")
    lo, hi = suite.seed_range(split)
    jobs = []
    for j in range(trials_per_task):
        for name in names:
            ti = suite.task_names().index(name)
            ss = np.random.SeedSequence([seed, ti, j, 0 if split == "train" else 1])
            a, b = ss.generate_state(2, dtype=np.uint32)
            jobs.append(Job(task=name, trial=j, variant=lo + int(a) % (hi - lo), env_seed=int(b)))
    return jobs


def make_vector_env(suite: SuiteSpec, split: Split, num_envs: int, vector: VectorMode = "sync", backend: str | None = None) -> gym.vector.VectorEnv:
    """N trial envs in a Gymnasium vector env with autoreset disabled (the caller resets)."""
    fns = [lambda: TrialEnv(suite, split, backend=backend) for _ in range(num_envs)]
    mode = gym.vector.AutoresetMode.DISABLED
    if vector == "async":
        return gym.vector.AsyncVectorEnv(fns, autoreset_mode=mode, shared_memory=False)
    if vector == "sync":
        return gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
    raise ValueError(f"unknown vector mode {vector!r}; valid: sync, async")


def _index(obs: Any, i: int) -> Any:
    return {k: v[i] for k, v in obs.items()} if isinstance(obs, dict) else obs[i]


def _assign(obs: Any, i: int, value: Any) -> None:
    if isinstance(obs, dict):
        for k in obs:
            obs[k][i] = value[k]
    else:
        obs[i] = value


class TrialRunner:
    """Drives an agent through a job list on a vector env, emitting finished trials.

    Used by evaluation and, with the same mechanics, by training-time collection.
    """

    def __init__(self, envs: gym.vector.VectorEnv, suite: SuiteSpec, agent: Agent, seed: int) -> None:
        self.envs = envs
        self.suite = suite
        self.agent = agent
        self.n = envs.num_envs
        self.spec = EnvSpec(
            suite=suite.name,
            observation_space=envs.single_observation_space,
            action_space=envs.single_action_space,
            num_envs=self.n,
            episodes_per_trial=suite.trial.episodes,
            max_episode_steps=suite.trial.max_episode_steps,
        )
        agent.start(self.spec, seed)

    def _reset_slot(self, i: int, job: Job | None) -> Any:
        mask = np.zeros(self.n, dtype=bool)
        mask[i] = True
        seeds: list[int | None] = [None] * self.n
        options: dict[str, Any] = {"reset_mask": mask}
        if job is None:
            options["idle"] = True
        else:
            seeds[i] = job.env_seed
            options.update(task=job.task, variant=job.variant)
        obs, _ = self.envs.reset(seed=seeds, options=options)
        return _index(obs, i)

    def run(
        self,
        jobs: list[Job],
        on_trial: Callable[[Job, list[dict]], None],
        on_step: Callable[[int], None] | None = None,
    ) -> int:
        """Run every job; returns the number of env steps taken by active envs."""
        n = self.n
        queue = list(jobs)[::-1]
        slot: list[Job | None] = [None] * n
        episodes: list[list[dict]] = [[] for _ in range(n)]
        obs, _ = self.envs.reset(options={"idle": True})  # every slot parked, then filled one by one
        obs = _copy(obs)
        for i in range(n):
            slot[i] = queue.pop() if queue else None
            _assign(obs, i, self._reset_slot(i, slot[i]))
        prev_action = zeros_like_space(self.envs.single_action_space, n)
        prev_reward = np.zeros(n, np.float32)
        new_trial = np.ones(n, dtype=bool)
        new_episode = np.ones(n, dtype=bool)
        ep_index = np.zeros(n, np.int64)
        t_in_ep = np.zeros(n, np.int64)
        total_steps = 0
        step_no = 0
        active = np.array([j is not None for j in slot])
        while active.any():
            step = Step(obs=obs, prev_action=prev_action, prev_reward=prev_reward, new_trial=new_trial,
                        new_episode=new_episode, episode_index=ep_index.copy(), step_in_episode=t_in_ep.copy(),
                        active=active.copy())
            raw = self.agent.act(step)
            try:
                actions = check_actions(raw, self.envs.single_action_space, n,
                                        f"agent {getattr(self.agent, 'name', '?')!r} on suite {self.suite.name!r}")
            except ActionError as exc:
                i = exc.env_index
                if i is not None and slot[i] is not None:
                    raise ActionError(
                        f"{exc} [task {slot[i].task!r}, trial {slot[i].trial}, episode {int(ep_index[i])}, "
                        f"step {int(t_in_ep[i])}]", i) from None
                raise
            obs, reward, terminated, truncated, info = self.envs.step(actions)  # obs: a fresh copy (copy=True)
            step_no += 1
            total_steps += int(active.sum())
            prev_action = actions.copy()
            prev_reward = np.asarray(reward, np.float32).copy()
            new_trial = np.zeros(n, dtype=bool)
            new_episode = np.zeros(n, dtype=bool)
            t_in_ep += 1
            if "episode_done" not in info:  # the common step: no episode ended anywhere
                if on_step is not None:
                    on_step(int(active.sum()))
                continue
            done_ep = info["episode_done"] & info["_episode_done"]
            for i in np.flatnonzero(active & done_ep):
                job = slot[i]
                episodes[i].append({
                    "task": job.task,
                    "trial": job.trial,
                    "episode": int(info["episode_index"][i]),
                    "return": float(info["episode_return"][i]),
                    "length": int(info["episode_length"][i]),
                    "success": float(info["episode_success"][i]),
                    "scored": bool(info["episode_scored"][i]),
                    "truncated": bool(info["episode_truncated"][i]),
                    "variant": job.variant,
                })
                new_episode[i] = True
                ep_index[i] += 1
                t_in_ep[i] = 0
            for i in np.flatnonzero(active & (terminated | truncated)):
                job = slot[i]
                if len(episodes[i]) != self.suite.trial.episodes:
                    raise RuntimeError(f"trial of {job.task!r} ended after {len(episodes[i])} episodes, expected {self.suite.trial.episodes}")
                on_trial(job, episodes[i])
                episodes[i] = []
                slot[i] = queue.pop() if queue else None
                active[i] = slot[i] is not None
                _assign(obs, i, self._reset_slot(i, slot[i]))
                new_trial[i] = True
                new_episode[i] = True
                ep_index[i] = 0
                t_in_ep[i] = 0
                prev_action = _zero_row(prev_action, i)
                prev_reward[i] = 0.0
            if on_step is not None:
                on_step(int(active.sum()))
        return total_steps


def _copy(obs: Any) -> Any:
    return {k: np.array(v) for k, v in obs.items()} if isinstance(obs, dict) else np.array(obs)


def _zero_row(arr: np.ndarray, i: int) -> np.ndarray:
    arr[i] = 0
    return arr


def evaluate(
    agent: Agent,
    suite: SuiteSpec,
    split: Split = "train",
    trials_per_task: int = 1,
    seed: int = 0,
    num_envs: int = 8,
    vector: VectorMode = "sync",
    backend: str | None = None,
    tasks: Iterable[str] | None = None,
    skip: set[tuple[str, int]] | None = None,
    on_trial: Callable[[Job, list[dict]], None] | None = None,
    progress: bool = False,
) -> list[dict]:
    """Evaluate ``agent`` on ``suite``; returns one record per episode (tidy rows).

    ``skip`` holds (task, trial) pairs already done (resume); they are not run again.
    """
    jobs = [j for j in plan_jobs(suite, split, trials_per_task, seed, tasks) if not skip or (j.task, j.trial) not in skip]
    records: list[dict] = []
    if not jobs:
        return records
    num_envs = max(1, min(num_envs, len(jobs)))
    envs = make_vector_env(suite, split, num_envs, vector, backend)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=f"{suite.name}/{split} seed {seed}", unit="trial", dynamic_ncols=True)

    def _on_trial(job: Job, eps: list[dict]) -> None:
        records.extend(eps)
        if on_trial is not None:
            on_trial(job, eps)
        if bar is not None:
            bar.update(1)

    try:
        TrialRunner(envs, suite, agent, seed).run(jobs, _on_trial)
    finally:
        envs.close()
        if bar is not None:
            bar.close()
    return records
