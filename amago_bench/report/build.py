"""Report data: from stored episodes to the tidy tables the figures draw. Pure pandas/numpy.

No torch, no env package. Every random draw (bootstrap) takes an explicit Generator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from amago_bench.scoring import stratified_bootstrap, trial_scores
from amago_bench.suite import SuiteSpec


def mean_ci(values: np.ndarray, rng: np.random.Generator, reps: int = 2000, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mean of ``values`` (n,) and its percentile-bootstrap (1 - alpha) interval."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (np.nan, np.nan, np.nan)
    if v.size == 1:
        return (float(v[0]), float(v[0]), float(v[0]))
    boot = stratified_bootstrap(v[:, None], lambda x: x.mean(axis=(1, 2)), rng, reps)
    lo, hi = np.percentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(v.mean()), float(lo), float(hi)


def largest_group(episodes: pd.DataFrame) -> pd.DataFrame:
    """The rows of the comparable group (same suite spec, split, protocol, backend,
    evaluation size, tasks) that holds the most agents; ties broken by episode count."""
    key = ["suite_hash", "split", "trial_protocol", "backend", "trials_per_task", "tasks"]
    e = episodes.copy()
    e["tasks"] = e["tasks"].fillna("")
    best, best_size = None, (-1, -1)
    for _, g in e.groupby(key, sort=True):
        size = (g["agent"].nunique(), len(g))
        if size > best_size:
            best, best_size = g, size
    return best if best is not None else e.iloc[0:0]


def per_task_scores(episodes: pd.DataFrame, suite: SuiteSpec, rng: np.random.Generator,
                    value: str = "normalised", reps: int = 2000) -> pd.DataFrame:
    """One row per (agent, task): mean of ``value`` over all trials of all seeds, with a
    bootstrap 95% interval over trials. Columns: agent, task, estimate, lower, upper, trials."""
    rows = []
    for agent, e in episodes.groupby("agent", sort=True):
        ts = trial_scores(e, suite)
        for task in [t for t in suite.task_names() if t in set(ts["task"])]:
            vals = ts.loc[ts["task"] == task, value].to_numpy(float)
            est, lo, hi = mean_ci(vals, rng, reps)
            rows.append({"agent": agent, "task": task, "estimate": est, "lower": lo, "upper": hi, "trials": len(vals)})
    return pd.DataFrame(rows, columns=["agent", "task", "estimate", "lower", "upper", "trials"])


def learning_curve(episodes: pd.DataFrame, suite: SuiteSpec, rng: np.random.Generator,
                   value: str = "normalised", reps: int = 1000, by_task: bool = False) -> pd.DataFrame:
    """Score against env steps for training-time evaluations (episodes with ``env_steps``).

    One row per (label, env_steps): mean of ``value`` over the trials evaluated at that point
    (over all tasks, or per task with ``by_task``), with a bootstrap 95% interval.
    Columns: label, env_steps, estimate, lower, upper, trials.
    """
    e = episodes[episodes["env_steps"].notna()]
    rows = []
    for (agent, run_id), g in e.groupby(["agent", "run_id"], sort=True):
        for steps, h in g.groupby("env_steps", sort=True):
            ts = trial_scores(h, suite)
            groups = ts.groupby("task") if by_task else [("all tasks", ts)]
            for task, t in groups:
                est, lo, hi = mean_ci(t[value].to_numpy(float), rng, reps)
                label = f"{agent} seed {int(g['seed'].iloc[0])}" + (f" / {task}" if by_task else "")
                rows.append({"label": label, "env_steps": int(steps), "estimate": est, "lower": lo, "upper": hi,
                             "trials": len(t)})
    return pd.DataFrame(rows, columns=["label", "env_steps", "estimate", "lower", "upper", "trials"])
