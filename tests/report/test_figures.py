"""Plot functions: optional ax in, the same ax out, files written, no global state touched."""

from __future__ import annotations

import matplotlib
import pandas as pd

from amago_bench.report import figures


def test_plots_draw_on_a_given_ax_and_leave_pyplot_alone(tmp_path):
    from matplotlib.figure import Figure

    before = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}  # backend resolves lazily
    ax = Figure().add_subplot()
    df = pd.DataFrame({"agent": ["a", "b"], "task": ["t", "t"], "estimate": [0.5, 1.0], "lower": [0.4, 0.9],
                       "upper": [0.6, 1.0]})
    assert figures.plot_task_scores(df, ax=ax) is ax
    assert len(ax.patches) == 2  # one bar per agent
    assert figures.plot_aggregate(df, ax=Figure().add_subplot()) is not None
    curve = pd.DataFrame({"label": ["a"] * 3, "env_steps": [1, 2, 3], "estimate": [0, 0.5, 1], "lower": [0, 0.4, 0.9],
                          "upper": [0.1, 0.6, 1]})
    ax2 = figures.plot_learning_curve(curve)
    assert len(ax2.lines) >= 1
    paths = figures.save(ax2, tmp_path / "curve", "title", "made by a test")
    assert [p[-3:] for p in paths] == ["png", "svg"]
    assert all((tmp_path / f"curve.{e}").stat().st_size > 1000 for e in ("png", "svg"))
    assert "made by a test" in (tmp_path / "curve.svg").read_text()
    assert {k: v for k, v in matplotlib.rcParams.items() if k != "backend"} == before
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # nothing registered with pyplot


def test_palette_is_stable_per_agent_order():
    assert figures.colours(["x", "y"]) == {"x": figures.PALETTE[0], "y": figures.PALETTE[1]}
