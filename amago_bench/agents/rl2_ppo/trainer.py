"""The RL^2-PPO trainer: epochs of collect / update / evaluate / checkpoint.

    collect    N parallel actors (a Gymnasium vector env of trial envs, train split, tasks drawn
               at random: multi-task batches, no task id) act with the current policy for L steps
               each; :class:`~amago_bench.agents.rl2_ppo.collector.SegmentCollector` is the
               :class:`amago_bench.rollout.Rollout` consumer that turns them into N segments
               with GAE advantages. Trials span segments; the GRU state at each segment's start
               is kept for truncated BPTT.
    update     ``ppo_epochs`` passes over the N segments in ``minibatches`` minibatches of whole
               env-sequences (clipped surrogate, clipped value loss, entropy bonus).
    evaluate   every K epochs, the current policy on the test split with the evaluation protocol;
               episodes go to the results store and ``metrics.csv`` with env_steps.
    checkpoint model, optimiser, reward-scaler statistics, counters and RNG states, written then
               renamed: a run killed at any point resumes from its last checkpoint when the same
               command is run again (collection restarts with fresh trials, as amago2's).

Run directory: ``runs/<suite>/<agent>-<budget>-seed<N>/`` with ``checkpoint.pt``, ``config.json``,
``tb/`` (TensorBoard) and ``metrics.csv`` (the layout of amago2's, without a replay).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from amago_bench.agents.rl2_ppo.config import load_config
from amago_bench.envs.spaces import space_from_spec
from amago_bench.errors import UserError
from amago_bench.rollout import RandomJobs, Rollout, make_vector_env
from amago_bench.suite import SuiteSpec
from amago_bench.train import (CHECKPOINT_NAME, RunRecorder, TrainResult, evaluation_entry, run_dir, training_manifest,
                               write_progress)


def train(
    spec: SuiteSpec,
    agent: str = "rl2-ppo-gru",
    budget: str = "small",
    seed: int = 0,
    runs_root: str | Path = "runs",
    device: str | None = None,
    fresh: bool = False,
    db: str | None = None,
    epochs: int | None = None,
    log: Callable[[str], None] | None = print,
    store: bool = True,
    threads: int | None = None,
    precision: str | None = None,
) -> TrainResult:
    """Train (or resume) the RL^2-PPO config ``agent`` on ``spec`` at ``budget``; see the module
    docstring. The signature is amago2's trainer's; ``precision`` must be fp32 (or auto/None)."""
    import torch

    from amago_bench.agents.checkpoint import rng_state, set_rng_state
    from amago_bench.agents.device import pick_device, set_threads
    from amago_bench.agents.rl2_ppo.agent import RL2Agent
    from amago_bench.agents.rl2_ppo.collector import SegmentCollector
    from amago_bench.agents.rl2_ppo.learner import Learner, check_compatible, read_checkpoint, save_checkpoint
    from amago_bench.agents.shapes import shapes_from_spaces

    log = log or (lambda s: None)
    cfg = load_config(agent, spec.name, spec.family, budget)
    if epochs is not None:
        if epochs < 0:
            raise UserError(f"--epochs must be >= 0, got {epochs}; leave it out for the budget's {cfg.train.epochs}")
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=int(epochs)))
    if precision not in (None, "auto", "fp32"):
        raise UserError(f"{cfg.name} trains in fp32 only; leave out --precision (got {precision!r})")
    tc = cfg.train
    out = run_dir(runs_root, spec.name, cfg.name, budget, seed)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT_NAME
    torch.set_flush_denormal(True)
    set_threads(threads)  # given, else OMP_NUM_THREADS, else min(2, cpu count)
    dev = pick_device(device)
    if spec.default_backend not in spec.backends:
        raise UserError(f"suite {spec.name!r}: default backend {spec.default_backend!r} is not one of {list(spec.backends)}")
    shapes = shapes_from_spaces(space_from_spec(spec.observation), space_from_spec(spec.action),
                                spec.trial.max_episode_steps, spec.trial.episodes)
    learner = Learner(cfg, shapes, dev, seed)
    rng = np.random.default_rng(seed)
    counters = {"epoch": 0, "env_steps": 0, "evals": 0, "run_id": None, "eval_scores": [], "wall_s": 0.0, "eval_s": 0.0}
    if ckpt_path.exists():
        data = read_checkpoint(ckpt_path)
        check_compatible(data, spec.name, shapes, cfg)
        learner.load_state_dict(data["learner"])
        counters.update(data["extra"]["counters"])
        set_rng_state(rng, data["extra"]["rng"])
        log(f"resuming {out} from epoch {counters['epoch']} ({counters['env_steps']} env steps, {learner.updates} updates)")
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    manifest = training_manifest(spec, cfg.name, cfg.to_dict(), seed, budget, tc.eval_trials_per_task, tc.eval_envs)
    results = RunRecorder(out / "metrics.csv", db, manifest if store else None, counters["run_id"], counters["evals"])
    writer = None
    if tc.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))
        except ImportError:
            log("tensorboard is not installed; metrics go to metrics.csv only (pip install -e '.[agent]')")
    collect_agent = RL2Agent(learner.model, cfg, suite=spec.name, sample=True)
    collector = SegmentCollector(collect_agent, learner.reward_scaler, cfg.ppo)
    rollout = None
    if counters["epoch"] < tc.epochs:
        collect_seed = int(rng.integers(2**31))
        rollout = Rollout(make_vector_env(spec, "train", tc.num_envs, tc.vector, spec.default_backend), spec,
                          collect_agent, collect_seed, RandomJobs(np.random.default_rng(collect_seed)))
    t0 = time.perf_counter()
    wall0 = float(counters.get("wall_s", 0.0))

    def wall() -> float:
        return wall0 + time.perf_counter() - t0

    def save() -> None:
        save_checkpoint(ckpt_path, learner, spec.name, spec.spec_hash,
                        {"counters": dict(counters), "rng": rng_state(rng), "budget": budget, "seed": seed})

    status, reason = "failed", "unknown"
    try:
        for epoch in range(counters["epoch"], tc.epochs):
            # -- collect ------------------------------------------------------------------------
            learner.set_progress(epoch / max(1, tc.epochs))
            segments, stats = collector.collect(rollout, tc.segment_len, dev)
            counters["env_steps"] += stats["env_steps"]
            # -- update ---------------------------------------------------------------------------
            metrics = learner.update(segments)
            # -- evaluate --------------------------------------------------------------------------
            summary = ""
            if (epoch + 1) % tc.eval_every == 0 or epoch + 1 == tc.epochs:
                eval_start = time.perf_counter()
                steps_now = counters["env_steps"]
                eval_agent = RL2Agent(learner.model, cfg, suite=spec.name, sample=tc.eval_sample)
                entry = evaluation_entry(eval_agent, spec, seed, tc.eval_trials_per_task, tc.eval_envs, results,
                                         counters["evals"], steps_now, epoch + 1)
                counters["run_id"] = results.run_id
                counters["eval_s"] = float(counters.get("eval_s", 0.0)) + time.perf_counter() - eval_start
                entry["wall_s"] = round(wall(), 3)  # since the run started, evaluations included
                entry["eval_s"] = round(counters["eval_s"], 3)  # of which evaluating
                counters["eval_scores"] = [*counters["eval_scores"], entry]
                counters["evals"] += 1
                summary = f" | eval normalised {entry['normalised']:.3f}"
                if writer:
                    writer.add_scalar("eval/normalised_mean", entry["normalised"], steps_now)
                    for t, v in entry["tasks"].items():
                        writer.add_scalar(f"eval/normalised/{t}", v, steps_now)
                        writer.add_scalar(f"eval/score/{t}", entry["score"][t], steps_now)
            if writer:
                for k, v in metrics.items():
                    writer.add_scalar(k, float(np.mean(v)), counters["env_steps"])
                for t, v in stats["returns"].items():
                    writer.add_scalar(f"train/return/{t}", float(np.mean(v)), counters["env_steps"])
            log(f"epoch {epoch + 1}/{tc.epochs} | env steps {counters['env_steps']} | updates {learner.updates} | "
                f"loss {np.mean(metrics['loss/total']):.3f} | entropy {np.mean(metrics['loss/entropy']):.3f} | "
                f"kl {np.mean(metrics['ppo/approx_kl']):.4f}{summary}")
            # -- checkpoint -----------------------------------------------------------------------
            counters["epoch"] = epoch + 1
            counters["wall_s"] = wall()
            if (epoch + 1) % tc.checkpoint_every == 0 or epoch + 1 == tc.epochs:
                save()
                write_progress(out, counters, tc.epochs)
        status, reason = "finished", None
    except KeyboardInterrupt:
        status, reason = "interrupted", "KeyboardInterrupt (Ctrl-C or SIGTERM); re-run the same command to resume"
        raise
    except BaseException as exc:
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if rollout is not None:
            rollout.close()
        if writer:
            writer.close()
        results.finish(status, reason)
    if not ckpt_path.exists():  # nothing to train (epochs = 0): still leave a loadable checkpoint
        save()
    return TrainResult(out, ckpt_path, counters["epoch"], counters["env_steps"], learner.updates,
                       time.perf_counter() - t0, counters["eval_scores"], counters["run_id"])


def planned_env_steps(spec: SuiteSpec, agent: str, budget: str) -> int:
    """Env steps of collection a training run of ``agent`` on ``spec`` at ``budget`` takes."""
    t = load_config(agent, spec.name, spec.family, budget).train
    return t.epochs * t.segment_len * t.num_envs
