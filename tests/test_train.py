"""The training loop: smoke runs, resume, SIGKILL safety, and the trained agent in evaluation.
Learning tests (small budget) are marked slow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from amago_bench.evaluate import evaluate  # noqa: E402
from amago_bench.policy import load_agent  # noqa: E402
from amago_bench.suite import get_suite  # noqa: E402
from amago_bench.train import train  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_smoke_train_resume_and_evaluate(tmp_path):
    db = tmp_path / "r.db"
    res = train("scale-probe", "amago2", "smoke", seed=0, runs_root=tmp_path / "runs", db=str(db), log=None, threads=1)
    assert res.epochs == 2 and res.updates == 6 and res.env_steps == 64
    assert res.checkpoint.is_file() and (res.run_dir / "replay").is_dir()
    assert len(list((res.run_dir / "replay").glob("*.npz"))) == 8  # 64 steps / 8 steps per trial
    assert len(res.eval_scores) == 1 and set(res.eval_scores[0]["tasks"]) == set(get_suite("scale-probe").task_names())
    # the results store got one evaluation round with env steps
    from amago_bench.store import ResultsStore

    with ResultsStore(db) as store:
        eps = store.episodes(run_ids=[res.run_id])
    assert len(eps) == 4 * 2  # 4 tasks x 1 trial x 2 episodes
    # re-running the same command resumes: nothing left to do, counters unchanged
    again = train("scale-probe", "amago2", "smoke", seed=0, runs_root=tmp_path / "runs", db=str(db), log=None, threads=1)
    assert (again.epochs, again.updates, again.env_steps) == (2, 6, 64)
    # more epochs continue from the checkpoint
    more = train("scale-probe", "amago2", "smoke", seed=0, runs_root=tmp_path / "runs", db=str(db), log=None, epochs=3, threads=1)
    assert (more.epochs, more.updates, more.env_steps) == (3, 9, 96)
    # the checkpoint is an agent for the evaluation protocol
    agent = load_agent("amago2", checkpoint=str(more.checkpoint))
    recs = evaluate(agent, get_suite("scale-probe"), split="test", trials_per_task=1, seed=1, num_envs=4)
    assert len(recs) == 8 and all(np.isfinite(r["return"]) for r in recs)


def test_config_mismatch_on_resume_is_an_error(tmp_path):
    from amago_bench.agents.amago2.learner import CheckpointError

    train("scale-probe", "amago2", "smoke", seed=0, runs_root=tmp_path, store=False, log=None, threads=1, epochs=1)
    # a different agent config in the same run directory
    cfg = tmp_path / "amago2.toml"
    cfg.write_text('name = "amago2"\nextends = "amago2"\n[budgets.smoke.model]\nd_model = 16\n')
    with pytest.raises(CheckpointError, match="model.d_model"):
        train("scale-probe", str(cfg), "smoke", seed=0, runs_root=tmp_path, store=False, log=None, threads=1, epochs=1)


def test_sigkill_leaves_a_resumable_run(tmp_path):
    cmd = [sys.executable, "-m", "amago_bench.cli", "train", "--suite", "scale-probe", "--budget", "smoke",
           "--epochs", "40", "--runs", str(tmp_path), "--no-store", "--threads", "1"]
    ck = tmp_path / "scale-probe" / "amago2-smoke-seed0" / "checkpoint.pt"
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not ck.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(0.3)
        assert proc.poll() is None, "training ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    from amago_bench.agents.amago2.learner import read_checkpoint

    epoch_killed = read_checkpoint(ck)["extra"]["counters"]["epoch"]  # loadable whatever the moment of the kill
    assert 1 <= epoch_killed < 40
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"resuming" in out.stdout and f"from epoch {epoch_killed}" in out.stdout
    assert read_checkpoint(ck)["extra"]["counters"]["epoch"] == 40


def test_unknown_agent_config_and_budget_are_clear_errors(tmp_path):
    from amago_bench.errors import UserError

    with pytest.raises(UserError, match="unknown agent config 'amago3'"):
        train("scale-probe", "amago3", "smoke", runs_root=tmp_path, store=False, log=None)
    with pytest.raises(UserError, match="unknown budget"):
        train("scale-probe", "amago2", "huge", runs_root=tmp_path, store=False, log=None)


# -- learning tests (small budget) ----------------------------------------------------------------
# One torch thread: on the shared 2-core machine, with other jobs running, a probe run with 2 torch
# threads took ~50 s per 100-update epoch against ~1.3 s with 1 thread (OpenMP threads waiting on
# each other when the cores are oversubscribed).


@pytest.fixture(scope="module")
def probe_amago2(tmp_path_factory):
    """amago2 on scale-probe at the small budget, seed 0 (shared by the two probe tests)."""
    return train("scale-probe", "amago2", "small", seed=0, runs_root=tmp_path_factory.mktemp("probe"), store=False,
                 log=None, threads=1)


@pytest.mark.slow
def test_learns_scale_probe_at_every_scale(probe_amago2):
    """Small budget (80 epochs, 10,240 env steps, 8,000 updates; ~2-3 min on 1 thread). Measured at
    the end of training (32 test trials per task), normalised x0.01 / x1 / x100 / x1e4:
    seed 0: 0.75 / 0.90 / 0.95 / 1.00 (mean 0.90); seed 1: 0.65 / 0.94 / 0.83 / 0.44 (mean 0.71);
    rerun at 1 thread with later model/loss code: seed 0: 0.33 / 0.84 / 0.90 / 0.42 (mean 0.62),
    seed 1: 1.00 / 1.00 / 1.00 / 0.81 (mean 0.95). The seed-0 rerun passes the bounds narrowly.
    A policy that greedily repeats one arm scores <= 0.25 on every scale, so mean >= 0.55 with no
    scale below 0.3 means the agent searches in episode 1 and exploits in episode 2 at all four
    scales (random = 0, oracle = 1). Re-run after the per-action critic head became the default
    for discrete actions: passes (and the main job's amago2 IQM on this suite went from 0.30 to 0.92)."""
    last = probe_amago2.eval_scores[-1]
    assert last["normalised"] >= 0.55, last
    assert min(last["tasks"].values()) >= 0.3, last


@pytest.mark.slow
def test_scale_resistant_losses_beat_scale_dependent_on_the_probe(probe_amago2, tmp_path):
    """The paper's central claim on the probe: with returns mixed over six orders of magnitude, the
    same agent with both losses scale-dependent (dep-dep: PopArt MSE critic, -Q actor) learns
    nothing at the budget where amago2 (Ind./Ind.) does. Measured at the end of training (small
    budget, 1 thread), normalised x0.01 / x1 / x100 / x1e4 (mean):
    amago2  seed 0: 0.33 / 0.84 / 0.90 / 0.42 (0.62); seed 1: 1.00 / 1.00 / 1.00 / 0.81 (0.95)
    dep-dep seed 0: 0.17 / -0.12 / 0.17 / 0.08 (0.07); seed 1: 0.00 / 0.00 / -0.08 / -0.04 (-0.03)
    Control: dep-dep trained on bandit-x1 alone at the same budget scores 1.00 (seed 0), so its
    failure here comes from mixing the scales, not from the loss being unable to learn the task.
    Smallest per-scale gap over both seeds: 0.16 (x0.01, seed 0); mean gaps 0.55 and 0.98."""
    dep = train("scale-probe", "dep-dep", "small", seed=0, runs_root=tmp_path, store=False, log=None, threads=1)
    ind, dd = probe_amago2.eval_scores[-1]["tasks"], dep.eval_scores[-1]["tasks"]
    assert set(ind) == set(dd)
    assert np.mean(list(dd.values())) <= 0.2, dd  # dep-dep stays near random (0) on the mixed suite
    assert np.mean(list(ind.values())) - np.mean(list(dd.values())) >= 0.4, (ind, dd)
    for task in ind:  # and amago2 is ahead on every scale, the extreme ones included
        assert ind[task] - dd[task] >= 0.1, (task, ind, dd)


@pytest.mark.slow
def test_learns_popgym_repeat_previous_single_episode(tmp_path):
    """POPGym RepeatPreviousEasy (repeat the suit shown 3 steps earlier: pure memory), single task, one
    episode per trial, with the one POPGym setting of the small budget (issue 20: 8 actors, 250
    updates per 2,000 env steps, d_model 128, tau 0.02, epsilon U(0, 1) x a scale annealed 1 -> 0.2
    over 10k env steps; reports/fidelity/README.md, "One POPGym default"). Measured, normalised
    (random 0, expert 1), every 2,000 env steps: seed 0: 0.10 0.29 0.52 0.87 0.997 1.00; seed 1:
    0.12 0.65 0.98 1.00 1.00. The reference AMAGO's AMAGO-1 agent reaches >= 0.95 at 10,000 env steps
    on both seeds. The same agent with the paper's action-input critic head stays near 0 (earlier
    settings, seed 0: 0.00 0.02 -0.01 -0.00 -0.00 through 10,000 env steps), as it did at up to 200k
    env steps and 30k updates on the 2-episode popgym27 protocol (the one-shot protocol: see the next
    test)."""
    pytest.importorskip("popgym")
    res = train("popgym-repeat-single", "amago2", "small", seed=0, runs_root=tmp_path, store=False, log=None, threads=1,
                epochs=5)
    assert res.env_steps == 10000  # 5 epochs, ~5-9 min on 1 thread
    assert max(e["normalised"] for e in res.eval_scores) >= 0.95, res.eval_scores
    assert res.eval_scores[-1]["normalised"] >= 0.9, res.eval_scores


# The paper's one-shot protocol (popgym27's trials: 2 episodes, the first one's rewards given as 0 and
# shown only in the observation, the second scored), each task with its own actions and the one POPGym
# setting of the small budget (issue 20 item 2; reports/fidelity/README.md, "One-shot side by side",
# where the reference AMAGO's `agent` under the same protocol reaches 0.9 on neither task by 32k).
# Measured, normalised score of the scored episode every 2,000 env steps:
# - RepeatPreviousEasy, seed 0: -0.01 -0.00 0.01 0.00 0.01 0.01 0.01 0.01 -0.01 0.01 0.23 0.98 (24k) 0.98
#   1.00 1.00 1.00; seed 1: -0.02 0.04 0.06 0.03 0.01 0.01 0.00 -0.02 -0.01 0.01 0.01 0.55 (24k) 0.997 (26k)
#   1.00 1.00 1.00. 14 epochs = 28k env steps, ~13-25 min on 1 thread.
# - PositionOnlyCartPoleEasy, seed 0: -0.07 -0.06 0.34 0.54 0.73 0.99 (12k) 0.61 0.94 0.21 0.84 1.00 0.51 0.50
#   1.00 0.51 0.49; seed 1: -0.07 -0.07 0.42 0.44 0.46 0.79 0.60 0.85 0.59 0.88 0.99 (22k) 1.00 0.98 0.93 0.98
#   1.00. The greedy policy swings between evaluations after its first high one. 6 epochs = 12k env steps,
#   ~5-8 min on 1 thread.
# Seed 0 is tested (training is deterministic on 1 thread); the test asks for the best evaluation.
@pytest.mark.slow
@pytest.mark.parametrize("suite, epochs", [("popgym-repeat-oneshot", 14), ("popgym-cartpole-oneshot", 6)])
def test_learns_popgym_one_shot(tmp_path, suite, epochs):
    pytest.importorskip("popgym")
    res = train(suite, "amago2", "small", seed=0, runs_root=tmp_path, store=False, log=None, threads=1, epochs=epochs)
    assert res.env_steps == 2000 * epochs
    assert max(e["normalised"] for e in res.eval_scores) >= 0.9, res.eval_scores


@pytest.mark.slow
def test_learns_popgym_position_only_cartpole_single_episode(tmp_path):
    """POPGym PositionOnlyCartPoleEasy (velocities must come from the history), single task, one
    episode per trial, with the one POPGym setting of the small budget (issue 20; reports/fidelity/
    README.md, "One POPGym default"). Issue 20 asks for >= 0.95 within 30k env steps on 2 of 2 seeds;
    the default does NOT meet that yet: normalised every 2,000 env steps, seed 0: -0.07 -0.07 0.07
    -0.06 0.17 0.21 0.24 0.31 0.45 0.47 0.54 0.69 0.57 0.79 0.94 (30k) 0.89; seed 1: -0.07 -0.07 -0.07
    0.25 0.16 0.19 0.41 0.63 0.59 0.57 0.99 (22k) 1.00 1.00 1.00 1.00. So this test guards what seed 0
    does (best >= 0.9 by 30k), not the issue's target. Seed 0 is tested: training is deterministic on
    1 thread. With the earlier per-suite setting (tau 0.02, epsilon U(0, 0.2) throughout, tuned on this
    task) seeds 0-3 reached 0.95 at 24k, 30k, 22k and not by 32k; with the reference's settings
    (tau 0.003, epsilon U(0, 1)) 0.28 and 0.61 at 32k, the reference AMAGO 0.38 and 0.28. ~15-25 min
    on 1 thread."""
    pytest.importorskip("popgym")
    res = train("popgym-cartpole-single", "amago2", "small", seed=0, runs_root=tmp_path, store=False, log=None, threads=1,
                epochs=15)
    assert res.env_steps == 30000
    assert max(e["normalised"] for e in res.eval_scores) >= 0.9, res.eval_scores


@pytest.mark.slow
def test_learns_popgym_memory_task_that_a_memoryless_agent_cannot(tmp_path):
    """POPGym PositionOnlyCartPoleEasy (cart position and pole angle only; the velocities must
    come from the history) under the popgym27 one-shot protocol (2 episodes, the first
    unrewarded) at the small budget: 200k env steps, 10,000 updates. Since issue 20 the suite trains
    with the one POPGym setting of the small budget (d_model 128 over 128 tokens, tau 0.02, epsilon
    U(0, 1) x a scale annealed 1 -> 0.2 over 10k env steps). Measured under that setting (2026-12-07,
    the same two trainings through `amago-bench train`, seed 0, 1 thread each, side by side on the
    2 cores): the memory agent 0.56 0.98 0.88 0.52 0.71 0.67 1.00 0.69 0.53 1.00 (best 1.00, last
    1.00; 2,191 s), the feed-forward one 0.13 0.21 0.18 0.21 0.21 0.18 0.20 0.17 0.19 0.18 (last 0.18;
    1,195 s), so the assertions hold with margin and the test takes ~55 min. The numbers below are
    from the earlier setting (d_model 64 over 32 tokens, tau 0.003, epsilon annealed 1 -> 0.05 over
    40k env steps). Measured with the per-action critic head (normalised, random 0, expert 1; evaluations every
    20k env steps), seed 0: -0.07 0.44 -0.03 0.71 0.80 0.74 0.89 0.99 0.21 1.00; with the earlier
    action-input head: seed 0 ended at 0.61, seed 1 at 0.79 (best 0.79). The same agent with the
    feed-forward (memoryless) trajectory encoder, seed 0: -0.07 0.10 0.11 0.12 0.11 0.12 0.13 0.15 0.11 0.18
    (earlier: 0.14 and 0.09 at the end). The curve is noisy (0.21 right after 0.99), so the test
    asks for the best evaluation, and the old bound on the last one."""
    pytest.importorskip("popgym")
    mem = train("popgym-cartpole-smoke", "amago2", "small", seed=0, runs_root=tmp_path, store=False, log=None, threads=1)
    ff_cfg = tmp_path / "amago2-ff.toml"
    ff_cfg.write_text('name = "amago2-ff"\nextends = "amago2"\n[model]\ntraj_encoder = "ff"\n')
    ff = train("popgym-cartpole-smoke", str(ff_cfg), "small", seed=0, runs_root=tmp_path, store=False, log=None, threads=1)
    a, b = mem.eval_scores[-1]["normalised"], ff.eval_scores[-1]["normalised"]
    assert max(e["normalised"] for e in mem.eval_scores) >= 0.9, mem.eval_scores
    assert a >= 0.35, mem.eval_scores
    assert b <= 0.25, ff.eval_scores
    assert a - b >= 0.2, (a, b)


@pytest.mark.slow
def test_learns_point_nav_with_continuous_actions(tmp_path):
    """The continuous-action path (action-input critic, tanh-Gaussian filtered-BC actor, Gaussian
    exploration, action scaling) learns the point-nav probe: a goal hidden on a semicircle, found
    from rewards, 2-episode trials with episode 2 scored (random 0, goal-knowing oracle 1). Small
    budget: 250 epochs, 80,000 env steps, 25,000 updates; training wall 1,743 s and 2,556 s (seeds
    0 and 1, 1 thread, on the 2-core machine shared with other jobs). Measured (normalised,
    evaluations of 32 test trials every 1,600 env steps; reports/fidelity/README.md, "Continuous
    actions"), the evaluations from 64k env steps on:
    seed 0 (first >= 0.8 at 57,600): 0.78 0.86 0.88 0.88 0.88 0.90 0.89 0.89 0.90 0.89 0.90
    seed 1 (first >= 0.8 at 62,400): 0.83 0.70 0.83 0.84 0.84 0.85 0.86 0.84 0.86 0.87 0.83
    The best open-loop walk to one fixed point scores 0.34, so >= 0.8 needs the rewards in context.
    The curves dip by up to 0.14 between neighbouring evaluations, so the test asks for the best
    evaluation of the last 16,000 env steps (0.90 / 0.87 measured) and a looser bound on the last.
    This test passed in 28 min 07 s (seed 0 uninterrupted: same curve up to 63k, last 0.89 0.86 0.90)."""
    res = train("point-nav", "amago2", "small", seed=0, runs_root=tmp_path, store=False, log=None, threads=1)
    assert res.env_steps == 80000
    late = [e["normalised"] for e in res.eval_scores if e["env_steps"] >= 64000]
    assert len(late) == 11 and max(late) >= 0.8, res.eval_scores
    assert late[-1] >= 0.7, res.eval_scores


def test_metrics_csv_drops_evaluations_after_the_last_checkpoint(tmp_path):
    """A run killed between an evaluation and its checkpoint evaluates again on resume; the
    recorder then drops that evaluation's old rows, so metrics.csv never holds a row twice."""
    import csv

    from amago_bench.evaluate import Job
    from amago_bench.train import RunRecorder

    path = tmp_path / "metrics.csv"
    ep = {"task": "t", "trial": 0, "episode": 0, "return": 1.0, "length": 3, "success": float("nan"), "scored": True,
          "truncated": False, "variant": 0}
    rec = RunRecorder(path, None, None, None, evals_done=0)
    for eval_no in range(3):
        rec.add(eval_no, 1, Job("t", 0, 0, 0, 0), [ep], env_steps=100 * eval_no)
    RunRecorder(path, None, None, None, evals_done=2)  # resume from a checkpoint taken after 2 evaluations
    rows = list(csv.reader(open(path)))
    assert rows[0][:3] == ["env_steps", "eval", "task"] and [r[1] for r in rows[1:]] == ["0", "1"]
    rec = RunRecorder(path, None, None, None, evals_done=2)
    rec.add(2, 1, Job("t", 0, 0, 0, 0), [ep], env_steps=200)
    rows = list(csv.reader(open(path)))
    assert [r[1] for r in rows[1:]] == ["0", "1", "2"]


def test_agent_registry_lists_every_config_with_its_kind_and_dispatches(capsys):
    from amago_bench.agents import TRAINERS, config_kind, list_agents
    from amago_bench.cli import main

    rows = {name: kind for name, kind, _ in list_agents()}
    assert rows == {"amago2": "amago2", "dep-dep": "amago2", "ind-actor-dep-critic": "amago2",
                    "dep-actor-ind-critic": "amago2", "dep-dep-clipped": "amago2", "rl2-ppo-gru": "rl2-ppo", "random": "untrained",
                    "probe-oracle": "untrained"}
    assert set(TRAINERS) == {"amago2", "rl2-ppo"} and config_kind("dep-dep") == "amago2"
    assert main(["agents"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(rows) and all(line.split()[0] in rows for line in out)


def test_format_clock_and_the_epochs_override():
    import dataclasses

    from amago_bench.agents.amago2.config import AgentConfig
    from amago_bench.errors import UserError
    from amago_bench.train import format_clock, with_epochs

    assert [format_clock(s) for s in (0, 59.4, 61, 3599, 3600, 36061)] == ["0:00", "0:59", "1:01", "59:59", "1:00:00",
                                                                           "10:01:01"]
    cfg = AgentConfig()
    assert with_epochs(cfg, None) is cfg
    assert with_epochs(cfg, 0) == dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=0))
    with pytest.raises(UserError, match="--epochs must be >= 0, got -1"):
        with_epochs(cfg, -1)


def test_eta_follows_the_pace_of_the_epochs_that_learn(tmp_path, monkeypatch):
    """10 epochs: 2 that only collect (1 s each), then epochs that learn (10 s each). After the
    first learning epoch the estimate is 7 x 10 s, not the all-epoch average's 7 x 4 s."""
    import dataclasses

    import amago_bench.train as train_module
    from amago_bench.agents.amago2.config import load_config
    from amago_bench.train import TrainingRun

    clock = [0.0]
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: clock[0])
    spec = get_suite("scale-probe")
    cfg = load_config("amago2", spec.name, spec.family, "smoke")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=10))
    run = TrainingRun(spec, cfg, "smoke", 0, tmp_path, log=None)
    etas = []
    for epoch, (seconds, learning) in enumerate([(1, False), (1, False), (10, True), (10, True), (12, True)]):
        clock[0] += seconds
        etas.append(run.eta(epoch, learning))
    assert etas[:2] == [pytest.approx(9 * 1), pytest.approx(8 * 1)]  # nothing learned yet: the pace so far
    assert etas[2:] == [pytest.approx(7 * 10), pytest.approx(6 * 10), pytest.approx(5 * 32 / 3)]
