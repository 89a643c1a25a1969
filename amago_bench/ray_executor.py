"""Run a job matrix on a Ray cluster (``--executor ray``): one Ray task per job.

Each job runs :func:`amago_bench.matrix.run_job` in a Ray worker with the resources it asks for
(``cpus_per_job``, ``gpus_per_job``). Workers write checkpoints, replay and logs under the
shared runs folder (``--runs``: a folder every node sees) and their results into the job's
journal there (:mod:`amago_bench.journal`); only the driver (this process) writes the SQLite
database, by replaying each job's journal when the job ends. A job whose worker dies (a killed
process, a lost node) is started again by Ray, up to ``max_retries`` times, and resumes from its
last checkpoint and its journal. Without ``ray_address`` a local Ray instance is started (and
stopped at the end); with it the driver joins that cluster.

Per job, ``<runs>/jobs/<job key>/`` holds ``results.journal.jsonl``, ``worker.json`` (the host,
pid and attempt of the worker running it) and ``log.txt``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable

from amago_bench.errors import UserError
from amago_bench.installation import pip_install
from amago_bench.journal import JOURNAL_SUFFIX, replay
from amago_bench.train import format_clock

JOBS_FOLDER = "jobs"
JOURNAL_NAME = "results" + JOURNAL_SUFFIX
WORKER_NAME = "worker.json"


def job_folder(runs_root: str | Path, job: Any) -> Path:
    return Path(runs_root) / JOBS_FOLDER / job.key()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(f"--executor ray needs Ray: {pip_install('ray')} (or run with --executor local)") from None
    return ray


def _worker_job(job: Any, cfg: Any) -> str:
    """The body of one Ray task: note who runs it, then run the job into its journal."""
    from amago_bench.matrix import run_job

    folder = job_folder(cfg.runs_root, job)
    folder.mkdir(parents=True, exist_ok=True)
    info = folder / WORKER_NAME
    attempt = 1
    try:
        attempt = int(json.loads(info.read_text())["attempt"]) + 1
    except (OSError, ValueError, KeyError):
        pass
    tmp = info.with_suffix(".tmp")
    tmp.write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "attempt": attempt,
                               "started": time.time(), "job": job.label()}))
    tmp.replace(info)
    with open(folder / "log.txt", "a", encoding="utf-8") as logf:
        def log(msg: str) -> None:
            logf.write(msg + "\n")
            logf.flush()

        log(f"--- attempt {attempt} on {socket.gethostname()} (pid {os.getpid()}): {job.label()}")
        run_job(job, cfg, log, progress=False, db=str(folder / JOURNAL_NAME))
    return str(folder / JOURNAL_NAME)


def run_on_ray(cfg: Any, jobs: list[Any], estimates: list[float], log: Callable[[str], None]) -> None:
    """Run ``jobs`` as Ray tasks; replay each finished job's journal into ``cfg.db``.

    A job that raises is reported and the others go on; at the end a :class:`UserError` lists
    the failed jobs (re-running the same command resumes them).
    """
    import dataclasses

    from amago_bench.journal import open_store

    ray = _import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        try:
            if cfg.ray_address:
                ray.init(address=cfg.ray_address, **kwargs)
            else:
                ray.init(**kwargs)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise UserError(f"cannot {'join the Ray cluster at ' + cfg.ray_address if cfg.ray_address else 'start Ray'} "
                            f"({type(exc).__name__}: {exc}); check --ray-address (e.g. ray://HEAD:10001 or "
                            "HEAD:6379) or run with --executor local") from None
    # Workers use the threads they were given; a job without a GPU trains on the CPU even on a
    # GPU node, so it never takes a GPU Ray gave to another job.
    wcfg = dataclasses.replace(cfg, runs_root=str(Path(cfg.runs_root).resolve()), threads=cfg.threads or max(1, int(cfg.cpus_per_job)),
                               device=cfg.device or (None if cfg.gpus_per_job > 0 else "cpu"),
                               executor="local")
    task = ray.remote(_worker_job).options(num_cpus=cfg.cpus_per_job, num_gpus=cfg.gpus_per_job,
                                           max_retries=cfg.max_retries, retry_exceptions=False)
    t0 = time.perf_counter()
    pending = {task.remote(job, wcfg): k for k, job in enumerate(jobs)}
    log(f"ray: {len(jobs)} jobs submitted ({cfg.cpus_per_job:g} CPU, {cfg.gpus_per_job:g} GPU each; "
        f"cluster {ray.cluster_resources().get('CPU', 0):g} CPU, {ray.cluster_resources().get('GPU', 0):g} GPU)")
    failed: list[str] = []
    done_est = 0.0
    try:
        store = open_store(cfg.db)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                k = pending.pop(ready[0])
                job = jobs[k]
                try:
                    ray.get(ready[0])
                    outcome = "done"
                except Exception as exc:  # the job's own error, or its worker died more than max_retries times
                    outcome = f"FAILED ({type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''})"
                    failed.append(f"{job.label()}: {outcome}")
                journal = job_folder(cfg.runs_root, job) / JOURNAL_NAME
                replay(journal, store)  # a failed job's partial results and status are recorded too
                done_est += estimates[k]
                elapsed = time.perf_counter() - t0
                left = sum(estimates[i] for i in pending.values())
                eta = left * elapsed / done_est if done_est > 0 else left
                log(f"[{len(jobs) - len(pending)}/{len(jobs)}] {job.label()}: {outcome}; "
                    f"{len(pending)} left, matrix ETA {format_clock(eta)}")
        finally:
            store.close()
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
    if failed:
        raise UserError(f"{len(failed)} of {len(jobs)} jobs failed: " + "; ".join(failed) +
                        f". Logs: {Path(cfg.runs_root) / JOBS_FOLDER}/<job>/log.txt; fix the cause and re-run the same "
                        "command to resume")
