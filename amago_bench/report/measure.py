"""Measured quantities: from stored episodes to the numbers tables and figures show.

Pure pandas/numpy over the episode table of :meth:`ResultsStore.episodes`. Every number is
computed by :mod:`amago_bench.scoring` (trial scores, score matrices, coverage, IQM...);
every bootstrap draws from ``scoring.ci_rng(ci_seed, <its own key>)``, so one agent's
interval depends only on its own episodes and the seed.

Shapes: a score matrix is (R, T) - R seeds (one run each), T tasks - as in ``scoring``.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from amago_bench import scoring
from amago_bench.report.build import mean_ci
from amago_bench.report.paper import format_steps
from amago_bench.suite import SuiteSpec

#: Columns of the comparability key (as the leaderboard groups results).
KEY = ["suite_hash", "split", "trial_protocol", "backend", "trials_per_task", "tasks"]
#: Columns of a measured-quantity table.
QUANTITY_COLUMNS = ["agent", "split", "task", "metric", "attempt", "estimate", "lower", "upper", "seeds", "trials"]


@dataclass(frozen=True)
class Entry:
    """One leaderboard entry of a comparable group: an agent (and config) and its episodes."""

    label: str
    episodes: pd.DataFrame
    trials: pd.DataFrame
    """``scoring.trial_scores`` of ``episodes``."""


def groups(episodes: pd.DataFrame) -> list[pd.DataFrame]:
    """The comparable groups of ``episodes`` (same KEY), largest (most agents, then episodes) first."""
    if episodes.empty:
        return []
    e = episodes.copy()
    e["tasks"] = e["tasks"].fillna("")
    out = [g for _, g in e.groupby(KEY, sort=True)]
    return sorted(out, key=lambda g: (-g["agent"].nunique(), -len(g)))


def entries(group: pd.DataFrame, suite: SuiteSpec) -> list[Entry]:
    """The entries of one comparable group, labelled as the leaderboard labels them
    (:func:`amago_bench.scoring.agent_label`); one run per seed."""
    g = group.copy()
    g["agent_config"] = g["agent_config"].fillna("{}").map(scoring.pooled_config)  # seeds of one recipe: one entry
    out = []
    for (agent, cfg), e in g.groupby(["agent", "agent_config"], sort=True):
        label = scoring.agent_label(agent, cfg, g.loc[g["agent"] == agent, "agent_config"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scoring.MissingDataWarning)
            e = scoring._one_run_per_seed(e, label)
        out.append(Entry(label, e, scoring.trial_scores(e, suite)))
    return out


def group_tasks(group: pd.DataFrame, suite: SuiteSpec) -> list[str]:
    """The task list a group was evaluated on (its ``tasks`` subset, or every task of its split)."""
    tasks = group["tasks"].fillna("").iloc[0]
    return json.loads(tasks) if tasks else suite.task_names(group["split"].iloc[0])


def matrix(entry: Entry, tasks: list[str], value: str, trials_per_task: int) -> np.ndarray:
    """(R, T) per-seed, per-task mean of trial column ``value`` (``scoring.score_matrix``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scoring.MissingDataWarning)
        mat, _ = scoring.score_matrix(entry.trials, tasks, value, trials_per_task, entry.label)
    return mat


def aggregates(group: pd.DataFrame, suite: SuiteSpec, ci_seed: int, reps: int = 2000,
               score: str = "normalised") -> pd.DataFrame:
    """IQM, mean, median and optimality gap of ``score`` per entry, with 95% CIs: the
    leaderboard of each metric (``scoring.leaderboard``), stacked. One row per (metric, agent)."""
    frames = []
    for metric in scoring.METRICS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scoring.MissingDataWarning)
            board = scoring.leaderboard(group, suite, metric=metric, score=score, ci_seed=ci_seed, reps=reps)
        frames.append(board)
    return pd.concat(frames, ignore_index=True)


def _stat_interval(mat: np.ndarray, stat, rng: np.random.Generator, reps: int) -> tuple[float, float, float]:
    """``stat`` of an (R, T) matrix with a stratified-bootstrap 95% interval over seeds."""
    est = float(stat(mat))
    if mat.shape[0] < 2:
        return est, est, est
    boot = scoring.stratified_bootstrap(mat, stat, rng, reps)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return est, float(lo), float(hi)


def _coverage_stat(b: np.ndarray) -> np.ndarray:
    return np.asarray(scoring.coverage(b), dtype=float).mean(axis=-1)


def _pct_mean(b: np.ndarray) -> np.ndarray:
    return 100.0 * scoring.mean(b)


