"""Jobs through the ledger: an evaluation of one agent on one suite, one stored run per seed.

The ``evaluate`` command and the job matrices (``reproduce``, ``study``) call
:func:`run_evaluation`; the stepping is :mod:`amago_bench.rollout`, the protocol
:mod:`amago_bench.evaluate`, the storage :mod:`amago_bench.store`.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from amago_bench.envs.spaces import space_from_spec
from amago_bench.errors import UserError
from amago_bench.evaluate import evaluate
from amago_bench.policy import BUILTIN_AGENTS, EnvSpec, canonical_ref, load_agent
from amago_bench.agents import UNTRAINED_AGENTS
from amago_bench.rollout import call_agent
from amago_bench.agents.checkpoint import refuse_folder
from amago_bench.journal import open_store
from amago_bench.limits import MAX_NUM_ENVS, MAX_SEEDS, MAX_TRIALS_PER_TASK, check_count
from amago_bench.store import RunManifest
from amago_bench.suite import EVAL_SPLIT, SuiteSpec, get_suite

#: Built-in agents that take no checkpoint.
UNTRAINED: tuple[str, ...] = tuple(UNTRAINED_AGENTS)


@dataclass(frozen=True)
class EvalRequest:
    """One evaluation: ``agent`` (a built-in name or module:attr, with an optional checkpoint) on
    ``suite``'s ``split``, ``trials_per_task`` trials per task for each of ``seeds``."""

    suite: str
    agent: str = "random"
    checkpoint: str | None = None
    split: str = EVAL_SPLIT
    seeds: tuple[int, ...] = (0,)
    trials_per_task: int = 4
    tasks: tuple[str, ...] | None = None
    num_envs: int = 8
    vector: str = "sync"
    backend: str | None = None
    db: str | None = None
    progress: bool = True
    rerun: bool = False
    """Evaluate again: replace a stored run of the same manifest (its episodes are deleted first)."""


def agent_and_config(agent_ref: str, checkpoint: str | None) -> tuple[Any, dict[str, Any]]:
    """The agent, and what identifies it in a run's config: its reference in one spelling
    (:func:`~amago_bench.policy.canonical_ref`), the checkpoint's path and content hash, the
    agent's ``version`` and, for a user's agent, a hash of its code."""
    kwargs = {}
    config: dict = {"ref": canonical_ref(agent_ref)}
    if checkpoint:
        ck = Path(checkpoint)
        if not ck.exists():
            raise UserError(f"--checkpoint {ck} does not exist; train one with `amago-bench train` or fix the path")
        refuse_folder(ck)
        kwargs["checkpoint"] = str(ck)
        config["checkpoint"] = str(ck.resolve())
        config["checkpoint_sha256"] = _sha256(ck)
    agent = load_agent(agent_ref, **kwargs)
    version = getattr(agent, "version", None)
    if version is not None:  # an agent may state its version: a new version is a new run
        config["version"] = str(version)
    if agent_ref not in BUILTIN_AGENTS:  # a user's agent: its code is part of its identity
        code = _code_file(agent)
        if code is not None:
            config["code"] = _sha256(code)
    return agent, config


def _code_file(agent: Any) -> Path | None:
    """The source file of the agent's class (edited code makes a new run, not 'nothing to run')."""
    import inspect

    try:
        f = inspect.getsourcefile(type(agent))
    except (TypeError, OSError):
        return None
    return Path(f) if f and Path(f).is_file() else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _check_evaluate_args(args: EvalRequest, spec: SuiteSpec) -> str:
    """Every check on an evaluation's input that can fail before a run is opened; returns the backend."""
    bad_seeds = [s for s in args.seeds if s < 0]
    if bad_seeds:
        raise UserError(f"--seeds must be >= 0, got {bad_seeds}")
    if len(set(args.seeds)) != len(args.seeds):
        raise UserError(f"--seeds names a seed twice ({args.seeds}); give each seed once")
    if args.trials_per_task < 1:
        raise UserError(f"--trials-per-task must be >= 1, got {args.trials_per_task}")
    if args.num_envs < 1:
        raise UserError(f"--num-envs must be >= 1, got {args.num_envs}")
    check_count("--trials-per-task", args.trials_per_task, 1, MAX_TRIALS_PER_TASK)
    check_count("--num-envs", args.num_envs, 1, MAX_NUM_ENVS)
    check_count("the number of --seeds", len(args.seeds), 1, MAX_SEEDS)
    if args.tasks:
        if len(set(args.tasks)) != len(args.tasks):
            raise UserError(f"--tasks names a task twice ({' '.join(args.tasks)}); give each task once")
        for t in args.tasks:
            if not spec.task(t).in_split(args.split):
                raise UserError(f"task {t!r} is not in the {args.split} split of {spec.name!r}; "
                                f"{args.split} tasks: {', '.join(spec.task_names(args.split))}")
    backend = args.backend or spec.default_backend
    if backend not in spec.backends:
        raise UserError(f"unknown backend {backend!r} for suite {spec.name!r}; valid: {', '.join(spec.backends)}")
    return backend


