"""Figures. Each plot function takes tidy data and an optional ``ax``, returns the ax, uses a
colour-blind-safe palette (Okabe-Ito) and touches no global matplotlib state.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def new_ax(width: float = 7.0, height: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    return fig.add_subplot(1, 1, 1)


def colours(agents: Sequence[str]) -> dict[str, str]:
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(agents)}


def plot_task_scores(df: pd.DataFrame, ax=None, ylabel: str = "normalised score", reported: pd.DataFrame | None = None,
                     unit_lines: bool = True):
    """Grouped bars: one group per task, one bar per agent, with 95% CI whiskers.

    ``df`` columns: agent, task, estimate, lower, upper (one row per agent x task).
    ``reported`` (optional) columns: agent, task, value, label - the paper's numbers, drawn as
    labelled markers over the bar of the same agent (or beside the group for another method).
    """
    ax = ax if ax is not None else new_ax(max(6.0, 0.45 * df["task"].nunique() * max(1, df["agent"].nunique())), 4.2)
    tasks = list(dict.fromkeys(df["task"]))
    agents = list(dict.fromkeys(df["agent"]))
    col = colours(agents)
    width = 0.8 / max(1, len(agents))
    x = np.arange(len(tasks))
    for i, agent in enumerate(agents):
        d = df[df["agent"] == agent].set_index("task").reindex(tasks)
        est = d["estimate"].to_numpy(float)
        err = np.vstack([est - d["lower"].to_numpy(float), d["upper"].to_numpy(float) - est])
        ax.bar(x + (i - (len(agents) - 1) / 2) * width, est, width, yerr=np.nan_to_num(err), capsize=2,
               color=col[agent], label=agent, edgecolor="none")
    if reported is not None and not reported.empty:
        _reported_on_groups(ax, reported, tasks, agents, width, col)
    ax.axhline(0.0, color="0.4", lw=0.8)
    if unit_lines:
        ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
    ax.set_xticks(x)
    ax.set_xticklabels(tasks, rotation=45 if len(tasks) > 4 else 0, ha="right" if len(tasks) > 4 else "center",
                       fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False, ncol=min(4, len(agents)), loc="best")
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_aggregate(df: pd.DataFrame, ax=None, xlabel: str = "IQM of normalised score"):
    """Horizontal interval plot: one row per agent, point estimate and 95% CI.

    ``df`` columns: agent, estimate, lower, upper.
    """
    ax = ax if ax is not None else new_ax(6.0, 1.8 + 0.45 * len(df))
    agents = list(df["agent"])
    col = colours(agents)
    for i, row in enumerate(df.itertuples(index=False)):
        ax.plot([row.lower, row.upper], [i, i], color=col[row.agent], lw=6, alpha=0.5, solid_capstyle="butt")
        ax.plot([row.estimate], [i], "|", color=col[row.agent], ms=14, mew=2)
    ax.set_yticks(range(len(agents)))
    ax.set_yticklabels(agents)
    ax.set_ylim(-0.6, len(agents) - 0.4)
    ax.set_xlabel(xlabel)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return ax


def plot_learning_curve(df: pd.DataFrame, ax=None, ylabel: str = "normalised score (test)"):
    """Score against environment steps, one line per (agent, task) with a shaded 95% band.

    ``df`` columns: label, env_steps, estimate, lower, upper.
    """
    ax = ax if ax is not None else new_ax(6.5, 4.0)
    labels = list(dict.fromkeys(df["label"]))
    col = colours(labels)
    for label in labels:
        d = df[df["label"] == label].sort_values("env_steps")
        ax.plot(d["env_steps"], d["estimate"], marker="o", ms=3, color=col[label], label=label)
        ax.fill_between(d["env_steps"], d["lower"], d["upper"], color=col[label], alpha=0.2, lw=0)
    ax.axhline(0.0, color="0.4", lw=0.8)
    ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def save(ax, path, title: str, provenance: str, formats: Sequence[str] = ("png", "svg")) -> list[str]:
    """Write the ax's figure as PNG and/or SVG with a title and a provenance footer; returns paths."""
    from pathlib import Path

    fig = ax.figure
    ax.set_title(title, fontsize=10)
    fig.text(0.01, 0.005, provenance, fontsize=6, color="0.35", ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    out = []
    for ext in formats:
        p = Path(path).with_suffix(f".{ext}")
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, metadata={"Title": title, "Description": provenance} if ext == "png" else None)
        out.append(str(p))
    return out


