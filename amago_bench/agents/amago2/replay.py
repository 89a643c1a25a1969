"""A bounded on-disk replay of whole trajectories (or fixed-length chunks of long ones).

Each trajectory is one ``.npz`` file named by a running id, written to a temporary name and
renamed, so a killed run leaves only complete files. The oldest trajectories leave the replay
when it exceeds its capacity (counted in trajectories or in steps); their files are deleted at
the next :meth:`Replay.commit` (the trainer's checkpoint; at once unless ``deferred``), so the replay of any checkpoint can be
rebuilt exactly: :meth:`Replay.span` is saved with the checkpoint and ``span=`` on construction
keeps just those ids. Sampling draws a file uniformly, then a window of up to ``window`` tokens
at a uniform start.

A trajectory of T transitions holds T+1 tokens (the last one is the observation after the
final action, needed for the TD target):
``obs`` (T+1, ...) or ``obs.<key>``; ``prev_action``, ``prev_reward``, ``time`` (T+1, 3);
``action``, ``reward``, ``done`` (T+1, ...) whose last row is padding.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

TOKEN_KEYS = ("prev_action", "prev_reward", "time", "action", "reward", "done")


class Replay:
    def __init__(self, directory: str | Path, capacity: int, unit: str = "trajectories", cache_steps: int = 2_000_000,
                 span: tuple[int, int] | None = None, deferred: bool = False) -> None:
        if unit not in ("trajectories", "steps"):
            raise ValueError(f"unknown replay unit {unit!r}; valid: trajectories, steps")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.capacity, self.unit = capacity, unit
        self.cache_steps = cache_steps
        self._cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()
        self._cached_steps = 0
        for tmp in self.dir.glob("*.tmp*"):  # partial writes of a killed run
            tmp.unlink(missing_ok=True)
        self.index: list[tuple[int, int]] = []  # (id, transitions), oldest first
        self.deferred = deferred
        """Keep the files of evicted trajectories until :meth:`commit` (else delete them at once)."""
        self._evicted: list[int] = []  # ids out of the replay whose files wait for commit()
        for p in sorted(self.dir.glob("*.npz")):
            if span is not None and not span[0] <= int(p.stem) < span[1]:
                p.unlink(missing_ok=True)  # evicted before the checkpoint, or written after it
                continue
            try:
                with np.load(p) as f:
                    self.index.append((int(p.stem), int(f["reward"].shape[0]) - 1))
            except Exception:  # an unreadable file is dropped, not fatal
                p.unlink(missing_ok=True)
        self.next_id = self.index[-1][0] + 1 if self.index else (span[1] if span is not None else 0)
        self.steps = sum(n for _, n in self.index)

    def __len__(self) -> int:
        return len(self.index)

    def _path(self, i: int) -> Path:
        return self.dir / f"{i:010d}.npz"

    def add(self, traj: dict[str, np.ndarray]) -> None:
        n = int(traj["reward"].shape[0]) - 1
        if n < 1:
            return
        i = self.next_id
        tmp = self.dir / f"{i:010d}.tmp{os.getpid()}.npz"
        np.savez(tmp, **traj)
        os.replace(tmp, self._path(i))
        self.next_id += 1
        self.index.append((i, n))
        self.steps += n
        self._remember(i, traj, n)
        while len(self.index) > 1 and (len(self.index) if self.unit == "trajectories" else self.steps) > self.capacity:
            old, m = self.index.pop(0)
            self.steps -= m
            self._evicted.append(old)
            if not self.deferred:
                self.commit()
            if old in self._cache:
                self._cached_steps -= int(self._cache.pop(old)["reward"].shape[0])

    def span(self) -> tuple[int, int]:
        """(first id, next id): the ids in the replay now."""
        return (self.index[0][0] if self.index else self.next_id, self.next_id)

    def commit(self) -> None:
        """Delete the files of trajectories that left the replay (after a checkpoint is written)."""
        for i in self._evicted:
            self._path(i).unlink(missing_ok=True)
        self._evicted = []

    def _remember(self, i: int, traj: dict[str, np.ndarray], n: int) -> None:
        self._cache[i] = traj
        self._cached_steps += n + 1
        while self._cached_steps > self.cache_steps and len(self._cache) > 1:
            _, t = self._cache.popitem(last=False)
            self._cached_steps -= int(t["reward"].shape[0])

    def _load(self, i: int) -> dict[str, np.ndarray]:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        with np.load(self._path(i)) as f:
            traj = {k: f[k] for k in f.files}
        self._remember(i, traj, int(traj["reward"].shape[0]) - 1)
        return traj

    def sample(self, batch_size: int, window: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """B windows of ``window`` tokens, zero padded at the end: every key (B, window, ...) plus
        ``valid`` (B, window) bool, True where transition t -> t+1 lies inside the window."""
        if not self.index:
            raise RuntimeError("the replay is empty; collect data first")
        picks = rng.integers(0, len(self.index), size=batch_size)
        trajs = [self._load(self.index[int(p)][0]) for p in picks]
        out: dict[str, np.ndarray] = {}
        valid = np.zeros((batch_size, window), bool)
        for b, traj in enumerate(trajs):
            tokens = int(traj["reward"].shape[0])
            start = int(rng.integers(0, max(0, tokens - window) + 1))
            stop = min(tokens, start + window)
            n = stop - start
            valid[b, : n - 1] = True
            for k, arr in traj.items():
                if k not in out:
                    out[k] = np.zeros((batch_size, window, *arr.shape[1:]), arr.dtype)
                out[k][b, :n] = arr[start:stop]
        out["valid"] = valid
        return out
