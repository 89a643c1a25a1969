"""Figures. Each plot function takes tidy data and an optional ``ax``, returns the ax, uses a
colour-blind-safe palette (Okabe-Ito) and touches no global matplotlib state.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: The colour of each built-in agent, the same in every figure. An agent not listed gets one of
#: EXTRA by a stable hash of its name; a labelled variant of an agent ("amago2 (amago2-paper,
#: 50M steps)") gets a darker or lighter shade of its agent's colour.
AGENT_COLOURS: dict[str, str] = {
    "amago2": "#0072B2", "dep-dep": "#E69F00", "ind-actor-dep-critic": "#009E73", "dep-actor-ind-critic": "#D55E00",
    "rl2-ppo-gru": "#CC79A7", "dep-dep-clipped": "#56B4E9", "random": "#7F7F7F", "probe-oracle": "#000000",
}
EXTRA = ("#8C564B", "#BCBD22", "#17BECF", "#9467BD", "#F0E442", "#2CA02C", "#D62728", "#393B79")
#: How a number a paper reports is drawn, everywhere: a hollow diamond edged in its agent's colour
#: (measured numbers are filled bars, dots or lines).
REPORTED_MARKER = dict(marker="D", ms=7, mfc="white", mew=1.6, ls="none")
REPORTED_NOTE = "hollow diamonds: numbers the papers report\n(budget; [T] text, [D] read off a figure)"


def base_agent(label: str) -> str:
    """The agent name a leaderboard label starts with: ``amago2 (amago2-paper, 50M steps)`` -> ``amago2``."""
    return str(label).split(" (")[0].split(" [")[0].strip()


def _stable_index(text: str, n: int) -> int:
    import zlib

    return zlib.crc32(text.encode()) % n


def _shade(hex_colour: str, k: int) -> str:
    """Variant shade k (1-4) of a colour: mixed towards black (k odd) or white (k even)."""
    rgb = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    amount = (0.35, 0.45, 0.2, 0.25)[(k - 1) % 4]
    target = 0 if k % 2 else 255
    return "#" + "".join(f"{round(c + (target - c) * amount):02X}" for c in rgb)


def colour_of(label: str) -> str:
    """The colour of one agent label: fixed per agent (AGENT_COLOURS, else EXTRA by a stable
    hash), a variant label a shade of it picked by a stable hash of the label."""
    agent = base_agent(label)
    c = AGENT_COLOURS.get(agent) or EXTRA[_stable_index(agent, len(EXTRA))]
    if label != agent:
        c = _shade(c, 1 + _stable_index(label, 4))
    return c


def colours(agents: Sequence[str]) -> dict[str, str]:
    """Label -> colour (:func:`colour_of`); the same label gets the same colour in every figure,
    whatever else is drawn beside it."""
    return {a: colour_of(a) for a in agents}


def new_ax(width: float = 7.0, height: float = 4.0):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    return fig.add_subplot(1, 1, 1)


def sane_limits(ax, axis: str = "y", lo: float | None = None, hi: float | None = None, from_zero: bool = False) -> None:
    """Axis limits that show the data and never collapse: when the drawn data span (nearly)
    nothing, widen to ``[lo, hi]`` (e.g. 0-1 for a normalised score) or to +-50% around the
    value; ``from_zero`` starts a non-negative axis (env steps) at 0."""
    vmin, vmax = (ax.dataLim.y0, ax.dataLim.y1) if axis == "y" else (ax.dataLim.x0, ax.dataLim.x1)
    if not (np.isfinite(vmin) and np.isfinite(vmax)):
        return
    setter = ax.set_ylim if axis == "y" else ax.set_xlim
    span = vmax - vmin
    if span <= 1e-9 * max(1.0, abs(vmax)):
        if lo is not None and hi is not None and lo <= vmin <= hi:
            a, b = lo, hi
        else:
            pad = 0.5 * abs(vmax) if vmax else 1.0
            a, b = vmin - pad, vmax + pad
        if from_zero and vmin >= 0:
            a = 0.0
        m = 0.04 * (b - a)
        setter(a - (0 if from_zero and a == 0 else m), b + m)
    elif from_zero and vmin >= 0:
        setter(0.0, vmax + 0.04 * vmax)


def ci_missing(lower, upper, seeds) -> bool:
    """True where an interval cannot be given: fewer than 2 seeds (a zero-width "CI")."""
    return seeds is not None and bool(np.isfinite(seeds)) and int(seeds) < 2


def _has_ci(row) -> bool:
    seeds = getattr(row, "seeds", None)
    try:
        seeds = float(seeds) if seeds is not None else None
    except (TypeError, ValueError):
        seeds = None
    return not ci_missing(row.lower, row.upper, seeds) and np.isfinite(row.lower) and np.isfinite(row.upper)


def _forest(ax, df: pd.DataFrame, rows: list[str], series: list[tuple], row_col: str = "task") -> dict:
    """Horizontal dot-and-interval rows: one row per ``rows`` entry (top to bottom), one dot
    per series in it, offset within the row. ``series``: (key, label, colour, mask, filled).
    Returns series key -> y offset. Where an interval is n/a (fewer than 2 seeds) only the dot
    is drawn."""
    n = max(1, len(series))
    step = min(0.8 / n, 0.22)
    offs = {}
    y0 = np.arange(len(rows), dtype=float)
    for i in range(0, len(rows), 2):
        ax.axhspan(i - 0.5, i + 0.5, color="0.95", lw=0, zorder=0)
    for i, (key, label, colour, mask, filled) in enumerate(series):
        off = (i - (n - 1) / 2) * step
        offs[key] = off
        d = df[mask].drop_duplicates(row_col).set_index(row_col).reindex(rows)
        ys = y0 + off
        for y, r in zip(ys, d.itertuples()):
            if np.isfinite(r.estimate) and _has_ci(r):
                ax.plot([r.lower, r.upper], [y, y], color=colour, lw=1.4, solid_capstyle="butt", zorder=2)
        ax.plot(d["estimate"].to_numpy(float), ys, "o", ms=4.5, color=colour, mfc=colour if filled else "white",
                mew=1.2, label=label, zorder=3, ls="none")
    ax.set_yticks(y0)
    ax.set_yticklabels(rows, fontsize=7 if len(rows) > 20 else 8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    return offs


def _row_height(n_series: int) -> float:
    return max(0.22, 0.05 * n_series + 0.08)


def _reported_legend(ax, reported: pd.DataFrame, col: dict) -> None:
    """One legend entry per agent's reported numbers: its label, or where one agent is reported at
    several budgets (``env_steps`` and ``tag`` columns given), one entry naming them all
    ("amago2 reported, 15M, 50M, 100M steps [D]"): the markers look alike anyway."""
    from amago_bench.scoring import format_steps

    for agent in dict.fromkeys(reported["agent"]):
        r = reported[reported["agent"] == agent]
        labels = list(dict.fromkeys(r["label"]))
        if len(labels) > 1 and {"env_steps", "tag"} <= set(r.columns):
            steps = [format_steps(x).removesuffix(" steps") for x in sorted(set(r["env_steps"].dropna()))]
            budgets = [", ".join(steps) + " steps"] if steps else []
            budgets += ["budget not stated"] if r["env_steps"].isna().any() else []
            budgets = ", ".join(budgets)
            labels = [f"{agent} reported, {budgets} [{', '.join(sorted(set(r['tag'])))}]"]
        for lab in labels:
            ax.plot([], [], mec=col.get(agent, colour_of(agent)), label=lab, **REPORTED_MARKER)


def _legend(ax, reported: bool = False, **kw) -> None:
    h, lab = ax.get_legend_handles_labels()
    if not h:
        return
    title = REPORTED_NOTE if reported else None
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), title=title,
              title_fontsize=6.5, alignment="left", **kw)


def plot_task_scores(df: pd.DataFrame, ax=None, ylabel: str = "normalised score", reported: pd.DataFrame | None = None,
                     unit_lines: bool = True):
    """Per-task results as horizontal rows, readable at any task count: one row per task (top to
    bottom in the suite's order), one dot per agent with its 95% CI as a line (none where the
    interval is n/a: fewer than 2 seeds).

    ``df`` columns: agent, task, estimate, lower, upper (one row per agent x task), optionally
    seeds. ``reported`` (optional) columns: agent, task, value, label - the papers' numbers,
    hollow diamonds on the row of the same agent (or in the row's middle for another method).
    ``ylabel`` names the quantity (drawn on the x axis).
    """
    tasks = list(dict.fromkeys(df["task"]))
    agents = list(dict.fromkeys(df["agent"]))
    ax = ax if ax is not None else new_ax(7.0, 1.0 + _row_height(len(agents)) * len(tasks))
    col = colours(agents)
    offs = _forest(ax, df, tasks, [(a, a, col[a], df["agent"] == a, True) for a in agents])
    if reported is not None and not reported.empty:
        rcol = {**{a: colour_of(a) for a in reported["agent"]}, **col}
        for r in reported.itertuples(index=False):
            if r.task in tasks:
                ax.plot([r.value], [tasks.index(r.task) + offs.get(r.agent, 0.0)], mec=rcol[r.agent], zorder=4,
                        **REPORTED_MARKER)
        _reported_legend(ax, reported, rcol)
    ax.axvline(0.0, color="0.4", lw=0.8)
    if unit_lines:
        ax.axvline(1.0, color="0.4", lw=0.8, ls="--")
    sane_limits(ax, "x", 0.0, 100.0 if "%" in ylabel else 1.0)
    ax.set_xlabel(ylabel)
    ax.xaxis.set_ticks_position("both")
    ax.tick_params(axis="x", labeltop=len(tasks) > 15)
    _legend(ax, reported is not None and not reported.empty)
    ax.spines[["right"]].set_visible(False)
    return ax


def plot_aggregate(df: pd.DataFrame, ax=None, xlabel: str = "IQM of normalised score"):
    """Horizontal interval plot: one row per agent, point estimate and 95% CI.

    ``df`` columns: agent, estimate, lower, upper, optionally seeds (an interval over fewer than
    2 seeds is n/a: only the estimate is drawn, labelled so).
    """
    d = df.copy()
    d["metric"] = xlabel
    return plot_intervals(d, ax=ax, xlabel=xlabel)


def _seed_style(label: str) -> tuple[str, str]:
    """(colour, line style) of a learning-curve label ``<entry> seed <n>``: the entry's colour,
    one line style per seed."""
    entry, _, seed = label.rpartition(" seed ")
    if not entry:
        return colour_of(label), "-"
    styles = ("-", "--", ":", "-.")
    return colour_of(entry), styles[int(seed) % len(styles)] if seed.isdigit() else "-"


def plot_learning_curve(df: pd.DataFrame, ax=None, ylabel: str = "normalised score (test)"):
    """Score against environment steps, one line per (agent, seed) with a shaded 95% band: the
    agent's colour, one line style per seed.

    ``df`` columns: label, env_steps, estimate, lower, upper.
    """
    ax = ax if ax is not None else new_ax(6.5, 4.0)
    labels = list(dict.fromkeys(df["label"]))
    for label in labels:
        c, ls = _seed_style(label)
        d = df[df["label"] == label].sort_values("env_steps")
        ax.plot(d["env_steps"], d["estimate"], marker="o", ms=3, color=c, ls=ls, label=label)
        ax.fill_between(d["env_steps"], d["lower"], d["upper"], color=c, alpha=0.15, lw=0)
    ax.axhline(0.0, color="0.4", lw=0.8)
    ax.axhline(1.0, color="0.4", lw=0.8, ls="--")
    sane_limits(ax, "x", from_zero=True)
    sane_limits(ax, "y", 0.0, 1.0)
    ax.set_xlabel("environment steps")
    ax.set_ylabel(ylabel)
    _legend(ax)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def fit_lines(text: str, width_px: float, renderer, font) -> str:
    """``text`` broken at spaces into lines each at most ``width_px`` wide as ``renderer`` draws
    them in ``font`` (a ``FontProperties``); a word wider than that gets a line of its own."""
    lines = []
    for para in text.split("\n"):
        line = ""
        for word in para.split(" "):
            longer = f"{line} {word}" if line else word
            if line and renderer.get_text_width_height_descent(longer, font, ismath=False)[0] > width_px:
                lines.append(line)
                line = word
            else:
                line = longer
        lines.append(line)
    return "\n".join(lines)


def _content_box(ax, renderer):
    """Box (display px) of what the figure draws besides the axes' titles: the axes, their tick
    labels and legends; never narrower than the axes."""
    from matplotlib.transforms import Bbox

    titles = [t for t in (ax.title, ax._left_title, ax._right_title) if t.get_visible()]
    for t in titles:
        t.set_visible(False)
    try:
        box = ax.figure.get_tightbbox(renderer).transformed(ax.figure.dpi_scale_trans)
    finally:
        for t in titles:
            t.set_visible(True)
    return Bbox.union([box, ax.bbox])


def save(ax, path, title: str, provenance: str, formats: Sequence[str] = ("png", "svg")) -> list[str]:
    """Write the ax's figure as PNG and/or SVG with a title and a provenance footer; returns paths.

    The title spans what the figure draws (from the tick labels on the left to the legend on the
    right): it is wrapped by its drawn width to that span, so a long title never sets or overruns
    the figure's edge; the footer wraps the same way. The saved box is fitted to everything drawn."""
    from pathlib import Path

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = ax.figure
    renderer = FigureCanvasAgg(fig).get_renderer()
    text = ax.set_title("", fontsize=10, loc="left")
    fig.tight_layout()
    for _ in range(3):  # the layout moves with the title's height; settle within a few passes
        box = _content_box(ax, renderer)
        text.set_x((box.x0 - ax.bbox.x0) / ax.bbox.width)  # from the left of the tick labels
        text.set_text(fit_lines(title, box.width, renderer, text.get_fontproperties()))
        fig.tight_layout()
        done = text.get_window_extent(renderer)
        box = _content_box(ax, renderer)
        if box.x0 - 0.5 <= done.x0 and done.x1 <= box.x1 + 0.5:
            break
    box = _content_box(ax, renderer)  # the footer goes under everything (a tall legend may reach below the axes)
    foot = fig.text(0.0, min(0.0, box.y0 - 4) / fig.bbox.height, "", fontsize=6, color="0.35", ha="left", va="top",
                    transform=fig.transFigure)
    foot.set_text(fit_lines(provenance, box.x1, renderer, foot.get_fontproperties()))
    out = []
    for ext in formats:
        p = Path(path).with_suffix(f".{ext}")
        p.parent.mkdir(parents=True, exist_ok=True)
        # SVGs carry no date and a fixed id salt, so a figure redrawn from the same data is the same file
        meta = {"Title": title, "Description": provenance} if ext == "png" else {"Date": None}
        with matplotlib.rc_context({"svg.hashsalt": "amago-bench"}):
            fig.savefig(p, metadata=meta, bbox_inches="tight", pad_inches=0.12)
        out.append(str(p))
    return out


# --------------------------------------------------------------------------------------
# The paper's figures. Reported numbers are drawn as hollow diamonds edged in their agent's colour
# (REPORTED_MARKER) with their label ("Ind/Ind reported, 100M steps [D]"), never mixed into the
# measured data.


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
    log = False
    if reported is not None and not reported.empty:
        for r in reported.itertuples(index=False):
            ax.plot([r.env_steps], [r.value], mec=col[r.agent], zorder=4, **REPORTED_MARKER)
        _reported_legend(ax, reported, col)
        lo = min(list(df["env_steps"]) + list(reported["env_steps"]))
        hi = max(list(df["env_steps"]) + list(reported["env_steps"]))
        if lo > 0 and hi / lo > 100:
            ax.set_xscale("log")
            log = True
    if not log:
        sane_limits(ax, "x", from_zero=True)
    sane_limits(ax, "y", 0.0, 1.0 if "%" not in ylabel else 100.0)
    ax.set_xlabel("environment steps" + (" (log scale)" if log else ""))
    ax.set_ylabel(ylabel)
    _legend(ax, reported is not None and not reported.empty)
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
    top = vmax if vmax is not None else (np.nanmax(vals) if np.isfinite(vals).any() else 1.0)
    im = ax.imshow(vals, aspect="auto", cmap="viridis", vmin=0.0, vmax=top or 1.0)
    for i in range(len(tasks)):
        for j in range(len(agents)):
            v = vals[i, j]
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6,
                        color="white" if v < 0.6 * (top or 1.0) else "black")
    ax.set_xticks(range(len(agents)))
    ax.set_xticklabels(agents, fontsize=8, rotation=30 if len(agents) > 3 else 0, ha="right" if len(agents) > 3 else "center")
    ax.set_yticks(range(len(tasks)))
    ax.set_yticklabels(tasks, fontsize=6)
    ax.figure.colorbar(im, ax=ax, label=label, shrink=0.8)
    return ax


