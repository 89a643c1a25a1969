"""The report from a synthetic database: every table number and every plotted value equals what
the scoring functions return for the same episodes; the CLI's suites, formats and notes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from amago_bench import scoring
from amago_bench.cli import main
from amago_bench.report import figures, measure, tables
from amago_bench.store import ResultsStore
from amago_bench.suite import get_suite

ML10 = get_suite("ml10")


def _eval_episodes(db, suite="ml10", split="test", agent=None):
    with ResultsStore(db, create=False) as st:
        e = st.episodes(suite=suite, split=split)
    e = e[e["kind"] == "evaluate"]
    return e if agent is None else e[e["agent"] == agent]


def _matrix(e, suite, value, split="test"):
    ts = scoring.trial_scores(e, suite)
    mat, _ = scoring.score_matrix(ts, suite.task_names(split), value, 2)
    return mat


def test_aggregate_table_equals_scoring(synth_db, synth_report):
    out, _ = synth_report
    board = pd.read_csv(out / "ml10" / "leaderboard.csv")
    assert set(board["metric"]) == set(scoring.METRICS)
    for split in ("train", "test"):
        for agent in ("amago2", "dep-dep", "random"):
            mat = _matrix(_eval_episodes(synth_db, split=split, agent=agent), ML10, "normalised", split)
            for metric, fn in scoring.METRICS.items():
                row = board[(board["split"] == split) & (board["agent"] == agent) & (board["metric"] == metric)]
                assert len(row) == 1
                r = row.iloc[0]
                assert r["estimate"] == pytest.approx(float(fn(mat)))
                assert r["lower"] <= r["estimate"] + 1e-12 <= r["upper"] + 2e-12
                assert r["seeds"] == 3 and r["trials"] == 3 * len(ML10.task_names(split)) * 2
    md = (out / "ml10" / "leaderboard.md").read_text()
    iqm = board[(board["split"] == "test") & (board["agent"] == "amago2") & (board["metric"] == "iqm")].iloc[0]
    assert f"{tables.fmt(iqm['estimate'])} [{tables.fmt(iqm['lower'])}, {tables.fmt(iqm['upper'])}]" in md
    assert "\\toprule" in (out / "ml10" / "leaderboard.tex").read_text()


def test_comparison_numbers_equal_scoring_and_absent_cells_say_so(synth_db, synth_report):
    out, _ = synth_report
    comp = pd.read_csv(out / "ml10" / "comparison.csv", keep_default_na=False)
    e = _eval_episodes(synth_db, agent="amago2")
    success = _matrix(e, ML10, "success")
    ts = scoring.trial_scores(e, ML10)

    def measured(task, metric, split="test"):
        r = comp[(comp["agent"] == "amago2") & (comp["split"] == split) & (comp["task"] == task)
                 & (comp["metric"] == metric)]
        assert len(r) >= 1
        return float(r["measured"].iloc[0])

    assert measured("", "coverage") == pytest.approx(float(scoring.coverage(success).mean()))
    assert measured("", "success_pct") == pytest.approx(100 * float(scoring.mean(success)))
    assert measured("", "return") == pytest.approx(float(scoring.mean(_matrix(e, ML10, "return"))))
    summary = scoring.task_summary(e, ML10)
    for task in ML10.task_names("test"):
        assert measured(task, "success_pct") == pytest.approx(100 * summary.loc[task, "success"])
    # the papers' ML10 numbers (Meta-World Table 1) are there, with no measured counterpart: "no data", never 0
    maml = comp[comp["paper_agent"] == "MAML"]
    assert sorted(maml["reported"].astype(float)) == [31.6, 44.4]
    assert set(maml["measured"]) == {tables.NO_DATA}
    assert tables.NOT_REPORTED in set(comp["reported"])
    md = (out / "ml10" / "comparison.md").read_text()
    assert "44.4% [T]" in md and "no data" in md and "3 x 30" in md and "small budget, 4k steps" in md
    assert "| reported, budget not stated |" in md  # one column per reported budget



def test_figures_plot_the_scoring_values(synth_db, synth_report):
    out, result = synth_report
    e = _eval_episodes(synth_db)
    group = measure.groups(e)[0]
    q = measure.quantities(group, ML10, ci_seed=0, reps=100)
    per_task = q[(q["task"] != "") & (q["metric"] == "success_pct")]
    ax = figures.plot_task_scores(per_task, ax=Figure().add_subplot(), ylabel="success %", unit_lines=False)
    assert ax.get_xlabel() == "success %"
    assert [t.get_text() for t in ax.get_yticklabels()] == ML10.task_names("test")
    dots = {line.get_label(): line for line in ax.lines}
    for agent in ["amago2", "dep-dep", "random"]:
        summary = scoring.task_summary(e[e["agent"] == agent], ML10)
        assert list(dots[agent].get_xdata()) == pytest.approx(list(100 * summary["success"]))
    # coverage curve: each point equals scoring.coverage of that seed's evaluation, averaged over seeds
    with ResultsStore(synth_db, create=False) as st:
        tr = st.episodes(suite="ml10")
    tr = tr[tr["kind"] == "train"]
    c = measure.curve(tr, ML10, "coverage")
    ax = figures.plot_curve_band(c, ax=Figure().add_subplot(), ylabel="coverage")
    line = ax.lines[0]
    a2 = tr[tr["agent"] == "amago2"]
    expect = []
    for steps in sorted(a2["env_steps"].unique()):
        per_seed = []
        for _, r in a2[a2["env_steps"] == steps].groupby("run_id"):
            s = scoring.trial_scores(r, ML10).groupby("task")["success"].mean().to_numpy()
            per_seed.append(float(scoring.coverage(s[None, :])[0]))
        expect.append(np.mean(per_seed))
    assert list(line.get_xdata()) == sorted(a2["env_steps"].unique())
    assert list(line.get_ydata()) == pytest.approx(expect)
    assert ax.get_xlabel() == "environment steps"
    # every figure the report lists exists as PNG and SVG, with the provenance footer in the SVG
    figs = [f for s in result.sections for f in s.figures]
    names = {f.path.split("/")[-1] for f in figs}
    assert {"amago2-ml45_coverage_vs_steps", "amago2-ml45_success_vs_steps", "success_heatmap_test",
            "task_scores_test", "aggregate_test", "profiles_test", "improvement_test", "learning_curve",
            "amago2-procgen-memhard16_attempts_test", "amago2-procgen-easy5_game_returns_test"} <= names
    for f in figs:
        assert (out / f"{f.path}.png").stat().st_size > 1000
        assert "amago-bench report" in (out / f"{f.path}.svg").read_text()


def test_figures_that_reproduce_a_paper_figure_are_named_after_it(synth_report):
    from amago_bench.report import writer
    from amago_bench.report.paper import load_reported

    # every paper figure named is a file of reported numbers; every kind names a known one or none
    assert set(writer.PAPER_FIGURES) <= set(load_reported()["table"])
    for (kind, family), k in writer.FIGURE_KINDS.items():
        assert k.paper == "" or k.paper in writer.PAPER_FIGURES, (kind, family)
        stem, title = k.stem("test"), k.title("some-suite", "what it shows", "test")
        if k.paper:
            assert stem.startswith(f"{k.paper}_") and title.startswith(writer.PAPER_FIGURES[k.paper])
        else:
            assert not any(p in stem or writer.PAPER_FIGURES[p] in title for p in writer.PAPER_FIGURES)
    # within a family no two kinds share a file name
    for family in {f for _, f in writer.FIGURE_KINDS} - {""}:
        kinds = {kind for kind, f in writer.FIGURE_KINDS if f in ("", family)}
        stems = [writer.figure_kind(kind, family).stem("test") for kind in kinds]
        assert len(stems) == len(set(stems)), family
    with pytest.raises(KeyError, match="known: aggregate"):
        writer.figure_kind("no-such-figure", "popgym")
    # the written report follows the table: file name and caption from its kind
    out, result = synth_report
    for sec in result.sections:
        family = get_suite(sec.suite).family
        for f in sec.figures:
            k = writer.figure_kind(f.kind, family)
            name = f.path.split("/")[-1]
            assert name in {k.stem("test"), k.stem("train")}, name
            assert f.caption.startswith(writer.PAPER_FIGURES[k.paper] if k.paper else sec.suite)
    page = (out / "index.html").read_text()
    assert "AMAGO-2 Figure 8 (Procgen memory-hard) on procgen-smoke (test)" in page


def test_profiles_and_improvement_equal_scoring(synth_db):
    e = _eval_episodes(synth_db)
    mats = measure.matrices(measure.groups(e)[0], ML10)
    taus = np.linspace(0, 1, 5)
    prof = measure.profiles(mats, taus, 0, "ml10", reps=100)
    for agent, mat in mats.items():
        got = prof[prof["agent"] == agent]["estimate"].to_numpy()
        assert got == pytest.approx(scoring.performance_profile(mat, taus))
    imp = measure.improvement(mats, 0, "ml10", reps=100)
    r = imp[(imp["x"] == "amago2") & (imp["y"] == "random")].iloc[0]
    assert r["estimate"] == pytest.approx(float(scoring.probability_of_improvement(mats["amago2"], mats["random"])))
    ax = figures.plot_improvement(imp, ax=Figure().add_subplot())
    assert [t.get_text() for t in ax.get_yticklabels()][0].startswith("P(")


def test_an_agents_report_intervals_do_not_depend_on_other_agents(synth_db):
    e = _eval_episodes(synth_db)
    both = measure.quantities(measure.groups(e)[0], ML10, ci_seed=3, reps=200)
    alone = measure.quantities(measure.groups(e[e["agent"] == "amago2"])[0], ML10, ci_seed=3, reps=200)
    cols = ["task", "metric", "estimate", "lower", "upper"]
    pd.testing.assert_frame_equal(both[both["agent"] == "amago2"][cols].reset_index(drop=True),
                                  alone[cols].reset_index(drop=True))


def test_procgen_attempts_are_per_episode_normalised(synth_db):
    spec = get_suite("procgen-smoke")
    e = _eval_episodes(synth_db, suite="procgen-smoke")
    a = measure.attempts(e[e["agent"] == "amago2"], spec)
    for r in a.itertuples(index=False):
        ref = spec.task(r.task).reference
        raw = e[(e["agent"] == "amago2") & (e["task"] == r.task) & (e["episode"] == r.attempt - 1)]["return"]
        assert r.estimate == pytest.approx(np.mean([ref.normalise(2 * x) for x in raw]))


def test_cli_reports_every_suite_with_data_and_skips_the_rest(synth_db, tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["report", "--db", str(synth_db), "--out", str(out), "--format", "md", "--reps", "100",
                 "--suite", "ml10", "--suite", "scale-probe"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "scale-probe: no results" in cap.err and "skipped" in cap.err
    assert (out / "ml10" / "comparison.md").exists() and not (out / "scale-probe").exists()
    assert not list(out.rglob("*.png")) and not list(out.rglob("*.csv")) and not (out / "index.html").exists()
    assert main(["report", "--db", str(synth_db), "--out", str(tmp_path / "x"), "--format", "md,xls"]) == 2
    assert "--format" in capsys.readouterr().err
    assert main(["report", "--db", str(synth_db), "--suite", "ml46", "--out", str(tmp_path / "y")]) == 2
    assert "ml46" in capsys.readouterr().err


def test_report_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = capsys.readouterr().out
    for flag in ("--suite", "--out", "--format", "--split", "--metric", "--reps", "--ci-seed", "--db"):
        assert flag in out
    assert out.count("(default:") >= 7


def test_a_checkpoint_is_set_beside_the_reported_number_at_its_own_budget():
    """ML45 reports success at 50M and 100M: the 50M milestone's entry sits beside the 50M value
    only, the final checkpoint's (a little past 100M) beside the 100M value only."""
    import pandas as pd

    from amago_bench.report.paper import load_reported
    from amago_bench.report import tables
    from amago_bench.report.tables import comparison

    rep = load_reported()
    rep = rep[(rep["suite"] == "ml45") & (rep["metric"] == "success_pct") & (rep["our_agent"] == "amago2")]
    assert sorted(rep["env_steps"]) == [5e7, 1e8]
    labels = {"amago2 (amago2-paper, 50M steps)": 5.0016e7, "amago2 (amago2-paper)": 1.00008e8}
    measured = pd.DataFrame([
        {"agent": a, "split": "train", "task": "", "metric": "success_pct", "attempt": "", "estimate": v,
         "lower": v, "upper": v, "seeds": 3, "trials": 96} for a, v in zip(labels, (60.0, 80.0))])
    rows = comparison(measured, rep, steps=labels)
    got = {r.agent: r.reported for r in rows.itertuples() if r.measured == r.measured}
    assert got == {"amago2 (amago2-paper, 50M steps)": 70.8, "amago2 (amago2-paper)": 88.8}
    assert len(rows) == 2  # every reported number used once: none left over as "no data"
    unknown = comparison(measured.iloc[[1]], rep)  # no step count known: beside every budget, as before
    assert sorted(unknown.loc[unknown["measured"].notna(), "reported"]) == [70.8, 88.8]
    # shown once, with one reported column per budget (never the measured value repeated per budget)
    cells = tables.comparison_cells(unknown)
    assert len(cells) == 1
    row = cells.iloc[0]
    assert row["measured [95% CI]"] == "80.0% [n/a (1 seed)]" or row["measured [95% CI]"].startswith("80.0% [")
    assert row["reported, 50M steps"].startswith("70.8%") and row["reported, 100M steps"].startswith("88.8%")
    assert row["quantity"] == "success (%)"
