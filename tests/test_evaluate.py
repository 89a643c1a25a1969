"""The evaluation protocol: fixed quota per task, determinism, resume skipping, bad actions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from amago_bench.envs.spaces import ActionError
from amago_bench.evaluate import evaluate, plan_jobs
from amago_bench.policy import ProbeOracle, RandomAgent
from amago_bench.scoring import task_summary
from amago_bench.suite import get_suite

PROBE = get_suite("scale-probe")


def test_plan_gives_each_task_the_same_quota_and_fixed_variants():
    jobs = plan_jobs(PROBE, "test", 5, seed=1)
    counts = pd.Series([j.task for j in jobs]).value_counts()
    assert set(counts) == {5} and len(counts) == 4
    assert jobs == plan_jobs(PROBE, "test", 5, seed=1)
    assert jobs != plan_jobs(PROBE, "test", 5, seed=2)
    lo, hi = PROBE.seed_range("test")
    assert all(lo <= j.variant < hi for j in jobs)


def test_quota_holds_with_uneven_episode_lengths():
    popgym = pytest.importorskip("popgym")  # noqa: F841
    suite = get_suite("popgym27")
    tasks = ["MineSweeperEasy", "RepeatFirstMedium", "PositionOnlyCartPoleEasy"]  # ~6, 415, ~20 steps
    recs = pd.DataFrame(evaluate(RandomAgent(), suite, "train", trials_per_task=3, seed=0, num_envs=2, tasks=tasks))
    per_task = recs.groupby("task")["trial"].nunique()
    assert per_task.to_dict() == {t: 3 for t in tasks}
    assert (recs.groupby(["task", "trial"]).size() == 2).all()


@pytest.mark.parametrize("vector", ["sync", "async"])
def test_two_runs_give_identical_records(vector):
    a = evaluate(RandomAgent(), PROBE, "train", trials_per_task=4, seed=3, num_envs=3, vector=vector)
    b = evaluate(RandomAgent(), PROBE, "train", trials_per_task=4, seed=3, num_envs=3, vector=vector)
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    assert len(a) == 4 * 4 * 2


def test_sync_and_async_agree():
    a = evaluate(RandomAgent(), PROBE, "test", trials_per_task=2, seed=5, num_envs=2, vector="sync")
    b = evaluate(RandomAgent(), PROBE, "test", trials_per_task=2, seed=5, num_envs=2, vector="async")
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))


def test_skip_resumes_without_duplicates():
    full = evaluate(RandomAgent(), PROBE, "train", trials_per_task=3, seed=0, num_envs=2)
    first = {(r["task"], r["trial"]) for r in full if r["trial"] == 0}
    rest = evaluate(RandomAgent(), PROBE, "train", trials_per_task=3, seed=0, num_envs=2, skip=first)
    assert {(r["task"], r["trial"]) for r in rest} == {(r["task"], r["trial"]) for r in full} - first


def test_oracle_scores_one_and_random_near_zero_on_every_scale():
    oracle = pd.DataFrame(evaluate(ProbeOracle(), PROBE, "test", trials_per_task=20, seed=0, num_envs=4))
    s = task_summary(oracle, PROBE)
    assert np.allclose(s["normalised"], 1.0)
    rand = pd.DataFrame(evaluate(RandomAgent(), PROBE, "test", trials_per_task=300, seed=0, num_envs=8))
    s = task_summary(rand, PROBE)
    assert (s["normalised"].abs() < 0.15).all(), s


class BadAgent:
    name = "bad"

    def __init__(self, make):
        self.make = make

    def start(self, spec, seed):
        self.n = spec.num_envs

    def act(self, step):
        return self.make(self.n)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda n: np.zeros((n, 2), np.int64), r"expected actions of shape \(2,\)"),
        (lambda n: np.full(n, np.nan), r"NaN or inf.*task 'bandit"),
        (lambda n: np.full(n, 9), r"out of range \[0, 4\).*task 'bandit.*step 0"),
        (lambda n: np.array(["a"] * n), r"must be integers"),
    ],
)
def test_bad_actions_fail_with_task_and_step(make, message):
    with pytest.raises(ActionError, match=message):
        evaluate(BadAgent(make), PROBE, "train", trials_per_task=1, seed=0, num_envs=2)
