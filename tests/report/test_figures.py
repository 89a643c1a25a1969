"""Plot functions: optional ax in, the same ax out, files written, no global state touched;
one colour per agent label everywhere; readable at many tasks; sane axes on degenerate data;
nothing cut off; intervals over one seed drawn as n/a."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from amago_bench.report import figures


def _tasks_frame(n_tasks: int, agents=("amago2", "dep-dep", "random"), seeds=3, value=None) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for a in agents:
        for t in range(n_tasks):
            v = float(rng.random()) if value is None else value
            rows.append({"agent": a, "task": f"task-{t:02d}-{'long-name' * (t % 3)}", "estimate": v,
                         "lower": v - 0.1 * (value is None), "upper": v + 0.1 * (value is None), "seeds": seeds})
    return pd.DataFrame(rows)


def test_plots_draw_on_a_given_ax_and_leave_pyplot_alone(tmp_path):
    before = {k: v for k, v in matplotlib.rcParams.items() if k != "backend"}  # backend resolves lazily
    ax = Figure().add_subplot()
    df = pd.DataFrame({"agent": ["a", "b"], "task": ["t", "t"], "estimate": [0.5, 1.0], "lower": [0.4, 0.9],
                       "upper": [0.6, 1.0]})
    assert figures.plot_task_scores(df, ax=ax) is ax
    dots = {line.get_label(): list(line.get_xdata()) for line in ax.lines if line.get_label() in ("a", "b")}
    assert dots == {"a": [0.5], "b": [1.0]}  # one dot per agent at its estimate
    assert figures.plot_aggregate(df, ax=Figure().add_subplot()) is not None
    curve = pd.DataFrame({"label": ["a"] * 3, "env_steps": [1, 2, 3], "estimate": [0, 0.5, 1], "lower": [0, 0.4, 0.9],
                          "upper": [0.1, 0.6, 1]})
    ax2 = figures.plot_learning_curve(curve)
    assert len(ax2.lines) >= 1
    paths = figures.save(ax2, tmp_path / "curve", "title", "made by a test")
    assert [p[-3:] for p in paths] == ["png", "svg"]
    assert all((tmp_path / f"curve.{e}").stat().st_size > 1000 for e in ("png", "svg"))
    assert "made by a test" in (tmp_path / "curve.svg").read_text()
    first = (tmp_path / "curve.svg").read_bytes()
    figures.save(figures.plot_learning_curve(curve), tmp_path / "curve", "title", "made by a test")
    assert (tmp_path / "curve.svg").read_bytes() == first  # redrawn from the same data: the same file, no date
    assert {k: v for k, v in matplotlib.rcParams.items() if k != "backend"} == before
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []  # nothing registered with pyplot


def test_an_agent_has_one_colour_whatever_is_drawn_beside_it():
    alone = figures.colours(["rl2-ppo-gru"])
    crowd = figures.colours(["amago2", "dep-dep", "rl2-ppo-gru", "random", "my-agent"])
    assert alone["rl2-ppo-gru"] == crowd["rl2-ppo-gru"] == figures.AGENT_COLOURS["rl2-ppo-gru"]
    assert crowd["amago2"] != crowd["rl2-ppo-gru"]
    assert len(set(figures.AGENT_COLOURS.values())) == len(figures.AGENT_COLOURS)  # no two built-ins share one
    # an unknown agent: stable, not by position; a milestone label: a shade of its agent's colour, not the agent's
    assert figures.colour_of("my-agent") == figures.colours(["x", "y", "my-agent"])["my-agent"]
    milestone = figures.colour_of("amago2 (amago2-paper, 50M steps)")
    assert milestone != figures.colour_of("amago2") and milestone == figures.colour_of("amago2 (amago2-paper, 50M steps)")
    # the aggregate and improvement plots colour by agent, not by rank
    imp = pd.DataFrame({"x": ["rl2-ppo-gru"], "y": ["amago2"], "estimate": [0.6], "lower": [0.5], "upper": [0.7]})
    ax = figures.plot_improvement(imp, ax=Figure().add_subplot())
    assert matplotlib.colors.to_hex(ax.lines[0].get_color()).upper() == figures.AGENT_COLOURS["rl2-ppo-gru"].upper()


@pytest.mark.parametrize("n_tasks", [5, 27, 50])
def test_per_task_figure_stays_readable_at_any_task_count(n_tasks, tmp_path):
    df = _tasks_frame(n_tasks, agents=("amago2", "dep-dep", "ind-actor-dep-critic", "dep-actor-ind-critic",
                                       "rl2-ppo-gru", "random"))
    ax = figures.plot_task_scores(df, ylabel="normalised score")
    fig = ax.figure
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(dict.fromkeys(df["task"]))  # every task named, in order
    fig.canvas.draw() if hasattr(fig.canvas, "draw") else None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = sorted((t.get_window_extent(renderer) for t in ax.get_yticklabels()), key=lambda b: b.y0)
    assert all(a.y1 <= b.y0 + 0.5 for a, b in zip(boxes, boxes[1:])), "task labels overlap"
    assert boxes[0].height >= 8  # >= 8 px tall at 120 dpi: legible
    # width does not grow with the task count (no multi-thousand-pixel strips)
    assert fig.get_figwidth() <= 8


def test_degenerate_data_gets_sane_axes():
    zeros = _tasks_frame(4, value=0.0)
    ax = figures.plot_task_scores(zeros, ax=Figure().add_subplot())
    lo, hi = ax.get_xlim()
    assert lo <= 0.0 and hi >= 1.0  # all zero: a 0-1 scale, not -0.04..0.04
    ax = figures.plot_task_scores(zeros, ax=Figure().add_subplot(), ylabel="success % (mean over trials)",
                                  unit_lines=False)
    assert ax.get_xlim()[0] <= 0.0 and ax.get_xlim()[1] >= 100.0  # a percentage: 0-100
    one = pd.DataFrame({"label": ["a seed 0"], "env_steps": [64], "estimate": [0.3], "lower": [0.3], "upper": [0.3]})
    ax = figures.plot_learning_curve(one, ax=Figure().add_subplot())
    assert ax.get_xlim()[0] == 0.0 and ax.get_xlim()[1] > 64  # one point at 64 steps: axis from 0, not 61..67
    band = pd.DataFrame({"agent": ["a"], "env_steps": [64], "estimate": [50.0], "lower": [50.0], "upper": [50.0]})
    ax = figures.plot_curve_band(band, ax=Figure().add_subplot(), ylabel="success %")
    assert ax.get_ylim()[0] <= 0 and ax.get_ylim()[1] >= 100


@pytest.mark.parametrize("n_tasks", [2, 27])
def test_a_long_title_stays_within_the_figure_and_what_it_draws(n_tasks, tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.transforms import Bbox

    df = _tasks_frame(n_tasks, agents=("amago2", "dep-dep", "ind-actor-dep-critic", "dep-actor-ind-critic",
                                       "rl2-ppo-gru", "random"))
    ax = figures.plot_task_scores(df)  # its legend sits outside the axes, on the right
    title = "popgym27 (test): per-task normalised score of every agent with 95% CIs over training seeds " * 2
    figures.save(ax, tmp_path / "t", title, "provenance " * 40, formats=("png",))
    fig = ax.figure
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    drawn = [t for t in (ax.title, ax._left_title, ax._right_title) if t.get_text()]
    assert len(drawn) == 1 and "\n" in drawn[0].get_text()  # wrapped, not shrunk or cut
    box = drawn[0].get_window_extent(r)
    # the rest of what the figure draws: the axes, tick labels and the legend
    rest = Bbox.union([ax.bbox, ax.get_legend().get_window_extent(r)]
                      + [t.get_window_extent(r) for t in ax.get_yticklabels() + ax.get_xticklabels() if t.get_text()])
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1, (box, fig.bbox)  # within the figure
    assert rest.x0 - 1 <= box.x0 and box.x1 <= rest.x1 + 1, (box, rest)  # and never sticking out past the legend
    assert box.y0 >= ax.bbox.y1  # above the axes, not over them
    foot = fig.texts[-1]
    assert "provenance" in foot.get_text() and foot.get_window_extent(r).x1 <= rest.x1 + 1
    assert foot.get_window_extent(r).y1 <= rest.y0  # under everything, the legend included
    # the saved image holds every artist: its size covers the tight box of the figure
    import matplotlib.image as mpimg

    img = mpimg.imread(tmp_path / "t.png")
    tight = fig.get_tightbbox(r)
    assert img.shape[1] >= tight.width * fig.dpi * 0.98
    assert img.shape[0] >= tight.height * fig.dpi * 0.98


def test_reported_numbers_of_one_agent_at_several_budgets_share_a_legend_entry():
    curve = pd.DataFrame({"agent": ["amago2"], "env_steps": [64], "estimate": [10.0], "lower": [9.0], "upper": [11.0]})
    rep = pd.DataFrame({"agent": ["amago2"] * 3 + ["dep-dep"], "env_steps": [15e6, 50e6, 100e6, 100e6],
                        "value": [38.5, 59.4, 85.2, 69.7], "tag": ["D"] * 4,
                        "label": [f"amago2 reported, {s} steps [D]" for s in ("15M", "50M", "100M")]
                        + ["dep-dep reported, 100M steps [D]"]})
    ax = figures.plot_curve_band(curve, ax=Figure().add_subplot(), ylabel="normalised score %", reported=rep)
    _, labels = ax.get_legend_handles_labels()
    assert [x for x in labels if "reported" in x] == ["amago2 reported, 15M, 50M, 100M steps [D]",
                                                       "dep-dep reported, 100M steps [D]"]
    assert len([line for line in ax.lines if line.get_marker() == "D" and len(line.get_xdata())]) == 4


def test_an_interval_over_one_seed_is_drawn_as_not_available():
    df = pd.DataFrame({"metric": ["IQM", "IQM"], "agent": ["amago2", "random"], "estimate": [0.4, 0.1],
                       "lower": [0.4, 0.05], "upper": [0.4, 0.2], "seeds": [1, 3]})
    ax = figures.plot_intervals(df, ax=Figure().add_subplot())
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["IQM: amago2 (CI n/a, 1 seed)", "IQM: random"]
    thick = [line for line in ax.lines if line.get_linewidth() >= 6]  # interval bars
    assert len(thick) == 1 and list(thick[0].get_xdata()) == [0.05, 0.2]


def test_reported_numbers_have_one_style_with_distinct_legend_entries():
    tm = pd.DataFrame({"agent": ["amago2"] * 4, "split": ["test"] * 4, "value": [0.1, 0.5, 0.3, 0.9]})
    rep = pd.DataFrame({"agent": ["amago2", "amago2"], "split": ["train", "test"], "metric": ["return_mean",
                        "return_median"], "value": [0.6, 0.4], "label": ["amago2 reported, 1B steps [D]"] * 2})
    ax = figures.plot_split_boxes(tm, ax=Figure().add_subplot(), reported=rep)
    # both splits get a slot (train: reported only, marked as not evaluated here)
    assert [t.get_text().split("\n")[0] for t in ax.get_xticklabels()] == ["training tasks", "held-out tasks"]
    _, labels = ax.get_legend_handles_labels()
    rep_labels = [x for x in labels if "reported" in x]
    assert len(rep_labels) == len(set(rep_labels)) == 2  # mean and median told apart
    marks = [line for line in ax.lines if line.get_marker() in ("D", "s") and len(line.get_xdata())]
    assert marks and all(line.get_markerfacecolor() == "white" for line in marks)