def _quantile(q: float):
    def stat(b: np.ndarray) -> np.ndarray:
        return np.percentile(np.asarray(b, dtype=float).mean(axis=-2), q, axis=-1)
    return stat


#: All-task quantities (metric name -> (trial column, statistic over (..., R, T))) per suite family.
AGGREGATE_QUANTITIES: dict[str, dict[str, tuple[str, object]]] = {
    "metaworld": {"coverage": ("success", _coverage_stat), "success_pct": ("success", _pct_mean),
                  "return": ("native_return", scoring.mean)},
    "popgym": {"normalised_pct": ("normalised", _pct_mean)},
    "babyai": {"return_mean": ("native_return", scoring.mean), "return_median": ("native_return", scoring.median),
               "return_q25": ("native_return", _quantile(25)), "return_q75": ("native_return", _quantile(75))},
}
#: Per-task quantities (metric name -> trial column) per suite family; others get "normalised".
TASK_QUANTITIES: dict[str, dict[str, str]] = {
    "metaworld": {"success_pct": "success_pct"},
    "procgen": {"return": "native_return", "normalised": "normalised"},
    "atari": {"normalised": "normalised"},
    "babyai": {"return": "native_return"},
}


def with_native(trials: pd.DataFrame, suite: SuiteSpec) -> pd.DataFrame:
    """``trials`` plus ``native_return`` (return with the task's reward_scale undone, the units
    papers report) and ``success_pct`` (100 x success)."""
    t = trials.copy()
    scale = {task.name: task.reward_scale for task in suite.tasks}
    t["native_return"] = t["return"] / t["task"].map(scale).astype(float)
    t["success_pct"] = 100.0 * t["success"]
    return t


def quantities(group: pd.DataFrame, suite: SuiteSpec, ci_seed: int, reps: int = 2000) -> pd.DataFrame:
    """The measured numbers of one comparable group that a paper could report: all-task
    quantities of the suite's family (coverage, success %, normalised %, BabyAI quantiles),
    the mean normalised score, and per-task quantities (per attempt for Procgen). One row per
    (agent, task, metric, attempt); columns QUANTITY_COLUMNS. ``task`` "" = all tasks.

    All-task intervals: stratified bootstrap over seeds; per-task intervals: bootstrap over
    the task's trials. Each draws from ``ci_rng(ci_seed, suite, split, agent, task, metric, attempt)``.
    """
    split = str(group["split"].iloc[0])
    tasks = group_tasks(group, suite)
    tpt = int(group["trials_per_task"].iloc[0])
    rows = []
    for entry in entries(group, suite):
        trials = with_native(entry.trials, suite)
        ent = Entry(entry.label, entry.episodes, trials)

        def rng(task: str, metric: str, attempt: str = "") -> np.random.Generator:
            return scoring.ci_rng(ci_seed, suite.name, split, entry.label, task, metric, attempt)

        aggs = dict(AGGREGATE_QUANTITIES.get(suite.family, {}))
        if trials["normalised"].notna().all() and all(c != "normalised" for c, _ in aggs.values()):
            aggs["normalised"] = ("normalised", scoring.mean)
        for metric, (col, stat) in aggs.items():
            if trials[col].isna().any():
                continue
            try:
                mat = matrix(ent, tasks, col, tpt)
            except scoring.ScoringError:
                continue
            est, lo, hi = _stat_interval(mat, stat, rng("", metric), reps)
            rows.append({"agent": entry.label, "split": split, "task": "", "metric": metric, "attempt": "",
                         "estimate": est, "lower": lo, "upper": hi, "seeds": mat.shape[0],
                         "trials": mat.shape[0] * len(tasks) * tpt})
        per_task = TASK_QUANTITIES.get(suite.family, {"normalised": "normalised"})
        for metric, col in per_task.items():
            for task in tasks:
                vals = trials.loc[trials["task"] == task, col].to_numpy(float)
                if vals.size == 0 or not np.isfinite(vals).all():
                    continue
                est, lo, hi = mean_ci(vals, rng(task, metric), reps)
                rows.append({"agent": entry.label, "split": split, "task": task, "metric": metric, "attempt": "",
                             "estimate": est, "lower": lo, "upper": hi,
                             "seeds": int(trials.loc[trials["task"] == task, "seed"].nunique()), "trials": int(vals.size)})
        if suite.family == "procgen":
            att = attempts(entry.episodes, suite)
            for r in att.itertuples(index=False):
                vals = att_values(entry.episodes, suite, r.task, r.attempt)
                est, lo, hi = mean_ci(vals, rng(r.task, "normalised", str(r.attempt)), reps)
                rows.append({"agent": entry.label, "split": split, "task": r.task, "metric": "normalised",
                             "attempt": str(r.attempt), "estimate": est, "lower": lo, "upper": hi,
                             "seeds": r.seeds, "trials": r.trials})
    return pd.DataFrame(rows, columns=QUANTITY_COLUMNS)