def _preflight_envs(spec: SuiteSpec, split: str, backend: str, tasks: tuple[str, ...] | None) -> None:
    """Build and reset one env of every task to evaluate, so a missing package, an unknown env or
    task kwargs the env rejects fail here, before any run is opened."""
    from amago_bench.envs.trial import TrialEnv

    for name in tasks or spec.task_names(split):
        env = None
        try:
            env = TrialEnv(spec, split, task=name, backend=backend)
            env.reset(seed=0)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"suite {spec.name!r}, task {name!r}: the env cannot be built or reset "
                            f"({type(exc).__name__}: {exc}); fix the task's env_id/kwargs in {spec.path or 'the suite'}"
                            ) from exc
        finally:
            if env is not None:
                env.close()


def run_evaluation(args: EvalRequest, spec: SuiteSpec | None = None, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Run (or resume) the evaluation ``args`` into the results database, one run per seed, and
    return the stored episodes of those runs. Every check that can fail happens before a run is
    opened; a finished run is skipped without writing; a failure or Ctrl-C is recorded with its
    reason."""
    log = log or (lambda msg: print(msg, file=sys.stderr))
    spec = spec or get_suite(args.suite)
    backend = _check_evaluate_args(args, spec)
    if args.checkpoint and args.agent in UNTRAINED:
        raise UserError(f"agent {args.agent!r} takes no --checkpoint; drop it (or use --agent amago2)")
    _preflight_envs(spec, args.split, backend, args.tasks)
    agent, config = agent_and_config(args.agent, args.checkpoint)
    obs_space, act_space = space_from_spec(spec.observation), space_from_spec(spec.action)
    total = len(args.tasks or spec.task_names(args.split)) * args.trials_per_task
    call_agent(agent, "start()", agent.start,  # an agent that cannot start fails before a run is opened
                EnvSpec(spec.name, obs_space, act_space, min(args.num_envs, total), spec.trial.episodes,
                        spec.trial.max_episode_steps),  # never more envs than there are trials to run
                args.seeds[0])
    store = open_store(args.db)  # a Ray worker's job passes a journal
    frames = []
    try:
        for seed in args.seeds:
            manifest = RunManifest(
                kind="evaluate", agent=str(getattr(agent, "name", None) or args.agent),  # e.g. "dep-dep" from its checkpoint
                agent_config=config, suite=spec.name, suite_hash=spec.spec_hash, split=args.split, seed=seed,
                trials_per_task=args.trials_per_task, num_envs=args.num_envs, backend=backend,
                tasks=args.tasks, trial_protocol=spec.trial_protocol,
            )
            found = store.find_run(manifest)
            if found is not None and args.rerun:
                n = store.delete_run(found[0])
                log(f"run {found[0]} (seed {seed}): --rerun, deleted its {n} stored episodes; evaluating again")
                found = None
            if found is not None and found[1] == "finished" and len(store.completed_trials(found[0])) >= total:
                log(f"run {found[0]} (seed {seed}): complete, {total} trials stored; nothing to run")
                frames.append(store.episodes(run_ids=[found[0]]))
                continue
            run_id = store.open_run(manifest)
            done = store.completed_trials(run_id)
            if done:
                log(f"run {run_id} (seed {seed}): resuming, {len(done)} of {total} trials already stored")
            try:
                evaluate(
                    agent, spec, split=args.split, trials_per_task=args.trials_per_task, seed=seed,
                    num_envs=args.num_envs, vector=args.vector, backend=backend, tasks=args.tasks, skip=done,
                    on_trial=lambda job, eps, rid=run_id: store.add_trial(rid, job.task, job.trial, eps),
                    progress=args.progress,
                )
            except KeyboardInterrupt:
                store.finish_run(run_id, "interrupted", reason="KeyboardInterrupt (Ctrl-C or SIGTERM); "
                                 "re-run the same command to resume")
                raise
            except BaseException as exc:
                store.finish_run(run_id, "failed", reason=f"{type(exc).__name__}: {exc}")
                raise
            store.finish_run(run_id)
            frames.append(store.episodes(run_ids=[run_id]))
    finally:
        store.close()
    return pd.concat(frames, ignore_index=True)
