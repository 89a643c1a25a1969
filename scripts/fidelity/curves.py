"""The one learning-curve plot of the fidelity scripts (report.py, popgym_default.py, point_nav.py,
ml1.py): one line per (group, seed), colour = group, line style = seed.

Groups get distinct colours from matplotlib's qualitative ``tab10`` (then ``Dark2``) in the order given (not the
report's hashed agent colours, which can make two neighbouring implementations look alike).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

STYLES = ("-", "--", ":", "-.")


def plot_seed_curves(df: pd.DataFrame, x: str, y: str = "normalised", group: str = "impl", order: Sequence[str] | None = None,
                     emphasise: str | None = None, target: float | None = None, bounds: tuple[float, float] | None = (0.0, 1.0),
                     ylabel: str = "normalised return (test)", xlabel: str | None = None, ax=None,
                     seed_label: str = "seed {seed}"):
    """``df`` columns: ``group``, seed, ``x``, ``y``. ``order``: groups first in this order, each with
    the colour of its place there, drawn or not (the rest sorted after); ``emphasise``: one group
    drawn thicker, the others lighter; ``target``: a dotted line; ``bounds``: lines at the
    normalisation ends (None: none); ``seed_label``: how a line's seed reads in the legend.
    Returns the axes."""
    import matplotlib

    from amago_bench.report.figures import new_ax

    ax = ax if ax is not None else new_ax(10, 4.2)
    present = set(df[group])
    # a group's colour follows its place in ``order``, so it is the same in every figure drawn with that order
    ranked = [*(order or ()), *sorted(present - set(order or ()))]
    palette = [*matplotlib.colormaps["tab10"].colors, *matplotlib.colormaps["Dark2"].colors]  # 18 before a colour repeats
    for i, name in enumerate(ranked):
        if name not in present:
            continue
        for k, (seed, d) in enumerate(df[df[group] == name].groupby("seed")):
            d = d.sort_values(x)
            strong = emphasise is None or name == emphasise
            ax.plot(d[x], d[y], color=palette[i % len(palette)], ls=STYLES[k % len(STYLES)], marker="o", ms=2.5,
                    lw=1.5 if strong else 0.9, alpha=1.0 if strong else 0.65, label=f"{name}, {seed_label.format(seed=seed)}")
    if bounds is not None:
        ax.axhline(bounds[0], color="0.4", lw=0.8)
        ax.axhline(bounds[1], color="0.4", lw=0.8, ls="--")
    if target is not None:
        ax.axhline(target, color="0.6", lw=0.6, ls=":")
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the curves, not on them
    ax.spines[["top", "right"]].set_visible(False)
    return ax


def mean_of_seeds(df: pd.DataFrame, x: str, y: str = "normalised", group: str = "impl") -> pd.DataFrame:
    """One row per (group, ``x``): the mean of ``y`` over the group's seeds, kept only where all of
    them have an evaluation there (a mean over fewer would mix in one seed's luck); its ``seed``
    column says what was averaged ("mean of seeds 0, 1", or "seed 0" for a group of one seed), for
    :func:`plot_seed_curves` with ``seed_label="{seed}"``."""
    out = []
    for name, d in df.groupby(group, sort=False):
        seeds = sorted(d["seed"].unique())
        both = d.groupby(x, as_index=False)[y].agg(["mean", "count"])
        both = both[both["count"] == len(seeds)].rename(columns={"mean": y}).drop(columns="count")
        named = f"seed {seeds[0]}" if len(seeds) == 1 else "mean of seeds " + ", ".join(str(s) for s in seeds)
        out.append(both.assign(**{group: name, "seed": named}))
    return pd.concat(out, ignore_index=True)


def merge_into(path: Path | str, found: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The committed curves at ``path`` with every run in ``found`` (a run: one value of ``keys``)
    replacing that run's rows, sorted by ``keys`` then env steps, written back to ``path`` and
    returned. Runs not found this time (their folders live on another machine, or were cleaned away)
    keep their committed rows, so collecting a few new runs on a fresh checkout adds them instead of
    erasing the rest."""
    path = Path(path)
    df = found
    if path.exists():
        df = pd.read_csv(path, float_precision="round_trip")  # round_trip: kept rows are written back unchanged
        if len(found):  # (concatenating an empty frame would turn int columns into floats)
            ran = pd.MultiIndex.from_frame(found[list(keys)].drop_duplicates().astype(str))
            df = pd.concat([df[~pd.MultiIndex.from_frame(df[list(keys)].astype(str)).isin(ran)], found], ignore_index=True)
    df = df.sort_values([*keys, "env_steps"], ignore_index=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
    return df
