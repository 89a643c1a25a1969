"""Training runs, whatever the agent: dispatch to the agent's trainer, and what every trainer shares.

Each trainable agent config (a TOML file in ``baselines/``) names its ``kind``;
:data:`amago_bench.agents.TRAINERS` maps the kind to the trainer function that lives with the
agent (``agents/amago2/trainer.py``, ``agents/rl2_ppo/trainer.py``). :func:`train` resolves the
suite and the config, then dispatches. What the trainers share lives here: the run directory,
:class:`TrainingRun` (a run's setup, counters, resume, clock, per-epoch evaluation and
checkpoint cadence, and how it ended), the recorder that writes evaluation episodes into the
results database and ``metrics.csv``, and the evaluation entry each evaluation adds to the
run's history.

Data-parallel runs (torchrun, or ``--ddp``; :mod:`amago_bench.agents.distributed`) go through the
same :class:`TrainingRun` on every rank: it knows its :class:`~amago_bench.agents.distributed.Ranks`,
and only rank 0 deletes (``--fresh``), evaluates, logs and writes.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import importlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar


from amago_bench.agents import TRAINERS, config_kind
from amago_bench.agents.distributed import SINGLE, Ranks, data_parallel, rank_seed
from amago_bench.errors import UserError
from amago_bench.evaluate import Job, evaluate
from amago_bench.installation import import_optional, pip_install
from amago_bench.suite import SuiteSpec, get_suite

CHECKPOINT_NAME = "checkpoint.pt"
#: The collection state saved beside each checkpoint: ``collection-<epoch>.npz``.
COLLECTION_PREFIX = "collection-"


def milestone_name(env_steps: int) -> str:
    """The file of the checkpoint kept at a milestone: the first epoch boundary at or past
    ``env_steps`` (e.g. ``checkpoint-50000000.pt``)."""
    return f"checkpoint-{int(env_steps)}.pt"


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
    rank: int = 0
    """The rank that returned this result (data-parallel runs: only rank 0's has the evaluations)."""


def train(suite: str | SuiteSpec, agent: str = "amago2", budget: str = "small", seed: int = 0, ddp: bool = False,
          **kwargs: Any) -> TrainResult:
    """Train (or resume) the agent config ``agent`` on ``suite`` at ``budget`` with its kind's trainer.
    Keyword arguments (runs_root, device, fresh, db, epochs, log, store, threads, precision, keep_at) go
    to the trainer. Launched by torchrun, or with ``ddp``, this process trains as one rank of a
    data-parallel run (:mod:`amago_bench.agents.distributed`)."""
    spec = suite if isinstance(suite, SuiteSpec) else get_suite(suite)
    kind = config_kind(agent)
    mod_name, fn = TRAINERS[kind].split(":")
    trainer: Callable[..., TrainResult] = getattr(import_optional(mod_name, f"training {agent!r}"), fn)
    with data_parallel(ddp, kwargs.get("device")) as ranks:
        if ranks is SINGLE:
            return trainer(spec, agent=agent, budget=budget, seed=seed, **kwargs)
        return trainer(spec, agent=agent, budget=budget, seed=seed, ranks=ranks, **kwargs)


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
        from amago_bench.journal import open_store
        from amago_bench.store import RunManifest

        self.store = open_store(self.db)
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
            from amago_bench.journal import open_store

            self.store = open_store(self.db)
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
                      trials_per_task: int, num_envs: int, run_folder: Path | None = None) -> dict[str, Any]:
    """The results-store manifest of a training run's evaluations. The run folder is part of it:
    the same config trained into another ``--runs`` folder is another run with its own record."""
    if run_folder is not None:
        agent_config = {**agent_config, "run_folder": str(Path(run_folder).resolve())}
    return dict(kind="train", agent=agent_name, agent_config=agent_config, suite=spec.name, suite_hash=spec.spec_hash,
                split="test", seed=seed, trials_per_task=trials_per_task, num_envs=num_envs,
                backend=spec.default_backend, budget=budget, trial_protocol=spec.trial_protocol)


