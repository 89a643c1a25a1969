"""Report data assembly: per-task scores, learning curves, comparable groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from amago_bench.report.build import largest_group, learning_curve, mean_ci, per_task_scores
from amago_bench.suite import get_suite

PROBE = get_suite("scale-probe")


def episodes(agent: str, scored_return: float, tasks=None, trials=4, seed=0, env_steps=None, **key):
    rows = []
    for t in tasks or PROBE.task_names():
        scale = PROBE.task(t).reward_scale
        for j in range(trials):
            for ep in (0, 1):
                rows.append({"agent": agent, "run_id": f"{agent}-{seed}-{env_steps}", "seed": seed, "task": t,
                             "trial": j, "episode": ep, "return": scored_return * scale, "length": 4,
                             "success": 1.0, "scored": ep == 1, "env_steps": env_steps, "suite_hash": "h",
                             "split": "test", "trial_protocol": "p", "backend": "official", "trials_per_task": trials,
                             "tasks": None, **key})
    return pd.DataFrame(rows)


def test_mean_ci_brackets_the_mean_and_is_seeded():
    v = np.random.default_rng(0).normal(size=50)
    est, lo, hi = mean_ci(v, np.random.default_rng(1), reps=500)
    assert lo < est < hi and est == pytest.approx(v.mean())
    assert mean_ci(v, np.random.default_rng(1), reps=500) == (est, lo, hi)
    assert mean_ci(np.array([2.0]), np.random.default_rng(0)) == (2.0, 2.0, 2.0)
    assert all(np.isnan(mean_ci(np.array([np.nan]), np.random.default_rng(0))))


def test_per_task_scores_are_normalised_per_task():
    df = pd.concat([episodes("oracle", 4.0), episodes("random", 1.0)])
    out = per_task_scores(df, PROBE, np.random.default_rng(0), reps=100)
    assert len(out) == 8
    assert np.allclose(out.loc[out.agent == "oracle", "estimate"], 1.0)
    assert np.allclose(out.loc[out.agent == "random", "estimate"], 0.0)
    assert (out["trials"] == 4).all()


def test_learning_curve_has_one_point_per_evaluation():
    df = pd.concat([episodes("amago2", r, env_steps=s) for s, r in [(100, 1.0), (200, 2.5), (300, 4.0)]])
    curve = learning_curve(df, PROBE, np.random.default_rng(0), reps=100)
    assert list(curve["env_steps"]) == [100, 200, 300]
    assert np.allclose(curve["estimate"], [0.0, 0.5, 1.0])
    per_task = learning_curve(df, PROBE, np.random.default_rng(0), reps=100, by_task=True)
    assert len(per_task) == 3 * 4


def test_largest_group_keeps_comparable_rows_only():
    a = episodes("a", 1.0, trials=4)
    b = episodes("b", 2.0, trials=4)
    c = episodes("c", 3.0, trials=2)  # another evaluation size: another group
    g = largest_group(pd.concat([a, b, c]))
    assert set(g["agent"]) == {"a", "b"}
