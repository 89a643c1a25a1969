"""The evaluation protocol: a fixed quota of trials per task, on vector envs, deterministic.

Every task of the split gets exactly ``trials_per_task`` trials per seed, whatever its episode
length (no bias towards tasks with short episodes). Trial j of task t under seed s always runs
the same task variant, and the agent gets the same ``trial_seed`` for it: the variant seed, env
seed and trial seed are pure functions of (s, t, j). So results do not depend on the order in
which trials run, on the number of envs, or on trials skipped because they were stored before:
a resumed evaluation equals an uninterrupted one (for agents that draw from ``trial_seed``).

Results are emitted one finished trial at a time (``on_trial``), so a caller can store them
atomically and a resumed run can skip the trials already stored (``skip``). The stepping itself
is :class:`amago_bench.rollout.Rollout`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from amago_bench.policy import Agent, Step
from amago_bench.rollout import FixedJobs, Job, Rollout, VectorMode, make_vector_env
from amago_bench.suite import Split, SuiteSpec

__all__ = ["Job", "plan_jobs", "evaluate", "make_vector_env", "VectorMode"]


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
            a, b, c, d = ss.generate_state(4, dtype=np.uint32)
            jobs.append(Job(task=name, trial=j, variant=lo + int(a) % (hi - lo), env_seed=int(b),
                            trial_seed=(int(c) << 31) ^ int(d)))
    return jobs


class _EvalConsumer:
    """Finished trials to ``on_trial`` (and a list of episode records)."""

    def __init__(self, on_trial: Callable[[Job, list[dict]], None]) -> None:
        self.on_trial_cb = on_trial

    def on_step(self, step: Step, actions: np.ndarray, reward: np.ndarray, ended: np.ndarray, jobs: list) -> None:
        pass

    def on_episode(self, slot: int, job: Job, record: dict[str, Any]) -> None:
        pass

    def on_trial(self, slot: int, job: Job, episodes: list[dict[str, Any]], last: Step) -> None:
        self.on_trial_cb(job, list(episodes))


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
        Rollout(envs, suite, agent, seed, FixedJobs(jobs)).run(_EvalConsumer(_on_trial))
    finally:
        envs.close()
        if bar is not None:
            bar.close()
    return records
