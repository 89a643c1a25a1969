"""Scoring: aggregate statistics (properties, hand-computed values, agreement with rliable),
normalisation, coverage, missing-data warnings and the leaderboard's comparability groups."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from amago_bench import scoring as S
from amago_bench.suite import ReferenceScore, get_suite

METRICS = list(S.METRICS)


def score_arrays(min_runs: int = 1, max_runs: int = 6, max_tasks: int = 6):
    """(R, T) arrays of moderate finite scores, ties included (values on a 0.25 grid)."""
    shape = st.tuples(st.integers(min_runs, max_runs), st.integers(1, max_tasks))
    elems = st.integers(-8, 12).map(lambda v: v / 4)
    return shape.flatmap(lambda s: arrays(np.float64, s, elements=elems))


# -- properties -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(scores=score_arrays(), metric=st.sampled_from(METRICS), seed=st.integers(0, 2**32 - 1))
def test_interval_contains_estimate(scores, metric, seed):
    iv = S.interval_estimate(scores, metric, np.random.default_rng(seed), reps=300)
    tol = 1e-9
    assert iv.lower <= iv.estimate + tol
    assert iv.estimate <= iv.upper + tol
    assert iv.lower <= iv.upper


@settings(max_examples=40, deadline=None)
@given(scores=score_arrays(min_runs=3), metric=st.sampled_from(["mean", "median", "iqm"]),
       seed=st.integers(0, 2**32 - 1))
def test_interval_is_strict_when_runs_vary(scores, metric, seed):
    """With 3+ runs and a wide spread in every task, the interval has width; for the mean and
    median it brackets the estimate strictly. (Not for the optimality gap: scores above gamma
    are clipped, so it can be exactly 0 in every replicate.)"""
    scores = scores + np.arange(scores.shape[0])[:, None] * 10.0  # every task's runs differ a lot
    iv = S.interval_estimate(scores, metric, np.random.default_rng(seed), reps=500)
    assert iv.lower < iv.upper
    if metric in ("mean", "median"):
        assert iv.lower < iv.estimate < iv.upper


@settings(max_examples=60, deadline=None)
@given(scores=score_arrays(), metric=st.sampled_from(METRICS), data=st.data())
def test_invariant_to_task_order(scores, metric, data):
    perm = data.draw(st.permutations(range(scores.shape[1])))
    fn = S.get_metric(metric)
    assert math.isclose(fn(scores), fn(scores[:, perm]), rel_tol=1e-12, abs_tol=1e-12)
    rperm = data.draw(st.permutations(range(scores.shape[0])))
    assert math.isclose(fn(scores), fn(scores[rperm]), rel_tol=1e-12, abs_tol=1e-12)


@settings(max_examples=60, deadline=None)
@given(
    low=st.floats(-1e4, 1e4), span=st.floats(1e-3, 1e5),
    frac=arrays(np.float64, 5, elements=st.floats(-2, 3)),
)
def test_normalisation_endpoints(low, span, frac):
    high = low + span
    lo, hi = np.full(5, low), np.full(5, high)
    assert np.allclose(S.normalise(lo, lo, hi), 0.0)
    assert np.allclose(S.normalise(hi, lo, hi), 1.0)
    raw = low + frac * span
    assert np.allclose(S.normalise(raw, lo, hi), frac, atol=1e-6)


def test_normalisation_unknown_or_equal_ends_give_nan():
    out = S.normalise(np.array([1.0, 2.0, 3.0]), np.array([0.0, np.nan, 3.0]), np.array([2.0, 4.0, 3.0]))
    assert out[0] == 0.5 and np.isnan(out[1]) and np.isnan(out[2])


@settings(max_examples=30, deadline=None)
@given(scores=score_arrays(), taus=arrays(np.float64, 4, elements=st.floats(-3, 4)))
def test_performance_profile_is_monotone_fraction(scores, taus):
    taus = np.sort(taus)
    prof = S.performance_profile(scores, taus)
    assert np.all((prof >= 0) & (prof <= 1))
    assert np.all(np.diff(prof) <= 1e-12)


@settings(max_examples=30, deadline=None)
@given(x=score_arrays(max_tasks=4), data=st.data())
def test_probability_of_improvement_antisymmetric(x, data):
    y = data.draw(arrays(np.float64, (data.draw(st.integers(1, 5)), x.shape[1]),
                         elements=st.integers(-8, 12).map(lambda v: v / 4)))
    p = S.probability_of_improvement(x, y)
    q = S.probability_of_improvement(y, x)
    assert 0 <= p <= 1
    assert math.isclose(p + q, 1.0)
    assert S.probability_of_improvement(x, x) == pytest.approx(0.5)


# -- hand-computed values ---------------------------------------------------------------


def test_hand_computed_metrics():
    scores = np.array([[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 100.0]])  # 2 runs x 4 tasks
    assert S.iqm(scores) == pytest.approx(np.mean([2.0, 3.0, 4.0, 5.0]))  # 8 values, 2 cut per end
    assert S.mean(scores) == pytest.approx(np.mean([2.0, 3.0, 4.0, 51.5]))
    assert S.median(scores) == pytest.approx(np.median([2.0, 3.0, 4.0, 51.5]))
    assert S.optimality_gap(scores) == pytest.approx(1.0 / 8)  # only the 0 falls short of 1
    assert S.probability_of_improvement(np.array([[1.0], [3.0]]), np.array([[2.0], [2.0]])) == pytest.approx(0.5)
    assert S.probability_of_improvement(np.array([[3.0]]), np.array([[1.0], [3.0]])) == pytest.approx(0.75)


def test_coverage_and_success_rate():
    # trial success over 3 episodes, per run and task: ML45's 2/3 threshold
    succ = np.array([[1.0, 2 / 3, 1 / 3, 0.0], [4 / 6, 1.0, 1.0, 1 / 3]])
    assert S.coverage(succ).tolist() == [2, 3]
    assert S.coverage(succ, threshold=1.0).tolist() == [1, 2]
    assert S.success_rate(succ) == pytest.approx(succ.mean())
    with pytest.raises(S.ScoringError):
        S.coverage(np.array([[np.nan, 1.0]]))


def test_bootstrap_uses_only_the_given_generator():
    scores = np.random.default_rng(3).normal(size=(5, 7))
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = S.interval_estimate(scores, "iqm", np.random.default_rng(42), reps=500)
    b = S.interval_estimate(scores, "iqm", np.random.default_rng(42), reps=500)
    c = S.interval_estimate(scores, "iqm", np.random.default_rng(43), reps=500)
    assert np.array_equal(np.random.get_state()[1], before)
    assert a == b
    assert (a.lower, a.upper) != (c.lower, c.upper)


def test_bootstrap_keeps_every_task_and_resamples_runs_within_it():
    scores = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0]])
    boot = S.stratified_bootstrap(scores, lambda b: b, np.random.default_rng(0), reps=50)
    assert boot.shape == (50, 3, 2)
    assert set(np.unique(boot[:, :, 0])) <= {0.0, 1.0, 2.0}
    assert set(np.unique(boot[:, :, 1])) <= {10.0, 11.0, 12.0}


def test_unknown_metric_names_the_valid_ones():
    with pytest.raises(S.ScoringError, match="valid: iqm, mean, median, optimality-gap"):
        S.get_metric("best")


# -- agreement with rliable (test-only dependency) --------------------------------------


def test_point_estimates_agree_with_rliable():
    metrics = pytest.importorskip("rliable.metrics")
    rng = np.random.default_rng(7)
    for shape in [(1, 1), (3, 5), (5, 27), (10, 4)]:
        x = np.round(rng.normal(size=shape), 1)  # rounding creates ties
        y = np.round(rng.normal(size=(4, shape[1])), 1)
        assert S.mean(x) == pytest.approx(metrics.aggregate_mean(x), abs=1e-12)
        assert S.median(x) == pytest.approx(metrics.aggregate_median(x), abs=1e-12)
        assert S.iqm(x) == pytest.approx(metrics.aggregate_iqm(x), abs=1e-12)
        assert S.optimality_gap(x) == pytest.approx(metrics.aggregate_optimality_gap(x), abs=1e-12)
        assert S.probability_of_improvement(x, y) == pytest.approx(metrics.probability_of_improvement(x, y), abs=1e-12)
    library = pytest.importorskip("rliable.library")
    x = rng.normal(size=(5, 6))
    taus = np.linspace(-2, 2, 9)
    assert np.allclose(S.performance_profile(x, taus), library.score_distributions(x, taus))


# -- from records to arrays -------------------------------------------------------------


def _episodes(suite, seeds=(0, 1), trials=2, tasks=None, value=lambda seed, task, trial: 2.0, agent="a", **run):
    """Synthetic episode table for ``suite``: every scored episode returns ``value(...)``."""
    rows = []
    k = suite.trial.episodes
    for seed in seeds:
        for ti, task in enumerate(tasks or suite.task_names("train")):
            for j in range(trials):
                for e in range(k):
                    rows.append(dict(task=task, trial=j, episode=e, length=4, success=float("nan"),
                                     scored=e in suite.trial.scored_episodes, truncated=False, variant=0,
                                     seed=seed, run_id=f"{agent}-{seed}", agent=agent, agent_config="{}",
                                     suite_hash=suite.spec_hash, split="train", trial_protocol="p",
                                     backend="official", trials_per_task=trials, tasks=None,
                                     **{"return": value(seed, task, j)}, **run))
    return pd.DataFrame(rows)


def test_trial_scores_and_task_summary_still_work():
    suite = get_suite("scale-probe")
    eps = _episodes(suite, value=lambda s, t, j: suite.task(t).reference.high)
    ts = S.trial_scores(eps, suite)
    assert len(ts) == 2 * 4 * 2 and np.allclose(ts["normalised"], 1.0)
    summ = S.task_summary(eps, suite)
    assert list(summ.index) == suite.task_names() and (summ["trials"] == 4).all()


def test_score_matrix_warns_and_drops_incomplete_seeds():
    suite = get_suite("scale-probe")
    eps = _episodes(suite, seeds=(0, 1, 2))
    eps = eps[~((eps["seed"] == 1) & (eps["task"] == "bandit-x100") & (eps["trial"] == 1))]
    ts = S.trial_scores(eps, suite)
    with pytest.warns(S.MissingDataWarning, match=r"seed 1 left out: missing bandit-x100 \(1/2 trials\)"):
        mat, seeds = S.score_matrix(ts, suite.task_names(), "score", trials_per_task=2)
    assert seeds == [0, 2] and mat.shape == (2, 4)
    with pytest.warns(S.MissingDataWarning), pytest.raises(S.ScoringError, match="no seed has results"):
        S.score_matrix(ts[ts["seed"] == 1], suite.task_names(), "score", trials_per_task=2)


def test_leaderboard_ranks_within_comparable_groups_only():
    suite = get_suite("scale-probe")
    hi = lambda s, t, j: suite.task(t).reference.high  # noqa: E731
    lo = lambda s, t, j: suite.task(t).reference.low + 0.1 * s * suite.task(t).reference.low  # noqa: E731
    eps = pd.concat([
        _episodes(suite, agent="oracle", value=hi),
        _episodes(suite, agent="random", value=lo, seeds=(0, 1, 2)),
        _episodes(suite, agent="other-backend", value=hi).assign(backend="fast"),
    ], ignore_index=True)
    table = S.leaderboard(eps, suite, metric="mean", rng=np.random.default_rng(0), reps=200)
    assert table["group"].nunique() == 2
    g1 = table[table["key_backend"] == "official"].sort_values("rank")
    assert g1["agent"].tolist() == ["oracle", "random"]
    assert g1["seeds"].tolist() == [2, 3] and g1["trials"].tolist() == [16, 24]
    assert g1.iloc[0]["estimate"] == pytest.approx(1.0)
    assert table[table["key_backend"] == "fast"]["rank"].tolist() == [1]
    gap = S.leaderboard(eps[eps["backend"] == "official"], suite, metric="optimality-gap",
                        rng=np.random.default_rng(0), reps=200)
    assert gap.sort_values("rank")["agent"].tolist() == ["oracle", "random"]  # lower gap ranks first
    assert (table["lower"] <= table["estimate"] + 1e-12).all() and (table["estimate"] <= table["upper"] + 1e-12).all()


def test_leaderboard_refuses_nan_normalised_scores():
    probe = get_suite("scale-probe")
    # a suite whose first task has no measured low end yet (like popgym27 before `calibrate`)
    first = replace(probe.tasks[0], reference=ReferenceScore(kind="random-expert", low=None, high=1.0,
                                                             low_measured=True))
    suite = replace(probe, tasks=(first, *probe.tasks[1:]))
    eps = _episodes(suite)
    with pytest.raises(S.ScoringError, match=rf"{first.name} have no normalisation ends.*calibrate --suite scale-probe"):
        S.leaderboard(eps, suite, rng=np.random.default_rng(0), reps=100)
    ok = S.leaderboard(eps, suite, score="score", rng=np.random.default_rng(0), reps=100)
    assert ok["estimate"].tolist() == [pytest.approx(2.0)]


def test_the_seeds_of_one_training_recipe_pool_into_one_entry_and_milestones_stay_apart():
    import json

    from amago_bench.scoring import agent_label, pooled_config

    def ck(path, sha):
        return json.dumps({"ref": "amago2", "checkpoint": path, "checkpoint_sha256": sha})

    s0 = ck("/a/runs/ml45/amago2-paper-seed0/checkpoint.pt", "aa")
    s1 = ck("/b/runs/ml45/amago2-paper-seed1/checkpoint.pt", "bb")
    m0 = ck("/a/runs/ml45/amago2-paper-seed0/checkpoint-50000000.pt", "cc")
    small = ck("/a/runs/ml45/amago2-small-seed0/checkpoint.pt", "dd")
    pooled = [pooled_config(c) for c in (s0, s1, m0, small)]
    assert pooled[0] == pooled[1] and len(set(pooled)) == 3
    labels = {agent_label("amago2", p, pooled) for p in pooled}
    assert labels == {"amago2 (amago2-paper)", "amago2 (amago2-paper, 50M steps)", "amago2 (amago2-small)"}
    outside = ck("/x/my-checkpoint.pt", "ee")  # not a harness run folder: its content, not its path
    assert json.loads(pooled_config(outside)) == {"ref": "amago2", "checkpoint_sha256": "ee"}
    assert pooled_config('{"ref": "random"}') == '{"ref": "random"}'
