"""Bounds on every count a user gives, checked where it is parsed: an absurd size is refused at
once with the limit in the message, before anything is allocated per env, trial or seed."""

from __future__ import annotations

from amago_bench.errors import UserError

#: Parallel envs of one evaluation or training process.
MAX_NUM_ENVS = 4096
#: Evaluation trials per task (and seed).
MAX_TRIALS_PER_TASK = 100_000
#: Seeds of one command.
MAX_SEEDS = 10_000
#: Torch threads of one process.
MAX_THREADS = 1024


def check_count(option: str, value: int | None, low: int, high: int) -> None:
    """Refuse ``value`` (an option's count) outside [low, high]; None passes (the default)."""
    if value is None:
        return
    if not low <= int(value) <= high:
        raise UserError(f"{option} must be between {low:,} and {high:,}, got {value:,}")