# --------------------------------------------------------------------------------------
# The paper's figures. Reported numbers are drawn as black-edged diamonds with their label
# ("Ind/Ind reported, 100M steps [D]"), never mixed into the measured data.

REPORTED_MARKER = dict(marker="D", ms=6, mec="black", mew=0.8, ls="none")


def _reported_on_groups(ax, reported: pd.DataFrame, tasks: list, agents: list, width: float, col: dict) -> None:
    others = [a for a in dict.fromkeys(reported["agent"]) if a not in agents]
    for r in reported.itertuples(index=False):
        if r.task not in tasks:
            continue
        x0 = tasks.index(r.task)
        if r.agent in agents:
            x = x0 + (agents.index(r.agent) - (len(agents) - 1) / 2) * width
            c = col[r.agent]
        else:
            x = x0 + 0.4 + 0.08 * others.index(r.agent)
            c = PALETTE[(len(agents) + others.index(r.agent)) % len(PALETTE)]
        ax.plot([x], [r.value], color=c, **REPORTED_MARKER)
    for lab in dict.fromkeys(reported["label"]):
        agent = reported.loc[reported["label"] == lab, "agent"].iloc[0]
        c = col.get(agent) or PALETTE[(len(agents) + others.index(agent)) % len(PALETTE)]
        ax.plot([], [], color=c, label=lab, **REPORTED_MARKER)


def plot_curve_band(df: pd.DataFrame, ax=None, ylabel: str = "", reported: pd.DataFrame | None = None):
    """A quantity against env steps, one line per agent with a min/max band over seeds.

    ``df`` columns: agent, env_steps, estimate, lower, upper. ``reported`` (optional) columns:
    agent, env_steps, value, label: drawn as labelled diamonds; the x axis turns logarithmic
    when they lie far beyond the measured steps.
    """
    ax = ax if ax is not None else new_ax(6.5, 4.0)
    agents = list(dict.fromkeys(list(df["agent"]) + (list(reported["agent"]) if reported is not None else [])))
    col = colours(agents)
    for agent in dict.fromkeys(df["agent"]):
        d = df[df["agent"] == agent].sort_values("env_steps")
        ax.plot(d["env_steps"], d["estimate"], marker="o", ms=3, color=col[agent], label=f"{agent} (measured)")
        ax.fill_between(d["env_steps"], d["lower"], d["upper"], color=col[agent], alpha=0.2, lw=0)
    if reported is not None and not reported.empty:
        for r in reported.itertuples(index=False):
            ax.plot([r.env_steps], [r.value], color=col[r.agent], label=r.label, **REPORTED_MARKER)
        lo = min([s for s in df["env_steps"]] + list(reported["env_steps"])) if len(df) else reported["env_steps"].min()
        hi = max(list(df["env_steps"]) + list(reported["env_steps"]))
        if lo > 0 and hi / lo > 100:
            ax.set_xscale("log")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, frameon=False, loc="best")
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_heatmap(df: pd.DataFrame, ax=None, label: str = "success %", vmax: float | None = 100.0):
    """Tasks x agents heatmap of ``df`` (columns agent, task, value), values written in cells."""
    tasks = list(dict.fromkeys(df["task"]))
    agents = list(dict.fromkeys(df["agent"]))
    ax = ax if ax is not None else new_ax(2.5 + 1.1 * len(agents), 1.5 + 0.22 * len(tasks))
    grid = df.pivot_table(index="task", columns="agent", values="value", aggfunc="first").reindex(index=tasks,
                                                                                                    columns=agents)
    vals = grid.to_numpy(float)
    im = ax.imshow(vals, aspect="auto", cmap="viridis", vmin=0.0, vmax=vmax if vmax is not None else np.nanmax(vals))
    for i in range(len(tasks)):
        for j in range(len(agents)):
            v = vals[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if v < 0.6 * (vmax or np.nanmax(vals)) else "black")
    ax.set_xticks(range(len(agents)))
    ax.set_xticklabels(agents, fontsize=8)
    ax.set_yticks(range(len(tasks)))
    ax.set_yticklabels(tasks, fontsize=6)
    ax.figure.colorbar(im, ax=ax, label=label, shrink=0.8)
    return ax


