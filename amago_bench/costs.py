"""What a job matrix costs: rates measured on a device, never invented.

``reproduce --calibrate`` (:func:`calibrate_matrix`) runs a short piece of every job kind of
the matrix (agent config x suite x budget) on the current device with the job's own model,
actors and batch: a few vector steps of collection and a few updates (each trainer's
``calibrate``), and for an untrained agent a few evaluation trials. Each rate is stored with
the device's name, the threads, the time and the git commit in ``<runs>/calibration.json``.

:func:`training_rate` gives the estimate of a job, and says where it comes from, best first:
a calibration of that job kind on this device; one on another device (labelled so); the
``progress.json`` of earlier training runs of the agent in the runs folder; else the built-in
small-budget rate (:data:`amago_bench.matrix.DEFAULT_RATES`), labelled a guess.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import time
from pathlib import Path
from typing import Any, Callable

CALIBRATION_NAME = "calibration.json"


def device_name(device: str | None = None) -> str:
    """A readable name of the device training would use: the GPU's name, or the CPU's model with
    the threads torch uses (``cpu: AMD EPYC 7B13, 2 threads``)."""
    import torch

    from amago_bench.agents.device import pick_device

    dev = pick_device(device)
    if dev.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(dev)}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model}, {torch.get_num_threads()} threads"


def calibration_path(runs_root: str | Path) -> Path:
    return Path(runs_root) / CALIBRATION_NAME


def load_calibration(runs_root: str | Path) -> list[dict[str, Any]]:
    try:
        doc = json.loads(calibration_path(runs_root).read_text())
    except (OSError, ValueError):
        return []
    return list(doc.get("rates", []))


def _save(runs_root: str | Path, rates: list[dict[str, Any]]) -> None:
    path = calibration_path(runs_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"about": "env steps per second of training and evaluation, measured by "
                                        "`amago-bench reproduce --calibrate` (amago_bench/costs.py)", "rates": rates},
                              indent=1))
    tmp.replace(path)


def _kind(job: Any) -> tuple[str, str, str]:
    return (job.agent, job.suite, job.budget if job.trained else "-")


def measure(job: Any, device: str | None, threads: int | None) -> dict[str, Any]:
    """Measure one job kind on this device; returns the stored record."""
    import importlib

    from amago_bench.agents import TRAINERS, config_kind
    from amago_bench.store import git_state
    from amago_bench.suite import get_suite

    spec = get_suite(job.suite)
    t0 = time.perf_counter()
    rec: dict[str, Any] = {"agent": job.agent, "suite": job.suite, "budget": _kind(job)[2]}
    if job.trained:
        mod = importlib.import_module(TRAINERS[config_kind(job.agent)].split(":")[0])
        r = mod.calibrate(spec, job.agent, job.budget, device=device, threads=threads)
        per_step = r["collect_s_per_env_step"] + r["update_s"] * r["updates_per_env_step"]
        rec.update(r, train_env_steps_per_s=1.0 / per_step, eval_env_steps_per_s=1.0 / r["collect_s_per_env_step"],
                   eval_rate_note="evaluation at the collection rate (acting with the same model)")
    else:
        rec.update(eval_env_steps_per_s=_eval_rate(job, spec))
    commit, _ = git_state()
    rec.update(device=device_name(device), threads=_threads(), wall_s=round(time.perf_counter() - t0, 2),
               measured=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), git_commit=commit)
    return rec


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _eval_rate(job: Any, spec: Any) -> float:
    """Env steps per second of evaluating an untrained agent: 1 trial of each of up to 4 tasks."""
    from amago_bench.evaluate import evaluate
    from amago_bench.policy import load_agent

    split = job.splits[0]
    tasks = tuple(spec.task_names(split)[:4])
    agent = load_agent(job.agent)
    t = time.perf_counter()
    records = evaluate(agent, spec, split=split, trials_per_task=1, seed=0, num_envs=4, tasks=tasks, progress=False)
    steps = sum(int(r["length"]) for r in records)
    return steps / max(1e-9, time.perf_counter() - t)


def calibrate_matrix(cfg: Any, out: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Measure every job kind of the matrix ``cfg`` (all shards) on this device and store the rates."""
    import dataclasses

    from amago_bench.agents.device import set_threads
    from amago_bench.matrix import plan

    jobs = plan(dataclasses.replace(cfg, shard=(0, 1)))
    kinds: dict[tuple, Any] = {}
    for j in jobs:
        kinds.setdefault(_kind(j), j)
    set_threads(cfg.threads)
    here = device_name(cfg.device)
    rates = [r for r in load_calibration(cfg.runs_root)
             if not (r.get("device") == here and (r["agent"], r["suite"], r["budget"]) in kinds)]
    out(f"calibrating {len(kinds)} job kinds on {here} (a short piece of each; results in "
        f"{calibration_path(cfg.runs_root)})")
    for k, (key, job) in enumerate(kinds.items(), 1):
        rec = measure(job, cfg.device, cfg.threads)
        rates.append(rec)
        _save(cfg.runs_root, rates)  # kept as it goes: an interrupted calibration keeps what it measured
        what = (f"train {_rate(rec['train_env_steps_per_s'])} env steps/s ({rec['update_s']:.3f} s/update, "
                f"{rec['collect_s_per_env_step'] * 1e3:.2f} ms/env step)" if "train_env_steps_per_s" in rec
                else f"eval {_rate(rec['eval_env_steps_per_s'])} env steps/s")
        out(f"[{k}/{len(kinds)}] {key[0]} on {key[1]} ({key[2]}): {what} in {rec['wall_s']:.0f} s")
    return rates


def _rate(x: float) -> str:
    """A rate with the digits that matter: 0.83, 9.4, 1,441."""
    return f"{x:.2g}" if x < 10 else f"{x:,.0f}"


def training_rate(job: Any, cfg: Any, here: str | None = None) -> tuple[float | None, float, str]:
    """(training env steps/s or None for an untrained job, evaluation env steps/s, source text)."""
    from amago_bench.matrix import DEFAULT_RATES, EVAL_RATE, measured_rate
    from amago_bench.agents import config_kind

    cal = [r for r in load_calibration(cfg.runs_root) if (r["agent"], r["suite"], r["budget"]) == _kind(job)]
    if cal:
        same = [r for r in cal if r.get("device") == here]
        r = (same or cal)[-1]
        where = "calibrated here" if same else f"calibrated on another device ({r.get('device')})"
        return r.get("train_env_steps_per_s"), r["eval_env_steps_per_s"], f"{where}, {r.get('measured', '')[:10]}"
    if not job.trained:
        return None, EVAL_RATE, "GUESS: built-in evaluation rate (run --calibrate)"
    rate = measured_rate(job, cfg)
    if rate is not None:
        return rate, EVAL_RATE, f"measured from earlier runs in {cfg.runs_root} (budget may differ)"
    return DEFAULT_RATES[config_kind(job.agent)], EVAL_RATE, "GUESS: built-in 2-core CPU small-budget rate (run --calibrate)"


__all__ = ["calibrate_matrix", "training_rate", "device_name", "load_calibration", "calibration_path", "measure"]
