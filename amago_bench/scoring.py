"""Scoring: from tidy episode records to per-task trial scores, normalised scores, aggregate
statistics with stratified-bootstrap confidence intervals, and leaderboards.

Pure functions over pandas/numpy; no torch, no env package. Shapes are stated in docstrings.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from amago_bench.errors import UserError
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


# ======================================================================================
# Aggregate statistics over a (runs x tasks) score array (Agarwal et al. 2021, "rliable").
#
# Every metric takes ``scores`` of shape (R, T) - R runs (seeds), T tasks - or a batch of
# shape (..., R, T) and returns a float (or an array of shape (...)). Bootstrap functions
# take an explicit ``numpy.random.Generator``; nothing here touches the global RNG.

class ScoringError(UserError, ValueError):
    """Scores cannot be aggregated as asked (unknown metric, NaN scores, no complete run...)."""


class MissingDataWarning(UserWarning):
    """Some (seed, task, trial) results are missing, so rows were left out (never silently)."""


def normalise(raw: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per-task normalisation (raw - low) / (high - low).

    Covers random/expert, human-normalised and min-max constants alike (they differ only in
    where the ends come from). ``raw``: (..., T); ``low``, ``high``: (T,). Returns (..., T);
    NaN for a task whose ends are unknown (NaN) or equal. ``low`` maps to 0, ``high`` to 1.
    """
    raw = np.asarray(raw, dtype=float)
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    span = high - low
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (raw - low) / span
    return np.where(np.isfinite(span) & (span != 0), out, np.nan)


