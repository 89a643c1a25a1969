"""Matrices of jobs (agents x suites x seeds): train each trainable agent, evaluate its checkpoint,
evaluate the untrained agents, all through the ledger, with progress and ETAs.

``amago-bench reproduce`` (the paper's matrix, then the reports) and ``amago-bench study scale``
(the scale-resistance study) are matrices. Every job is resumable: training resumes from its
last checkpoint and evaluation skips stored trials, so re-running a matrix after a crash or
Ctrl-C redoes only what was not finished. ``shard = (i, n)`` runs every n-th job starting at
i, so n processes (one per core, ``--threads 1``) can share one matrix and one database.

Time estimates come from measured throughput: the ``progress.json`` that every training run
writes next to its checkpoint (env steps and wall seconds so far), from any earlier run of the
same agent on the same suite in the runs folder; else from the other suites' runs of that
agent kind; else from :data:`DEFAULT_RATES`, measured on a 2-core CPU (see its note).
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from amago_bench.agents import EVAL_AGENTS, TRAINERS, config_kind
from amago_bench.errors import UserError
from amago_bench.jobs import UNTRAINED, EvalRequest, run_evaluation
from amago_bench.suite import get_suite
from amago_bench.train import CHECKPOINT_NAME, PROGRESS_NAME, format_clock, run_dir, train

#: Training env steps per wall second (collection, updates and evaluations together) by agent
#: kind at the small budgets, measured by `amago-bench study scale` on scale-probe on a 2-core
#: CPU (10,240 env steps in 480-929 s for the AMAGO-2 variants, 204,800 in 123-179 s for
#: RL^2-PPO; --threads 1, more jobs than cores, so conservative), used only when no run of the
#: agent exists yet in the runs folder.
DEFAULT_RATES: dict[str, float] = {"amago2": 15.0, "rl2-ppo": 1300.0}
#: Evaluation env steps per second assumed for the estimate of an evaluation job.
EVAL_RATE = 2000.0


@dataclass(frozen=True)
class MatrixJob:
    """Train ``agent`` (a config) on ``suite`` with training seed ``seed`` at ``budget``, then
    evaluate the checkpoint with evaluation seed ``seed``; an untrained agent is only evaluated."""

    agent: str
    suite: str
    seed: int
    budget: str

    @property
    def trained(self) -> bool:
        return self.agent not in UNTRAINED

    def label(self) -> str:
        return f"{self.agent} on {self.suite}, seed {self.seed}" + (f", budget {self.budget}" if self.trained else "")


@dataclass(frozen=True)
class MatrixConfig:
    agents: tuple[str, ...]
    suites: tuple[str, ...]
    seeds: tuple[int, ...]
    budget: str = "small"
    eval_trials_per_task: int = 32
    eval_split: str = "test"
    runs_root: str = "runs"
    db: str | None = None
    threads: int | None = None
    device: str | None = None
    shard: tuple[int, int] = (0, 1)

    def validate(self) -> None:
        if not self.agents or not self.suites or not self.seeds:
            raise UserError("a matrix needs at least one agent, one suite and one seed")
        if any(s < 0 for s in self.seeds) or len(set(self.seeds)) != len(self.seeds):
            raise UserError(f"seeds must be distinct and >= 0, got {list(self.seeds)}")
        if self.eval_trials_per_task < 1:
            raise UserError(f"evaluation trials per task must be >= 1, got {self.eval_trials_per_task}")
        i, n = self.shard
        if not (n >= 1 and 0 <= i < n):
            raise UserError(f"--shard {i}/{n}: give i/n with 0 <= i < n")
        for a in self.agents:
            if a not in UNTRAINED:
                config_kind(a)  # unknown names fail here with the list of known configs
        for s in self.suites:
            get_suite(s)


def plan(cfg: MatrixConfig) -> list[MatrixJob]:
    """Every job of the matrix (suite-major), then this shard's share."""
    cfg.validate()
    jobs = [MatrixJob(a, s, seed, cfg.budget) for s in cfg.suites for a in cfg.agents for seed in cfg.seeds]
    i, n = cfg.shard
    return jobs[i::n]


def planned_env_steps(job: MatrixJob, cfg: MatrixConfig) -> tuple[int, int]:
    """(training env steps, evaluation env steps at most) of one job."""
    spec = get_suite(job.suite)
    t = spec.trial
    n_eval = len(spec.task_names(cfg.eval_split)) * cfg.eval_trials_per_task * t.episodes * t.max_episode_steps
    if not job.trained:
        return 0, n_eval
    kind = config_kind(job.agent)
    mod = importlib.import_module(TRAINERS[kind].split(":")[0])
    return int(mod.planned_env_steps(spec, job.agent, job.budget)), n_eval


