"""Training runs, whatever the agent: dispatch to the agent's trainer, and what every trainer shares.

Each trainable agent config (a TOML file in ``amago_bench/data/agents/``) names its ``kind``;
:data:`amago_bench.agents.TRAINERS` maps the kind to the trainer function that lives with the
agent (``agents/amago2/trainer.py``, ``agents/rl2_ppo/trainer.py``). :func:`train` resolves the
suite and the config, then dispatches. What the trainers share lives here: the run directory,
the recorder that writes evaluation episodes into the results database and ``metrics.csv``,
and the evaluation entry each evaluation adds to the run's history.
"""

from __future__ import annotations

import csv
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


from amago_bench.agents import TRAINERS, config_kind
from amago_bench.evaluate import Job, evaluate
from amago_bench.suite import SuiteSpec, get_suite

CHECKPOINT_NAME = "checkpoint.pt"

def format_clock(seconds: float) -> str:
    """Seconds as a wall clock for progress lines and ETAs: ``m:ss``, or ``h:mm:ss`` from an hour."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def run_dir(root: str | Path, suite: str, agent: str, budget: str, seed: int) -> Path:
    return Path(root) / suite / f"{agent}-{budget}-seed{seed}"


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    epochs: int
    env_steps: int
    updates: int
    seconds: float
    eval_scores: list[dict[str, Any]]
    """One entry per evaluation: env_steps, mean normalised score, per-task normalised scores."""
    run_id: str | None


def train(suite: str | SuiteSpec, agent: str = "amago2", budget: str = "small", seed: int = 0, **kwargs: Any) -> TrainResult:
    """Train (or resume) the agent config ``agent`` on ``suite`` at ``budget`` with its kind's trainer.
    Keyword arguments (runs_root, device, fresh, db, epochs, log, store, threads, precision) go
    to the trainer."""
    spec = suite if isinstance(suite, SuiteSpec) else get_suite(suite)
    kind = config_kind(agent)
    mod_name, fn = TRAINERS[kind].split(":")
    trainer: Callable[..., TrainResult] = getattr(importlib.import_module(mod_name), fn)
    return trainer(spec, agent=agent, budget=budget, seed=seed, **kwargs)


# ---------------------------------------------------------------------------------------
# Recording evaluations


METRICS_HEADER = ["env_steps", "eval", "task", "trial", "episode", "return", "length", "success", "scored"]


class RunRecorder:
    """Evaluation episodes of a training run into the results store (optional) and ``metrics.csv``.

    The store run is opened lazily, at the first stored trial, so a run that fails before it
    evaluates anything leaves no record. On resume, ``metrics.csv`` rows of evaluations after
    the last checkpoint (``evals_done`` and later) are dropped: those evaluations run again.
    """

    def __init__(self, path_csv: Path, db: str | None, manifest_kwargs: dict[str, Any] | None, run_id: str | None,
                 evals_done: int = 0) -> None:
        self.csv = path_csv
        self.db, self.manifest_kwargs, self.run_id = db, manifest_kwargs, run_id
        self.store = None
        self._truncate(evals_done)

    def _truncate(self, evals_done: int) -> None:
        if not self.csv.exists():
            return
        with open(self.csv, newline="") as f:
            rows = list(csv.reader(f))
        keep = [r for r in rows[1:] if r and int(r[1]) < evals_done]
        if len(keep) != len(rows) - 1:
            tmp = self.csv.with_suffix(".csv.tmp")
            with open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(METRICS_HEADER)
                w.writerows(keep)
            tmp.replace(self.csv)

    def _open(self) -> None:
        if self.store is not None or self.manifest_kwargs is None:
            return
        from amago_bench.store import ResultsStore, RunManifest

        self.store = ResultsStore(self.db)
        self.run_id = self.store.open_run(RunManifest(**self.manifest_kwargs))

    def add(self, eval_no: int, trials_per_task: int, job: Job, episodes: list[dict], env_steps: int) -> None:
        trial = eval_no * trials_per_task + job.trial  # each evaluation round gets its own trial indices
        eps = [{**e, "trial": trial} for e in episodes]
        self._open()
        if self.store is not None:
            self.store.add_trial(self.run_id, job.task, trial, eps, env_steps=env_steps)
        new = not self.csv.exists()
        with open(self.csv, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(METRICS_HEADER)
            for e in eps:
                w.writerow([env_steps, eval_no, e["task"], trial, e["episode"], e["return"], e["length"], e["success"], e["scored"]])

    def finish(self, status: str = "finished", reason: str | None = None) -> None:
        """Record how the run ended. A run this process never wrote to keeps its record when it
        already has that status (a rerun with nothing to do changes no stored byte)."""
        if self.store is None:
            if self.manifest_kwargs is None or self.run_id is None:
                return  # nothing was ever stored for this run
            from amago_bench.store import ResultsStore

            self.store = ResultsStore(self.db)
            if self.store.run_info(self.run_id)["status"] == status:
                self.store.close()
                return
        self.store.finish_run(self.run_id, status, reason=reason)
        self.store.close()


def evaluation_entry(agent: Any, spec: SuiteSpec, seed: int, trials_per_task: int, num_envs: int,
                     recorder: RunRecorder | None, eval_no: int, env_steps: int, epoch: int) -> dict[str, Any]:
    """Evaluate ``agent`` on the test split (the evaluation protocol, seeded by the run seed),
    record every trial, and return the history entry: env steps, epoch, mean normalised score,
    per-task normalised scores and raw scores."""
    import pandas as pd

    from amago_bench.scoring import task_summary

    records = evaluate(agent, spec, split="test", trials_per_task=trials_per_task, seed=seed, num_envs=num_envs,
                       backend=spec.default_backend,
                       on_trial=(lambda job, eps: recorder.add(eval_no, trials_per_task, job, eps, env_steps))
                       if recorder else None)
    ts = task_summary(pd.DataFrame(records), spec)
    return {"env_steps": env_steps, "epoch": epoch, "normalised": float(ts["normalised"].mean()),
            "tasks": {t: float(v) for t, v in ts["normalised"].items()},
            "score": {t: float(v) for t, v in ts["score"].items()}}


PROGRESS_NAME = "progress.json"


def write_progress(out: Path, counters: dict[str, Any], epochs: int) -> None:
    """A plain-text summary of a run's counters next to its checkpoint (epoch, env steps, wall
    seconds): job matrices read it for throughput and ETAs without loading torch."""
    import json

    doc = {"epoch": int(counters["epoch"]), "epochs": int(epochs), "env_steps": int(counters["env_steps"]),
           "wall_s": round(float(counters.get("wall_s", 0.0)), 3)}
    tmp = out / (PROGRESS_NAME + ".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.replace(out / PROGRESS_NAME)


def training_manifest(spec: SuiteSpec, agent_name: str, agent_config: dict[str, Any], seed: int, budget: str,
                      trials_per_task: int, num_envs: int) -> dict[str, Any]:
    """The results-store manifest of a training run's evaluations."""
    return dict(kind="train", agent=agent_name, agent_config=agent_config, suite=spec.name, suite_hash=spec.spec_hash,
                split="test", seed=seed, trials_per_task=trials_per_task, num_envs=num_envs,
                backend=spec.default_backend, budget=budget, trial_protocol=spec.trial_protocol)


__all__ = ["format_clock", "write_progress", "PROGRESS_NAME", "train", "run_dir", "TrainResult", "RunRecorder", "evaluation_entry", "training_manifest", "CHECKPOINT_NAME"]
