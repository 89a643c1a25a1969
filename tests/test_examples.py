"""amago_bench/examples/: the heuristic agent through the CLI, and the SB3 training script end to end (tiny
budget), both as the installed package's modules, from a folder outside the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from amago_bench.cli import main
from amago_bench.store import ResultsStore

ROOT = Path(__file__).resolve().parents[1]


def _evaluate_json(capsys, *argv) -> list[dict]:
    assert main(["evaluate", "--suite", "scale-probe", "--trials-per-task", "4", "--num-envs", "3",
                 "--no-progress", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


EXAMPLES = ROOT / "amago_bench" / "examples"


def test_heuristic_is_optimal_on_scale_probe_by_module_and_by_path(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the package's module, from any folder
    rows = _evaluate_json(capsys, "--agent", "amago_bench.examples.heuristic:WinStayLoseShift",
                          "--db", str(tmp_path / "a.db"))
    assert len(rows) == 4 and all(r["normalised"] == pytest.approx(1.0) for r in rows)  # every reward scale
    rows = _evaluate_json(capsys, "--agent", f"{EXAMPLES / 'heuristic.py'}:WinStayLoseShift",
                          "--db", str(tmp_path / "b.db"))
    assert all(r["normalised"] == pytest.approx(1.0) for r in rows)


def test_train_sb3_script_trains_both_and_scores_them_with_the_cli(tmp_path):
    pytest.importorskip("sb3_contrib")
    db = tmp_path / "r.db"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "amago_bench.examples.train_sb3", "--suite", "scale-probe", "--env-steps", "256",
         "--num-envs", "2", "--n-steps", "64", "--batch-size", "64", "--eval-trials", "2", "--out", "models",
         "--db", str(db)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "models" / "ppo-scale-probe.zip").is_file()
    assert (tmp_path / "models" / "recurrent_ppo-scale-probe.zip").is_file()
    assert proc.stdout.count("$ amago-bench evaluate --suite scale-probe --split test") == 2
    with ResultsStore(str(db)) as store:
        runs = store.runs()
        episodes = store.episodes()
    assert sorted(runs["agent"]) == ["sb3-ppo", "sb3-recurrent-ppo"]
    assert set(runs["status"]) == {"finished"} and set(runs["split"]) == {"test"}
    assert len(episodes) == 2 * 4 * 2 * 2  # agents x tasks x trials x episodes


def test_train_sb3_without_sb3_exits_2_naming_the_install_command(capsys, monkeypatch):
    from amago_bench.examples import train_sb3

    monkeypatch.setitem(sys.modules, "sb3_contrib", None)
    assert train_sb3.main(["--algo", "recurrent_ppo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train_sb3: error: --algo recurrent_ppo needs the Python package 'sb3_contrib'")
    assert err.endswith(f"install with: pip install -e '{ROOT}[sb3]'") and "\n" not in err