def plot_attempts(df: pd.DataFrame, ax=None, ylabel: str = "normalised score", reported: pd.DataFrame | None = None):
    """Per game, attempt 1 and attempt 2 side by side (light and dark bars of each agent).

    ``df`` columns: agent, task, attempt, estimate, lower, upper. ``reported`` (optional):
    agent, task, attempt, value, label - labelled diamonds over the matching bar.
    """
    tasks = list(dict.fromkeys(df["task"]))
    agents = list(dict.fromkeys(df["agent"]))
    atts = sorted(df["attempt"].astype(int).unique())
    ax = ax if ax is not None else new_ax(max(6.0, 0.5 * len(tasks) * len(agents) * len(atts)), 4.2)
    col = colours(agents)
    n = len(agents) * len(atts)
    width = 0.8 / max(1, n)
    x = np.arange(len(tasks))
    pos = {}
    for i, agent in enumerate(agents):
        for j, att in enumerate(atts):
            k = i * len(atts) + j
            off = (k - (n - 1) / 2) * width
            pos[(agent, att)] = off
            d = df[(df["agent"] == agent) & (df["attempt"].astype(int) == att)].set_index("task").reindex(tasks)
            est = d["estimate"].to_numpy(float)
            err = np.vstack([est - d["lower"].to_numpy(float), d["upper"].to_numpy(float) - est])
            ax.bar(x + off, est, width, yerr=np.nan_to_num(err), capsize=2, color=col[agent],
                   alpha=0.45 if j == 0 else 1.0, label=f"{agent}, attempt {att}", edgecolor="none")
    if reported is not None and not reported.empty:
        for r in reported.itertuples(index=False):
            if r.task in tasks and (r.agent, int(r.attempt)) in pos:
                ax.plot([tasks.index(r.task) + pos[(r.agent, int(r.attempt))]], [r.value], color=col[r.agent],
                        **REPORTED_MARKER)
        for lab in dict.fromkeys(reported["label"]):
            agent = reported.loc[reported["label"] == lab, "agent"].iloc[0]
            ax.plot([], [], color=col.get(agent, PALETTE[-1]), label=lab, **REPORTED_MARKER)
    ax.axhline(0.0, color="0.4", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(tasks, rotation=45 if len(tasks) > 4 else 0, ha="right" if len(tasks) > 4 else "center",
                       fontsize=8)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, frameon=False, ncol=2)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_split_boxes(df: pd.DataFrame, ax=None, ylabel: str = "2-episode return", reported: pd.DataFrame | None = None):
    """Box plots of per-task values, training tasks vs held-out tasks, one box per (split, agent).

    ``df`` columns: agent, split, value (one row per task). ``reported`` (optional): agent,
    split, metric (return_mean / return_median / ...), value, label - diamonds on the box.
    """
    agents = list(dict.fromkeys(df["agent"]))
    splits = [s for s in ("train", "test") if s in set(df["split"])]
    ax = ax if ax is not None else new_ax(max(5.0, 1.2 * len(agents) * len(splits) + 2), 4.2)
    col = colours(agents)
    pos, data, cols, ticks = [], [], [], []
    for si, split in enumerate(splits):
        for ai, agent in enumerate(agents):
            p = si * (len(agents) + 1) + ai
            v = df[(df["split"] == split) & (df["agent"] == agent)]["value"].to_numpy(float)
            if v.size:
                pos.append(p)
                data.append(v)
                cols.append(col[agent])
        ticks.append((si * (len(agents) + 1) + (len(agents) - 1) / 2, "training tasks" if split == "train"
                      else "held-out tasks"))
    bp = ax.boxplot(data, positions=pos, widths=0.6, patch_artist=True, showmeans=True,
                    meanprops=dict(marker="o", markerfacecolor="white", markeredgecolor="black", ms=4))
    for patch, c in zip(bp["boxes"], cols):
        patch.set_facecolor(c)
        patch.set_alpha(0.6)
    for agent in agents:
        ax.plot([], [], color=col[agent], lw=6, alpha=0.6, label=agent)
    if reported is not None and not reported.empty:
        marks = {"return_mean": "o", "return_median": "D", "return_q25": "v", "return_q75": "^"}
        for r in reported.itertuples(index=False):
            if r.split in splits and r.agent in agents:
                p = splits.index(r.split) * (len(agents) + 1) + agents.index(r.agent) + 0.42
                ax.plot([p], [r.value], marker=marks.get(r.metric, "D"), ms=5, mec="black", mew=0.8,
                        color=col[r.agent], ls="none")
        for lab in dict.fromkeys(reported["label"]):
            ax.plot([], [], marker="D", ms=5, mec="black", mew=0.8, color="white", ls="none", label=lab)
    ax.set_xticks([t for t, _ in ticks])
    ax.set_xticklabels([n for _, n in ticks])
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_intervals(df: pd.DataFrame, ax=None, xlabel: str = "normalised score"):
    """Interval estimates of several metrics: one row per (metric, agent), estimate and 95% CI.

    ``df`` columns: metric, agent, estimate, lower, upper.
    """
    metrics = list(dict.fromkeys(df["metric"]))
    agents = list(dict.fromkeys(df["agent"]))
    ax = ax if ax is not None else new_ax(6.5, 1.2 + 0.3 * len(df) + 0.3 * len(metrics))
    col = colours(agents)
    y, ticks, labels = 0.0, [], []
    for metric in metrics:
        for agent in agents:
            d = df[(df["metric"] == metric) & (df["agent"] == agent)]
            if d.empty:
                continue
            r = d.iloc[0]
            ax.plot([r["lower"], r["upper"]], [y, y], color=col[agent], lw=6, alpha=0.5, solid_capstyle="butt")
            ax.plot([r["estimate"]], [y], "|", color=col[agent], ms=12, mew=2)
            ticks.append(y)
            labels.append(f"{metric}: {agent}")
            y += 1
        y += 0.6
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return ax


