"""Figures. Each plot function takes tidy data and an optional ``ax``, returns the ax, uses a
colour-blind-safe palette (Okabe-Ito) and touches no global matplotlib state.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def _new_ax(width: float = 7.0, height: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    return fig.add_subplot(1, 1, 1)


def colours(agents: Sequence[str]) -> dict[str, str]:
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(agents)}


def plot_task_scores(df: pd.DataFrame, ax=None, ylabel: str = "normalised score"):
    """Grouped bars: one group per task, one bar per agent, with 95% CI whiskers.

    ``df`` columns: agent, task, estimate, lower, upper (one row per agent x task).
    """
    ax = ax if ax is not None else _new_ax(max(6.0, 0.45 * df["task"].nunique() * max(1, df["agent"].nunique())), 4.2)
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
    ax.axhline(0.0, color="0.4", lw=0.8)
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
    ax = ax if ax is not None else _new_ax(6.0, 1.8 + 0.45 * len(df))
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
    ax = ax if ax is not None else _new_ax(6.5, 4.0)
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


def save(ax, path, title: str, provenance: str) -> list[str]:
    """Write the ax's figure as PNG and SVG with a title and a provenance footer; returns paths."""
    from pathlib import Path

    fig = ax.figure
    ax.set_title(title, fontsize=10)
    fig.text(0.01, 0.005, provenance, fontsize=6, color="0.35", ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    out = []
    for ext in ("png", "svg"):
        p = Path(path).with_suffix(f".{ext}")
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, metadata={"Title": title, "Description": provenance} if ext == "png" else None)
        out.append(str(p))
    return out
