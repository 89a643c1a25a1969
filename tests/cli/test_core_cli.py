"""CLI smoke runs: suites, evaluate (store, resume, summary), calibrate, report, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from amago_bench.cli import main
from amago_bench.store import ResultsStore


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "amago_bench.cli", "--help"], capture_output=True, text=True, check=True)
    for cmd in ("suites", "evaluate", "calibrate", "leaderboard", "runs", "export", "report"):
        assert cmd in out.stdout


def test_suites_lists_packages_and_status(capsys):
    code, out, _ = run(capsys, "suites")
    assert code == 0
    assert "popgym27" in out and "scale-probe" in out and "27/27" in out


def test_ids_lists_every_gymnasium_id_with_the_split_gym_make_builds(capsys):
    import gymnasium as gym

    from amago_bench.gym_ids import GENERIC_ID, shipped_ids

    code, out, _ = run(capsys, "ids")
    assert code == 0
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:-1]}
    assert set(rows) == {GENERIC_ID, *shipped_ids()} and len(rows) > 200
    assert all(i in gym.registry for i in rows)  # every listed id is one gym.make knows
    assert rows["amago_bench/babyai-v0"] == "train" and rows["amago_bench/babyai.FindObjS5-v0"] == "test"
    env = gym.make("amago_bench/scale-probe.bandit-x1-v0")  # what it lists is what gym.make builds
    assert rows["amago_bench/scale-probe.bandit-x1-v0"] == env.unwrapped.split == "train"
    env.close()

    code, out, _ = run(capsys, "ids", "--suite", "scale-probe")
    assert code == 0 and len(out.splitlines()) == 1 + 5 + 1 and GENERIC_ID not in out
    code, out, err = run(capsys, "ids", "--suite", "scale-prob")
    assert code == 2 and out == "" and err.count("\n") == 1 and "unknown suite 'scale-prob'; known: " in err


def test_evaluate_scores_the_test_split_and_gym_make_the_train_split_by_default(capsys):
    """The two defaults differ on purpose (README: "Train on a suite with SB3"); both come from suite.py."""
    import gymnasium as gym

    from amago_bench.cli import build_parser
    from amago_bench.suite import EVAL_SPLIT, TRAIN_SPLIT

    assert (EVAL_SPLIT, TRAIN_SPLIT) == ("test", "train")
    assert build_parser().parse_args(["evaluate", "--suite", "scale-probe"]).split == EVAL_SPLIT
    env = gym.make("amago_bench/scale-probe-v0")
    assert env.unwrapped.split == TRAIN_SPLIT
    env.close()


def test_evaluate_stores_summarises_and_resumes(capsys, tmp_path):
    db = str(tmp_path / "r.db")
    argv = ["evaluate", "--suite", "scale-probe", "--agent", "probe-oracle", "--trials-per-task", "3",
            "--seeds", "0", "1", "--num-envs", "2", "--no-progress", "--db", db]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "bandit-x10000" in out and "mean over tasks" in out
    with ResultsStore(db) as s:
        e = s.episodes()
        assert len(e) == 2 * 4 * 3 * 2  # seeds x tasks x trials x episodes
        assert set(s.runs()["status"]) == {"finished"}
    code, _, err = run(capsys, *argv)  # same command again: nothing re-run, nothing duplicated
    assert code == 0 and "nothing to run" in err
    with ResultsStore(db) as s:
        assert len(s.episodes()) == 2 * 4 * 3 * 2


def test_evaluate_json_summary(capsys, tmp_path):
    code, out, _ = run(capsys, "evaluate", "--suite", "scale-probe", "--agent", "probe-oracle", "--trials-per-task",
                       "2", "--no-progress", "--json", "--db", str(tmp_path / "r.db"))
    rows = json.loads(out)
    assert code == 0 and len(rows) == 4 and all(abs(r["normalised"] - 1.0) < 1e-9 for r in rows)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--suite", "ml46"], "unknown suite 'ml46'; known:"),
        (["--suite", "scale-probe", "--tasks", "nope"], "unknown task 'nope'"),
        (["--suite", "scale-probe", "--agent", "nope"], "unknown agent 'nope'"),
        (["--suite", "scale-probe", "--agent", "amago_bench.policy:RandomAgent", "--checkpoint", "/no/such.pt"],
         "does not exist"),
        (["--suite", "scale-probe", "--backend", "envpool"], "valid: official"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, tmp_path, argv, message):
    code, _, err = run(capsys, "evaluate", *argv, "--no-progress", "--db", str(tmp_path / "r.db"))
    assert code == 2
    assert message in err and "Traceback" not in err


def test_bad_agent_output_marks_the_run_failed(capsys, tmp_path):
    db = str(tmp_path / "r.db")
    code, _, err = run(capsys, "evaluate", "--suite", "scale-probe", "--agent", "tests.cli.agents:NaNAgent",
                       "--no-progress", "--db", db)
    assert code == 2 and "NaN" in err and "task 'bandit" in err
    with ResultsStore(db) as s:
        assert list(s.runs()["status"]) == ["failed"]
        assert s.episodes().empty


def test_calibrate_writes_provenance(capsys, tmp_path):
    out = tmp_path / "ref.json"
    code, _, _ = run(capsys, "calibrate", "--suite", "scale-probe", "--trials-per-task", "40", "--seeds", "0",
                     "--out", str(out))
    doc = json.loads(out.read_text())
    assert code == 0
    assert doc["suite"] == "scale-probe" and doc["seeds"] == [0] and "command" in doc and doc["packages"]["numpy"]
    # the analytic random reference of the probe is 1 x scale: the measurement agrees
    for task, scale in [("bandit-x1", 1.0), ("bandit-x10000", 1e4)]:
        row = doc["tasks"][task]
        assert row["trials"] == 80
        assert abs(row["mean"] - scale) < 4 * row["stderr"] + 0.05 * scale


def test_report_writes_tables_and_figures(capsys, tmp_path):
    db = str(tmp_path / "r.db")
    for agent in ("random", "probe-oracle"):
        assert main(["evaluate", "--suite", "scale-probe", "--agent", agent, "--trials-per-task", "5",
                     "--seeds", "0", "1", "--no-progress", "--db", db]) == 0
    out = tmp_path / "rep"
    code, printed, _ = run(capsys, "report", "--suite", "scale-probe", "--db", db, "--out", str(out), "--reps", "200")
    assert code == 0
    import pandas as pd

    board = pd.read_csv(out / "scale-probe" / "leaderboard.csv")
    iqm = board[board["metric"] == "iqm"].sort_values("rank")
    assert list(iqm["agent"]) == ["probe-oracle", "random"]
    for name in ("scale-probe/task_scores_test.png", "scale-probe/task_scores_test.svg", "scale-probe/aggregate_test.png",
                 "README.md", "index.html"):
        assert (out / name).stat().st_size > 0
    assert "git" in (out / "README.md").read_text() + (out / "scale-probe" / "leaderboard.md").read_text()