def reference_ends(suite: SuiteSpec, tasks: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (T,), of the given tasks' reference scores; NaN where unknown."""
    lo, hi = [], []
    for name in tasks:
        ref = suite.task(name).reference
        lo.append(np.nan if ref.low is None else ref.low)
        hi.append(np.nan if ref.high is None else ref.high)
    return np.array(lo, dtype=float), np.array(hi, dtype=float)


def success_rate(success: np.ndarray) -> float:
    """Mean success over runs, tasks (and trials): ``success`` (R, T) or (R, T, J), values in [0, 1]."""
    success = _finite(success, "success")
    return float(success.mean(axis=tuple(range(1, success.ndim))).mean())


def coverage(success: np.ndarray, threshold: float = 2 / 3) -> np.ndarray:
    """Tasks whose success over a trial reaches ``threshold`` (ML45: >= 2/3 of 3 episodes).

    ``success``: (R, T) per-run, per-task success rate of a trial (the mean over a task's
    trials when there are several). Returns (R,) integer counts; average them over runs
    for one number. A tolerance of 1e-9 absorbs float rounding (4/6 counts as 2/3).
    """
    success = _finite(success, "success")
    return (success >= threshold - 1e-9).sum(axis=-1)


def mean(scores: np.ndarray) -> np.ndarray | float:
    """Mean over tasks of the per-task mean over runs. ``scores``: (..., R, T) -> (...)."""
    return np.asarray(scores, dtype=float).mean(axis=-2).mean(axis=-1)


def median(scores: np.ndarray) -> np.ndarray | float:
    """Median over tasks of the per-task mean over runs. ``scores``: (..., R, T) -> (...)."""
    return np.median(np.asarray(scores, dtype=float).mean(axis=-2), axis=-1)


def iqm(scores: np.ndarray) -> np.ndarray | float:
    """Interquartile mean: the 25%-trimmed mean over all R x T scores (scipy's trim_mean rule:
    floor(0.25 n) values cut from each end). ``scores``: (..., R, T) -> (...)."""
    s = np.asarray(scores, dtype=float)
    flat = np.sort(s.reshape(*s.shape[:-2], -1), axis=-1)
    n = flat.shape[-1]
    cut = int(0.25 * n)
    return flat[..., cut:n - cut].mean(axis=-1)


def optimality_gap(scores: np.ndarray, gamma: float = 1.0) -> np.ndarray | float:
    """How far below ``gamma`` scores fall on average: mean(max(0, gamma - score)) over R x T.
    Lower is better. ``scores``: (..., R, T) -> (...)."""
    s = np.asarray(scores, dtype=float)
    return gamma - np.minimum(s, gamma).mean(axis=(-2, -1))


#: Aggregate metrics by CLI name.
METRICS: dict[str, Callable[[np.ndarray], np.ndarray | float]] = {
    "iqm": iqm, "mean": mean, "median": median, "optimality-gap": optimality_gap,
}
#: Metrics where lower is better (ranked ascending).
LOWER_IS_BETTER = frozenset({"optimality-gap"})


def get_metric(name: str) -> Callable[[np.ndarray], np.ndarray | float]:
    if name not in METRICS:
        raise ScoringError(f"unknown metric {name!r}; valid: {', '.join(METRICS)}")
    return METRICS[name]


def _finite(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.size == 0:
        raise ScoringError(f"no {what} values to aggregate")
    if not np.all(np.isfinite(a)):
        raise ScoringError(f"{what} array has NaN/inf entries; find the tasks without a {what} value first")
    return a


@dataclass(frozen=True)
class Interval:
    """A point estimate with a (1 - alpha) confidence interval."""

    estimate: float
    lower: float
    upper: float


def stratified_bootstrap(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    reps: int = 2000,
    chunk_elems: int = 4_000_000,
) -> np.ndarray:
    """Bootstrap replicates of ``statistic``, resampling runs within each task.

    ``scores``: (R, T). ``statistic`` maps (B, R, T) -> (B,) or (B, K). For each replicate
    and each task independently, R runs are drawn with replacement (the stratification
    keeps every task in every replicate). Returns (reps,) or (reps, K).
    """
    s = _finite(scores, "score")
    if s.ndim != 2:
        raise ValueError(f"scores must be (runs, tasks), got shape {s.shape}")
    r, t = s.shape
    cols = np.arange(t)
    out = []
    per = max(1, chunk_elems // max(1, r * t))
    done = 0
    while done < reps:
        b = min(per, reps - done)
        idx = rng.integers(0, r, size=(b, r, t))
        out.append(np.asarray(statistic(s[idx, cols])))
        done += b
    return np.concatenate(out, axis=0)


def stable_hash(*key: object) -> int:
    """A 64-bit integer from ``key``'s text (sha256): the same in every process and Python
    version, unlike :func:`hash`."""
    import hashlib

    text = "\x1f".join(str(k) for k in key)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def ci_rng(seed: int, *key: object) -> np.random.Generator:
    """The bootstrap Generator of one interval: a pure function of ``seed`` and ``key`` (e.g.
    suite, group, agent, metric), so an interval depends only on its own data and the seed,
    never on which other agents or metrics were computed before it."""
    if int(seed) < 0:
        raise ScoringError(f"the bootstrap seed must be >= 0, got {seed}; pass --ci-seed 0 or another non-negative int")
    return np.random.default_rng([int(seed), stable_hash(*key)])


def _percentiles(boot: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.percentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return lo, hi


def interval_estimate(
    scores: np.ndarray, metric: str, rng: np.random.Generator, reps: int = 2000, alpha: float = 0.05,
) -> Interval:
    """Point estimate of ``metric`` on ``scores`` (R, T) and its stratified-bootstrap
    percentile (1 - alpha) interval."""
    fn = get_metric(metric)
    s = _finite(scores, "score")
    est = float(fn(s))
    lo, hi = _percentiles(stratified_bootstrap(s, fn, rng, reps), alpha)
    return Interval(est, float(lo), float(hi))


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray | float:
    """P(X > Y): the mean over tasks of P(x_run > y_run) + 0.5 P(x_run == y_run)
    (the Mann-Whitney U statistic over n_x n_y). ``x``: (..., Rx, T), ``y``: (..., Ry, T)
    with the same T -> (...)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape[-1] != y.shape[-1]:
        raise ScoringError(f"probability of improvement needs the same tasks: {x.shape[-1]} vs {y.shape[-1]}")
    gt = x[..., :, None, :] > y[..., None, :, :]
    eq = x[..., :, None, :] == y[..., None, :, :]
    per_task = (gt + 0.5 * eq).mean(axis=(-3, -2))
    return per_task.mean(axis=-1)


def probability_of_improvement_interval(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, reps: int = 2000, alpha: float = 0.05,
) -> Interval:
    """P(X > Y) with a CI from stratified bootstraps of X (Rx, T) and Y (Ry, T), drawn independently."""
    x = _finite(x, "score")
    y = _finite(y, "score")
    est = float(probability_of_improvement(x, y))
    t = x.shape[1]
    cols = np.arange(t)
    vals = []
    per = max(1, 2_000_000 // max(1, x.shape[0] * y.shape[0] * t))
    done = 0
    while done < reps:
        b = min(per, reps - done)
        bx = x[rng.integers(0, x.shape[0], size=(b, x.shape[0], t)), cols]
        by = y[rng.integers(0, y.shape[0], size=(b, y.shape[0], t)), cols]
        vals.append(probability_of_improvement(bx, by))
        done += b
    lo, hi = _percentiles(np.concatenate(vals), alpha)
    return Interval(est, float(lo), float(hi))


def performance_profile(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Score distribution: fraction of all run x task scores above each threshold.
    ``scores``: (..., R, T); ``taus``: (K,) -> (..., K), non-increasing in tau."""
    s = np.asarray(scores, dtype=float)
    taus = np.asarray(taus, dtype=float)
    return (s[..., None] > taus).mean(axis=(-3, -2))


def performance_profile_interval(
    scores: np.ndarray, taus: np.ndarray, rng: np.random.Generator, reps: int = 2000, alpha: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(profile, lower, upper), each (K,), for ``scores`` (R, T) at thresholds ``taus`` (K,)."""
    s = _finite(scores, "score")
    boot = stratified_bootstrap(s, lambda b: performance_profile(b, taus), rng, reps,
                                chunk_elems=max(1, 4_000_000 // max(1, len(np.atleast_1d(taus)))))
    lo, hi = _percentiles(boot, alpha)
    return performance_profile(s, taus), lo, hi


# ======================================================================================
# From tidy records to (seeds x tasks) arrays and a leaderboard.

#: Trial-score columns a leaderboard can rank on.
SCORE_KINDS = ("normalised", "success", "score")


def score_matrix(
    trials: pd.DataFrame,
    tasks: Sequence[str],
    value: str = "normalised",
    trials_per_task: int | None = None,
    label: str = "",
) -> tuple[np.ndarray, list]:
    """(seeds x tasks) array of per-task means over trials of column ``value``.

    ``trials``: output of :func:`trial_scores` (one row per seed, task, trial). A seed that
    lacks any task, or has fewer than ``trials_per_task`` trials of a task, is left out with
    a :class:`MissingDataWarning` naming what is missing (never a silent shift of the
    average). Returns (matrix (R, T), seeds (R,)). Raises ScoringError when no seed is complete.
    """
    if value not in trials.columns:
        raise ScoringError(f"unknown score column {value!r}; valid: {', '.join(SCORE_KINDS)}")
    tasks = list(tasks)
    counts = trials.groupby(["seed", "task"]).size()
    means = trials.groupby(["seed", "task"])[value].mean()
    rows, seeds = [], []
    where = f"{label}: " if label else ""
    for seed in sorted(trials["seed"].unique()):
        missing = []
        for task in tasks:
            n = int(counts.get((seed, task), 0))
            need = trials_per_task or 1
            if n < need:
                missing.append(f"{task} ({n}/{need} trials)")
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            warnings.warn(f"{where}seed {seed} left out: missing {shown}; re-run its evaluate command to complete it",
                          MissingDataWarning, stacklevel=2)
            continue
        rows.append([float(means[(seed, task)]) for task in tasks])
        seeds.append(seed)
    extra = sorted(set(trials["task"]) - set(tasks))
    if extra:
        warnings.warn(f"{where}ignoring results of task(s) outside the compared set: {', '.join(extra)}",
                      MissingDataWarning, stacklevel=2)
    if not rows:
        raise ScoringError(f"{where}no seed has results for every task; finish a run first")
    return np.array(rows, dtype=float), seeds


def leaderboard(
    episodes: pd.DataFrame,
    suite: SuiteSpec,
    metric: str = "iqm",
    score: str = "normalised",
    rng: np.random.Generator | None = None,
    reps: int = 2000,
    alpha: float = 0.05,
    ci_seed: int | None = None,
) -> pd.DataFrame:
    """Rank agents on ``suite`` by ``metric`` over per-(seed, task) scores, by comparable group.

    ``episodes``: one row per episode with run columns (as ``ResultsStore.episodes``): at
    least run_id, agent, agent_config, seed, suite_hash, split, trial_protocol, backend,
    trials_per_task, tasks. Runs are ranked together only when their comparability key
    (suite_hash, split, trial_protocol, backend, trials_per_task, tasks) agrees; each key
    is one ``group`` (ranks restart per group). An entry is an agent name plus its config;
    one seed is one run. Returns one row per (group, entry): group, rank, agent, config,
    estimate, lower, upper, seeds, trials, tasks, run_ids, plus the key columns.

    Each entry's interval draws from its own Generator, ``ci_rng(ci_seed, key, entry, metric,
    score)``, so it depends only on that entry's episodes and the seed: adding or removing
    another agent never changes it. ``rng`` (older callers) only supplies ``ci_seed`` (one
    draw) when ``ci_seed`` is None; with neither, the seed is 0.
    """
    get_metric(metric)
    if score not in SCORE_KINDS:
        raise ScoringError(f"unknown score {score!r}; valid: {', '.join(SCORE_KINDS)}")
    if ci_seed is None:
        ci_seed = int(rng.integers(0, 2**63)) if rng is not None else 0
    key_cols = ["suite_hash", "split", "trial_protocol", "backend", "trials_per_task", "tasks"]
    df = episodes.copy()
    df["tasks"] = df["tasks"].fillna("")
    df["agent_config"] = df["agent_config"].fillna("{}").map(pooled_config)  # seeds of one recipe: one entry
    out_rows = []
    for gi, (key, g) in enumerate(df.groupby(key_cols, sort=True)):
        kd = dict(zip(key_cols, key))
        split = kd["split"]
        task_list = json.loads(kd["tasks"]) if kd["tasks"] else suite.task_names(split)
        unknown = [t for t in task_list if t not in suite.task_names()]
        if unknown:
            raise ScoringError(f"results name task(s) {unknown} that suite {suite.name!r} does not have; "
                               "they were recorded with another version of the suite file")
        group_rows = []
        for (agent, cfg), e in g.groupby(["agent", "agent_config"], sort=True):
            label = agent_label(agent, cfg, g.loc[g["agent"] == agent, "agent_config"])
            e = _one_run_per_seed(e, label)
            ts = trial_scores(e, suite)
            if score == "normalised" and ts["normalised"].isna().any():
                bad = sorted(set(ts.loc[ts["normalised"].isna(), "task"]))
                raise ScoringError(
                    f"suite {suite.name!r}: task(s) {', '.join(bad[:6])}{' ...' if len(bad) > 6 else ''} have no "
                    f"normalisation ends, so normalised scores are NaN; measure them with "
                    f"`amago-bench calibrate --suite {suite.name}` or rank with --score success|score")
            if score == "success" and ts["success"].isna().any():
                raise ScoringError(f"suite {suite.name!r} has no success signal for some tasks; rank with --score normalised|score")
            mat, seeds = score_matrix(ts, task_list, score, int(kd["trials_per_task"]), label)
            iv = interval_estimate(mat, metric, ci_rng(ci_seed, suite.name, *key, agent, cfg, metric, score),
                                   reps, alpha)
            group_rows.append({
                "agent": label, "config": cfg, "estimate": iv.estimate, "lower": iv.lower, "upper": iv.upper,
                "seeds": len(seeds), "trials": int(len(seeds) * len(task_list) * int(kd["trials_per_task"])),
                "tasks": len(task_list),
                "run_ids": ",".join(sorted(e.loc[e["seed"].isin(seeds), "run_id"].unique())),
            })
        group_rows.sort(key=lambda r: r["estimate"], reverse=metric not in LOWER_IS_BETTER)
        for rank, row in enumerate(group_rows, 1):
            out_rows.append({"group": gi + 1, "rank": rank, **row, "metric": metric, "score": score,
                             **{f"key_{k}": v for k, v in kd.items()}})
    return pd.DataFrame(out_rows)


_SEED_FOLDER = re.compile(r"^(?P<recipe>.+)-seed\d+$")
_MILESTONE_FILE = re.compile(r"^checkpoint-(?P<steps>\d+)\.pt$")


def pooled_config(config: str) -> str:
    """The config an entry is pooled by, so that one agent identity is one entry.

    For a checkpoint trained by the harness (run folder ``<agent>-<budget>-seed<N>``): the training
    recipe and the checkpoint file instead of the seed's own path and hash, so the seeds of one
    recipe form one entry (one run per seed) and a milestone checkpoint (``checkpoint-<steps>.pt``)
    its own. Any other checkpoint is its content: its hash without its path, so the same file in
    two places is one entry and two files in one folder are two. Other configs are unchanged."""
    try:
        c = json.loads(config or "{}")
    except ValueError:
        return config
    ck = c.get("checkpoint") if isinstance(c, dict) else None
    if not ck:
        return config
    parts = str(ck).replace("\\", "/").rstrip("/").split("/")
    m = _SEED_FOLDER.match(parts[-2]) if len(parts) > 1 else None
    if m is None:
        if not c.get("checkpoint_sha256"):
            return config
        c = {k: v for k, v in c.items() if k != "checkpoint"}
    else:
        c = {k: v for k, v in c.items() if k not in ("checkpoint", "checkpoint_sha256")}
        c["trained"] = f"{m.group('recipe')}/{parts[-1]}"
    return json.dumps(c, sort_keys=True)


def _config_tags(config: str) -> dict[str, str]:
    """What identifies a config, in words, keyed by what each word is about (in display order)."""
    c = json.loads(config or "{}")
    tags = {}
    if c.get("version") is not None:
        tags["version"] = f"v{c['version']}"
    if c.get("trained"):  # a pooled recipe: amago2-paper, and the milestone if it is one
        recipe, _, file = str(c["trained"]).partition("/")
        m = _MILESTONE_FILE.match(file)
        tags["trained"] = recipe + (f", {format_steps(int(m.group('steps')))}" if m else "")
    if c.get("checkpoint_sha256"):  # a checkpoint from elsewhere: its content, shown short
        tags["checkpoint"] = f"checkpoint {str(c['checkpoint_sha256'])[:8]}"
    elif c.get("checkpoint"):
        ck = c["checkpoint"].replace("\\", "/").rstrip("/").split("/")
        tags["checkpoint"] = ck[-2] if len(ck) > 1 else ck[-1]  # the run folder
    if c.get("code"):
        tags["code"] = f"code {str(c['code'])[:8]}"
    if c.get("ref"):
        tags["ref"] = str(c["ref"])
    return tags


def format_steps(steps: float | None) -> str:
    """10240 -> '10.2k steps'; 1e8 -> '100M steps'; None -> 'budget not stated'."""
    if steps is None or steps != steps:
        return "budget not stated"
    s = float(steps)
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if s >= div:
            return f"{s / div:.3g}{unit} steps"
    return f"{int(s)} steps"


def agent_label(agent: str, config: str, configs: Sequence[str]) -> str:
    """The name a table shows for ``agent`` run with ``config`` (JSON text), given every config
    the same agent name has in the table: the bare name when there is one, else the name plus,
    in words, only what differs between them (version, training recipe, checkpoint content
    hash, code hash, reference), with the config hash added only when those words do not tell
    this config apart."""
    distinct = sorted(set(configs))
    if len(distinct) <= 1:
        return agent
    every = {c: _config_tags(c) for c in distinct}
    keys = [k for k in ("version", "trained", "checkpoint", "code", "ref")
            if len({every[c].get(k) for c in distinct}) > 1]
    words = {c: ", ".join(every[c][k] for k in keys if k in every[c]) for c in distinct}
    tag = words[config]
    if not tag or list(words.values()).count(tag) > 1:
        tag = f"{tag}, config {_short_hash(config)}" if tag else f"config {_short_hash(config)}"
    return f"{agent} ({tag})"


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _one_run_per_seed(e: pd.DataFrame, label: str) -> pd.DataFrame:
    """Keep one run per seed (the one with the most episodes; a run is one sample)."""
    per = e.groupby(["seed", "run_id"]).size().reset_index(name="n")
    dup = per[per.duplicated("seed", keep=False)]
    if dup.empty:
        return e
    keep = per.sort_values(["seed", "n", "run_id"], ascending=[True, False, True]).drop_duplicates("seed")
    dropped = sorted(set(dup["run_id"]) - set(keep["run_id"]))
    warnings.warn(f"{label}: several evaluation runs share a seed (the same agent evaluated again, e.g. with other --num-envs or from another path); counting one per seed, "
                  f"leaving out run(s) {', '.join(dropped)}", MissingDataWarning, stacklevel=2)
    return e[e["run_id"].isin(keep["run_id"])]