def _attempt_frame(episodes: pd.DataFrame, suite: SuiteSpec) -> pd.DataFrame:
    e = episodes.copy()
    ref = {t.name: t.reference for t in suite.tasks}
    # the suite's ends are for the k-attempt total: one attempt's share is 1/k of them
    k = suite.trial.episodes
    e["attempt"] = e["episode"].astype(int) + 1
    e["normalised"] = [ref[t].normalise(k * r) if t in ref else np.nan for t, r in zip(e["task"], e["return"])]
    return e


def att_values(episodes: pd.DataFrame, suite: SuiteSpec, task: str, attempt: int) -> np.ndarray:
    """Normalised score of each trial's attempt ``attempt`` (1-based) of ``task``: the episode
    return scaled by k (episodes per trial) and normalised with the suite's k-attempt ends."""
    e = _attempt_frame(episodes[episodes["task"] == task], suite)
    return e.loc[e["attempt"] == attempt, "normalised"].to_numpy(float)


def attempts(episodes: pd.DataFrame, suite: SuiteSpec) -> pd.DataFrame:
    """Per (task, attempt): mean normalised score of that attempt (see :func:`att_values`),
    seeds and trials. Columns: task, attempt, estimate, seeds, trials."""
    e = _attempt_frame(episodes, suite)
    g = e.groupby(["task", "attempt"], sort=False)
    out = pd.DataFrame({"estimate": g["normalised"].mean(), "seeds": g["seed"].nunique(),
                        "trials": g["normalised"].count()}).reset_index()
    order = {t: i for i, t in enumerate(suite.task_names())}
    return out.sort_values(["task", "attempt"], key=lambda s: s.map(order) if s.name == "task" else s,
                           ignore_index=True)


def task_means(group: pd.DataFrame, suite: SuiteSpec, value: str = "native_return") -> pd.DataFrame:
    """Per (agent, task): mean over seeds and trials of trial column ``value`` (the points of a
    box plot over tasks). Columns: agent, split, task, value."""
    rows = []
    split = str(group["split"].iloc[0])
    for entry in entries(group, suite):
        t = with_native(entry.trials, suite)
        for task, v in t.groupby("task", sort=False)[value].mean().items():
            rows.append({"agent": entry.label, "split": split, "task": task, "value": float(v)})
    return pd.DataFrame(rows, columns=["agent", "split", "task", "value"])


def matrices(group: pd.DataFrame, suite: SuiteSpec, value: str = "normalised") -> dict[str, np.ndarray]:
    """Entry label -> (R, T) score matrix of ``value`` over the group's tasks (entries whose
    matrix cannot be formed, e.g. NaN scores, are left out)."""
    tasks = group_tasks(group, suite)
    tpt = int(group["trials_per_task"].iloc[0])
    out = {}
    for entry in entries(group, suite):
        if entry.trials[value].isna().any():
            continue
        try:
            out[entry.label] = matrix(entry, tasks, value, tpt)
        except scoring.ScoringError:
            continue
    return out


def profiles(mats: dict[str, np.ndarray], taus: np.ndarray, ci_seed: int, suite: str, reps: int = 1000) -> pd.DataFrame:
    """Performance profile (fraction of run x task scores above tau) per agent with 95% bands
    (``scoring.performance_profile_interval``). Columns: agent, tau, estimate, lower, upper."""
    rows = []
    for agent, mat in mats.items():
        est, lo, hi = scoring.performance_profile_interval(mat, taus, scoring.ci_rng(ci_seed, suite, agent, "profile"),
                                                           reps)
        rows += [{"agent": agent, "tau": float(t), "estimate": float(a), "lower": float(b), "upper": float(c)}
                 for t, a, b, c in zip(taus, est, lo, hi)]
    return pd.DataFrame(rows, columns=["agent", "tau", "estimate", "lower", "upper"])


def improvement(mats: dict[str, np.ndarray], ci_seed: int, suite: str, reps: int = 1000) -> pd.DataFrame:
    """P(X > Y) with a 95% CI for every pair of agents (X before Y in ``mats`` order), from
    ``scoring.probability_of_improvement_interval``. Columns: x, y, estimate, lower, upper."""
    names = list(mats)
    rows = []
    for i, x in enumerate(names):
        for y in names[i + 1:]:
            iv = scoring.probability_of_improvement_interval(mats[x], mats[y],
                                                             scoring.ci_rng(ci_seed, suite, x, y, "improvement"), reps)
            rows.append({"x": x, "y": y, "estimate": iv.estimate, "lower": iv.lower, "upper": iv.upper})
    return pd.DataFrame(rows, columns=["x", "y", "estimate", "lower", "upper"])