def plot_attempts(df: pd.DataFrame, ax=None, ylabel: str = "normalised score", reported: pd.DataFrame | None = None):
    """Per game, attempt 1 (hollow dot) and attempt 2 (filled dot) of each agent on the game's
    row, with 95% CIs.

    ``df`` columns: agent, task, attempt, estimate, lower, upper. ``reported`` (optional):
    agent, task, attempt, value, label - hollow diamonds on the matching dot's line.
    """
    tasks = list(dict.fromkeys(df["task"]))
    agents = list(dict.fromkeys(df["agent"]))
    atts = sorted(df["attempt"].astype(int).unique())
    ax = ax if ax is not None else new_ax(7.0, 1.0 + _row_height(len(agents) * len(atts)) * len(tasks))
    col = colours(agents)
    att = df["attempt"].astype(int)
    series = [((a, k), f"{a}, attempt {k}", col[a], (df["agent"] == a) & (att == k), k == atts[-1])
              for a in agents for k in atts]
    offs = _forest(ax, df, tasks, series)
    if reported is not None and not reported.empty:
        for r in reported.itertuples(index=False):
            key = (r.agent, int(r.attempt))
            if r.task in tasks and key in offs:
                ax.plot([r.value], [tasks.index(r.task) + offs[key]], mec=col[r.agent], zorder=4, **REPORTED_MARKER)
        _reported_legend(ax, reported, col)
    ax.axvline(0.0, color="0.4", lw=0.8)
    sane_limits(ax, "x", 0.0, 1.0)
    ax.set_xlabel(ylabel)
    _legend(ax, reported is not None and not reported.empty)
    ax.spines[["right"]].set_visible(False)
    return ax