# ---------------------------------------------------------------------------------------
# One training run, whatever the agent

C = TypeVar("C")


def with_epochs(cfg: C, epochs: int | None) -> C:
    """``cfg`` with ``train.epochs`` set to the ``--epochs`` override (None: the budget's)."""
    if epochs is None:
        return cfg
    if epochs < 0:
        raise UserError(f"--epochs must be >= 0, got {epochs}; leave it out for the budget's {cfg.train.epochs}")
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=int(epochs)))


class TrainingRun:
    """What every trainer does around its own collect / update steps, in the order it does it.

    Construction makes the run directory (``--fresh`` deletes it first). :meth:`setup` sets torch
    up (flush denormals, threads, device) and returns the device and the suite's
    :class:`~amago_bench.agents.shapes.Shapes`; :meth:`resume` loads the last checkpoint, if any,
    into the learner, :attr:`counters` and :attr:`rng`; :meth:`open_records` writes
    ``config.json`` and opens the recorder and TensorBoard. Inside ``with run.recording(...)``
    the trainer loops over :meth:`epochs`, calling :meth:`evaluate` and :meth:`end_epoch` (the
    checkpoint cadence) each epoch; the block records how the run ended (finished,
    interrupted, failed). :meth:`result` leaves a checkpoint even when there was nothing to
    train and returns the :class:`TrainResult`.

    ``cfg`` is an agent config with ``name``, ``to_dict()`` and a ``train`` section with epochs,
    eval_every, eval_trials_per_task, eval_envs, checkpoint_every and tensorboard.
    """

    def __init__(self, spec: SuiteSpec, cfg: Any, budget: str, seed: int, runs_root: str | Path = "runs",
                 fresh: bool = False, log: Callable[[str], None] | None = print, keep_at: tuple[int, ...] = (),
                 ranks: Ranks = SINGLE) -> None:
        import numpy as np

        if any(int(s) < 1 for s in keep_at):
            raise UserError(f"milestones to keep a checkpoint at must be >= 1 env step, got {list(keep_at)}")
        self.keep_at = tuple(sorted(int(s) for s in keep_at))
        """Env-step milestones: a copy of the checkpoint at the first epoch boundary at or past each
        is kept as :func:`milestone_name` (for evaluations at the budgets a paper reports)."""
        self.spec, self.cfg, self.budget, self.seed = spec, cfg, budget, seed
        self.ranks = ranks
        """This process's rank among the processes training this run (one, unless data-parallel)."""
        self.log = (log if ranks.main else None) or (lambda s: None)
        self.out = run_dir(runs_root, spec.name, cfg.name, budget, seed)
        if fresh and ranks.main and self.out.exists():
            shutil.rmtree(self.out)
        ranks.barrier()  # the other ranks look at the run directory after rank 0 has deleted it
        self.out.mkdir(parents=True, exist_ok=True)
        self.checkpoint = self.out / CHECKPOINT_NAME
        self.counters: dict[str, Any] = {"epoch": 0, "env_steps": 0, "evals": 0, "run_id": None, "eval_scores": [],
                                         "wall_s": 0.0, "eval_s": 0.0}
        self.rng = np.random.default_rng(rank_seed(seed, ranks.rank, 0))
        """The trainer's generator (sampling, collection seeds); rank 0's is saved in every checkpoint."""
        self.recorder: RunRecorder | None = None
        self.writer: Any = None
        """TensorBoard SummaryWriter, or None."""
        self.t0 = time.perf_counter()
        self.wall0 = 0.0
        self.first_epoch = 0
        self._epoch_end = self.t0
        self._pace_from: tuple[float, int] | None = None
        """(clock, epoch index) where this process's first learning epoch began (see :meth:`eta`)."""

    def setup(self, threads: int | None, device: str | None) -> tuple[Any, Any]:
        """Torch settings and the suite's checks: returns (torch device, Shapes). A data-parallel
        rank trains on its rank's device (:attr:`Ranks.device`)."""

        from amago_bench.agents.device import pick_device, set_threads
        from amago_bench.agents.shapes import shapes_from_spaces
        from amago_bench.envs.spaces import space_from_spec

        spec = self.spec
        set_threads(threads)  # given, else OMP_NUM_THREADS, else min(2, cpu count)
        dev = pick_device(self.ranks.device if self.ranks.distributed else device)
        if spec.default_backend not in spec.backends:
            raise UserError(f"suite {spec.name!r}: default backend {spec.default_backend!r} is not one of {list(spec.backends)}")
        shapes = shapes_from_spaces(space_from_spec(spec.observation), space_from_spec(spec.action),
                                    spec.trial.max_episode_steps, spec.trial.episodes)
        return dev, shapes

    def resume(self, learner: Any, read_checkpoint: Callable[[Path], dict[str, Any]],
               check: Callable[[dict[str, Any]], None]) -> None:
        """When the run has a checkpoint: read it, ``check`` it, and load the learner, counters and RNG.

        Data-parallel: every rank loads the learner (weights and optimiser state) and the counters
        from rank 0's checkpoint, whatever the number of ranks that wrote it; rank 0 restores the
        saved generator, every other rank starts a new one from (seed, rank, epoch)
        (:func:`~amago_bench.agents.distributed.rank_seed`)."""
        import numpy as np

        from amago_bench.agents.checkpoint import set_rng_state

        if not self.checkpoint.exists():
            return
        data = read_checkpoint(self.checkpoint)
        check(data)
        learner.load_state_dict(data["learner"])
        self.counters.update(data["extra"]["counters"])
        c = self.counters
        if self.ranks.main:
            set_rng_state(self.rng, data["extra"]["rng"])
        else:
            self.rng = np.random.default_rng(rank_seed(self.seed, self.ranks.rank, c["epoch"]))
        was = int(data["extra"].get("ranks", 1))
        ranks = (f" on {self.ranks.world} rank{'s' * (self.ranks.world > 1)} (checkpointed on {was})"
                 if self.ranks.distributed or was != 1 else "")
        self.log(f"resuming {self.out} from epoch {c['epoch']} ({c['env_steps']} env steps, {learner.updates} updates){ranks}")
        # A run stopped between saving a milestone's checkpoint and copying it: the checkpoint
        # just loaded is the milestone's (it is saved at the first epoch past it), so copy it now.
        self._keep_milestones()

    # -- the collection's state, for an exact resume ---------------------------------------------
    def _collection_path(self, epoch: int) -> Path:
        return self.out / f"{COLLECTION_PREFIX}{int(epoch)}.npz"

    def save_collection_state(self, tree: dict[str, Any] | None) -> None:
        """Save the collection's state (a tree, :mod:`amago_bench.snapshot`) of the checkpoint about
        to be written, with torch's global generator (dropout); None: nothing can be saved."""
        if tree is None or not self.ranks.main:
            return
        import torch

        from amago_bench.snapshot import save_tree

        save_tree(self._collection_path(self.counters["epoch"]), {**tree, "torch_rng": torch.get_rng_state()})

    def prune_collection_states(self) -> None:
        """After a checkpoint is written: drop the collection states of other epochs."""
        if not self.ranks.main:
            return
        keep = self._collection_path(self.counters["epoch"]).name
        for p in self.out.glob(f"{COLLECTION_PREFIX}*.npz"):
            if p.name != keep:
                p.unlink(missing_ok=True)

    def collection_state(self) -> dict[str, Any] | None:
        """The collection state saved with the checkpoint this run resumed from, or None (a fresh
        run, or a checkpoint without one: the run then goes on with fresh trials and says so)."""
        epoch = int(self.counters["epoch"])
        if epoch == 0:
            return None
        path = self._collection_path(epoch)
        if not path.exists():
            self.log(f"note: no collection state saved with epoch {epoch}; training goes on with fresh trials, "
                     "so it will not equal an uninterrupted run exactly")
            return None
        from amago_bench.snapshot import load_tree

        return load_tree(path)

    def restore_collection(self, snap: dict[str, Any], restore: Callable[[dict[str, Any]], list[int]]) -> None:
        """Continue the collection from ``snap`` (``restore`` rebuilds envs and agent memory)."""
        import torch

        mismatched = restore(snap)
        torch.set_rng_state(snap["torch_rng"])
        if mismatched:
            self.log(f"note: {len(mismatched)} env(s) did not replay to their saved state (an env that is not a pure "
                     "function of its seed and actions); training goes on, but not exactly as uninterrupted")

    def _keep_milestones(self) -> None:
        """Copy the checkpoint to each milestone reached that has no copy yet."""
        for s in self.keep_at:
            target = self.out / milestone_name(s)
            if self.counters["env_steps"] >= s and not target.exists() and self.checkpoint.exists():
                tmp = target.with_suffix(".tmp")
                shutil.copyfile(self.checkpoint, tmp)
                tmp.replace(target)

    def open_records(self, db: str | None, store: bool) -> None:
        """Write ``config.json``; open the recorder (results store when ``store``, and ``metrics.csv``) and TensorBoard.
        Rank 0 only: the other ranks of a data-parallel run record nothing."""
        if not self.ranks.main:
            return
        cfg, tc = self.cfg, self.cfg.train
        (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        manifest = training_manifest(self.spec, cfg.name, cfg.to_dict(), self.seed, self.budget, tc.eval_trials_per_task,
                                     tc.eval_envs, self.out)
        self.recorder = RunRecorder(self.out / "metrics.csv", db, manifest if store else None, self.counters["run_id"],
                                    self.counters["evals"])
        if tc.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.out / "tb"))
            except ImportError:
                self.log(f"tensorboard is not installed; metrics go to metrics.csv only ({pip_install('agent')})")

    @property
    def to_train(self) -> bool:
        """Whether epochs remain (else no collection is set up)."""
        return self.counters["epoch"] < self.cfg.train.epochs

    def wall(self) -> float:
        """Seconds of this run so far, across resumes, evaluations included."""
        return self.wall0 + time.perf_counter() - self.t0

    def eta(self, epoch: int, learning: bool = True) -> float:
        """Seconds left after epoch index ``epoch`` (call it once per epoch), at this process's pace
        since its first epoch that learned (``learning``: the epoch made updates). Epochs that only
        collect, while the replay fills, cost a fraction of the rest: counting them would make the
        estimate far too short for the first epochs that learn."""
        now = time.perf_counter()
        if learning and self._pace_from is None:
            self._pace_from = (self._epoch_end, epoch)
        self._epoch_end = now
        t0, first = self._pace_from or (self.t0, self.first_epoch)
        return (now - t0) / (epoch + 1 - first) * (self.cfg.train.epochs - epoch - 1)

    @contextlib.contextmanager
    def recording(self, *close: Callable[[], None]) -> Iterator[None]:
        """Start the clock; on leaving, call ``close`` (collectors), close TensorBoard and record how
        the run ended (finished, or interrupted / failed with the reason, the exception re-raised)."""
        import torch

        self.t0 = self._epoch_end = time.perf_counter()
        self.wall0 = float(self.counters.get("wall_s", 0.0))  # seconds of this run before the last resume
        self.first_epoch = self.counters["epoch"]
        status, reason = "failed", "unknown"
        # Denormal Adam moments are ~100x slower on CPU: flush them while training. The setting is
        # global to the process, so the process default (off) is restored on leaving.
        torch.set_flush_denormal(True)
        try:
            yield
            status, reason = "finished", None
        except KeyboardInterrupt:
            status, reason = "interrupted", "KeyboardInterrupt (Ctrl-C or SIGTERM); re-run the same command to resume"
            raise
        except BaseException as exc:
            status, reason = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            torch.set_flush_denormal(False)
            for fn in close:
                fn()
            if self.writer:
                self.writer.close()
            if self.recorder is not None:
                self.recorder.finish(status, reason)

    def epochs(self) -> range:
        """The epoch indices left to train."""
        return range(self.counters["epoch"], self.cfg.train.epochs)

    def evaluate(self, epoch: int, make_agent: Callable[[], Any]) -> str:
        """After epoch index ``epoch``, when one is due (every ``eval_every`` epochs and after the
        last): evaluate ``make_agent()`` on the test split, record it, add the entry to the history
        and TensorBoard; returns the log-line suffix ("" when none was due). Rank 0 only."""
        tc, c = self.cfg.train, self.counters
        if not self.ranks.main or not ((epoch + 1) % tc.eval_every == 0 or epoch + 1 == tc.epochs):
            return ""
        eval_start = time.perf_counter()
        steps_now = c["env_steps"]
        entry = evaluation_entry(make_agent(), self.spec, self.seed, tc.eval_trials_per_task, tc.eval_envs, self.recorder,
                                 c["evals"], steps_now, epoch + 1)
        c["run_id"] = self.recorder.run_id
        c["eval_s"] = float(c.get("eval_s", 0.0)) + time.perf_counter() - eval_start
        entry["wall_s"] = round(self.wall(), 3)  # since the run started, evaluations included
        entry["eval_s"] = round(c["eval_s"], 3)  # of which evaluating
        c["eval_scores"] = [*c["eval_scores"], entry]
        c["evals"] += 1
        if self.writer:
            self.writer.add_scalar("eval/normalised_mean", entry["normalised"], steps_now)
            for t, v in entry["tasks"].items():
                self.writer.add_scalar(f"eval/normalised/{t}", v, steps_now)
                self.writer.add_scalar(f"eval/score/{t}", entry["score"][t], steps_now)
        return f" | eval normalised {entry['normalised']:.3f}"

    def add_scalars(self, metrics: dict[str, list[float]], returns: dict[str, list[float]]) -> None:
        """Training metrics (mean of each list) and train returns per task to TensorBoard, at the current env steps."""
        import numpy as np

        if self.writer:
            steps = self.counters["env_steps"]
            for k, v in metrics.items():
                self.writer.add_scalar(k, float(np.mean(v)), steps)
            for t, v in returns.items():
                self.writer.add_scalar(f"train/return/{t}", float(np.mean(v)), steps)

    def end_epoch(self, epoch: int, save: Callable[[], None]) -> None:
        """Count epoch index ``epoch`` as done; ``save`` a checkpoint (and ``progress.json``) every
        ``checkpoint_every`` epochs, after the last, and at the first epoch past each milestone
        (then copied to the milestone's file). Only rank 0 saves."""
        tc = self.cfg.train
        self.counters["epoch"] = epoch + 1
        self.counters["wall_s"] = self.wall()
        if not self.ranks.main:
            return
        milestone = any(self.counters["env_steps"] >= s and not (self.out / milestone_name(s)).exists()
                        for s in self.keep_at)
        if (epoch + 1) % tc.checkpoint_every == 0 or epoch + 1 == tc.epochs or milestone:
            save()
            self._keep_milestones()
            write_progress(self.out, self.counters, tc.epochs)

    def result(self, updates: int, save: Callable[[], None]) -> TrainResult:
        """The run's :class:`TrainResult`; with nothing trained (epochs = 0), ``save`` a loadable checkpoint first
        (rank 0; every rank returns once it is written)."""
        if self.ranks.main and not self.checkpoint.exists():
            save()
        self.ranks.barrier()
        c = self.counters
        return TrainResult(self.out, self.checkpoint, c["epoch"], c["env_steps"], updates, time.perf_counter() - self.t0,
                           c["eval_scores"], c["run_id"], self.ranks.rank)


__all__ = ["format_clock", "with_epochs", "TrainingRun", "write_progress", "PROGRESS_NAME", "train", "run_dir", "TrainResult", "RunRecorder", "evaluation_entry", "training_manifest", "CHECKPOINT_NAME", "milestone_name"]
