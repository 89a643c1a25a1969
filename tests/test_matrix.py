"""Job matrices (reproduce, study): planning, shards, estimates, a real smoke study end to end,
and a resumed matrix that redoes nothing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from amago_bench.errors import UserError  # noqa: E402
from amago_bench.matrix import (MatrixConfig, dry_run, estimate_seconds, job_epochs, plan,  # noqa: E402
                                planned_env_steps, run)
from amago_bench.report.study import aggregate, seed_scores, summarise, write_scale_study  # noqa: E402
from amago_bench.scoring import iqm  # noqa: E402


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


def test_dry_run_lists_every_job_with_an_estimate_and_says_where_each_rate_comes_from(tmp_path):
    from amago_bench.costs import calibrate_matrix, load_calibration

    cfg = MatrixConfig(agents=("amago2", "rl2-ppo-gru", "random"), suites=("scale-probe",), seeds=(0, 1),
                       budget="small", runs_root=str(tmp_path), threads=1)
    lines = []
    jobs = dry_run(cfg, lines.append)
    assert len(jobs) == 6 and len(lines) == 2 + 6 + 2
    assert lines[0].startswith("estimates for cpu: ")
    assert all("GUESS" in line for line in lines[2:8]) and "6 of 6 estimates are GUESSES" in lines[-1]
    steps, sec = estimate_seconds(jobs[0], cfg)
    assert steps > 10_000 and sec > 0
    # a calibration on this device replaces every guess with a measured rate
    smoke = MatrixConfig(**{**cfg.__dict__, "budget": "small"})
    rates = calibrate_matrix(smoke, out=lambda m: None)
    assert {(r["agent"], r["budget"]) for r in rates} == {("amago2", "small"), ("rl2-ppo-gru", "small"), ("random", "-")}
    assert all(r["device"].startswith("cpu: ") and r["eval_env_steps_per_s"] > 0 for r in rates)
    assert load_calibration(tmp_path) == rates
    lines = []
    dry_run(cfg, lines.append)
    assert all("calibrated here" in line for line in lines[2:8]) and "GUESS" not in lines[-1]
    trained = next(r for r in rates if r["agent"] == "amago2")
    _, sec2 = estimate_seconds(jobs[0], cfg)
    expected = planned_env_steps(jobs[0], cfg)
    assert sec2 == pytest.approx(expected[0] / trained["train_env_steps_per_s"] + expected[1] / trained["eval_env_steps_per_s"])


def test_the_paper_budget_plans_the_papers_experiments():
    from amago_bench.experiments import load_experiments

    exps = load_experiments()
    jobs = plan(MatrixConfig(agents=(), suites=(), seeds=(), budget="paper"))
    for exp in exps.values():
        mine = [j for j in jobs if exp.table in j.tables]
        trained = [j for j in mine if j.trained]
        assert len(trained) == len(exp.agents) * exp.seeds
        assert {j.seed for j in mine} == set(range(exp.seeds))
        for j in trained:
            assert j.env_steps == exp.env_steps and j.report_at == exp.report_at and j.splits == exp.splits
            assert j.keep_at == exp.report_at[:-1]
            epochs = job_epochs(j)
            per_epoch = planned_env_steps(j, MatrixConfig(agents=(), suites=(), seeds=(), budget="paper"))[0] // epochs
            assert (epochs - 1) * per_epoch < exp.env_steps <= epochs * per_epoch  # the budget, rounded up to an epoch
        assert {j.agent for j in mine if not j.trained} == {"random"}
    ml45 = plan(MatrixConfig(agents=(), suites=(), seeds=(), budget="paper", tables=("ml45",)))
    assert {j.suite for j in ml45} == {"ml45"} and len(ml45) == 5 * 3 + 3
    one = plan(MatrixConfig(agents=("amago2",), suites=(), seeds=(0,), budget="paper", tables=("ml45", "popgym27")))
    assert [(j.agent, j.suite, j.seed) for j in one] == [("amago2", "ml45", 0), ("amago2", "popgym27", 0)]
    with pytest.raises(UserError, match="select nothing"):
        plan(MatrixConfig(agents=("amago2",), suites=("scale-probe",), seeds=(), budget="paper"))


def test_a_job_with_an_env_step_budget_keeps_and_evaluates_its_milestone_checkpoints(tmp_path):
    import torch

    from amago_bench.matrix import MatrixJob, run_job
    from amago_bench.store import ResultsStore

    cfg = MatrixConfig(agents=("amago2",), suites=("scale-probe",), seeds=(0,), budget="smoke", eval_trials_per_task=1,
                       runs_root=str(tmp_path / "runs"), db=str(tmp_path / "r.db"), threads=1)
    # smoke: 2 envs x 16 steps = 32 env steps an epoch; 80 env steps -> 3 epochs, milestone 40 kept after epoch 2
    job = MatrixJob("amago2", "scale-probe", 0, "smoke", env_steps=80, report_at=(40, 80), splits=("train", "test"))
    assert job_epochs(job) == 3 and job.keep_at == (40,)
    run_job(job, cfg, log=lambda m: None, progress=False)
    folder = tmp_path / "runs" / "scale-probe" / "amago2-smoke-seed0"
    kept = torch.load(folder / "checkpoint-40.pt", weights_only=False)
    final = torch.load(folder / "checkpoint.pt", weights_only=False)
    assert kept["extra"]["counters"]["env_steps"] == 64 and final["extra"]["counters"]["env_steps"] == 96
    with ResultsStore(cfg.db) as store:
        runs = store.runs()
    evals = runs[runs["kind"] == "evaluate"]
    assert sorted(evals["split"]) == ["test", "test", "train", "train"]  # 2 checkpoints x 2 splits
    assert sum("checkpoint-40.pt" in c for c in evals["agent_config"]) == 2
    # a run stopped between saving the milestone's checkpoint and copying it copies it on resume
    from amago_bench.train import train

    shutil.rmtree(folder)
    train("scale-probe", agent="amago2", budget="smoke", seed=0, runs_root=str(tmp_path / "runs"), epochs=2,
          keep_at=(100,), log=None, threads=1, store=False)
    assert not (folder / "checkpoint-100.pt").exists()
    train("scale-probe", agent="amago2", budget="smoke", seed=0, runs_root=str(tmp_path / "runs"), epochs=2,
          keep_at=(40,), log=None, threads=1, store=False)  # resumed at epoch 2 (64 steps >= 40): copied at once
    kept = torch.load(folder / "checkpoint-40.pt", weights_only=False)
    assert kept["extra"]["counters"]["env_steps"] == 64


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
    assert "| amago2 | " in (tmp_path / "out" / "README.md").read_text().split("IQM over every")[1]
    assert any(p.endswith("README.md") for p in written)
    # a second run of the whole matrix resumes: nothing is trained or evaluated again
    db = Path(cfg.db)
    before = _digest(db), {p: _digest(p) for p in (tmp_path / "runs").rglob("checkpoint.pt")}
    run(cfg, log=lambda m: None, progress=False)
    after = _digest(db), {p: _digest(p) for p in (tmp_path / "runs").rglob("checkpoint.pt")}
    assert after == before
    pd.testing.assert_frame_equal(seed_scores(cfg), scores)


def test_the_across_task_iqm_is_the_iqm_of_the_seed_by_task_scores_with_a_seeded_interval():
    rng = np.random.default_rng(3)
    rows = [{"suite": suite, "agent": agent, "seed": seed, "task": task, "normalised": float(rng.normal()), "trials": 8}
            for suite, tasks in [("multi", ["a", "b", "c"]), ("single", ["a"])]
            for agent in ["x", "y"] for seed in range(3) for task in tasks]
    scores = pd.DataFrame(rows)
    agg = aggregate(scores)
    assert set(agg["suite"]) == {"multi"}  # one task: no across-task aggregate
    for r in agg.itertuples():
        m = scores[(scores["suite"] == "multi") & (scores["agent"] == r.agent)].pivot(index="seed", columns="task", values="normalised")
        assert r.iqm == pytest.approx(iqm(m.to_numpy())) and r.mean == pytest.approx(m.to_numpy().mean())
        assert r.ci_low <= r.iqm <= r.ci_high and r.ci_low < r.ci_high and (r.seeds, r.tasks) == (3, 3)
    pd.testing.assert_frame_equal(aggregate(scores), agg)  # the interval is reproducible
    assert aggregate(scores, ci_seed=1)["ci_low"].tolist() != agg["ci_low"].tolist()
    missing = scores.drop(index=scores[(scores["suite"] == "multi") & (scores["agent"] == "y")].index[0])
    assert set(aggregate(missing)["agent"]) == {"x"}  # a missing (seed, task) score: no aggregate for that agent


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


def test_reproduce_paper_dry_run_lists_the_tables_and_bad_options_exit_2(tmp_path, monkeypatch, capsys):
    from amago_bench.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--budget", "paper", "--table", "popgym27", "--dry-run", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "popgym27" in out and "ml45" not in out and "per table:" in out and "device-hours" in out
    assert "30 jobs" not in out and "12 jobs" in out  # 3 agents x 3 seeds + random x 3 seeds
    for argv in (["reproduce", "--budget", "smoke", "--table", "ml45", "--dry-run"],
                 ["reproduce", "--budget", "paper", "--table", "nope", "--dry-run"],
                 ["reproduce", "--executor", "ray", "--cpus-per-job", "0", "--dry-run"],
                 ["reproduce", "--ray-address", "h:6379", "--dry-run"],
                 ["study", "scale", "--max-retries", "-1", "--dry-run"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("amago-bench: error:"), (argv, err)
    assert not (tmp_path / "results").exists()  # nothing was opened or written