#: Marker of each per-task statistic a paper reports for a box plot.
STAT_MARKERS = {"return_mean": ("D", "mean"), "return_median": ("s", "median"), "return_q25": ("v", "25th pct"),
                "return_q75": ("^", "75th pct")}


def plot_split_boxes(df: pd.DataFrame, ax=None, ylabel: str = "2-episode return", reported: pd.DataFrame | None = None):
    """Box plots of per-task values, training tasks vs held-out tasks, one box per (split, agent).

    ``df`` columns: agent, split, value (one row per task). ``reported`` (optional): agent,
    split, metric (return_mean / return_median / ...), value, label - hollow markers (one shape
    per statistic, STAT_MARKERS) beside the box. A split without measured values still gets its
    slot, marked "not evaluated".
    """
    agents = list(dict.fromkeys(list(df["agent"]) + ([a for a in reported["agent"]] if reported is not None else [])))
    present = set(df["split"]) | (set(reported["split"]) if reported is not None else set())
    splits = [s for s in ("train", "test") if s in present]
    ax = ax if ax is not None else new_ax(min(10.0, max(5.0, 0.7 * len(agents) * len(splits) + 2)), 4.2)
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
        name = "training tasks" if split == "train" else "held-out tasks"
        if not (df["split"] == split).any():
            name += "\n(not evaluated here)"
        ticks.append((si * (len(agents) + 1) + (len(agents) - 1) / 2, name))
    if data:
        bp = ax.boxplot(data, positions=pos, widths=0.6, patch_artist=True, showmeans=True,
                        meanprops=dict(marker="o", markerfacecolor="white", markeredgecolor="black", ms=4))
        for patch, c in zip(bp["boxes"], cols):
            patch.set_facecolor(c)
            patch.set_alpha(0.6)
    for agent in dict.fromkeys(df["agent"]):
        ax.plot([], [], color=col[agent], lw=6, alpha=0.6, label=f"{agent} (measured; white dot: mean)")
    if reported is not None and not reported.empty:
        seen = set()
        for r in reported.itertuples(index=False):
            if r.split in splits and r.agent in agents:
                p = splits.index(r.split) * (len(agents) + 1) + agents.index(r.agent) + 0.42
                m, name = STAT_MARKERS.get(r.metric, ("D", r.metric))
                style = {**REPORTED_MARKER, "marker": m}
                ax.plot([p], [r.value], mec=col[r.agent], zorder=4, **style)
                key = (r.label, r.metric)
                if key not in seen:
                    seen.add(key)
                    ax.plot([], [], mec=col[r.agent], label=f"{r.label}: {name}", **style)
    ax.set_xticks([t for t, _ in ticks])
    ax.set_xticklabels([n for _, n in ticks])
    sane_limits(ax, "y", 0.0, 1.0)
    ax.set_ylabel(ylabel)
    _legend(ax, reported is not None and not reported.empty)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_intervals(df: pd.DataFrame, ax=None, xlabel: str = "normalised score"):
    """Interval estimates of several metrics: one row per (metric, agent), estimate and 95% CI.

    ``df`` columns: metric, agent, estimate, lower, upper, optionally seeds: with fewer than 2
    seeds the interval is n/a - only the estimate is drawn and the row says "CI n/a (1 seed)".
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
            r = next(d.itertuples(index=False))
            if _has_ci(r):
                ax.plot([r.lower, r.upper], [y, y], color=col[agent], lw=6, alpha=0.5, solid_capstyle="butt")
                labels.append(f"{metric}: {agent}")
            else:
                labels.append(f"{metric}: {agent} (CI n/a, {int(r.seeds)} seed)")
            ax.plot([r.estimate], [y], "|", color=col[agent], ms=12, mew=2)
            ticks.append(y)
            y += 1
        y += 0.6
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    sane_limits(ax, "x", 0.0, 1.0)
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
    _legend(ax)
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def plot_improvement(df: pd.DataFrame, ax=None):
    """Probability of improvement P(X > Y) with 95% CIs, one row per pair, in X's colour.

    ``df`` columns: x, y, estimate, lower, upper.
    """
    ax = ax if ax is not None else new_ax(6.0, 1.2 + 0.3 * max(1, len(df)))
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
