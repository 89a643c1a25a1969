"""Matrices of jobs (agents x suites x seeds): train each trainable agent, evaluate its checkpoint,
evaluate the untrained agents, all through the ledger, with progress and ETAs.

``amago-bench reproduce`` (the paper's matrix, then the reports) and ``amago-bench study scale``
(the scale-resistance study) are matrices. Every job is resumable: training resumes from its
last checkpoint and evaluation skips stored trials, so re-running a matrix after a crash or
Ctrl-C redoes only what was not finished. ``shard = (i, n)`` runs every n-th job starting at
i, so n processes (one per core, ``--threads 1``) can share one matrix and one database.

At ``budget = "paper"`` the jobs are the paper's experiments (:mod:`amago_bench.experiments`):
each with its own seeds, env-step budget (the trainer's epochs are set from it), the env-step
counts at which the paper reports (a checkpoint is kept at each and evaluated) and its
evaluation splits. Jobs run one after another in this process (``executor = "local"``, the
embedded default) or as Ray tasks across a cluster (``"ray"``, :mod:`amago_bench.ray_executor`).

Time estimates come from measured throughput (:mod:`amago_bench.costs`): a calibration of the
job's kind on this device (``reproduce --calibrate``); else the ``progress.json`` of earlier
training runs of the same agent in the runs folder (same suite first); else
:data:`DEFAULT_RATES`, measured on a 2-core CPU at the small budget (see its note), which the
dry run labels a guess.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from amago_bench.agents import EVAL_AGENTS, TRAINERS, config_kind
from amago_bench.errors import UserError
from amago_bench.jobs import UNTRAINED, EvalRequest, run_evaluation
from amago_bench.suite import get_suite
from amago_bench.report.paper import format_steps
from amago_bench.train import CHECKPOINT_NAME, PROGRESS_NAME, format_clock, milestone_name, run_dir, train

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
    env_steps: int | None = None
    """Training env steps (the trainer's epochs are set from it); None: the budget's epochs."""
    report_at: tuple[int, ...] = ()
    """Env-step counts to evaluate at, besides the end of training (a checkpoint is kept at each)."""
    splits: tuple[str, ...] = ("test",)
    """Evaluation splits."""
    tables: tuple[str, ...] = ()
    """The paper's tables this job serves (``budget = "paper"``)."""

    @property
    def trained(self) -> bool:
        return self.agent not in UNTRAINED

    @property
    def keep_at(self) -> tuple[int, ...]:
        """Milestones whose checkpoint is kept besides the final one."""
        return tuple(s for s in self.report_at if self.env_steps is None or s < self.env_steps)

    def label(self) -> str:
        return f"{self.agent} on {self.suite}, seed {self.seed}" + (f", budget {self.budget}" if self.trained else "") + (
            f" ({format_steps(self.env_steps)})" if self.trained and self.env_steps else "")

    def key(self) -> str:
        """A file-name-safe identity of the job (its folder under ``<runs>/jobs``)."""
        steps = f"-{self.env_steps}" if self.env_steps else ""
        return f"{self.suite}--{self.agent}--{self.budget}{steps}--seed{self.seed}"


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
    tables: tuple[str, ...] = ()
    """``budget = "paper"``: only these experiments (default: all)."""
    executor: str = "local"
    """local (one process, the embedded default) or ray (:mod:`amago_bench.ray_executor`)."""
    ray_address: str | None = None
    """Join this Ray cluster (None: start a local Ray instance)."""
    cpus_per_job: float = 1.0
    gpus_per_job: float = 0.0
    max_retries: int = 3
    """Ray: times a job whose worker died is started again (it resumes from its checkpoint)."""

    def validate(self) -> None:
        if self.budget == "paper":  # agents, suites, seeds filter the experiments; empty = all
            from amago_bench.experiments import select

            select(self.tables)
        elif self.tables:
            raise UserError("--table selects the paper's experiments: use it with --budget paper")
        elif not self.agents or not self.suites or not self.seeds:
            raise UserError("a matrix needs at least one agent, one suite and one seed")
        if self.executor not in EXECUTORS:
            raise UserError(f"unknown --executor {self.executor!r}; valid: {', '.join(EXECUTORS)}")
        if not (self.cpus_per_job > 0 and self.gpus_per_job >= 0 and self.max_retries >= 0):
            raise UserError(f"--cpus-per-job must be > 0 and --gpus-per-job >= 0 (got {self.cpus_per_job}, "
                            f"{self.gpus_per_job}); retries >= 0")
        if self.ray_address and self.executor != "ray":
            raise UserError("--ray-address joins a Ray cluster: add --executor ray")
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


#: How a matrix's jobs are run.
EXECUTORS = ("local", "ray")


def plan(cfg: MatrixConfig) -> list[MatrixJob]:
    """Every job of the matrix (suite-major), then this shard's share."""
    cfg.validate()
    if cfg.budget == "paper":
        jobs = paper_jobs(cfg)
    else:
        jobs = [MatrixJob(a, s, seed, cfg.budget, splits=(cfg.eval_split,))
                for s in cfg.suites for a in cfg.agents for seed in cfg.seeds]
    i, n = cfg.shard
    return jobs[i::n]


def paper_jobs(cfg: MatrixConfig) -> list[MatrixJob]:
    """The paper's experiments (``cfg.tables``, default all) as jobs: one per agent x seed of each,
    plus the random agent's evaluation on each suite; ``cfg.agents`` / ``cfg.suites`` / ``cfg.seeds``,
    when given, keep only those. A job two tables share runs once (their milestones and splits merged)."""
    from amago_bench.experiments import select

    merged: dict[tuple, MatrixJob] = {}
    for exp in select(cfg.tables):
        if cfg.suites and exp.suite not in cfg.suites:
            continue
        seeds = tuple(cfg.seeds) if cfg.seeds else tuple(range(exp.seeds))
        agents = [*exp.agents, *(a for a in UNTRAINED if a == "random")]
        for agent in agents:
            if cfg.agents and agent not in cfg.agents:
                continue
            trained = agent not in UNTRAINED
            for seed in seeds:
                job = MatrixJob(agent, exp.suite, seed, "paper", env_steps=exp.env_steps if trained else None,
                                report_at=exp.report_at if trained else (), splits=exp.splits, tables=(exp.table,))
                key = (agent, exp.suite, seed, job.env_steps)
                old = merged.get(key)
                if old is not None:
                    job = MatrixJob(agent, exp.suite, seed, "paper", env_steps=job.env_steps,
                                    report_at=tuple(sorted({*old.report_at, *job.report_at})),
                                    splits=tuple(s for s in ("train", "test") if s in {*old.splits, *job.splits}),
                                    tables=(*old.tables, exp.table))
                merged[key] = job
    if not merged:
        raise UserError("no job left: --suites / --agents / --table select nothing of the paper's experiments "
                        "(see `amago-bench reproduce --budget paper --dry-run`)")
    return list(merged.values())


def _trainer(job: MatrixJob):
    return importlib.import_module(TRAINERS[config_kind(job.agent)].split(":")[0])


def job_epochs(job: MatrixJob) -> int | None:
    """Training epochs of a job with an env-step budget (None: the budget's own epochs)."""
    if not job.trained or job.env_steps is None:
        return None
    per_epoch = _trainer(job).steps_per_epoch(get_suite(job.suite), job.agent, job.budget)
    return max(1, math.ceil(job.env_steps / per_epoch))


def evaluation_env_steps(job: MatrixJob, cfg: MatrixConfig) -> int:
    """Env steps of every evaluation of a job, at most (each checkpoint on each split)."""
    spec = get_suite(job.suite)
    t = spec.trial
    per_trial = t.episodes * t.max_episode_steps
    n = sum(len(spec.task_names(split)) for split in job.splits) * cfg.eval_trials_per_task * per_trial
    return n * (1 + len(job.keep_at)) if job.trained else n


def planned_env_steps(job: MatrixJob, cfg: MatrixConfig) -> tuple[int, int]:
    """(training env steps, evaluation env steps at most) of one job."""
    n_eval = evaluation_env_steps(job, cfg)
    if not job.trained:
        return 0, n_eval
    spec, mod = get_suite(job.suite), _trainer(job)
    epochs = job_epochs(job)
    if epochs is not None:
        return epochs * int(mod.steps_per_epoch(spec, job.agent, job.budget)), n_eval
    return int(mod.planned_env_steps(spec, job.agent, job.budget)), n_eval


def _agent_name(agent: str) -> str:
    """The run-folder name of a config (its ``name`` key; a path's stem as a fallback)."""
    from amago_bench.agents import config_path, read_config

    p = config_path(agent)
    return str(read_config(p).get("name", p.stem))


def measured_rate(job: MatrixJob, cfg: MatrixConfig) -> float | None:
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


def estimate(job: MatrixJob, cfg: MatrixConfig, here: str | None = None) -> tuple[int, float, str]:
    """(env steps, estimated wall seconds, where the rate comes from) of a job that has not started."""
    from amago_bench.costs import training_rate

    train_steps, eval_steps = planned_env_steps(job, cfg)
    train_rate, eval_rate, source = training_rate(job, cfg, here)
    seconds = eval_steps / eval_rate + (train_steps / train_rate if job.trained and train_rate else 0.0)
    return train_steps + eval_steps, seconds, source


def estimate_seconds(job: MatrixJob, cfg: MatrixConfig) -> tuple[int, float]:
    """(env steps, estimated wall seconds) of a job that has not started."""
    steps, seconds, _ = estimate(job, cfg)
    return steps, seconds


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
    """Print the matrix: per job its env steps, estimated device-hours on this device and where
    the rate comes from; then per table (paper budget) and in all."""
    from amago_bench.costs import device_name

    jobs = plan(cfg)
    here = device_name(cfg.device)
    out(f"estimates for {here}")
    out(f"{'job':4s} {'agent':22s} {'suite':24s} {'seed':>4s} {'env steps':>14s} {'device-h':>9s}  done  rate from")
    per_table: dict[str, list[float]] = {}
    total, guesses = 0.0, 0
    for k, job in enumerate(jobs, 1):
        steps, sec, source = estimate(job, cfg, here)
        done = _done_fraction(job, cfg)
        total += sec * (1 - done)
        guesses += source.startswith("GUESS")
        for t in job.tables or ("(all)",):
            acc = per_table.setdefault(t, [0, 0.0, 0])
            acc[0] += steps
            acc[1] += sec
            acc[2] += source.startswith("GUESS")
        out(f"{k:<4d} {job.agent:22s} {job.suite:24s} {job.seed:4d} {steps:14,d} {sec / 3600:9.1f}  {done:4.0%}  {source}")
    if cfg.budget == "paper":
        out("per table:")
        for t, (steps, sec, guessed) in per_table.items():
            out(f"  {t:24s} {int(steps):16,d} env steps {sec / 3600:12,.1f} device-hours"
                + (f"  ({guessed} job(s) at GUESSED rates)" if guessed else ""))
    out(f"{len(jobs)} jobs, about {total / 3600:,.1f} device-hours left on {here} "
        f"({format_clock(total)} in one process; --executor ray spreads them over a cluster)")
    if guesses:
        out(f"{guesses} of {len(jobs)} estimates are GUESSES from built-in rates: run the same command with "
            "--calibrate (instead of --dry-run) to measure this device")
    return jobs


def run(cfg: MatrixConfig, log: Callable[[str], None] | None = None, progress: bool = True) -> list[MatrixJob]:
    """Run (or resume) every job of this shard, here or on Ray (``cfg.executor``); returns the jobs."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    jobs = plan(cfg)
    estimates = [estimate_seconds(j, cfg)[1] * (1 - _done_fraction(j, cfg)) for j in jobs]
    t0 = time.perf_counter()
    if cfg.executor == "ray":
        from amago_bench.ray_executor import run_on_ray

        run_on_ray(cfg, jobs, estimates, log)
    else:
        spent_est = 0.0
        for k, (job, est) in enumerate(zip(jobs, estimates), 1):
            left = sum(estimates[k - 1:])
            elapsed = time.perf_counter() - t0
            scale = elapsed / spent_est if spent_est > 0 and elapsed > 0 else 1.0  # learn from the jobs so far
            log(f"[{k}/{len(jobs)}] {job.label()}: est. {format_clock(est * scale)}; matrix ETA {format_clock(left * scale)}")
            run_job(job, cfg, log, progress)
            spent_est += est
    log(f"matrix done: {len(jobs)} jobs in {format_clock(time.perf_counter() - t0)}")
    return jobs


def run_job(job: MatrixJob, cfg: MatrixConfig, log: Callable[[str], None], progress: bool,
            db: str | None = None) -> None:
    """One job: train (or resume) the agent, then evaluate the kept milestone checkpoints and the
    final one on each of the job's splits; an untrained agent is only evaluated. Results go to
    ``db`` (default ``cfg.db``; a Ray worker passes its job's journal)."""
    db = cfg.db if db is None else db
    checkpoints: list[str | None] = [None]
    agent = job.agent
    if job.trained:
        res = train(job.suite, agent=job.agent, budget=job.budget, seed=job.seed, runs_root=cfg.runs_root,
                    device=cfg.device, db=db, log=log, threads=cfg.threads, epochs=job_epochs(job),
                    keep_at=job.keep_at)
        checkpoints = [str(res.run_dir / milestone_name(s)) for s in job.keep_at] + [str(res.checkpoint)]
        agent = EVAL_AGENTS[config_kind(job.agent)]
    for checkpoint in checkpoints:
        for split in job.splits:
            run_evaluation(EvalRequest(suite=job.suite, agent=agent, checkpoint=checkpoint, split=split,
                                       seeds=(job.seed,), trials_per_task=cfg.eval_trials_per_task, db=db,
                                       progress=progress), log=log)


def checkpoint_of(job: MatrixJob, cfg: MatrixConfig) -> Path:
    return run_dir(cfg.runs_root, job.suite, _agent_name(job.agent), job.budget, job.seed) / CHECKPOINT_NAME

