"""Scoring: from tidy episode records to per-task trial scores and normalised scores.

Pure functions over pandas/numpy; no torch, no env package. Shapes are stated in docstrings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from amago_bench.suite import SuiteSpec

EPISODE_COLUMNS = ("task", "trial", "episode", "return", "length", "success", "scored")


def trial_scores(episodes: pd.DataFrame, suite: SuiteSpec) -> pd.DataFrame:
    """One row per (seed, task, trial): the trial score and its success rate.

    ``episodes`` has one row per episode with at least EPISODE_COLUMNS (and ``seed``; a
    missing ``seed`` column means seed 0). Only the suite's scored episodes count:
    ``score`` is the sum of their returns (``trial.score == "return"``) or the mean of
    their success (``"success"``); ``success`` is the mean success of the scored episodes
    (NaN where the suite has no success signal); ``normalised`` applies the task's
    reference ends to ``score`` (NaN where an end is unknown).
    """
    missing = [c for c in EPISODE_COLUMNS if c not in episodes.columns]
    if missing:
        raise ValueError(f"episode table lacks column(s) {missing}")
    df = episodes.copy()
    if "seed" not in df.columns:
        df["seed"] = 0
    df = df[df["scored"].astype(bool)]
    keys = ["seed", "task", "trial"]
    g = df.groupby(keys, sort=True)
    out = pd.DataFrame({
        "return": g["return"].sum(),
        "success": g["success"].mean(),
        "episodes": g["episode"].count(),
    }).reset_index()
    out["score"] = out["success"] if suite.trial.score == "success" else out["return"]
    refs = {t.name: t.reference for t in suite.tasks}
    out["normalised"] = [refs[t].normalise(s) if t in refs else np.nan for t, s in zip(out["task"], out["score"])]
    return out


def task_summary(episodes: pd.DataFrame, suite: SuiteSpec) -> pd.DataFrame:
    """One row per task: mean trial score, mean normalised score, success rate, trial count."""
    ts = trial_scores(episodes, suite)
    g = ts.groupby("task", sort=False)
    out = pd.DataFrame({
        "trials": g["score"].count(),
        "score": g["score"].mean(),
        "normalised": g["normalised"].mean(),
        "success": g["success"].mean(),
    })
    order = [t for t in suite.task_names() if t in out.index]
    return out.loc[order]
