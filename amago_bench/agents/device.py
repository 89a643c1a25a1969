"""Where the torch work of any agent runs: the CPU thread count and the device."""

from __future__ import annotations

import os

import torch

from amago_bench.errors import UserError


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat (Linux), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(window: float = 0.25) -> float:
    """How many cores other processes keep busy now: measured over ``window`` seconds from
    /proc/stat where it exists (the 1-minute load average lags by a minute), else the load average."""
    import time

    a = _cpu_times()
    if a is not None:
        time.sleep(window)
        b = _cpu_times()
        if b is not None and b[1] > a[1]:
            return (b[0] - a[0]) / (b[1] - a[1]) * (os.cpu_count() or 1)
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set, else ``min(2, idle cores)``: the cores not kept busy by other
    processes (:func:`busy_cores`), at least 1. More threads rarely help these small models, and
    threads that fight other processes for busy cores slow everything down many times over."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = os.cpu_count() or 1
    return max(1, min(2, cores - int(round(busy_cores()))))


def set_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads and return the number used: ``threads`` when given, else
    :func:`default_threads`."""
    if threads is None or threads <= 0:
        threads = default_threads()
    torch.set_num_threads(int(threads))
    return int(threads)


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown torch device {device!r}; use auto, cpu, cuda or cuda:N") from None