#: Quantities a curve over training steps can show: name -> (trial column, per-seed statistic of (T,) task means).
CURVE_QUANTITIES = {
    "coverage": ("success", lambda m: float(scoring.coverage(m[None, :])[0])),
    "success_pct": ("success", lambda m: 100.0 * float(np.mean(m))),
    "normalised": ("normalised", lambda m: float(np.mean(m))),
    "normalised_pct": ("normalised", lambda m: 100.0 * float(np.mean(m))),
}


def curve(train_episodes: pd.DataFrame, suite: SuiteSpec, quantity: str) -> pd.DataFrame:
    """A quantity against env steps from the evaluations made during training: per (agent,
    env_steps), the mean over seeds of the per-seed value and the min/max over seeds.

    Per seed (one training run), the value is computed from that run's (T,) per-task means
    (coverage counts tasks with mean success >= 2/3, via ``scoring.coverage``).
    Columns: agent, env_steps, estimate, lower (min over seeds), upper (max), seeds.
    """
    col, stat = CURVE_QUANTITIES[quantity]
    e = train_episodes[train_episodes["env_steps"].notna()]
    rows = []
    for agent, g in e.groupby("agent", sort=True):
        for steps, h in g.groupby("env_steps", sort=True):
            per_seed = []
            for _, r in h.groupby("run_id", sort=True):
                t = scoring.trial_scores(r, suite)
                means = t.groupby("task")[col].mean().to_numpy(float)
                if means.size and np.isfinite(means).all():
                    per_seed.append(stat(means))
            if per_seed:
                rows.append({"agent": agent, "env_steps": int(steps), "estimate": float(np.mean(per_seed)),
                             "lower": float(np.min(per_seed)), "upper": float(np.max(per_seed)), "seeds": len(per_seed)})
    return pd.DataFrame(rows, columns=["agent", "env_steps", "estimate", "lower", "upper", "seeds"])


#: The training-budget cell of an entry evaluated without a checkpoint (random, a heuristic...).
NOT_TRAINED = "not trained"
#: The training-budget cell of a checkpoint that no amago-bench run folder holds (SB3, your own trainer...).
TRAINED_OUTSIDE = "trained outside amago-bench"


def training_budget(runs: pd.DataFrame, agent: str, agent_config: str, suite: str,
                    train_steps: dict[str, int]) -> tuple[float | None, str]:
    """(env steps, text) of the training behind an evaluated entry.

    ``runs``: ``ResultsStore.runs()``; ``train_steps``: run_id -> last evaluated env step of
    each training run. An entry without a checkpoint is "not trained"; one with a checkpoint
    is matched to the training run of the same agent and suite whose budget and seed appear in
    the checkpoint's folder name (``<agent>-<budget>-seed<N>``). A checkpoint in no such folder
    was "trained outside amago-bench"; one in such a folder whose run this database lacks says
    so, with the budget its folder names.
    """
    try:
        cfg = json.loads(agent_config or "{}")
    except json.JSONDecodeError:
        cfg = {}
    ckpt = cfg.get("checkpoint") if isinstance(cfg, dict) else None
    if not ckpt:
        return None, NOT_TRAINED
    milestone = re.match(r"checkpoint-(\d+)\.pt$", str(ckpt).replace("\\", "/").split("/")[-1])
    folder = str(ckpt).replace("\\", "/").rstrip("/").split("/")[-2] if "/" in str(ckpt) else ""
    tr = runs[(runs["kind"] == "train") & (runs["agent"] == agent) & (runs["suite"] == suite)]
    m = re.search(r"-([a-z]+)-seed(\d+)$", folder)
    if m is None:
        return None, TRAINED_OUTSIDE
    tr = tr[(tr["budget"] == m.group(1)) & (tr["seed"] == int(m.group(2)))]
    steps = [train_steps[r] for r in tr["run_id"] if r in train_steps]
    if len(steps) != 1:
        return None, f"{m.group(1)} budget (trained by amago-bench; its training run is not in this database)"
    budget = tr["budget"].iloc[0]
    if milestone:  # a checkpoint kept on the way: its milestone, not the run's end
        at = int(milestone.group(1))
        return float(at), f"{budget} budget, checkpoint at {format_steps(at)}"
    return float(steps[0]), f"{budget} budget, {format_steps(steps[0])}"
