"""Tables as a reader and a paper see them: intervals (n/a with one seed), units, the best value
in bold, and every generated .tex compiled by a real LaTeX engine at a paper's text width.

Needs ``pdflatex`` (Debian's texlive-latex-base + texlive-latex-recommended; scripts/test.sh
installs them when run as root). Without it the compile test FAILS and says why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from amago_bench.report import tables
from amago_bench.report.writer import relative, repo_root


def test_an_interval_over_one_seed_says_not_available():
    assert tables.interval(0.5, 0.4, 0.6, seeds=3) == "0.500 [0.400, 0.600]"
    assert tables.interval(0.5, 0.5, 0.5, seeds=1) == "0.500 [n/a (1 seed)]"
    assert tables.interval(51.25, 40.0, 60.0, seeds=2, pct=True) == "51.2% [40.0, 60.0]"
    assert tables.interval(float("nan"), 0, 0, seeds=3) == tables.NO_DATA


def test_leaderboard_headers_carry_units_and_one_seed_cells_no_interval(synth_report):
    out, result = synth_report
    g = result.sections[0].groups[0]
    cols = list(pd.DataFrame(g["rows"]).columns)
    assert "IQM, normalised fraction [95% CI]" in cols and "optimality gap, normalised fraction [95% CI]" in cols
    board = pd.DataFrame({"metric": ["iqm", "mean"], "agent": ["a", "a"], "estimate": [0.3, 0.4], "lower": [0.3, 0.4],
                          "upper": [0.3, 0.4], "seeds": [1, 1], "trials": [8, 8], "rank": [1, 1]})
    cells = tables.aggregate_cells(board, score="success")
    assert cells.iloc[0]["IQM, success fraction [95% CI]"] == "0.300 [n/a (1 seed)]"


def test_best_value_per_column_is_bold_and_lower_is_better_for_the_gap():
    df = pd.DataFrame({"agent": ["a", "b", "c"], "IQM (x) [95% CI]": ["0.5 [0.4, 0.6]", "0.7 [0.6, 0.8]", "no data"],
                       "optimality gap (x) [95% CI]": ["0.5 [0.4, 0.6]", "0.3 [0.2, 0.4]", "0.9 [0.8, 1.0]"]})
    best = tables.best_columns(df)
    assert best == {"IQM (x) [95% CI]": "max", "optimality gap (x) [95% CI]": "min"}
    tex = tables.to_latex(df, "c", "tab:c", best=best)
    assert r"\textbf{0.7 [0.6, 0.8]}" in tex and r"\textbf{0.3 [0.2, 0.4]}" in tex
    assert tex.count(r"\textbf") == 2


def test_long_tables_become_longtables():
    df = pd.DataFrame({"task": [f"task_{i}" for i in range(tables.LONG_ROWS + 5)], "v": ["1.0"] * (tables.LONG_ROWS + 5)})
    assert r"\begin{longtable}" in tables.to_latex(df, "long", "tab:l")
    assert r"\begin{tabular}" in tables.to_latex(df.head(5), "short", "tab:s")


DOC = r"""\documentclass{article}
\usepackage[textwidth=5.5in,textheight=9in]{geometry}
\usepackage[T1]{fontenc}
\usepackage{booktabs,longtable,array}
\begin{document}
%s
\end{document}
"""


def _pdflatex() -> str:
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.fail("pdflatex is missing: install Debian's texlive-latex-base and texlive-latex-recommended "
                    "(`apt-get install -y --no-install-recommends texlive-latex-base texlive-latex-recommended`, which "
                    "scripts/test.sh does when run as root); the .tex tables cannot be checked without it")
    return exe


def test_every_generated_tex_compiles_and_fits_a_papers_text_width(synth_report, tmp_path):
    exe = _pdflatex()
    out, _ = synth_report
    texs = sorted(out.rglob("*.tex"))
    assert {p.name for p in texs} >= {"leaderboard.tex", "comparison.tex"}
    long_df = pd.DataFrame({"agent": ["amago2 (amago2-paper, 50M steps)"] * 60, "task": [f"task_{i}" for i in range(60)],
                            "measured [95% CI]": ["51.2% [40.0, 60.0]"] * 60,
                            "source": ["Table 3 of the AMAGO-2 paper, read off the figure's right panel"] * 60})
    (tmp_path / "long.tex").write_text(tables.to_latex(long_df, "a long one", "tab:long"))
    for tex in texs + [tmp_path / "long.tex"]:
        assert tex.read_text().startswith("% needs \\usepackage{booktabs,longtable,array}")
        name = re.sub(r"[^a-z0-9]+", "-", str(tex.relative_to(tex.parents[1])).lower())
        doc = tmp_path / f"{name}.tex"
        doc.write_text(DOC % tex.read_text())
        for _ in range(2):  # longtable settles its column widths on the second pass
            run = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                                 capture_output=True, text=True, timeout=120)
        log = (tmp_path / f"{name}.log").read_text(errors="replace")
        assert run.returncode == 0, f"{tex} does not compile:\n{run.stdout[-2000:]}"
        assert (tmp_path / f"{name}.pdf").stat().st_size > 1000
        overfull = re.findall(r"Overfull \\hbox \((\d+\.\d+)pt too wide\)", log)
        assert all(float(x) < 2.0 for x in overfull), f"{tex} is wider than the text: {overfull}"


def test_every_report_folder_states_what_made_it(synth_report, synth_db):
    out, _ = synth_report
    info = json.loads((out / "run.json").read_text())
    assert set(info) >= {"command", "amago_bench_version", "git_commit", "git_dirty", "utc", "db"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["utc"])
    assert info["amago_bench_version"] and isinstance(info["git_dirty"], bool)
    page = (out / "index.html").read_text()
    assert f"amago-bench {info['amago_bench_version']}" in page and str(info["git_commit"])[:10] in page
    assert str(repo_root()) not in page and str(repo_root()) not in (out / "README.md").read_text()


def test_paths_inside_the_repository_are_written_relative():
    root = repo_root()
    doc = {"checkpoint": f"{root}/runs/ml10/amago2-small-seed0/checkpoint.pt", "n": 3,
           "list": [f"{root}/results/a.db", "/elsewhere/x"]}
    assert relative(doc) == {"checkpoint": "runs/ml10/amago2-small-seed0/checkpoint.pt", "n": 3,
                             "list": ["results/a.db", "/elsewhere/x"]}
    assert (Path(root) / "amago_bench").is_dir()


def test_evaluation_seeds_of_one_checkpoint_are_one_training_seed():
    """The demo evaluates one trained checkpoint with 3 evaluation seeds: a pipeline check (1
    training seed), which the page's banner must say; 3 checkpoints of one recipe are 3."""
    from amago_bench.report.page import pipeline_reasons
    from amago_bench.report.writer import Section, training_seeds

    def cfg(seed, name="checkpoint.pt"):
        return json.dumps({"ref": "amago2", "checkpoint": f"runs/scale-probe/amago2-small-seed{seed}/{name}"})

    runs = pd.DataFrame({"run_id": ["a", "b", "c", "d", "e"],
                         "agent_config": [cfg(0), cfg(0), cfg(0), cfg(1, "checkpoint-5000.pt"), json.dumps({"ref": "random"})]})
    assert training_seeds(runs, ["a", "b", "c"]) == 1
    assert training_seeds(runs, ["a", "d"]) == 2
    assert training_seeds(runs, ["e"]) is None

    def section(budget):
        head = [{"agent": "amago2", "rank": 1, "estimate": 0.9, "lower": 0.8, "upper": 1.0, "seeds": 3}]
        return Section("scale-probe", "", groups=[{"main": True, "split": "test", "score": "normalised",
                                                   "headline": head}], budgets={"amago2": budget})

    assert pipeline_reasons([section("small budget, 10.2k steps, 1 training seed")]) == [
        "scale-probe: 1 training seed (fewer than 3)"]
    assert pipeline_reasons([section("small budget, 10.2k steps, 3 training seeds")]) == []
    assert pipeline_reasons([section("smoke budget, 64 steps, 3 training seeds")]) == [
        "scale-probe: smoke training budget"]


def test_budget_cells_count_training_seeds_only_for_checkpoints_trained_here():
    from amago_bench.report.measure import NOT_TRAINED, TRAINED_OUTSIDE
    from amago_bench.report.writer import budget_cell

    assert budget_cell("small budget, 10.2k steps", 3) == "small budget, 10.2k steps, 3 training seeds"
    assert budget_cell("small budget, 10.2k steps", 1) == "small budget, 10.2k steps, 1 training seed"
    assert budget_cell(TRAINED_OUTSIDE, 1) == "trained outside amago-bench"
    assert budget_cell(NOT_TRAINED, None) == "not trained"