def plot_profiles(df: pd.DataFrame, ax=None, xlabel: str = "normalised score threshold tau"):
    """Performance profiles: fraction of run x task scores above tau, one line per agent with a
    95% band. ``df`` columns: agent, tau, estimate, lower, upper."""
    ax = ax if ax is not None else new_ax(6.0, 4.0)
    agents = list(dict.fromkeys(df["agent"]))
    col = colours(agents)
    for agent in agents:
        d = df[df["agent"] == agent].sort_values("tau")
        ax.plot(d["tau"], d["estimate"], color=col[agent], label=agent)
        ax.fill_between(d["tau"], d["lower"], d["upper"], color=col[agent], alpha=0.2, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of runs with score > tau")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_improvement(df: pd.DataFrame, ax=None):
    """Probability of improvement P(X > Y) with 95% CIs, one row per pair.

    ``df`` columns: x, y, estimate, lower, upper.
    """
    ax = ax if ax is not None else new_ax(6.0, 1.2 + 0.4 * max(1, len(df)))
    agents = list(dict.fromkeys(list(df["x"]) + list(df["y"])))
    col = colours(agents)
    for i, r in enumerate(df.itertuples(index=False)):
        ax.plot([r.lower, r.upper], [i, i], color=col[r.x], lw=6, alpha=0.5, solid_capstyle="butt")
        ax.plot([r.estimate], [i], "|", color=col[r.x], ms=12, mew=2)
    ax.axvline(0.5, color="0.4", lw=0.8, ls="--")
    ax.set_yticks(range(len(df)))
    ax.set_yticklabels([f"P({r.x} > {r.y})" for r in df.itertuples(index=False)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("probability of improvement")
    ax.spines[["top", "right", "left"]].set_visible(False)
    return ax
