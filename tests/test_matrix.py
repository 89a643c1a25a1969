"""Job matrices (reproduce, study): planning, shards, estimates, a real smoke study end to end,
and a resumed matrix that redoes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from amago_bench.errors import UserError  # noqa: E402
from amago_bench.matrix import MatrixConfig, dry_run, estimate_seconds, plan, run  # noqa: E402
from amago_bench.report.study import seed_scores, summarise, write_scale_study  # noqa: E402


def test_shards_partition_the_matrix():
    cfg = MatrixConfig(agents=("amago2", "dep-dep", "random"), suites=("scale-probe",), seeds=(0, 1, 2))
    full = plan(cfg)
    assert len(full) == 9
    parts = [plan(MatrixConfig(**{**cfg.__dict__, "shard": (i, 3)})) for i in range(3)]
    assert sorted(map(repr, sum(parts, []))) == sorted(map(repr, full))


@pytest.mark.parametrize("bad", [dict(agents=("nope",)), dict(seeds=(0, 0)), dict(seeds=(-1,)), dict(shard=(2, 2)),
                                 dict(suites=("nope",)), dict(eval_trials_per_task=0)])
def test_bad_matrices_are_refused(bad):
    cfg = MatrixConfig(**{**dict(agents=("amago2",), suites=("scale-probe",), seeds=(0,)), **bad})
    with pytest.raises(UserError):
        plan(cfg)


def test_dry_run_lists_every_job_with_an_estimate(tmp_path):
    cfg = MatrixConfig(agents=("amago2", "rl2-ppo-gru", "random"), suites=("scale-probe",), seeds=(0, 1),
                       budget="small", runs_root=str(tmp_path))
    lines = []
    jobs = dry_run(cfg, lines.append)
    assert len(jobs) == 6 and len(lines) == 8
    steps, sec = estimate_seconds(jobs[0], cfg)
    assert steps > 10_000 and sec > 0


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_smoke_study_end_to_end_and_resume(tmp_path):
    cfg = MatrixConfig(agents=("amago2", "rl2-ppo-gru", "random"), suites=("scale-probe",), seeds=(0, 1),
                       budget="smoke", eval_trials_per_task=2, runs_root=str(tmp_path / "runs"),
                       db=str(tmp_path / "s.db"), threads=1)
    run(cfg, log=lambda m: None, progress=False)
    scores = seed_scores(cfg)
    assert set(scores["agent"]) == {"amago2", "rl2-ppo-gru", "random"} and set(scores["seed"]) == {0, 1}
    assert len(scores) == 3 * 2 * 4 and (scores["trials"] == 2).all()
    summary = summarise(scores)
    merged = summary.merge(scores.groupby(["agent", "task"])["normalised"].mean().rename("direct").reset_index())
    assert np.allclose(merged["mean"], merged["direct"])
    assert (summary["ci_low"] <= summary["mean"] + 1e-12).all() and (summary["mean"] <= summary["ci_high"] + 1e-12).all()
    written = write_scale_study(cfg, tmp_path / "out", "test")
    assert (tmp_path / "out" / "scale_scale-probe.png").stat().st_size > 10_000
    assert any(p.endswith("README.md") for p in written)
    # a second run of the whole matrix resumes: nothing is trained or evaluated again
    db = Path(cfg.db)
    before = _digest(db), {p: _digest(p) for p in (tmp_path / "runs").rglob("checkpoint.pt")}
    run(cfg, log=lambda m: None, progress=False)
    after = _digest(db), {p: _digest(p) for p in (tmp_path / "runs").rglob("checkpoint.pt")}
    assert after == before
    pd.testing.assert_frame_equal(seed_scores(cfg), scores)


def test_reproduce_command_runs_its_matrix_and_writes_the_reports(tmp_path, monkeypatch):
    from amago_bench.cli import main

    monkeypatch.chdir(tmp_path)
    argv = ["reproduce", "--budget", "smoke", "--suites", "scale-probe", "--agents", "amago2", "random",
            "--threads", "1", "--db", "r.db", "--no-progress", "--out", "paper"]
    assert main(argv) == 0
    out = tmp_path / "paper"
    assert (out / "index.html").stat().st_size > 0 and (out / "run.json").exists()
    assert (out / "scale-probe" / "leaderboard.csv").exists()
    import json

    doc = json.loads((out / "run.json").read_text())
    assert doc["matrix"]["agents"] == ["amago2", "random"] and doc["wall_s_this_invocation"] > 0
