"""The scale study's report: normalised score per task (one task per reward scale on scale-probe)
per agent, with a mean and a 95% bootstrap interval over TRAINING seeds (each seed's score is the
mean over its evaluation trials), as a table (Markdown, CSV) and a figure (PNG, SVG).

Input: the evaluation runs that :func:`amago_bench.matrix.run` stored for a study's jobs; a job's
run is found by its checkpoint's path in the run's agent config (random: by agent and seed).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from amago_bench.scoring import ci_rng, iqm, stratified_bootstrap, task_summary
from amago_bench.suite import get_suite


def seed_scores(cfg: Any) -> pd.DataFrame:
    """Tidy rows (suite, agent, seed, task, normalised, trials) for every job of ``cfg`` (a
    :class:`amago_bench.matrix.MatrixConfig`) whose evaluation is stored."""
    from amago_bench.matrix import checkpoint_of, plan
    from amago_bench.store import ResultsStore

    full = dataclasses.replace(cfg, shard=(0, 1))  # every job, whichever shard stored it
    rows = []
    with ResultsStore(cfg.db, create=False) as store:
        for suite in cfg.suites:
            spec = get_suite(suite)
            runs = store.runs(suite=suite)
            runs = runs[(runs["kind"] == "evaluate") & (runs["split"] == cfg.eval_split)]
            for job in [j for j in plan(full) if j.suite == suite]:
                if job.trained:
                    ck = str(checkpoint_of(job, full).resolve())
                    match = runs[[json.loads(c or "{}").get("checkpoint") == ck for c in runs["agent_config"]]]
                else:
                    match = runs[(runs["agent"] == job.agent)]
                match = match[(match["seed"] == job.seed) & (match["trials_per_task"] == cfg.eval_trials_per_task)]
                if match.empty:
                    continue
                eps = store.episodes(run_ids=[match["run_id"].iloc[-1]])
                for task, r in task_summary(eps, spec).iterrows():
                    rows.append({"suite": suite, "agent": job.agent, "seed": job.seed, "task": task,
                                 "normalised": float(r["normalised"]), "trials": int(r["trials"])})
    return pd.DataFrame(rows, columns=["suite", "agent", "seed", "task", "normalised", "trials"])


def training_costs(cfg: Any) -> pd.DataFrame:
    """Per trained job: env steps and training wall seconds (from the run's progress.json)."""
    from amago_bench.matrix import checkpoint_of, plan
    from amago_bench.train import PROGRESS_NAME

    full = dataclasses.replace(cfg, shard=(0, 1))
    rows = []
    for job in plan(full):
        if not job.trained:
            continue
        p = checkpoint_of(job, full).parent / PROGRESS_NAME
        try:
            doc = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        rows.append({"suite": job.suite, "agent": job.agent, "seed": job.seed, "env_steps": doc["env_steps"],
                     "wall_s": doc["wall_s"]})
    return pd.DataFrame(rows, columns=["suite", "agent", "seed", "env_steps", "wall_s"])


def summarise(scores: pd.DataFrame, ci_seed: int = 0, reps: int = 2000) -> pd.DataFrame:
    """Per (suite, agent, task): mean over training seeds, 95% percentile-bootstrap interval over
    seeds (a Generator per cell from the seed and the cell's key), min and max, seed count."""
    out = []
    for (suite, agent, task), g in scores.groupby(["suite", "agent", "task"], sort=False):
        v = g.sort_values("seed")["normalised"].to_numpy(float)
        if v.size > 1:
            boot = stratified_bootstrap(v[:, None], lambda x: x.mean(axis=(1, 2)), ci_rng(ci_seed, suite, agent, task), reps)
            lo, hi = np.percentile(boot, [2.5, 97.5])
        else:
            lo = hi = float(v[0])
        out.append({"suite": suite, "agent": agent, "task": task, "mean": float(v.mean()), "ci_low": float(lo),
                    "ci_high": float(hi), "min": float(v.min()), "max": float(v.max()), "seeds": int(v.size),
                    "trials_per_seed": int(g["trials"].min())})
    return pd.DataFrame(out)


def aggregate(scores: pd.DataFrame, ci_seed: int = 0, reps: int = 2000) -> pd.DataFrame:
    """Per (suite, agent) over all its tasks: the IQM of the (training seeds x tasks) scores with a
    95% stratified percentile-bootstrap interval (seeds resampled within each task, as rliable), and
    the mean. Only where every task has the same training seeds, at least 2 of them, and the suite
    has at least 2 tasks."""
    out = []
    for (suite, agent), g in scores.groupby(["suite", "agent"], sort=False):
        m = g.pivot(index="seed", columns="task", values="normalised")
        if m.shape[1] < 2 or m.shape[0] < 2 or m.isna().any().any():
            continue
        v = m.to_numpy(float)  # (R seeds, T tasks)
        boot = stratified_bootstrap(v, iqm, ci_rng(ci_seed, suite, agent, "iqm"), reps)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        out.append({"suite": suite, "agent": agent, "iqm": float(iqm(v)), "ci_low": float(lo), "ci_high": float(hi),
                    "mean": float(v.mean()), "seeds": int(v.shape[0]), "tasks": int(v.shape[1])})
    return pd.DataFrame(out, columns=["suite", "agent", "iqm", "ci_low", "ci_high", "mean", "seeds", "tasks"])


def plot(summary: pd.DataFrame, scores: pd.DataFrame, suite: str, ax=None):
    """Grouped bars: tasks on x, one bar per agent at its seed mean with the bootstrap interval,
    each training seed's score as a dot. Returns the axes."""
    from amago_bench.report.figures import colours, new_ax

    ax = ax or new_ax()
    s = summary[summary["suite"] == suite]
    tasks = list(dict.fromkeys(s["task"]))
    agents = list(dict.fromkeys(s["agent"]))
    col = colours(agents)
    width = 0.8 / max(1, len(agents))
    for k, agent in enumerate(agents):
        a = s[s["agent"] == agent].set_index("task").reindex(tasks)
        x = np.arange(len(tasks)) + (k - (len(agents) - 1) / 2) * width
        one = int(a["seeds"].max()) < 2  # one seed: no interval (n/a), not a zero-width one
        ax.bar(x, a["mean"], width * 0.9, color=col[agent],
               label=f"{agent} ({int(a['seeds'].max())} seed{'s' if not one else ', CI n/a'})",
               yerr=None if one else [a["mean"] - a["ci_low"], a["ci_high"] - a["mean"]], capsize=3, ecolor="0.2")
        pts = scores[(scores["suite"] == suite) & (scores["agent"] == agent)]
        for j, task in enumerate(tasks):
            v = pts[pts["task"] == task]["normalised"]
            ax.scatter(np.full(len(v), x[j]), v, s=10, color="black", zorder=3)
    ax.set_xticks(np.arange(len(tasks)), tasks)
    ax.set_ylabel("normalised score\n(seed mean, 95% CI)")
    ax.set_xlabel("task (reward scale)" if suite == "scale-probe" else "task")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.axhline(1, color="0.5", lw=0.8, ls="--")
    ax.legend(fontsize=8)
    return ax


def write_scale_study(cfg: Any, out: str | Path, command: str) -> list[str]:
    """Table (md, csv) and figure (png, svg) of the study into ``out``; returns the paths written."""
    from amago_bench.report.figures import save
    from amago_bench.store import git_state

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scores = seed_scores(cfg)
    if scores.empty:
        raise ValueError("no evaluation of the study's jobs is stored yet; run the study first")
    summary = summarise(scores)
    across = aggregate(scores)
    written = []
    scores.to_csv(out / "seed_scores.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    written += [str(out / "seed_scores.csv"), str(out / "summary.csv")]
    if not across.empty:
        across.to_csv(out / "aggregate.csv", index=False)
        written.append(str(out / "aggregate.csv"))
    commit, dirty = git_state()
    prov = (f"{command} | git {str(commit)[:10]}{' (dirty)' if dirty else ''} | budget {cfg.budget} | "
            f"training seeds {list(cfg.seeds)} | {cfg.eval_trials_per_task} eval trials per task per seed | "
            f"CI: percentile bootstrap over training seeds, numpy Generator per cell from seed 0")
    title = "Scale study" if tuple(cfg.suites) == ("scale-probe",) else f"Study: {', '.join(cfg.suites)}"
    lines = [f"# {title} ({cfg.budget} budget)", "", f"Made by `{command}`.", "",
             "Normalised score per task, mean over training seeds with a 95% percentile-bootstrap interval "
             "over seeds and the seed min-max. Each seed's score is the mean over its evaluation trials.", ""]
    for suite in cfg.suites:
        s = summary[summary["suite"] == suite]
        if s.empty:
            continue
        lines += [f"## {suite}", "", "| agent | task | mean | 95% CI | min - max | seeds | trials/seed |",
                  "|---|---|---:|---|---|---:|---:|"]
        for r in s.itertuples():
            ci = f"[{r.ci_low:.3f}, {r.ci_high:.3f}]" if r.seeds > 1 else "n/a (1 seed)"
            lines.append(f"| {r.agent} | {r.task} | {r.mean:.3f} | {ci} | "
                         f"{r.min:.3f} - {r.max:.3f} | {r.seeds} | {r.trials_per_seed} |")
        means = s.groupby("agent", sort=False)["mean"].agg(["mean", "min", "max"])
        lines += ["", "Across tasks (mean of the seed means; worst and best task):", ""]
        lines += [f"- {a}: {m['mean']:.3f} (worst {m['min']:.3f}, best {m['max']:.3f})" for a, m in means.iterrows()]
        lines.append("")
        agg = across[across["suite"] == suite]
        if not agg.empty:
            lines += ["IQM over every (training seed, task) score, with a 95% stratified bootstrap interval "
                      "(seeds resampled within each task, 2,000 replicates):", "",
                      "| agent | IQM | 95% CI | mean | seeds x tasks |", "|---|---:|---|---:|---|"]
            lines += [f"| {r.agent} | {r.iqm:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.mean:.3f} | {r.seeds} x {r.tasks} |"
                      for r in agg.itertuples()]
            lines.append("")
        ax = plot(summary, scores, suite)
        written += save(ax, out / f"scale_{suite}", f"{'Scale study' if suite == 'scale-probe' else 'Study'}: {suite}", prov)
        lines += [f"![{suite}](scale_{suite}.png)", ""]
    costs = training_costs(cfg)
    if not costs.empty:
        costs.to_csv(out / "training_costs.csv", index=False)
        written.append(str(out / "training_costs.csv"))
        lines += ["## Training cost", "", "Env steps and training wall seconds per run (evaluations included), "
                  "from each run's `progress.json` (the machine: `run.json`).", "",
                  "| suite | agent | seeds | env steps per run | wall s per run (min - max) |", "|---|---|---:|---:|---|"]
        for (suite, agent), g in costs.groupby(["suite", "agent"], sort=False):
            lines.append(f"| {suite} | {agent} | {len(g)} | {int(g['env_steps'].max()):,} | "
                         f"{g['wall_s'].min():.0f} - {g['wall_s'].max():.0f} |")
        lines.append("")
    (out / "README.md").write_text("\n".join(lines))
    written.append(str(out / "README.md"))
    return written