def _agent_name(agent: str) -> str:
    """The run-folder name of a config (its ``name`` key; a path's stem as a fallback)."""
    from amago_bench.agents import config_path, read_config

    p = config_path(agent)
    return str(read_config(p).get("name", p.stem))


def _measured_rate(job: MatrixJob, cfg: MatrixConfig) -> float | None:
    """Training env steps per second of runs of this agent in the runs folder (same suite first)."""
    root = Path(cfg.runs_root)
    name = _agent_name(job.agent)
    for pattern in (f"{job.suite}/{name}-*/{PROGRESS_NAME}", f"*/{name}-*/{PROGRESS_NAME}"):
        steps = wall = 0.0
        for p in root.glob(pattern):
            try:
                doc = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            steps, wall = steps + doc.get("env_steps", 0), wall + doc.get("wall_s", 0.0)
        if steps > 0 and wall > 0:
            return steps / wall
    return None


def estimate_seconds(job: MatrixJob, cfg: MatrixConfig) -> tuple[int, float]:
    """(env steps, estimated wall seconds) of a job that has not started."""
    train_steps, eval_steps = planned_env_steps(job, cfg)
    seconds = eval_steps / EVAL_RATE
    if job.trained:
        rate = _measured_rate(job, cfg) or DEFAULT_RATES[config_kind(job.agent)]
        seconds += train_steps / rate
    return train_steps + eval_steps, seconds


def _done_fraction(job: MatrixJob, cfg: MatrixConfig) -> float:
    if not job.trained:
        return 0.0
    p = run_dir(cfg.runs_root, job.suite, _agent_name(job.agent), job.budget, job.seed) / PROGRESS_NAME
    try:
        doc = json.loads(p.read_text())
        return min(1.0, doc["epoch"] / max(1, doc["epochs"]))
    except (OSError, ValueError, KeyError):
        return 0.0


def dry_run(cfg: MatrixConfig, out: Callable[[str], None] = print) -> list[MatrixJob]:
    """Print the matrix: one line per job with env steps and estimated wall time."""
    jobs = plan(cfg)
    total = 0.0
    out(f"{'job':4s} {'agent':22s} {'suite':24s} {'seed':>4s} {'env steps':>12s} {'est. time':>10s}  done")
    for k, job in enumerate(jobs, 1):
        steps, sec = estimate_seconds(job, cfg)
        left = sec * (1 - _done_fraction(job, cfg))
        total += left
        out(f"{k:<4d} {job.agent:22s} {job.suite:24s} {job.seed:4d} {steps:12,d} {format_clock(sec):>10s}  "
            f"{_done_fraction(job, cfg):4.0%}")
    out(f"{len(jobs)} jobs, about {format_clock(total)} of wall time left at the measured rates "
        f"(one process; split with --shard i/n across cores)")
    return jobs


def run(cfg: MatrixConfig, log: Callable[[str], None] | None = None, progress: bool = True) -> list[MatrixJob]:
    """Run (or resume) every job of this shard; returns the jobs."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    jobs = plan(cfg)
    estimates = [estimate_seconds(j, cfg)[1] * (1 - _done_fraction(j, cfg)) for j in jobs]
    t0 = time.perf_counter()
    spent_est = 0.0
    for k, (job, est) in enumerate(zip(jobs, estimates), 1):
        left = sum(estimates[k - 1:])
        elapsed = time.perf_counter() - t0
        scale = elapsed / spent_est if spent_est > 0 and elapsed > 0 else 1.0  # learn from the jobs so far
        log(f"[{k}/{len(jobs)}] {job.label()}: est. {format_clock(est * scale)}; matrix ETA {format_clock(left * scale)}")
        _run_job(job, cfg, log, progress)
        spent_est += est
    log(f"matrix done: {len(jobs)} jobs in {format_clock(time.perf_counter() - t0)}")
    return jobs


def _run_job(job: MatrixJob, cfg: MatrixConfig, log: Callable[[str], None], progress: bool) -> None:
    checkpoint = None
    agent = job.agent
    if job.trained:
        res = train(job.suite, agent=job.agent, budget=job.budget, seed=job.seed, runs_root=cfg.runs_root,
                    device=cfg.device, db=cfg.db, log=log, threads=cfg.threads)
        checkpoint = str(res.checkpoint)
        agent = EVAL_AGENTS[config_kind(job.agent)]
    run_evaluation(EvalRequest(suite=job.suite, agent=agent, checkpoint=checkpoint, split=cfg.eval_split,
                               seeds=(job.seed,), trials_per_task=cfg.eval_trials_per_task, db=cfg.db,
                               progress=progress), log=log)


def checkpoint_of(job: MatrixJob, cfg: MatrixConfig) -> Path:
    return run_dir(cfg.runs_root, job.suite, _agent_name(job.agent), job.budget, job.seed) / CHECKPOINT_NAME

